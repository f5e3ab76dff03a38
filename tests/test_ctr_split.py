"""The streaming split: 8:1:1 per label class, deterministic in the seed, lines preserved, CLI works."""
import collections
import os

import numpy as np
import pytest

from pipelines.ctr.split import StratifiedAssigner, parse_ratios, split_files


def make_input(path, n=2000, ctr=0.25, seed=1):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < ctr).astype(int)
    with open(path, "w") as f:
        for i, y in enumerate(labels):
            f.write(f"{y}\t{i}\t\t3\t" + "\t".join(f"{(i * 7 + j) % 13:08x}" for j in range(3)) + "\n")
    return labels


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_assigner_exact_ratios_streaming():
    labels = np.random.default_rng(0).random(10_007) < 0.2
    whole = StratifiedAssigner((8, 1, 1), seed=5).assign(labels)
    streamed = StratifiedAssigner((8, 1, 1), seed=5)
    parts = np.concatenate([streamed.assign(labels[i:i + 333]) for i in range(0, len(labels), 333)])
    np.testing.assert_array_equal(whole, parts)  # chunking does not change the assignment
    for cls in (0, 1):
        counts = np.bincount(whole[labels == cls], minlength=3)
        n = (labels == cls).sum()
        for s, r in enumerate((0.8, 0.1, 0.1)):
            assert abs(counts[s] - r * n) <= 8 * r + 1
    assert not np.array_equal(whole, StratifiedAssigner((8, 1, 1), seed=6).assign(labels))


def test_parse_ratios():
    assert parse_ratios("8:1:1") == (8, 1, 1)
    with pytest.raises(ValueError, match="3 non-negative integers"):
        parse_ratios("8:2")


def test_split_files_stratified_and_deterministic(tmp_path):
    src = tmp_path / "data.txt"
    labels = make_input(src)
    out1 = split_files([str(src)], str(tmp_path / "a"), "criteo", seed=3)
    out2 = split_files([str(src)], str(tmp_path / "b"), "criteo", seed=3)
    split_files([str(src)], str(tmp_path / "c"), "criteo", seed=4)
    assert out1 == out2
    for s in ("train", "valid", "test"):
        assert read_lines(tmp_path / "a" / f"{s}.txt") == read_lines(tmp_path / "b" / f"{s}.txt")
    assert read_lines(tmp_path / "a" / "valid.txt") != read_lines(tmp_path / "c" / "valid.txt")
    n, pos = len(labels), int(labels.sum())
    for s, r in zip(("train", "valid", "test"), (0.8, 0.1, 0.1)):
        assert abs(out1["rows"][s] - r * n) <= 2
        assert abs(out1["positives"][s] - r * pos) <= 1
    every = sum((read_lines(tmp_path / "a" / f"{s}.txt") for s in ("train", "valid", "test")), [])
    assert collections.Counter(every) == collections.Counter(read_lines(src))


def test_split_bad_label_names_line(tmp_path):
    src = tmp_path / "data.txt"
    src.write_text("0\t1\tab\n1\t2\tcd\nx\t3\tef\n")
    with pytest.raises(ValueError, match=r"data\.txt:3: field label: 'x' is not a number"):
        split_files([str(src)], str(tmp_path / "o"), "criteo")


def test_split_avazu_keeps_header(tmp_path):
    from pipelines.ctr.avazu import COLUMNS
    src = tmp_path / "train.csv"
    rows = [",".join(COLUMNS)] + [",".join([str(i), "1" if i % 4 == 0 else "0"] + ["a"] * 22)
                                  for i in range(100)]
    src.write_text("\n".join(rows) + "\n")
    out = split_files([str(src)], str(tmp_path / "o"), "avazu", seed=0)
    assert sum(out["rows"].values()) == 100 and sum(out["positives"].values()) == 25
    for s in ("train", "valid", "test"):
        assert read_lines(tmp_path / "o" / f"{s}.csv")[0] == rows[0]


def test_cli_split(tmp_path):
    from tfnas.cli import main
    from pipelines.ctr.dataset import load_info, load_spec, split_paths
    src = tmp_path / "data.txt"  # full 40-field Criteo rows: the CLI checks rows the way the readers do
    rng = np.random.default_rng(1)
    src.write_text("".join(_criteo_line(int(y), i) for i, y in enumerate(rng.random(300) < 0.25)))
    assert main(["data", "split", str(src), "--out", str(tmp_path / "o"), "--seed", "0", "--no-progress"]) == 0
    assert abs(load_info(tmp_path / "o")["rows"]["train"] - 240) <= 2
    assert load_spec(tmp_path / "o").num_sparse == 26
    assert [os.path.basename(p) for p in split_paths(tmp_path / "o")["test"]] == ["test.txt"]


