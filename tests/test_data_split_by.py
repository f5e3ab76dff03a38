"""`tfnas data split --by-time / --by-group`, table rows checked at split time, compressed tables, hand-made
folders (`tfnas data index`), and the data commands' TensorFlow-free path."""
import csv
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines.ctr.badrows import BadRowError, BadRowReport
from pipelines.ctr.example_log import write_example_log
from pipelines.ctr.split import split_files
from pipelines.ctr.table_schema import TableSchema

SCHEMA = TableSchema("clicked", ("price", "capital-gain"), ("user_id", "ad-id", "device type", "region"),
                     ({"name": "genres", "sep": "|", "slots": 3},), missing_values=("?", "NA"))


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def shuffled_log(tmp_path, rows=1000, seed=0):
    """The example log with its rows shuffled (a split by time must sort nothing on disk)."""
    src = write_example_log(str(tmp_path / "ordered.csv"), rows, seed)
    lines = open(src).read().splitlines()
    body = lines[1:]
    np.random.default_rng(seed).shuffle(body)
    (tmp_path / "log.csv").write_text("\n".join([lines[0]] + body) + "\n")
    return str(tmp_path / "log.csv")


def test_split_by_time_past_to_train_future_to_test(tmp_path):
    src = shuffled_log(tmp_path, 1000)
    out = split_files([src], str(tmp_path / "o"), "table", table_schema=SCHEMA, by_time="ts")
    parts = {s: read_rows(tmp_path / "o" / f"{s}.csv") for s in ("train", "valid", "test")}
    assert {s: len(r) for s, r in parts.items()} == out["rows"]
    assert out["rows"]["train"] + out["rows"]["valid"] + out["rows"]["test"] == 1000
    assert abs(out["rows"]["train"] - 800) <= 5 and abs(out["rows"]["test"] - 100) <= 5   # ties at a cut only
    assert max(r["ts"] for r in parts["train"]) < min(r["ts"] for r in parts["valid"])
    assert max(r["ts"] for r in parts["valid"]) < min(r["ts"] for r in parts["test"])
    assert out["split_by"]["by"] == "time" and out["split_by"]["column"] == "ts"


def test_split_by_time_numbers_exact_ratio_and_bad_time(tmp_path):
    src = tmp_path / "t.csv"
    times = np.random.default_rng(3).permutation(200)
    src.write_text("y,t,c\n" + "".join(f"{i % 2},{t},c{i}\n" for i, t in enumerate(times)))
    out = split_files([str(src)], str(tmp_path / "o"), "table", table_schema=TableSchema("y", (), ("c",)),
                      by_time="t", ratios="6:2:2")
    assert out["rows"] == {"train": 120, "valid": 40, "test": 40}
    train_t = {int(r["t"]) for r in read_rows(tmp_path / "o" / "train.csv")}
    assert train_t == set(range(120))
    src.write_text("y,t,c\n1,5,a\n0,soon,b\n1,7,c\n")
    with pytest.raises(BadRowError, match=r"t\.csv:3: field t: 'soon' is not a number or an ISO 8601 time"):
        split_files([str(src)], str(tmp_path / "p"), "table", table_schema=TableSchema("y", (), ("c",)), by_time="t")
    assert not (tmp_path / "p" / "train.csv").exists()
    report = BadRowReport()
    out = split_files([str(src)], str(tmp_path / "q"), "table", table_schema=TableSchema("y", (), ("c",)),
                      by_time="t", bad_rows="skip", report=report)
    assert sum(out["rows"].values()) == 2 and report.counts["bad_value"] == 1
    with pytest.raises(ValueError, match=r"t\.csv:1: split column 'when' is not in header"):
        split_files([str(src)], str(tmp_path / "r"), "table", table_schema=TableSchema("y", (), ("c",)),
                    by_time="when")


def test_split_by_group_keeps_users_together(tmp_path):
    src = shuffled_log(tmp_path, 1500)
    a = split_files([src], str(tmp_path / "a"), "table", table_schema=SCHEMA, by_group="user_id", seed=1)
    b = split_files([src], str(tmp_path / "b"), "table", table_schema=SCHEMA, by_group="user_id", seed=1)
    c = split_files([src], str(tmp_path / "c"), "table", table_schema=SCHEMA, by_group="user_id", seed=2)
    assert a == b and a["rows"] != c["rows"]
    users = {s: {r["user_id"] for r in read_rows(tmp_path / "a" / f"{s}.csv")} for s in ("train", "valid", "test")}
    assert not (users["train"] & users["valid"]) and not (users["train"] & users["test"])
    assert not (users["valid"] & users["test"])
    assert sum(a["rows"].values()) == 1500 and a["rows"]["train"] > a["rows"]["valid"] + a["rows"]["test"]


def test_criteo_split_by_group_on_a_field_name(tmp_path):
    from pipelines.ctr.criteo import default_spec, line_format
    src = tmp_path / "d.txt"
    src.write_text("".join("\t".join([str(i % 2)] + ["1"] * 13 + [f"{i % 7:08x}"] * 26) + "\n" for i in range(140)))
    split_files([str(src)], str(tmp_path / "o"), "criteo", line_format=line_format(default_spec()), by_group="C1")
    seen = {}
    for s in ("train", "valid", "test"):
        for line in open(tmp_path / "o" / f"{s}.txt"):
            assert seen.setdefault(line.split("\t")[14], s) == s


