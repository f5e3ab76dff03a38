"""CTR ranking baselines in the TFRS Ranking task: they learn, serialise, keep sparse gradients, train/resume."""
import dataclasses
import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pipelines.ctr.baselines import BASELINES, build_baseline  # noqa: E402
from pipelines.ctr.ranking import RankingModel  # noqa: E402
from pipelines.ctr.schema import FeatureSpec, save_spec  # noqa: E402

SPEC = FeatureSpec.uniform(3, 4, 40)
SMALL = {"dlrm": dict(bottom=[16], top=[16]), "deepfm": dict(hidden=[16]),
         "dcnv2": dict(num_cross=2, hidden=[16]), "autoint": dict(num_layers=1, num_heads=2, key_dim=4),
         "mlp": dict(hidden=[16])}


def _net(name):
    return build_baseline(name, SPEC, embedding_dim=8, **SMALL[name])


@pytest.fixture(scope="module")
def toy():
    """Processed tensors with a planted signal in one dense and one sparse field (plus an interaction)."""
    rng = np.random.default_rng(0)
    n = 2048
    dense = rng.normal(size=(n, 3)).astype("float32")
    sparse = rng.integers(0, 40, size=(n, 4)).astype("int64")
    logit = 1.5 * dense[:, 0] + np.where(sparse[:, 0] < 20, 1.5, -1.5) + dense[:, 1] * (sparse[:, 1] % 2)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32")
    return {"dense": dense, "sparse": sparse, "label": label}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_learns_in_ranking_task(name, toy):
    tf.keras.utils.set_random_seed(1)
    model = RankingModel(_net(name))
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02))
    ds = tf.data.Dataset.from_tensor_slices(toy).batch(128)
    before = model.evaluate(ds, verbose=0, return_dict=True)
    model.fit(ds, epochs=2, verbose=0)
    after = model.evaluate(ds, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] - 0.05, (before, after)
    assert after["auc"] > 0.75
    assert {"auc", "logloss", "loss"} <= set(after)
    logits = model({"dense": toy["dense"][:5], "sparse": toy["sparse"][:5]})
    assert logits.shape == (5, 1)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_get_config_round_trips(name, toy):
    net = _net(name)
    batch = {"dense": toy["dense"][:7], "sparse": toy["sparse"][:7]}
    ref = net(batch).numpy()
    config = net.get_config()
    json.dumps(config)  # JSON-able, FeatureSpec included
    clone = type(net).from_config(config)
    clone(batch)
    assert clone.get_config() == config
    clone.set_weights(net.get_weights())
    np.testing.assert_allclose(clone(batch).numpy(), ref, atol=1e-6)
    # generic Keras (de)serialisation, as RankingModel.get_config uses
    again = tf.keras.utils.deserialize_keras_object(tf.keras.utils.serialize_keras_object(net))
    assert type(again) is type(net) and again.get_config() == config


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_embedding_gradients_are_sparse(name, toy):
    model = RankingModel(_net(name))
    batch = {k: v[:16] for k, v in toy.items()}
    with tf.GradientTape() as tape:
        loss = model.compute_loss(batch, training=True)
    grad = tape.gradient(loss, model.network.embedding.table)
    assert isinstance(grad, tf.IndexedSlices)
    assert grad.indices.shape[0] == 16 * SPEC.num_sparse  # only the looked-up rows


def test_ranking_model_errors_and_config(toy):
    model = RankingModel(_net("mlp"))
    with pytest.raises(KeyError, match="label"):
        model.compute_loss({"dense": toy["dense"][:2], "sparse": toy["sparse"][:2]})
    with pytest.raises(KeyError, match="processed batch"):
        model.network({"dense": toy["dense"][:2]})
    with pytest.raises(ValueError, match="unknown CTR baseline"):
        build_baseline("wide_and_deep", SPEC)
    batch = {"dense": toy["dense"][:3], "sparse": toy["sparse"][:3]}
    ref = model(batch).numpy()
    clone = RankingModel.from_config(model.get_config())
    clone(batch)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(batch).numpy(), ref, atol=1e-6)
    assert type(build_baseline("DCN", SPEC)).__name__ == "DCNv2"


def _write_data(path, rows=1500):
    """Tiny synthetic Criteo-format data with the tables capped at 32 rows (fast to train)."""
    from pipelines.ctr.dataset import load_info, load_spec
    from pipelines.ctr.synthetic import write_synthetic
    write_synthetic(path, rows, seed=3)
    save_spec(path, load_spec(path).with_cap(32), load_info(path))
    return str(path)


