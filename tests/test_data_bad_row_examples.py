"""Under --bad-rows skip every reader path keeps up to 5 examples that name file and line (issue 12): the
tf.data readers (criteo, avazu, kdd12, table; shuffled, gzip), `data split`, `data index` and `data inspect`.
Bad rows sit at known lines; the examples must point at exactly those lines."""
import gzip
import os
import shutil

import pytest

from pipelines.ctr.avazu import COLUMNS as AVAZU
from pipelines.ctr.badrows import BadRowReport
from pipelines.ctr.formats import check_format, default_spec

BAD = {3: "field count", 6: "dense", 9: "label"}          # line number -> what is wrong there


def _criteo(i, bad=None):
    dense, cats, label = [str(i % 7)] * 13, [f"{i % 5:08x}"] * 26, str(i % 2)
    if bad == "field count":
        cats = cats[:-2]
    elif bad == "dense":
        dense[2] = "x"
    elif bad == "label":
        label = "7"
    return "\t".join([label] + dense + cats)


def _avazu(i, bad=None):
    row = [str(i), str(i % 2)] + [f"v{(i + j) % 4}" for j in range(22)]
    if bad == "field count":
        row = row[:-1]
    elif bad == "label":
        row[1] = "2"
    return ",".join(row)


def _kdd12(i, bad=None):
    row = [str(i % 2), "1", "2", "3"] + [str(i + j) for j in range(10)]
    if bad == "field count":
        row.append("9")
    elif bad == "dense":
        row[2] = "deep"
    elif bad == "label":
        row[0] = "-1"
    return "\t".join(row)


def _table(i, bad=None):
    row = [str(i % 2), f"{i * 0.5}", f"u{i % 4}", "a|b"]
    if bad == "field count":
        row.append("extra")
    elif bad == "dense":
        row[1] = "cheap"
    elif bad == "label":
        row[0] = "yes"
    return ",".join(row)


def _write(path, make, n=30, header=None, bad=BAD):
    first = 1 if header is None else 2                     # line number of the first row
    lines = ([header] if header else []) + [make(i, bad.get(i + first)) for i in range(n)]
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)
    return str(path)


def _schema():
    from pipelines.ctr.table_schema import TableSchema
    return TableSchema.from_dict({"label": "clicked", "dense": ["price"], "categorical": ["user"],
                                  "multi_valued": ["tags"]})


def _lines_named(examples, path, want=tuple(BAD)):
    assert len(examples) == len(want), examples
    for example, line in zip(sorted(examples, key=lambda e: int(e[len(path) + 1:].split(":")[0])), want):
        assert example.startswith(f"{path}:{line}: "), (example, line)


@pytest.mark.parametrize("fmt,make,header,name", [
    ("criteo", _criteo, None, "train.txt"), ("criteo", _criteo, None, "train.txt.gz"),
    ("avazu", _avazu, ",".join(AVAZU), "train.csv"), ("kdd12", _kdd12, None, "train.txt"),
    ("table", _table, "clicked,price,user,tags", "train.csv")])
def test_tf_readers_name_file_and_line(tmp_path, fmt, make, header, name):
    from pipelines.ctr.dataset import make_dataset
    bad = dict(BAD) if fmt != "avazu" else {3: "field count", 9: "label"}   # avazu's raw CSV has no dense column
    path = _write(tmp_path / name, make, header=header, bad=bad)
    schema = _schema() if fmt == "table" else None
    spec = schema.spec() if schema else default_spec(fmt)
    report = BadRowReport()
    rows = sum(int(b["label"].shape[0]) for b in make_dataset(path, fmt, spec, 4, processed=False, bad_rows="skip",
                                                               report=report, shuffle=True, table_schema=schema))
    assert rows == 30 - len(bad) and report.total == len(bad)
    _lines_named(report.examples, path, tuple(bad))
    field = {"criteo": "field I3: 'x'", "avazu": "field click: '2'", "kdd12": "field Depth: 'deep'",
             "table": "field price: 'cheap'"}[fmt]
    assert any(field in e for e in report.examples), report.examples   # which field, as the error says


def test_table_reader_counts_lines_after_a_skipped_long_row(tmp_path):
    """pandas drops a too-long row from its chunk; later rows keep their own line numbers."""
    from pipelines.ctr.table import _chunks, _decode
    path = _write(tmp_path / "t.csv", _table, n=12, header="clicked,price,user,tags",
                  bad={3: "field count", 4: "field count", 9: "dense"})
    report = BadRowReport()
    for df, line_nos in _chunks(path, _schema(), 5, "skip", report):
        _decode(df, line_nos, path, _schema(), "skip", report)
    _lines_named(report.examples, path, (3, 4, 9))
    assert "field price: 'cheap'" in report.examples[-1]


def test_split_index_inspect_name_file_and_line(tmp_path):
    from pipelines.ctr.index import index_folder
    from pipelines.ctr.split import split_files
    from pipelines.ctr.stats import inspect_files
    schema = _schema()
    for fmt, make, header, name in (("criteo", _criteo, None, "log.txt"),
                                    ("table", _table, "clicked,price,user,tags", "log.csv")):
        path = _write(tmp_path / name, make, header=header)
        sch = schema if fmt == "table" else None
        spec = schema.spec() if sch else default_spec(fmt)
        lf = None if sch else check_format(fmt, spec, [path])
        report = BadRowReport()
        split_files([path], str(tmp_path / f"split_{fmt}"), fmt, table_schema=sch, line_format=lf, bad_rows="skip",
                    report=report)
        _lines_named(report.examples, path)
        stats = inspect_files([path], fmt, spec, bad_rows="skip", table_schema=sch)
        assert stats["rows"] == 27
        _lines_named(stats["bad_rows"]["examples"], path)
        mine = tmp_path / f"mine_{fmt}"
        mine.mkdir()
        ext = os.path.splitext(name)[1]
        for split in ("train", "valid", "test"):
            shutil.copy(path, mine / f"{split}{ext}")
        report = BadRowReport()
        index_folder(str(mine), fmt, sch, bad_rows="skip", report=report)
        assert report.total == 9 and len(report.examples) == 5
        assert all(e.startswith(str(mine / f"train{ext}")) or e.startswith(str(mine / f"valid{ext}"))
                   for e in report.examples)