def test_cli_inspect(tmp_path, capsys):
    import json
    from tfnas.cli import main
    src = tmp_path / "data.txt"
    lines = []
    for i in range(40):
        dense = ["" if i % 4 == 0 else str(i)] + ["1"] * 12
        cats = [f"{i % 3:08x}"] + ["" if i % 2 else "ab"] * 25
        lines.append("\t".join([str(int(i < 10))] + dense + cats))
    src.write_text("\n".join(lines) + "\n")
    assert main(["data", "inspect", str(src), "--format", "criteo", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 40 and stats["ctr"] == 0.25
    fields = {f["field"]: f for f in stats["fields"]}
    assert fields["I1"]["missing"] == 0.25 and fields["I1"]["distinct"] == 30
    assert fields["C1"]["distinct"] == 3 and fields["C2"]["missing"] == 0.5
    assert len(stats["head"]) == 5
    assert main(["data", "inspect", str(src), "--max-rows", "8"]) == 0
    assert "rows: 8" in capsys.readouterr().out


# ---------------------------------------------------------------- issue 10: inputs safe, bad rows, gzip
def _criteo_line(y, i):
    from pipelines.ctr.criteo import NUM_DENSE, NUM_SPARSE
    return "\t".join([str(y)] + [str(i % 7)] * NUM_DENSE + [f"{i % 5:08x}"] * NUM_SPARSE) + "\n"


def _criteo_fmt():
    from pipelines.ctr.criteo import default_spec, line_format
    return line_format(default_spec())


def test_split_refuses_input_under_split_name_and_keeps_it(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    src = d / "train.txt"
    src.write_text("".join(_criteo_line(i % 2, i) for i in range(50)))
    before = src.read_bytes()
    with pytest.raises(ValueError, match=r"train\.txt: input would be overwritten"):
        split_files([str(src)], str(d), "criteo")
    assert src.read_bytes() == before
    assert sorted(os.listdir(d)) == ["train.txt"]


def test_failed_split_leaves_no_outputs(tmp_path):
    src = tmp_path / "data.txt"
    src.write_text("".join(_criteo_line(i % 2, i) for i in range(30)) + "x\t1\n")
    out = tmp_path / "o"
    with pytest.raises(ValueError, match=r"data\.txt:31: "):
        split_files([str(src)], str(out), "criteo", line_format=_criteo_fmt())
    assert os.listdir(out) == []


def test_split_existing_outputs_untouched_by_failed_run(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "train.txt").write_text("old\n")
    src = tmp_path / "data.txt"
    src.write_text("1\tnot-a-label\n" * 0 + "7\t1\n")
    with pytest.raises(ValueError, match="is not 0 or 1"):
        split_files([str(src)], str(out), "criteo")
    assert (out / "train.txt").read_text() == "old\n"
    assert sorted(os.listdir(out)) == ["train.txt"]


def test_split_skip_counts_with_examples(tmp_path):
    from pipelines.ctr.badrows import BadRowReport
    src = tmp_path / "data.txt"
    lines = [_criteo_line(i % 2, i) for i in range(40)]
    for k in (3, 9, 11, 20, 25, 30, 33):
        lines[k] = "1\tshort\n"
    lines[5] = _criteo_line(1, 5).replace("1\t5\t", "1\tabc\t", 1)
    src.write_text("".join(lines))
    report = BadRowReport()
    out = split_files([str(src)], str(tmp_path / "o"), "criteo", line_format=_criteo_fmt(), bad_rows="skip",
                      report=report)
    assert sum(out["rows"].values()) == 32
    assert report.counts == {"field_count": 7, "not_a_number": 1}
    assert len(report.examples) == 5
    assert report.examples[0].startswith(f"{src}:4: expected 40 criteo fields")
    assert any(e.startswith(f"{src}:6: field I") for e in report.examples)


@pytest.mark.parametrize("content", ["", "id,click,hour\n"])
def test_split_zero_usable_rows_is_error(tmp_path, content):
    src = tmp_path / "data.csv"
    src.write_text(content)
    with pytest.raises(ValueError):
        split_files([str(src)], str(tmp_path / "o"), "avazu", bad_rows="skip")
    assert not [n for n in os.listdir(tmp_path / "o") if not n.startswith(".lock")]


def test_split_all_rows_skipped_is_error(tmp_path):
    src = tmp_path / "data.txt"
    src.write_text("1\tshort\n0\tshort\n")
    with pytest.raises(ValueError, match="0 usable rows"):
        split_files([str(src)], str(tmp_path / "o"), "criteo", line_format=_criteo_fmt(), bad_rows="skip")


@pytest.mark.parametrize("kind", ["gzip", "bz2"])
def test_split_compressed_input_detected_by_magic(tmp_path, kind):
    import bz2
    import gzip
    plain = tmp_path / "plain.txt"
    make_input(plain, n=300)
    data = plain.read_bytes()
    packed = tmp_path / "packed.txt"  # no .gz/.bz2 suffix: detection is by content
    packed.write_bytes(gzip.compress(data) if kind == "gzip" else bz2.compress(data))
    a = split_files([str(plain)], str(tmp_path / "a"), "criteo", seed=3)
    b = split_files([str(packed)], str(tmp_path / "b"), "criteo", seed=3)
    assert a == b
    for s in ("train", "valid", "test"):
        assert (tmp_path / "a" / f"{s}.txt").read_bytes() == (tmp_path / "b" / f"{s}.txt").read_bytes()


def test_split_unsupported_compression_named(tmp_path):
    src = tmp_path / "data.txt"
    src.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 20)
    with pytest.raises(ValueError, match="xz-compressed input is not supported"):
        split_files([str(src)], str(tmp_path / "o"), "criteo")


def test_split_corrupt_gzip_clean_error(tmp_path):
    import gzip
    src = tmp_path / "data.gz"
    src.write_bytes(gzip.compress(b"0\t1\n" * 1000)[:40])
    with pytest.raises(ValueError, match=r"data\.gz: cannot read"):
        split_files([str(src)], str(tmp_path / "o"), "criteo")
    assert os.listdir(tmp_path / "o") == []
