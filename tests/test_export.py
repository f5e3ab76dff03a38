"""Exports: raw-feature SavedModel reloaded in a fresh process, REST body helper, version dirs, TFLite."""
import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pipelines.ctr.baselines import build_baseline  # noqa: E402
from pipelines.ctr.features import CTRPreprocessor  # noqa: E402
from pipelines.ctr.schema import FeatureSpec  # noqa: E402
from tfnas import export as E  # noqa: E402

SPEC = FeatureSpec(("I1", "I2"), ("C1", "C2", "C3"), (16, 30, 8))


@pytest.fixture(scope="module")
def network():
    tf.keras.utils.set_random_seed(0)
    net = build_baseline("dlrm", SPEC, embedding_dim=4, bottom=[8], top=[8])
    net({"dense": tf.zeros([1, 2]), "sparse": tf.zeros([1, 3], tf.int64)})
    # non-trivial weights: push every variable away from its initial value
    for v in net.trainable_variables:
        v.assign(v + tf.random.normal(v.shape, stddev=0.3))
    return net


@pytest.fixture(scope="module")
def raw():
    """Raw rows with missing dense (NaN) and categorical ("") values and negative counts."""
    return {"dense": np.array([[3, np.nan], [0, 120], [-1, 7], [np.nan, np.nan], [45, 2]], np.float32),
            "categorical": np.array([["68fd1e64", "a", ""], ["", "", ""], ["05db9164", "b", "x"],
                                     ["68fd1e64", "zz", "x"], ["ae82ea21", "a", "y"]], object)}


def _keras_prob(net, raw):
    proc = CTRPreprocessor(SPEC)({"dense": tf.constant(raw["dense"]),
                                  "categorical": tf.constant(raw["categorical"], tf.string)})
    return tf.sigmoid(net(proc)).numpy()


