"""Proxy and final training for AutoShrink models: Keras `fit` with the reference's stop rules as a callback."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from pipelines.vision.dataset import image_dataset  # the image input pipeline lives in pipelines/vision


@dataclasses.dataclass(frozen=True)
class ProxyTraining:
    """Settings of one proxy training (reference `cifar10_proxy.solver` + `trainval_on_proxy`)."""

    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 4e-3
    patience: int = 5                 # stop after this many epochs without a better val accuracy
    slow_start_epoch: int = 3         # 0-based epoch at which a slow starter is killed ...
    slow_start_accuracy: float = 0.2  # ... if its val accuracy is below this
    overfit_ratio: float = 3.0        # stop when val loss > ratio × moving train loss ...
    overfit_from_epoch: int = 3       # ... checked from this 0-based epoch on (reference: 0; BN warm-up)
    saturate_accuracy: float = 0.98   # stop when the moving train accuracy exceeds this
    momentum: float = 0.99            # of the moving train accuracy / loss (per batch)
    label_smoothing: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _callback_base():
    import tensorflow as tf
    return tf.keras.callbacks.Callback


class ProxyStopRules(_callback_base()):
    """The reference's proxy stop rules: patience on val accuracy, kill slow starters, stop on val loss
    far above the moving train loss, and stop once the moving train accuracy saturates.

    (The reference breaks only the current epoch on saturation and keeps evaluating; here training ends.)
    """

    def __init__(self, cfg: ProxyTraining):
        super().__init__()
        self.cfg = cfg
        self.best_accuracy = 0.0
        self.failures = 0
        self.stop_reason = "max_epochs"
        self.epochs_run = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._acc = self._loss = None
        self._prev_mean = (0.0, 0.0)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if "accuracy" not in logs or "loss" not in logs:
            return
        # Keras logs the running epoch mean; recover this batch's value from two consecutive means.
        n = batch + 1
        acc = n * float(logs["accuracy"]) - batch * self._prev_mean[0]
        loss = n * float(logs["loss"]) - batch * self._prev_mean[1]
        self._prev_mean = (float(logs["accuracy"]), float(logs["loss"]))
        m = self.cfg.momentum
        self._acc = acc if self._acc is None else m * self._acc + (1 - m) * acc
        self._loss = loss if self._loss is None else m * self._loss + (1 - m) * loss
        if self._acc > self.cfg.saturate_accuracy:
            self.stop_reason = "train_accuracy_saturated"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_run = epoch + 1
        val_acc, val_loss = float(logs.get("val_accuracy", 0.0)), float(logs.get("val_loss", math.inf))
        if val_acc > self.best_accuracy:
            self.best_accuracy, self.failures = val_acc, 0
        else:
            self.failures += 1
        reason = None
        if self.failures >= self.cfg.patience:
            reason = "no_improvement"
        elif epoch == self.cfg.slow_start_epoch and val_acc < self.cfg.slow_start_accuracy:
            reason = "slow_start"
        elif (epoch >= self.cfg.overfit_from_epoch and self._loss is not None
              and val_loss > self.cfg.overfit_ratio * self._loss):
            reason = "val_loss_diverged"
        if reason:
            self.stop_reason = reason
            self.model.stop_training = True


def train_proxy(model, train: tuple, val: tuple, cfg: ProxyTraining, verbose: int = 0,
                run_dir: str | None = None) -> dict:
    """Train with the stop rules on the core `train()` (Adam, classification task); returns best val
    accuracy, epochs run, stop reason and the history.  Without `run_dir` the run folder is temporary."""
    import tempfile

    import tensorflow as tf
    from tfnas.train.task import ClassificationTask
    from tfnas.train.trainer import train as core_train
    task = ClassificationTask(num_classes=int(model.output_shape[-1]) if cfg.label_smoothing else None,
                              label_smoothing=cfg.label_smoothing)
    rules = ProxyStopRules(cfg)
    with tempfile.TemporaryDirectory(prefix="proxy_") as tmp:
        out = core_train(model, task, image_dataset(*train, cfg.batch_size, shuffle=True, seed=cfg.seed),
                         image_dataset(*val, cfg.batch_size), epochs=cfg.epochs,
                         optimizer=tf.keras.optimizers.Adam(cfg.learning_rate), run_dir=run_dir or tmp,
                         restore_best=False, callbacks=[rules], verbose=verbose, save_model=run_dir is not None)
    history = {k: [float(v) for v in vs] for k, vs in out["history"].items() if k != "epoch"}
    return {"best_val_accuracy": rules.best_accuracy, "epochs": rules.epochs_run,
            "stop_reason": rules.stop_reason, "history": history}


def evaluate_accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of a Keras classifier (logits or probabilities) on uint8 images."""
    logits = model.predict(image_dataset(x, y, batch_size).map(lambda a, b: a), verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))
