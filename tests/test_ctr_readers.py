"""Readers of every CTR format on small files written here: values, bad-row errors/skips, empty files,
and the preprocessing contract (log transform, hash ranges, field salting)."""
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines.ctr import avazu, criteo, kdd12
from pipelines.ctr.badrows import BadRowError, BadRowReport, clear_errors
from pipelines.ctr.dataset import load_spec, make_dataset, split_paths
from pipelines.ctr.features import CTRPreprocessor
from pipelines.ctr.schema import FeatureSpec, save_spec
from pipelines.ctr.table import TableSchema


def criteo_line(i: int) -> str:
    dense = ["" if (i + k) % 5 == 0 else str((i * 7 + k) % 50) for k in range(13)]
    cats = ["" if (i + j) % 7 == 0 else f"{(i * 31 + j * 17) % 97:08x}" for j in range(26)]
    return "\t".join([str(i % 2)] + dense + cats)


def write(path, lines, end="\n"):
    with open(path, "w") as f:
        f.write("\n".join(lines) + (end if lines else ""))
    return str(path)


def collect(ds):
    out = {}
    for b in ds:
        for k, v in b.items():
            out.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def read_all(paths, fmt, spec, **kw):
    with clear_errors():
        return collect(make_dataset(paths, fmt, spec, 16, **kw))


SPEC = criteo.default_spec(1000)


def test_criteo_raw_values(tmp_path):
    lines = [criteo_line(i) for i in range(50)]
    raw = read_all(write(tmp_path / "data.txt", lines), "criteo", SPEC, processed=False)
    assert raw["label"].shape == (50,) and raw["dense"].shape == (50, 13) and raw["categorical"].shape == (50, 26)
    fields = lines[3].split("\t")
    assert raw["label"][3] == float(fields[0])
    for k in range(13):
        want = float("nan") if fields[1 + k] == "" else float(fields[1 + k])
        assert (math.isnan(raw["dense"][3, k]) and math.isnan(want)) or raw["dense"][3, k] == want
    assert [c.decode() for c in raw["categorical"][3]] == fields[14:]


def test_criteo_processed_contract(tmp_path):
    lines = [criteo_line(i) for i in range(40)]
    path = write(tmp_path / "data.txt", lines)
    raw = read_all(path, "criteo", SPEC, processed=False)
    proc = read_all(path, "criteo", SPEC)
    want = np.log1p(np.maximum(np.nan_to_num(raw["dense"], nan=0.0), 0))
    np.testing.assert_allclose(proc["dense"], want, rtol=1e-6)
    assert proc["sparse"].dtype == np.int64
    assert (proc["sparse"] >= 0).all() and (proc["sparse"] < np.array(SPEC.vocab_sizes)).all()
    assert ((proc["sparse"] == 0) == (raw["categorical"] == b"")).all()


def test_criteo_bad_number_names_file_line_field(tmp_path):
    lines = [criteo_line(i) for i in range(30)]
    f = lines[1233 % 30].split("\t")
    f[5] = "abc"
    lines[1233 % 30] = "\t".join(f)
    path = write(tmp_path / "data.txt", lines)
    with pytest.raises(BadRowError, match=r"data\.txt:4: field I5: 'abc' is not a number"):
        read_all(path, "criteo", SPEC)


def test_criteo_wrong_field_count_and_skip(tmp_path):
    lines = [criteo_line(i) for i in range(40)]
    lines[9] = "\t".join(lines[9].split("\t")[:-1])        # 39 fields
    f = lines[20].split("\t")
    f[13] = "1.5x"
    lines[20] = "\t".join(f)                                  # I13 not a number
    lines[30] = "2" + lines[30][1:]                           # label not 0/1
    path = write(tmp_path / "data.txt", lines)
    with pytest.raises(BadRowError, match=r"data\.txt:10: expected 40 criteo fields, found 39"):
        read_all(path, "criteo", SPEC)
    report = BadRowReport()
    out = read_all(path, "criteo", SPEC, bad_rows="skip", report=report)
    assert len(out["label"]) == 37
    assert dict(report.counts) == {"field_count": 1, "not_a_number": 1, "bad_label": 1}
    assert "bad rows skipped: 3" in report.summary()