@pytest.fixture(scope="module")
def exported(network, tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    return E.export_saved_model(network, SPEC, "ctr", root=root), root


def test_versions_increment(network, exported):
    path, root = exported
    assert path == os.path.join(root, "ctr", "1")
    assert E.next_version(root, "ctr") == 2
    second = E.export_saved_model(network, SPEC, "ctr", root=root)
    assert second == os.path.join(root, "ctr", "2")
    assert E.existing_versions(root, "ctr") == [1, 2]
    with pytest.raises(FileExistsError):
        E.export_saved_model(network, SPEC, "ctr", version=2, root=root)
    assert E.export_saved_model(network, SPEC, "ctr", version=7, root=root).endswith(os.sep + "7")
    assert E.next_version(root, "ctr") == 8
    assert not [d for d in os.listdir(os.path.join(root, "ctr")) if not d.isdigit()]  # no temp leftovers
    assert E.load_exported_spec(path) == SPEC


def test_signature_takes_named_raw_features(exported):
    info = E.describe_export(exported[0])
    assert info["inputs"] == {"C1": "string", "C2": "string", "C3": "string", "I1": "float32", "I2": "float32"}
    assert info["outputs"] == ["logit", "probability"]


def test_subprocess_reload_matches_keras(network, exported, raw):
    out = E.predict_in_subprocess(exported[0], E.raw_batch_to_inputs(raw, SPEC))
    ref = _keras_prob(network, raw)
    assert out["probability"].shape == (5, 1) and out["logit"].shape == (5, 1)
    np.testing.assert_allclose(out["probability"], ref, atol=1e-5)
    np.testing.assert_allclose(1 / (1 + np.exp(-out["logit"])), ref, atol=1e-5)
    assert np.ptp(ref) > 1e-3  # the rows really differ, so the comparison means something


def test_rest_helper_row_and_columnar_forms(network, exported, raw):
    rows = {"instances": [
        {"I1": 3, "C1": "68fd1e64", "C2": "a"},                       # I2, C3 missing keys
        {"I1": 0, "I2": 120, "C1": None, "C2": "", "C3": None},        # nulls
        {"I1": -1, "I2": 7, "C1": "05db9164", "C2": "b", "C3": "x"},
        {"C1": "68fd1e64", "C2": "zz", "C3": "x"},
        {"I1": 45.0, "I2": "2", "C1": "ae82ea21", "C2": "a", "C3": "y"}]}
    cols = {"inputs": {"I1": [3, 0, -1, None, 45], "I2": [None, 120, 7, None, 2],
                       "C1": ["68fd1e64", None, "05db9164", "68fd1e64", "ae82ea21"],
                       "C2": ["a", "", "b", "zz", "a"], "C3": [None, "", "x", "x", "y"]}}
    serve = tf.saved_model.load(exported[0]).signatures["serving_default"]
    ref = _keras_prob(network, raw)
    for body in (rows, cols):
        inputs = E.rest_request_to_inputs(body, SPEC)
        assert set(inputs) == {"I1", "I2", "C1", "C2", "C3"}
        np.testing.assert_allclose(serve(**inputs)["probability"].numpy(), ref, atol=1e-5)
    ints = E.rest_request_to_inputs({"instances": [{"C1": 17}]}, SPEC)
    assert ints["C1"].numpy().tolist() == [b"17"] and np.isnan(ints["I1"].numpy()[0])
    with pytest.raises(ValueError, match=r"instances\[1\].*unknown.*C9"):
        E.rest_request_to_inputs({"instances": [{"I1": 1}, {"C9": "a"}]}, SPEC)
    with pytest.raises(ValueError, match=r"instances\[0\] I1"):
        E.rest_request_to_inputs({"instances": [{"I1": "abc"}]}, SPEC)
    with pytest.raises(ValueError, match="differ in length"):
        E.rest_request_to_inputs({"inputs": {"I1": [1, 2], "C1": ["a"]}}, SPEC)
    with pytest.raises(ValueError, match="instances"):
        E.rest_request_to_inputs({"rows": []}, SPEC)


@pytest.fixture(scope="module")
def processed(raw):
    out = CTRPreprocessor(SPEC)({"dense": tf.constant(raw["dense"]),
                                 "categorical": tf.constant(raw["categorical"], tf.string)})
    return {"dense": out["dense"].numpy(), "sparse": out["sparse"].numpy()}


def test_tflite_float_models_match(network, processed):
    model = E.processed_input_model(network, SPEC)
    ref = model(processed).numpy()
    fp32 = E.to_tflite(model, "float32")
    np.testing.assert_allclose(E.tflite_predict(fp32, processed), ref, atol=1e-5)
    fp16 = E.to_tflite(model, "float16")
    tensors = tf.lite.Interpreter(model_content=fp16).get_tensor_details()
    assert any(t["dtype"] == np.float16 for t in tensors)   # weights stored as fp16
    np.testing.assert_allclose(E.tflite_predict(fp16, processed), ref, atol=2e-2)
    lat = E.tflite_latency(fp32, processed, num_threads=1, runs=5)
    assert lat["median_ms"] > 0 and lat["runs"] == 5
    with pytest.raises(ValueError, match="mode"):
        E.to_tflite(model, "int4")


def test_tflite_int8_full_integer(network, processed):
    model = E.processed_input_model(network, SPEC)
    ref = model(processed).numpy()
    rng = np.random.default_rng(0)
    rep = [{"dense": np.log1p(rng.integers(0, 200, (1, 2))).astype(np.float32),
            "sparse": rng.integers(0, 8, (1, 3)).astype(np.int64)} for _ in range(32)]
    with pytest.raises(ValueError, match="representative"):
        E.to_tflite(model, "int8")
    q = E.to_tflite(model, "int8", representative_data=lambda: iter(rep))
    interp = tf.lite.Interpreter(model_content=q)
    types = {d["name"]: d["dtype"] for d in interp.get_input_details()}
    assert np.int8 in types.values()                        # float input became int8
    assert interp.get_output_details()[0]["dtype"] == np.int8
    got = E.tflite_predict(q, processed)
    scale = float(np.ptp(ref)) + 1e-6
    assert np.max(np.abs(got - ref)) < 0.1 * scale + 0.05, (got, ref)


def test_export_cli_from_a_run(tmp_path, capsys):
    from pipelines.ctr.dataset import load_info, load_spec
    from pipelines.ctr.schema import save_spec
    from pipelines.ctr.synthetic import write_synthetic
    from tfnas.train.ctr import TrainConfig, train_run
    from tfnas.cli import main

    data = str(tmp_path / "data")
    write_synthetic(data, 600, seed=5)
    save_spec(data, load_spec(data).with_cap(16), load_info(data))
    run = str(tmp_path / "run")
    train_run(TrainConfig(model="mlp", data=data, epochs=1, batch_size=64, steps_per_epoch=3,
                          hparams={"embedding_dim": 4, "hidden": [8]}), run, verbose=0)
    root = str(tmp_path / "sm")
    assert main(["export", "--run", run, "--name", "m", "--root", root, "--tflite", "float32"]) == 0
    out = capsys.readouterr().out
    assert os.path.join(root, "m", "1") in out and "13 float32, 26 string" in out
    assert float(out.split("max |served - keras| = ")[1].split()[0]) < 1e-5      # fresh-process reload check
    assert os.path.getsize(os.path.join(run, "model_float32.tflite")) > 1000
    assert main(["export", "--run", run, "--name", "m", "--root", root, "--version", "1"]) == 1
    assert main(["export", "--run", str(tmp_path), "--name", "m", "--root", root]) == 1


def test_export_cli_from_a_nasrec_run_dir(tmp_path, capsys):
    """A NASRec run dir (config.json + retrain/results.json + weights, as the pipeline leaves it) exports its
    best retrained candidate with the raw-feature signature, checked by a fresh-process reload."""
    from tfnas.cli import main
    from tfnas.nasrec.config import DataConfig, NASRecConfig, SpaceConfig
    from tfnas.nasrec.pipeline import RunData
    from tfnas.nasrec.retrain import RESULTS_FILE, Retrainer
    from tfnas.nasrec.space import NASRecSpace
    from tfnas.nasrec.subnet import build_subnet

    run = str(tmp_path / "run")
    widths = {"dense_widths": [16], "sparse_widths": [16]}
    cfg = NASRecConfig(run_dir=run, data=DataConfig(dir=str(tmp_path / "data"), synthetic=True, synthetic_rows=600,
                                                     synthetic_seed=2),
                       space=SpaceConfig(kind="full", num_blocks=1, extra=widths))
    cfg.save(os.path.join(run, "config.json"))
    spec = RunData(cfg).spec
    space = NASRecSpace("full", num_blocks=1, **widths)
    archs = [space.sample(np.random.default_rng(s)) for s in (3, 4)]
    results = {}
    os.makedirs(os.path.join(run, "retrain"))
    for i, arch in enumerate(archs):
        net = build_subnet(arch, spec)
        net({"dense": tf.zeros([1, spec.num_dense]), "sparse": tf.zeros([1, spec.num_sparse], tf.int64)})
        net.save_weights(Retrainer.weights_path_for(os.path.join(run, "retrain"), f"cand_{i}"))
        results[f"cand_{i}"] = {"kind": "nasrec", "arch": arch.to_dict(), "val_logloss": 0.5 - 0.1 * i}
    with open(os.path.join(run, "retrain", RESULTS_FILE), "w") as f:
        json.dump(results, f)
    root = str(tmp_path / "sm")
    assert main(["export", "--run", run, "--name", "nasrec", "--root", root]) == 0
    out = capsys.readouterr().out
    assert "nasrec cand_1" in out and os.path.join(root, "nasrec", "1") in out   # the lower val logloss
    assert float(out.split("max |served - keras| = ")[1].split()[0]) < 1e-5


def test_stale_temp_of_a_dead_writer_is_removed_and_a_live_ones_kept(tmp_path):
    import subprocess
    import sys
    from tfnas.export.serving import remove_stale_temps
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    base = tmp_path / "m"
    (base / f".1.tmp-{dead.pid}-abc").mkdir(parents=True)
    (base / f".2.tmp-{os.getpid()}-def").mkdir()
    (base / "1").mkdir()
    removed = remove_stale_temps(str(base))
    assert [os.path.basename(p) for p in removed] == [f".1.tmp-{dead.pid}-abc"]
    assert sorted(os.listdir(base)) == [f".2.tmp-{os.getpid()}-def", "1"]