def test_train_cli_logs_checkpoints_and_resumes(tmp_path, capsys):
    from tfnas.cli import main
    data = _write_data(tmp_path / "data")
    logdir = str(tmp_path / "run")
    argv = ["ctr", "train", "--model", "dlrm", "--data", data, "--batch-size", "128", "--logdir", logdir,
            "--verbose", "0", "--hparams", '{"embedding_dim": 4, "bottom": [8], "top": [8]}']
    assert main(argv + ["--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "test logloss" in out and "FLOPs/example" in out
    for name in ("run.json", "history.csv", "curves.png", "tensorboard", "checkpoints"):
        assert os.path.exists(os.path.join(logdir, name)), name
    assert main(argv + ["--epochs", "2"]) == 1   # refuses to overwrite a run without --resume
    assert "--resume" in capsys.readouterr().err
    assert main(argv + ["--epochs", "2", "--resume"]) == 0
    from tfnas.train.ctr import load_run, run_history
    hist = run_history(logdir)
    assert hist["epoch"] == [1, 2]              # epoch 2 appended, not retrained from 1
    assert {"loss", "auc", "logloss", "val_loss"} <= set(hist)
    net, spec, run = load_run(logdir)
    assert run["config"]["epochs"] == 2 and spec.vocab_sizes[0] <= 32 and run["kind"] == "ctr"
    assert tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints", "last")).endswith("ckpt-2")


def test_sparse_optimizer_takes_the_embedding_tables(toy):
    tf.keras.utils.set_random_seed(2)
    net = _net("dlrm")
    dense_opt, sparse_opt = tf.keras.optimizers.Adam(0.01), tf.keras.optimizers.Adagrad(0.1)
    model = RankingModel(net, sparse_optimizer=sparse_opt)
    model.compile(optimizer=dense_opt)
    batch = {k: v[:64] for k, v in toy.items()}
    batch["sparse"] = batch["sparse"] % 10                      # only rows 0..9 of each field used
    model(batch)
    table_before = net.embedding.table.numpy().copy()
    logs = model.fit(tf.data.Dataset.from_tensors(batch), verbose=0).history
    assert {"loss", "auc", "logloss"} <= set(logs)
    assert int(sparse_opt.iterations) == 1 and int(dense_opt.iterations) == 1
    assert [v.name for v in sparse_opt.variables if "accumulator" in v.name]  # slots for the table only
    table_after = net.embedding.table.numpy()
    used = np.concatenate([np.arange(10) + 40 * j for j in range(SPEC.num_sparse)])
    unused = np.setdiff1d(np.arange(table_after.shape[0]), used)
    assert not np.allclose(table_after[used], table_before[used])
    np.testing.assert_array_equal(table_after[unused], table_before[unused])


def test_leaderboard_table_starts_with_bayes_line(tmp_path):
    from tfnas.commands.ctr import bayes_logloss_of, format_table
    rows = [{"model": "b", "val_logloss": 0.5, "test_logloss": 0.4, "auc": 0.7, "params": 10, "flops": 20,
             "seconds": 1.0},
            {"model": "a", "val_logloss": 0.45, "test_logloss": 0.5, "auc": 0.8, "params": 30, "flops": 40,
             "seconds": 2.0},
            {"model": "logreg", "kind": "reference", "val_logloss": 0.6, "test_logloss": 0.3, "auc": 0.6,
             "seconds": 0.5}]
    lines = format_table(rows, 0.3125).splitlines()
    assert lines[2].split()[:2] == ["bayes-opt", "0.31250"]
    assert [ln.split()[0] for ln in lines[3:-1]] == ["a", "b", "logreg"]   # best validation logloss first
    assert lines[-1].startswith("(sorted by validation logloss")
    assert bayes_logloss_of(str(tmp_path)) is None
    (tmp_path / "bayes.json").write_text('{"test": {"bayes_logloss": 0.25}}')
    assert bayes_logloss_of(str(tmp_path)) == 0.25


def test_resume_after_a_kill_between_history_row_and_checkpoint_keeps_one_row_per_epoch(tmp_path):
    """A kill after epoch 2's history row but before its checkpoint: the resume retrains epoch 2 and
    history.csv holds epochs 1 and 2 once each (issue: the row used to be duplicated)."""
    from tfnas.train.ctr import TrainConfig, run_history, train_run
    data = _write_data(tmp_path / "data", rows=600)
    logdir = str(tmp_path / "run")
    cfg = TrainConfig(model="mlp", data=data, epochs=1, batch_size=128, hparams={"embedding_dim": 4, "hidden": [8]})
    train_run(cfg, logdir, verbose=0)
    path = os.path.join(logdir, "history.csv")
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, "a") as f:                      # epoch 2's row, written just before the kill
        f.write(lines[1].replace("0,", "1,", 1) + "\n")
    out = train_run(dataclasses.replace(cfg, epochs=2), logdir, resume=True, verbose=0)
    assert run_history(logdir)["epoch"] == [1, 2] and out["epochs_done"] == 2


def test_train_cli_bad_row_is_one_line_naming_file_and_line_or_a_counted_skip(tmp_path, capsys):
    from tfnas.cli import main
    data = _write_data(tmp_path / "data", rows=600)
    path = os.path.join(data, "train.txt")
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    fields = lines[4].split("\t")
    fields[1] = "X" + fields[1]
    lines[4] = "\t".join(fields)
    with open(path, "w") as f:
        f.writelines(lines)
    argv = ["ctr", "train", "--model", "mlp", "--data", data, "--epochs", "1", "--batch-size", "128",
            "--verbose", "0", "--hparams", '{"embedding_dim": 4, "hidden": [8]}']
    assert main(argv + ["--logdir", str(tmp_path / "r1")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"tfnas: error: {path}:5: field I1: {fields[1]!r} is not a number"
    assert main(argv + ["--logdir", str(tmp_path / "r2"), "--bad-rows", "skip"]) == 0
    assert "skipped bad rows: not_a_number 1" in capsys.readouterr().out