def test_table_rows_checked_at_split_time(tmp_path):
    src = tmp_path / "bad.csv"
    rows = ["clicked,price,user"] + [f"{i % 2},{i},u{i}" for i in range(20)]
    rows[5] = "0,cheap,u4"
    rows[9] = "1,2,u8,extra"
    rows[12] = "yes,2,u11"
    src.write_text("\n".join(rows) + "\n")
    schema = TableSchema("clicked", ("price",), ("user",), missing_values=("?",))
    with pytest.raises(BadRowError, match=r"bad\.csv:6: field price: 'cheap' is not a number"):
        split_files([str(src)], str(tmp_path / "o"), "table", table_schema=schema)
    assert not os.path.exists(tmp_path / "o" / "train.csv")
    report = BadRowReport()
    out = split_files([str(src)], str(tmp_path / "o"), "table", table_schema=schema, bad_rows="skip", report=report)
    assert sum(out["rows"].values()) == 17
    assert dict(report.counts) == {"not_a_number": 1, "field_count": 1, "bad_label": 1}
    assert report.examples[0].startswith(f"{src}:6: field price")
    (tmp_path / "q.csv").write_text('clicked,price,user\n1,?,"u,1"\n0,3,u2\n')  # missing token, quoted delimiter
    assert sum(split_files([str(tmp_path / "q.csv")], str(tmp_path / "p"), "table",
                           table_schema=schema)["rows"].values()) == 2


def test_table_input_inside_out_is_refused_and_kept(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    src = d / "train.csv"
    src.write_text("y,c\n1,a\n0,b\n")
    with pytest.raises(ValueError, match="input would be overwritten"):
        split_files([str(src)], str(d), "table", table_schema=TableSchema("y", (), ("c",)))
    assert src.read_text() == "y,c\n1,a\n0,b\n" and sorted(os.listdir(d)) == ["train.csv"]


def test_compressed_table_split_and_read_schema_free_of_tf(tmp_path):
    """gzip and bz2 tables stream through split; split, infer-schema and index never import TensorFlow."""
    import bz2
    write_example_log(str(tmp_path / "log.csv.gz"), 300, 0, compress=True)
    raw = gzip.open(tmp_path / "log.csv.gz", "rb").read()
    (tmp_path / "log.csv.bz2").write_bytes(bz2.compress(raw))
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA.to_dict()))
    code = f"""
import sys
from tfnas.cli import main
d = {str(tmp_path)!r}
assert main(["data", "infer-schema", d + "/log.csv.gz", "--out", d + "/inferred.json"]) == 0
for kind in ("gz", "bz2"):
    assert main(["data", "split", d + "/log.csv." + kind, "--format", "table", "--schema", d + "/s.json",
                 "--out", d + "/o_" + kind, "--by-time", "ts", "--no-progress"]) == 0
assert main(["data", "index", d + "/o_gz", "--format", "table", "--schema", d + "/s.json"]) == 1  # described
assert "tensorflow" not in sys.modules, "a data command imported TensorFlow"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "already described" in proc.stderr
    for kind in ("gz", "bz2"):
        assert sorted(os.listdir(tmp_path / f"o_{kind}")) == ["dataset.json", "spec.json", "test.csv", "train.csv",
                                                            "valid.csv"]
    assert open(tmp_path / "o_gz" / "train.csv").read() == open(tmp_path / "o_bz2" / "train.csv").read()
    assert json.load(open(tmp_path / "inferred.json"))["label"] == "clicked"


def test_index_describes_a_hand_made_folder(tmp_path, capsys):
    from pipelines.ctr.folder import load_info, load_spec, split_paths
    from tfnas.cli import main
    d = tmp_path / "mine"
    d.mkdir()
    for name, n in (("train", 30), ("valid", 5), ("test", 5)):
        (d / f"{name}.csv").write_text("y,price,c\n" + "".join(f"{i % 3 == 0:d},{i},c{i % 4}\n" for i in range(n)))
    assert main(["data", "index", str(d), "--label", "y", "--dense", "price", "--categorical", "c",
                 "--vocab-size", "64"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"] == {"train": 30, "valid": 5, "test": 5}
    info = load_info(d)
    assert info["format"] == "table" and TableSchema.from_dict(info["table_schema"]).dense == ("price",)
    assert load_spec(d).vocab_sizes == (64,)
    assert load_spec(d).sparse_names == ("c",) and split_paths(d)["valid"] == [str(d / "valid.csv")]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.csv").write_text("y,price,c\n1,x,c\n")
    (tmp_path / "bad" / "valid.csv").write_text("y,price,c\n1,1,c\n")
    assert main(["data", "index", str(tmp_path / "bad"), "--label", "y", "--dense", "price"]) == 1
    assert "train.csv:2: field price: 'x' is not a number" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "spec.json").exists()


def test_failed_cli_split_leaves_no_folder_and_names_the_row(tmp_path, capsys):
    from tfnas.cli import main
    (tmp_path / "t.csv").write_text("y,price\n1,2\n0,lots\n")
    out = tmp_path / "new"
    assert main(["data", "split", str(tmp_path / "t.csv"), "--format", "table", "--label", "y", "--dense", "price",
                 "--out", str(out), "--no-progress"]) == 1
    assert "t.csv:3: field price: 'lots' is not a number" in capsys.readouterr().err
    assert not out.exists()