def test_skip_drops_batches_with_no_usable_row(tmp_path):
    """A batch whose rows were all skipped is not handed to training (a 0-row batch trained to loss 0.0)."""
    lines = ["2" + criteo_line(i)[1:] for i in range(12)] + [criteo_line(i) for i in range(3)]  # 12 bad labels
    path = write(tmp_path / "data.txt", lines)
    sizes = [len(b["label"]) for b in make_dataset(path, "criteo", SPEC, 4, processed=False, bad_rows="skip",
                                                    report=BadRowReport())]
    assert sizes == [3]
    bad = write(tmp_path / "bad.txt", lines[:12])
    assert list(make_dataset(bad, "criteo", SPEC, 4, processed=False, bad_rows="skip", report=BadRowReport())) == []


def test_empty_file_error_and_skip(tmp_path):
    empty = write(tmp_path / "empty.txt", [])
    good = write(tmp_path / "good.txt", [criteo_line(i) for i in range(5)])
    with pytest.raises(BadRowError, match=r"empty\.txt: file is empty"):
        make_dataset([empty, good], "criteo", SPEC, 4)
    report = BadRowReport()
    out = read_all([empty, good], "criteo", SPEC, bad_rows="skip", report=report)
    assert len(out["label"]) == 5 and report.counts["empty_file"] == 1


def test_shuffle_repeat_keep_rows(tmp_path):
    lines = [criteo_line(i) for i in range(64)]
    path = write(tmp_path / "data.txt", lines)
    ds = make_dataset(path, "criteo", SPEC, 8, shuffle=True, repeat=True, processed=False, seed=3)
    got = np.concatenate([b["categorical"][:, 0].numpy() for b in ds.take(8)])
    want = np.array([ln.split("\t")[14].encode() for ln in lines])
    assert sorted(got.tolist()) == sorted(want.tolist())


AVAZU_ROW = "1000009418151094273,{click},14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9," \
            "07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79"


def test_avazu_csv(tmp_path):
    rows = [",".join(avazu.COLUMNS)] + [AVAZU_ROW.format(click=i % 2) for i in range(10)]
    spec = avazu.default_spec(1000)
    raw = read_all(write(tmp_path / "train.csv", rows), "avazu", spec, processed=False)
    assert raw["label"].tolist() == [float(i % 2) for i in range(10)]
    assert raw["dense"].shape == (10, 1) and (raw["dense"] == 0).all()
    assert raw["categorical"].shape == (10, 23)
    assert raw["categorical"][0, 1] == b"14102100" and raw["categorical"][0, -1] == b"79"
    rows[4] = rows[4].rsplit(",", 1)[0]
    path = write(tmp_path / "data.csv", rows)
    with pytest.raises(BadRowError, match=r"data\.csv:5: expected 24 avazu fields, found 23"):
        read_all(path, "avazu", spec)
    report = BadRowReport()
    assert len(read_all(path, "avazu", spec, bad_rows="skip", report=report)["label"]) == 9
    bad_header = write(tmp_path / "h.csv", ["id,click,hour"] + rows[1:3])
    with pytest.raises(ValueError, match="h.csv:1: Avazu header mismatch"):
        make_dataset(bad_header, "avazu", spec, 4)


def test_avazu_nasrec_tsv(tmp_path):
    lines = ["\t".join(["1", "-1"] + [f"{j:08x}" for j in range(23)]) for _ in range(4)]
    out = read_all(write(tmp_path / "train.txt", lines), "avazu", avazu.default_spec(100))
    assert out["dense"].shape == (4, 1) and (out["dense"] == 0).all() and out["sparse"].shape == (4, 23)


