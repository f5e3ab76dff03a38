"""The one training path: `tfnas.train.train` learns, resumes exactly, early-stops to the best epoch,
trains a map model with the per-tile task, and leaves a run folder `tfnas export --run` can read."""
import csv
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfnas.cli import main as cli_main
from tfnas.train.task import ClassificationTask, TileBCETask
from tfnas.train.trainer import train


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    return x, y


def _datasets():
    x, y = _data()
    train_ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(16)
    val_ds = tf.data.Dataset.from_tensor_slices((x[64:], y[64:])).batch(16)
    return train_ds, val_ds


def _model(seed=1):
    init = tf.keras.initializers.GlorotUniform(seed=seed)
    inp = tf.keras.Input((6,), name="x")
    h = tf.keras.layers.Dense(8, activation="relu", kernel_initializer=init)(inp)
    out = tf.keras.layers.Dense(3, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed + 1))(h)
    return tf.keras.Model(inp, out)


def _history_epochs(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def _run(run_dir, epochs, resume=False, **kw):
    model = _model()
    train_ds, val_ds = _datasets()
    out = train(model, ClassificationTask(), train_ds, val_ds, epochs=epochs,
                optimizer=tf.keras.optimizers.Adam(0.05), run_dir=str(run_dir), resume=resume, **kw)
    return model, out


def test_classification_learns_and_writes_run_folder(tmp_path):
    model, out = _run(tmp_path / "run", 4)
    loss = out["history"]["loss"]
    assert out["history"]["epoch"] == [1, 2, 3, 4]
    assert loss[-1] < loss[0] * 0.8, loss
    run = tmp_path / "run"
    info = json.loads((run / "run.json").read_text())
    assert info["kind"] == "image_classifier" and info["task"] == "classification" and info["model"] == "model.keras"
    assert info["best_epoch"] == out["best_epoch"]
    for name in ("model.keras", "history.csv", "curves.png"):
        assert (run / name).stat().st_size > 0, name
    assert glob.glob(str(run / "tensorboard" / "**" / "events.out.tfevents.*"), recursive=True)
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not glob.glob(str(run / ".*tmp*"))
    reloaded = tf.keras.models.load_model(run / "model.keras", compile=False)
    x, _ = _data()
    np.testing.assert_allclose(reloaded(x[:8]).numpy(), model(x[:8]).numpy(), atol=1e-6)
    # the folder exports through the generic run loader
    assert cli_main(["export", "--run", str(run), "--name", "clf", "--root", str(tmp_path / "served"),
                     "--no-check"]) == 0
    assert glob.glob(str(tmp_path / "served" / "clf" / "*" / "saved_model.pb"))


class _KillAfterRow(tf.keras.callbacks.Callback):
    """Raises at the end of epoch `at` (0-based): after the history row, before the checkpoint."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("killed")


def test_resume_equals_uninterrupted_run(tmp_path):
    full, full_out = _run(tmp_path / "full", 4, restore_best=False)
    _run(tmp_path / "part", 2, restore_best=False)
    part, part_out = _run(tmp_path / "part", 4, resume=True, restore_best=False)
    assert _history_epochs(tmp_path / "part") == [0, 1, 2, 3]
    for a, b in zip(full.get_weights(), part.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert part_out["history"]["loss"] == full_out["history"]["loss"]


@pytest.mark.parametrize("repeat", [False, True])
def test_resume_is_exact_with_a_reshuffled_dataset(tmp_path, repeat):
    """reshuffle_each_iteration (and a repeating stream with steps_per_epoch): the resumed run sees the
    same batches as the uninterrupted one, so the weights match."""
    x, y = _data()

    def run(run_dir, epochs, resume=False):
        ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).shuffle(64, seed=4, reshuffle_each_iteration=True)
        ds = ds.batch(16).repeat() if repeat else ds.batch(16)
        model = _model()
        train(model, ClassificationTask(), ds, epochs=epochs, optimizer=tf.keras.optimizers.SGD(0.3),
              run_dir=str(run_dir), resume=resume, steps_per_epoch=4 if repeat else None)
        return model

    full = run(tmp_path / "full", 3)
    run(tmp_path / "part", 1)
    part = run(tmp_path / "part", 3, resume=True)
    for a, b in zip(full.get_weights(), part.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_resume_is_exact_on_a_dataset_of_unknown_cardinality(tmp_path):
    """A stream whose length Keras learns only by running out (a text reader, a filter) costs each `fit`
    one phantom optimizer step in its first epoch unless `OptimizerSteps` corrects it: Adam's step count
    must equal the batches trained, so a run resumed after epoch 1 of 3 equals the uninterrupted one."""
    x, y = _data()

    def run(run_dir, epochs, resume=False):
        ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).filter(lambda a, b: True).batch(16)
        assert ds.cardinality() == tf.data.UNKNOWN_CARDINALITY
        model, opt = _model(), tf.keras.optimizers.Adam(0.05)
        train(model, ClassificationTask(), ds, epochs=epochs, optimizer=opt, run_dir=str(run_dir), resume=resume)
        return model, int(opt.iterations.numpy())

    full, steps = run(tmp_path / "full", 3)
    assert steps == 3 * 4
    run(tmp_path / "part", 1)
    part, part_steps = run(tmp_path / "part", 3, resume=True)
    assert part_steps == steps
    for a, b in zip(full.get_weights(), part.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_training_data_with_no_rows_is_an_error(tmp_path):
    x, y = _data()
    empty = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: False).batch(16)
    with pytest.raises(ValueError, match="epoch 1 got no batch: the training data has no usable rows"):
        train(_model(), ClassificationTask(), empty, epochs=2, optimizer=tf.keras.optimizers.Adam(0.05),
              run_dir=str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "checkpoints" / "last" / "checkpoint")


def test_kill_between_history_row_and_checkpoint_gives_no_duplicate(tmp_path):
    full, full_out = _run(tmp_path / "full", 4, restore_best=False)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "part", 4, restore_best=False, callbacks=[_KillAfterRow(2)])
    assert _history_epochs(tmp_path / "part") == [0, 1, 2]       # row of epoch 3 written, checkpoint not
    part, part_out = _run(tmp_path / "part", 4, resume=True, restore_best=False)
    assert _history_epochs(tmp_path / "part") == [0, 1, 2, 3]
    for a, b in zip(full.get_weights(), part.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert part_out["history"]["val_loss"] == full_out["history"]["val_loss"]


def test_early_stopping_restores_best_epoch(tmp_path):
    x, y = _data()
    # validation labels are the training labels flipped: val loss rises once the model fits the train set
    train_ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(16)
    val_ds = tf.data.Dataset.from_tensor_slices((x[:64], (2 - y[:64]))).batch(16)
    model = _model()
    out = train(model, ClassificationTask(), train_ds, val_ds, epochs=30, optimizer=tf.keras.optimizers.Adam(0.05),
                run_dir=str(tmp_path / "es"), early_stopping_patience=2)
    val = out["history"]["val_loss"]
    best = out["best_epoch"]
    assert out["epochs_run"] == best + 2 < 30
    assert val[best - 1] == min(val)
    model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    restored = model.evaluate(val_ds, verbose=0)
    np.testing.assert_allclose(restored, val[best - 1], rtol=1e-4)
    # a resume after the stop trains nothing more and keeps the best weights
    again = _model(seed=7)
    out2 = train(again, ClassificationTask(), train_ds, val_ds, epochs=30, optimizer=tf.keras.optimizers.Adam(0.05),
                 run_dir=str(tmp_path / "es"), early_stopping_patience=2, resume=True)
    assert out2["epochs_run"] == out["epochs_run"] and out2["best_epoch"] == best
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b)


def test_tile_bce_on_a_map_model(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(32, 8, 8, 2)).astype("float32")
    label = (maps[..., 0] > 0.3).astype("float32")
    mask = np.ones_like(label)
    mask[:, :, :2] = 0.0                                          # two masked-out columns
    ds = tf.data.Dataset.from_tensor_slices({"maps": maps, "label": label, "mask": mask}).batch(8)
    inp = tf.keras.Input((8, 8, 2), name="maps")
    out = tf.keras.layers.Conv2D(1, 3, padding="same",
                                 kernel_initializer=tf.keras.initializers.GlorotUniform(seed=3))(inp)
    model = tf.keras.Model(inp, out)
    task = TileBCETask(mask_key="mask")
    res = train(model, task, ds, ds, epochs=5, optimizer=tf.keras.optimizers.Adam(0.05),
                run_dir=str(tmp_path / "map"))
    hist = res["history"]
    assert hist["loss"][-1] < hist["loss"][0] and hist["val_auc"][-1] > 0.9, hist
    assert json.loads((tmp_path / "map" / "run.json").read_text())["kind"] == "map"
    # the mask is a per-tile weight: logits on masked tiles do not change the loss
    logits = model(maps).numpy()
    moved = logits.copy()
    moved[:, :, :2] += 50.0
    loss = task.loss()
    w = tf.constant(mask)
    assert float(loss(label, logits, sample_weight=w)) == pytest.approx(float(loss(label, moved, sample_weight=w)))
    assert float(loss(label, moved)) != pytest.approx(float(loss(label, logits)))
