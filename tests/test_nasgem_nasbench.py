"""NAS-Bench tables: NB201 conversion + inferred op/edge meaning, NB101 tfrecord format round trip."""
import importlib.util
import json

import pytest

from pipelines.nasbench import EDGES, OPS, convert_nb201, infer_mapping, load_nb201, read_nb101, write_nb101_records


@pytest.fixture(scope="module")
def nb201(tmp_path_factory):
    if importlib.util.find_spec("analognasbench") is None:
        pytest.skip("analog-nasbench (tfnas[bench]) is not installed")
    cache = tmp_path_factory.mktemp("nbcache")
    path = convert_nb201(cache)
    return path, load_nb201(cache, convert=False)


def test_nb201_table_converted_and_read_without_pickle(nb201):
    path, table = nb201
    assert len(table) == 5 ** 6
    doc = json.loads(path.read_text())
    assert doc["ops"] == list(OPS) and [tuple(e) for e in doc["edges"]] == list(EDGES)
    best = max(v["baseline_accuracy"] for v in table.values())
    assert best == pytest.approx(94.07, abs=0.01)


def test_nb201_op_meaning_inferred_from_table(nb201):
    _, table = nb201
    none, conv3 = OPS.index("none"), OPS.index("nor_conv_3x3")
    assert table[(none,) * 6]["baseline_accuracy"] == pytest.approx(10.0)
    found = infer_mapping(table)
    assert found["ops"] == OPS
    assert found["edges"] == EDGES
    # a single conv3x3 on the direct input->output edge trains; on any other lone edge the cell is dead
    for k, (u, v) in enumerate(EDGES):
        cell = [none] * 6
        cell[k] = conv3
        acc = table[tuple(cell)]["baseline_accuracy"]
        assert (acc > 50) == ((u, v) == (0, 3)), (u, v, acc)


def test_nb201_missing_table_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="convert-nb201"):
        load_nb201(tmp_path, convert=False)
    (tmp_path / "nb201.json").write_text('{"format": "other", "rows": []}')
    with pytest.raises(ValueError, match="format"):
        load_nb201(tmp_path, convert=False)


def test_nb101_tfrecord_round_trip(tmp_path):
    matrix = [[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"]
    small = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    records = [("aaa", 108, matrix, ops, 1234, [(0.5, 0.4, 0.3, 10.0), (0.9, 0.8, 0.7, 20.0)]),
               ("aaa", 108, matrix, ops, 1234, [(0.5, 0.4, 0.3, 10.0), (0.95, 0.9, 0.8, 22.0)]),
               ("bbb", 108, small, ["input", "maxpool3x3", "output"], 99, [(1.0, 0.6, 0.5, 5.0)]),
               ("aaa", 36, matrix, ops, 1234, [(0.1, 0.1, 0.1, 1.0)])]
    path = tmp_path / "nb101.tfrecord"
    write_nb101_records(path, records)
    table = read_nb101(path)
    assert sorted(table) == ["aaa", "bbb"]
    a = table["aaa"]
    assert a["matrix"] == matrix and a["ops"] == ops and a["params"] == 1234 and a["repeats"] == 2
    assert a["test_accuracy"] == pytest.approx(0.75) and a["validation_accuracy"] == pytest.approx(0.85)
    assert table["bbb"]["matrix"] == small
    assert read_nb101(path, epochs=36)["aaa"]["test_accuracy"] == pytest.approx(0.1)


def test_nb101_bad_record_names_record(tmp_path):
    import tensorflow as tf
    path = tmp_path / "bad.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(b"not json")
    with pytest.raises(ValueError, match="record 0"):
        read_nb101(path)
    with pytest.raises(FileNotFoundError):
        read_nb101(tmp_path / "missing.tfrecord")