def test_kdd12_prepared_and_raw(tmp_path):
    spec = kdd12.default_spec(1000)
    prepared = ["\t".join(["1", "1", "2", "1"] + [f"{j:08x}" for j in range(10)]) for _ in range(3)]
    out = read_all(write(tmp_path / "train.txt", prepared), "kdd12", spec, processed=False)
    assert out["dense"].tolist() == [[1, 2, 1]] * 3 and out["categorical"].shape == (3, 10)
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    raw = ["0\t1\t4298118681424644510\t7686695\t385\t3\t3\t1601\t5521\t7709\t576\t490234",
           "2\t3\t4860571499428580850\t21560664\t37484\t2\t2\t2255103\t317\t48989\t44771\t490234",
           "1\t1\t9704320783495875564\t21748480\t36759\t3\t3\t4532751\t60721\t685038\t29681\t999"]
    write(raw_dir / "userid_profile.txt", ["490234\t1\t5", "123\t2\t3"])
    out = read_all(write(raw_dir / "training.txt", raw), "kdd12", spec, processed=False)
    assert out["label"].tolist() == [0.0, 1.0, 1.0]  # Click > 0 -> 1, as NASRec
    assert out["dense"].tolist() == [[1, 3, 3], [3, 2, 2], [1, 3, 3]]
    assert [c.decode() for c in out["categorical"][0]] == \
        ["4298118681424644510", "7686695", "385", "1601", "5521", "7709", "576", "490234", "1", "5"]
    assert out["categorical"][2, 8:].tolist() == [b"0", b"0"]  # unknown user -> "0","0" (NASRec)
    bad = raw[:1] + ["1\tx\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10"]
    with pytest.raises(BadRowError, match=r"training2\.txt:2: field Impression: 'x' is not a number"):
        read_all(write(raw_dir / "training2.txt", bad), "kdd12", spec)


@pytest.fixture(scope="module")
def table_schema():
    return TableSchema("clicked", ("price", "age"), ("ad", "user"), ({"name": "tags", "sep": "|", "slots": 2},))


def table_rows():
    return ["clicked,price,age,ad,user,tags"] + [
        f"{int(i % 3 == 0)},{i * 1.5},{'' if i % 4 == 0 else i % 7},ad{i % 5},u{i},{'b|a|c' if i % 2 else ''}"
        for i in range(30)]


def test_table_csv_tsv_parquet(tmp_path, table_schema):
    rows = table_rows()
    spec = table_schema.spec()
    assert spec.sparse_names == ("ad", "user", "tags_1", "tags_2")
    csv = read_all(write(tmp_path / "t.csv", rows), "table", spec, table_schema=table_schema, processed=False)
    assert len(csv["label"]) == 30 and csv["label"][:4].tolist() == [1, 0, 0, 1]
    assert math.isnan(csv["dense"][0, 1]) and csv["dense"][1, 0] == 1.5
    assert csv["categorical"][1].tolist() == [b"ad1", b"u1", b"b", b"a"]
    assert csv["categorical"][0, 2:].tolist() == [b"", b""]
    tsv = read_all(write(tmp_path / "t.tsv", [r.replace(",", "\t") for r in rows]), "table", spec,
                   table_schema=table_schema, processed=False)
    np.testing.assert_array_equal(tsv["categorical"], csv["categorical"])
    import pandas as pd
    pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False).to_parquet(tmp_path / "t.parquet")
    pq = read_all(str(tmp_path / "t.parquet"), "table", spec, table_schema=table_schema, processed=False)
    np.testing.assert_array_equal(pq["categorical"], csv["categorical"])
    np.testing.assert_array_equal(np.nan_to_num(pq["dense"], nan=-7), np.nan_to_num(csv["dense"], nan=-7))
    proc = read_all(tmp_path / "t.csv", "table", spec, table_schema=table_schema)
    assert proc["sparse"].shape == (30, 4) and (proc["sparse"][0, 2:] == 0).all()


def test_table_bad_rows(tmp_path, table_schema):
    rows = table_rows()
    rows[6] = "0,cheap,3,ad1,u5,"
    rows[12] = "0,1,2,ad1,u5,x,extra"
    path = write(tmp_path / "bad.csv", rows)
    with pytest.raises(BadRowError, match=r"bad\.csv:7: field price: 'cheap' is not a number"):
        read_all(path, "table", table_schema.spec(), table_schema=table_schema)
    report = BadRowReport()
    out = read_all(path, "table", table_schema.spec(), table_schema=table_schema, bad_rows="skip", report=report)
    assert len(out["label"]) == 28 and dict(report.counts) == {"field_count": 1, "not_a_number": 1}
    bad = TableSchema("clicked", ("nope",))
    with pytest.raises(ValueError, match=r"bad\.csv:1: schema column\(s\) not in the header \(dense: 'nope'\)"):
        make_dataset(path, "table", bad.spec(), 4, table_schema=bad)


