"""One `train()` for every method: Keras `compile` + `fit` on tf.data with a `Task`, and the callbacks
every run gets (TensorBoard, history.csv, per-epoch checkpoint and exact resume, PNG curves, early
stopping with the best epoch restored), then `run.json` and `model.keras` in the run folder.

A resumed run equals an uninterrupted one when its randomness is seeded: seeded initialisers and
seeded shuffles.  tf.data's `reshuffle_each_iteration` draws a new order per iterator, so on a resume
after k epochs the data stream is put where the uninterrupted run had it (`_align_resumed_data`): k
iterators are made and dropped (Keras makes one per epoch of a finite dataset), or, with
`steps_per_epoch` over a repeating dataset, the k·steps batches already consumed are skipped.
"""
from __future__ import annotations

import os
import shutil
import time
from typing import Optional, Sequence

import tensorflow as tf

from tfnas.runs import write_run_info
from tfnas.train.callbacks import (CHECKPOINTS, CURVES, HISTORY, CurvesPlot, OptimizerSteps, RunState, read_history,
                                   truncate_history)
from tfnas.train.task import Task

MODEL = "model.keras"
TENSORBOARD = "tensorboard"
# run.json kind of a Task's models when the caller names none (the "ctr" kind means a pipelines.ctr run).
KIND_OF_TASK = {"classification": "image_classifier", "tile_bce": "map", "ranking": "ranking",
                "language_model": "language_model"}


def _save_model_atomic(model, path: str) -> None:
    """Save a Keras model to a temporary name in the same folder, then rename it into place."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _build_optimizer(model, optimizer) -> None:
    """Create the optimizer's slots now, so a checkpoint restores them instead of deferring.  A model with
    more than one optimizer (CTR: Adam for dense layers, Adagrad for embedding rows) builds its own slots
    in `build_optimizer_slots()`."""
    if hasattr(model, "build_optimizer_slots"):
        model.build_optimizer_slots()
        return
    if hasattr(optimizer, "build") and model.built and model.trainable_variables:
        optimizer.build(model.trainable_variables)


def _align_resumed_data(data: tf.data.Dataset, done: int, steps_per_epoch: Optional[int]) -> tf.data.Dataset:
    """The training stream as the uninterrupted run would see it at epoch `done` (see the module doc)."""
    if not done:
        return data
    if steps_per_epoch is not None:
        return data.skip(done * steps_per_epoch)
    for _ in range(done):
        iter(data)          # making an iterator advances every reshuffling stage's seed; nothing is read
    return data


def train(model: tf.keras.Model, task: Task, train_ds: tf.data.Dataset, val_ds: Optional[tf.data.Dataset] = None,
          *, epochs: int, optimizer, run_dir: str, resume: bool = False,
          early_stopping_patience: Optional[int] = None, restore_best: bool = True,
          steps_per_epoch: Optional[int] = None, validation_steps: Optional[int] = None,
          kind: Optional[str] = None, verbose: int = 0, callbacks: Sequence[tf.keras.callbacks.Callback] = (),
          run_fields: Optional[dict] = None, monitor: str = "val_loss", mode: str = "min",
          save_model: bool = True, curve_keys: Optional[Sequence[str]] = None) -> dict:
    """Train `model` for `task` into `run_dir`; with `resume`, continue from the last checkpoint there.

    `callbacks` run after the history row and before the checkpoint of each epoch (so a stop rule's
    `stop_training` is checkpointed with the epoch).  The best epoch is the one with the lowest (`mode`
    "min") or highest ("max") `monitor`; without `val_ds` nothing is monitored: no early stopping, the
    final weights are kept.  `save_model=False` skips model.keras (for models saved by their caller, e.g.
    a CTR network inside its TFRS wrapper); `curve_keys` limits curves.png to those metrics.
    Returns {"history", "best_epoch", "best", "epochs_run", "seconds", "run_dir", "model_path", "resumed_from"};
    `best` holds the best epoch's history row (val metrics included), `resumed_from` the epochs restored from
    the checkpoint (0 on a fresh start).
    """
    if epochs < 1:
        raise ValueError(f"train: epochs must be >= 1, got {epochs}")
    if early_stopping_patience is not None and early_stopping_patience < 1:
        raise ValueError(f"train: early_stopping_patience must be >= 1, got {early_stopping_patience}")
    if early_stopping_patience and val_ds is None:
        raise ValueError(f"train: early stopping monitors {monitor}, so it needs val_ds")
    kind = kind or KIND_OF_TASK.get(task.name)
    if kind is None:
        raise ValueError(f"train: task {task.name!r} has no default run kind; pass kind=")
    os.makedirs(run_dir, exist_ok=True)
    history_path = os.path.join(run_dir, HISTORY)
    if not resume:
        for name in (CHECKPOINTS, TENSORBOARD):
            shutil.rmtree(os.path.join(run_dir, name), ignore_errors=True)
        for name in (HISTORY, CURVES):
            if os.path.exists(os.path.join(run_dir, name)):
                os.unlink(os.path.join(run_dir, name))

    task.compile(model, optimizer)
    _build_optimizer(model, optimizer)
    state = RunState(run_dir, model, optimizer, monitor=monitor, mode=mode, patience=early_stopping_patience)
    done = state.restore() if resume else 0
    truncate_history(history_path, done)

    train_data = _align_resumed_data(task.map_dataset(train_ds), done if done < epochs else 0, steps_per_epoch)
    val_data = task.map_dataset(val_ds) if val_ds is not None else None
    cbs = [OptimizerSteps(), tf.keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, TENSORBOARD)),
           tf.keras.callbacks.CSVLogger(history_path, append=True),
           CurvesPlot(run_dir, keys=curve_keys), *callbacks, state]
    start = time.perf_counter()
    if done < epochs and not state.stopped():
        try:
            model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=done,
                      steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                      callbacks=cbs, verbose=verbose)
        except ValueError as exc:
            if "(Empty logs)" not in str(exc):     # Keras's words for an epoch that got no batch at all
                raise
            raise ValueError(f"train: epoch {done + 1} got no batch: the training data has no usable rows (empty "
                             "split, or every row skipped under bad_rows='skip')") from None
    seconds = time.perf_counter() - start

    best_epoch = int(state.best_epoch.numpy()) or None
    if restore_best and best_epoch is not None:
        state.restore_best()
    model_path = os.path.join(run_dir, MODEL) if save_model else None
    if save_model:
        _save_model_atomic(model, model_path)
    history = read_history(history_path)
    best = None
    if best_epoch is not None and best_epoch in history.get("epoch", []):
        i = history["epoch"].index(best_epoch)
        best = {k: v[i] for k, v in history.items()}
    write_run_info(run_dir, kind, model=MODEL if save_model else None, task=task.name, task_config=task.config(),
                   epochs=len(history.get("epoch", [])), best_epoch=best_epoch,
                   restored_best=bool(restore_best and best_epoch is not None), **(run_fields or {}))
    return {"history": history, "best_epoch": best_epoch, "best": best,
            "epochs_run": len(history.get("epoch", [])), "seconds": seconds,
            "run_dir": run_dir, "model_path": model_path, "resumed_from": done}
