"""Saved models as FLNet models (issue 17: "the routability-NAS found model once it exists"): a model.keras is rebuilt
fresh at the federated grid (same function for the same weights, output layer "logit", seeds reproducible and
distinct), the config names bad entries, and a routenas cell trains federated with its output conv kept local."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # editable install predates federated/

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "eda_default")
CHANNELS = 3


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A routenas cell with mixed depth-wise and dilated convs, saved as a retrain run folder would hold it."""
    import tensorflow as tf  # noqa: F401

    from tfnas.routenas.space import Macro, build_subnet, make_arch
    arch = make_arch([4, 2, 0, 5], [(0, 1), (1, 2), (0, 3), (2, 4), (3, 4)], "dense")
    model = build_subnet(arch, (16, 16, CHANNELS), Macro(8), seed=3)
    run = tmp_path_factory.mktemp("rn")
    os.makedirs(run / "retrain")
    model.save(str(run / "retrain" / "model.keras"))
    (run / "run.json").write_text(json.dumps({"model": "retrain/model.keras"}))
    return model, run


def test_rebuilt_model_is_the_same_function_at_another_grid(saved):
    from tfnas.routability.keras_file import from_keras_file
    model, run = saved
    a = from_keras_file(str(run), (8, 12, CHANNELS), seed=0)
    assert a.layers[-1].name == "logit" and a.output_shape == (None, 8, 12, 1)
    b = from_keras_file(str(run / "retrain" / "model.keras"), (8, 12, CHANNELS), seed=0)
    c = from_keras_file(str(run), (8, 12, CHANNELS), seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))   # reproducible
    assert any(not np.array_equal(u, v) for u, v in zip(a.get_weights(), c.get_weights()))  # seeds differ
    a.set_weights(model.get_weights())                        # fully convolutional: the weights carry over
    x = np.random.default_rng(0).normal(size=(2, 16, 16, CHANNELS)).astype(np.float32)
    again = from_keras_file(str(run), (16, 16, CHANNELS))
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(x, training=False), model(x, training=False), atol=1e-6)


def test_bad_paths_and_names_are_one_line_errors(saved, tmp_path):
    from federated.experiment import load_config
    from tfnas.routability import estimators
    from tfnas.routability.keras_file import resolve
    _, run = saved
    with pytest.raises(ValueError, match="not a model.keras file nor a run folder"):
        resolve(str(tmp_path))
    (tmp_path / "x.keras").write_text("no zip")
    with pytest.raises(ValueError, match="not a saved Keras model"):
        resolve(str(tmp_path / "x.keras"))
    with pytest.raises(ValueError, match="hand-made estimator"):
        estimators.register_keras_model("flnet", str(run))
    for models, why in (({"found": str(tmp_path / "nope")}, "keras_models.found"),
                        ({"flnet": str(run)}, "keras_models")):
        p = tmp_path / "c.json"
        p.write_text(json.dumps({"data": DATA, "models": ["flnet"], "keras_models": models}))
        with pytest.raises(ValueError, match=why):
            load_config(str(p))
    p.write_text(json.dumps({"data": DATA, "models": ["found"]}))
    with pytest.raises(ValueError, match="'models'"):
        load_config(str(p))


@pytest.mark.federated
def test_found_cell_trains_federated_with_its_output_conv_local(saved, tmp_path):
    from federated.experiment import load_config, run_experiment
    from federated.runtime import import_tff, shutdown_workers
    _, run = saved
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"data": DATA, "models": ["found"], "keras_models": {"found": str(run)}, "grid": [16, 16],
                             "rounds": 2, "batch_size": 4, "algorithms": ["fedavg", "partial_local"]}))
    cfg = load_config(str(p))
    import_tff()
    try:
        res = run_experiment(cfg, str(tmp_path / "out"), log=lambda *_: None)
    finally:
        shutdown_workers()
    by_algo = {r["algorithm"]: r for r in res["runs"]}
    assert set(by_algo) == {"fedavg", "partial_local"}
    for r in by_algo.values():
        assert 0.0 <= r["mean_auc_pooled"] <= 1.0 and len(r["final"]) >= 2
    from federated.driver import read_checkpoint
    kept = read_checkpoint(str(tmp_path / "out" / by_algo["partial_local"]["run_dir"]))["local"]
    assert kept and all(len(w) == 2 for w in kept.values())         # the logit conv's kernel and bias per client
    assert all(not w for w in read_checkpoint(str(tmp_path / "out" / by_algo["fedavg"]["run_dir"]))["local"].values())
    assert (tmp_path / "out" / "table.md").read_text().count("| found |") == 2


@pytest.mark.federated
def test_found_cell_fedavg_round_equals_keras_training(saved):
    """One FedAvg round of one client on the saved cell (BatchNorm, mixed depth-wise convs) is its Keras fit: the
    TFF wrapping adds nothing model-specific. SGD, so float noise is not amplified as Adam's first steps do."""
    import tensorflow as tf

    from federated.clients import Client
    from federated.process import RoundProcess
    from federated.runtime import import_tff, shutdown_workers
    from tfnas.routability import estimators
    from tfnas.train.task import TileBCETask
    _, run = saved
    estimators.register_keras_model("found_cell", str(run))
    grid = (8, 8, CHANNELS)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, *grid)).astype(np.float32)
    y = (x[..., :1] > 0.3).astype(np.float32)
    c = Client(name="a", group={"family": "a"}, x_train=x[:4], y_train=y[:4], x_val=x[4:], y_val=y[4:],
               train_designs=["a_t"], val_designs=["a_v"], normalizer={}, n_failed_val=np.zeros(2, np.float32))
    batches = c.round_data(2, 1, (0, 0, 0))
    import_tff()
    try:
        proc = RoundProcess("found_cell", grid, optimizer="sgd", lr=0.05, seed=0)
        glob, local = proc.initial_weights()
        out = proc.next(glob, [local], [proc.initial_opt_state()], [batches])
    finally:
        shutdown_workers()
    model = estimators.build_estimator("found_cell", grid, seed=0)
    proc.layout.set(model, glob, local)
    TileBCETask().compile(model, tf.keras.optimizers.SGD(0.05))
    ds = tf.data.Dataset.from_tensors(batches[0])
    for b in batches[1:]:
        ds = ds.concatenate(tf.data.Dataset.from_tensors(b))
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    moved = max(float(np.abs(a - w).max()) for a, w in zip(out["global"], glob))
    diff = max(float(np.abs(a - w).max()) for a, w in zip(out["global"], proc.layout.get(model)[0]))
    assert moved > 1e-3 and diff < 1e-4, (moved, diff)