def test_table_schema_json_roundtrip(tmp_path, table_schema):
    import json
    (tmp_path / "s.json").write_text(json.dumps(table_schema.to_dict()))
    assert TableSchema.load(str(tmp_path / "s.json")) == table_schema
    assert TableSchema.from_flags("clicked", "price,age", "ad,user", "tags:|:2") == table_schema


def test_preprocessor_hash_salt_and_config():
    spec = FeatureSpec(("a",), ("x", "y", "z"), (50, 50, 7))
    layer = CTRPreprocessor(spec)
    words = [f"w{i}" for i in range(40)]
    cats = tf.constant([[w, w, w] for w in words] + [["", "", ""]])
    out = layer({"dense": tf.constant([[-5.0]] * 41), "categorical": cats})
    ids = out["sparse"].numpy()
    assert (ids[:-1] >= 1).all() and (ids[:, :2] < 50).all() and (ids[:, 2] < 7).all()
    assert ids[-1].tolist() == [0, 0, 0]
    assert (ids[:-1, 0] != ids[:-1, 1]).mean() > 0.8  # same string, different field -> different bucket
    assert (out["dense"].numpy() == 0).all()           # negatives clamp to 0 -> log1p(0)
    clone = CTRPreprocessor.from_config(layer.get_config())
    np.testing.assert_array_equal(clone({"dense": tf.constant([[1.0]] * 41), "categorical": cats})["sparse"], ids)


def test_load_spec_and_split_paths(tmp_path):
    save_spec(tmp_path, SPEC, {"format": "criteo"})
    for s in ("train", "valid", "test"):
        write(tmp_path / f"{s}.txt", [criteo_line(0)])
    assert load_spec(tmp_path) == SPEC
    paths = split_paths(tmp_path)
    assert {k: [os.path.basename(p) for p in v] for k, v in paths.items()} == \
        {"train": ["train.txt"], "valid": ["valid.txt"], "test": ["test.txt"]}
    nas = tmp_path / "nasrec"
    (nas / "shard-0").mkdir(parents=True)
    write(nas / "shard-0" / "val.txt", [criteo_line(0)])
    assert [os.path.basename(p) for p in split_paths(nas)["valid"]] == ["val.txt"]


# ---------------------------------------------------------------- issue 10: compressed input by magic bytes
def test_gzip_input_read_like_plain(tmp_path):
    import gzip
    lines = [criteo_line(i) for i in range(40)]
    plain = write(tmp_path / "plain.txt", lines)
    packed = tmp_path / "packed.txt"  # no .gz suffix: detected from the content
    packed.write_bytes(gzip.compress(open(plain, "rb").read()))
    a = read_all(plain, "criteo", SPEC, processed=False)
    b = read_all(str(packed), "criteo", SPEC, processed=False)
    np.testing.assert_array_equal(a["label"], b["label"])
    np.testing.assert_array_equal(a["categorical"], b["categorical"])


def test_gzip_bad_row_located(tmp_path):
    import gzip
    lines = [criteo_line(i) for i in range(10)] + ["1\tshort"]
    packed = tmp_path / "data.gz"
    packed.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(BadRowError, match=r"data\.gz:11: expected 40 criteo fields, found 2"):
        read_all(str(packed), "criteo", SPEC, processed=False)


def test_unsupported_compression_named(tmp_path):
    import bz2
    packed = tmp_path / "data.txt"
    packed.write_bytes(bz2.compress(b"0\t1\n"))
    with pytest.raises(ValueError, match="bz2-compressed input is not supported by the reader"):
        read_all(str(packed), "criteo", SPEC, processed=False)
