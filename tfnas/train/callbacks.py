"""The callbacks every `train()` run gets beyond Keras's own TensorBoard and CSVLogger: the run state
(per-epoch checkpoint, best-epoch checkpoint, early stopping) and the PNG learning curves, plus the
history.csv helpers that make a resume exact.

history.csv is Keras's CSVLogger file (0-based `epoch` column); `read_history` turns it into 1-based
epochs.  The state callback runs last in an epoch, so a kill between the history row and the checkpoint
leaves one row too many, which `truncate_history` drops on resume.  `OptimizerSteps` keeps every
optimizer's step counter equal to the steps trained (see its doc), without which a resume is not exact.
"""
from __future__ import annotations

import csv
import math
import os
import time

import tensorflow as tf

HISTORY = "history.csv"
CURVES = "curves.png"
CHECKPOINTS = "checkpoints"


def read_history(path: str) -> dict[str, list]:
    """{column: values} from a CSVLogger file, `epoch` 1-based; {} if the file is missing or empty."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out: dict[str, list] = {k: [] for k in rows[0]}
    for i, row in enumerate(rows):
        for k, v in row.items():
            if k != "epoch" and v in ("NA", "", None):    # CSVLogger's mark of a metric missing that epoch
                out[k].append(math.nan)
                continue
            try:
                out[k].append(int(v) + 1 if k == "epoch" else float(v))
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{i + 2}: field {k!r}: not a number: {v!r}") from None
    return out


def truncate_history(path: str, epochs_done: int) -> None:
    """Keep only the header and the rows of epochs < `epochs_done` (0-based column), written atomically."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        lines = f.read().splitlines(keepends=True)
    if not lines:
        return
    header = next(csv.reader([lines[0]]))
    if "epoch" not in header:
        raise ValueError(f"{path}:1: no 'epoch' column in {header}")
    col = header.index("epoch")
    keep, seen = [lines[0]], set()
    for line in lines[1:]:
        fields = next(csv.reader([line]), [])
        if not fields:
            continue
        epoch = int(fields[col])
        if epoch < epochs_done and epoch not in seen:
            seen.add(epoch)
            keep.append(line)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.writelines(keep)
    os.replace(tmp, path)


def model_optimizers(model) -> list:
    """`model.optimizer` and any other optimizer the model holds as an attribute (e.g. a CTR model's
    `sparse_optimizer`), each once."""
    found = [model.optimizer] if getattr(model, "optimizer", None) is not None else []
    for value in vars(model).values():
        if isinstance(value, tf.keras.optimizers.Optimizer) and all(value is not o for o in found):
            found.append(value)
    return found


class OptimizerSteps(tf.keras.callbacks.Callback):
    """After each epoch, set every optimizer's `iterations` to its value at the epoch's start plus the steps
    trained in it.

    Why: on a dataset of unknown cardinality, Keras finds the end of the first epoch of each `fit` with one
    more train-function call that ends in OutOfRange; the optimizer's `iterations.assign_add(1)` does not
    depend on the batch, so it can run in that call (in TF 2.14 it did every time we measured: 38 batches, 39
    iterations).  An uninterrupted run then counts one phantom step and a resumed run two (one per `fit`),
    so Adam's bias correction and learning-rate schedules go apart (~3e-6 in logloss after 3 epochs).
    Steps come from the last `on_train_batch_end` index (Keras passes the execution's end step)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = [int(o.iterations.numpy()) for o in model_optimizers(self.model)]
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = max(self._steps, int(batch) + 1)

    def on_epoch_end(self, epoch, logs=None):
        for opt, start in zip(model_optimizers(self.model), self._start):
            if int(opt.iterations.numpy()) != start + self._steps:
                opt.iterations.assign(start + self._steps)


class RunState(tf.keras.callbacks.Callback):
    """Per-epoch tf.train.Checkpoint of model + optimizer + epoch counter + best val loss / epoch
    (CheckpointManager: files first, then the `checkpoint` index, so a kill leaves the previous one), a
    model-only checkpoint of the best epoch (by `monitor`; `mode` "min": lower is better, "max": higher),
    and early stopping after `patience` epochs without improvement.  All state lives in the checkpoint, so
    a resume keeps it."""

    def __init__(self, run_dir: str, model, optimizer, monitor: str = "val_loss", patience=None,
                 max_to_keep: int = 2, mode: str = "min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"RunState: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.patience = patience
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_value = tf.Variable(math.inf if mode == "min" else -math.inf, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        root = os.path.join(run_dir, CHECKPOINTS)
        self.ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch,
                                        best_value=self.best_value, best_epoch=self.best_epoch)
        self.manager = tf.train.CheckpointManager(self.ckpt, os.path.join(root, "last"), max_to_keep=max_to_keep)
        self.best_ckpt = tf.train.Checkpoint(model=model)
        self.best_manager = tf.train.CheckpointManager(self.best_ckpt, os.path.join(root, "best"), max_to_keep=1)

    def restore(self) -> int:
        """Restore the last checkpoint (if any); the number of epochs it holds."""
        path = self.manager.latest_checkpoint
        if path is None:
            return 0
        self.ckpt.restore(path).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def stopped(self) -> bool:
        """Whether early stopping has already fired by the restored epoch."""
        done, best = int(self.epoch.numpy()), int(self.best_epoch.numpy())
        return bool(self.patience) and best > 0 and done - best >= self.patience

    def restore_best(self) -> bool:
        """Load the best epoch's weights into the model; False if no epoch was ever monitored."""
        path = self.best_manager.latest_checkpoint
        if path is None:
            return False
        self.best_ckpt.restore(path).expect_partial()
        return True

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        value = (logs or {}).get(self.monitor)
        best = float(self.best_value.numpy())
        if value is not None and math.isfinite(value) and (value < best if self.mode == "min" else value > best):
            self.best_value.assign(value)
            self.best_epoch.assign(done)
            self.best_manager.save(checkpoint_number=done)
        self.epoch.assign(done)
        self.manager.save(checkpoint_number=done)
        if self.stopped():
            self.model.stop_training = True


class CurvesPlot(tf.keras.callbacks.Callback):
    """Draw run_dir/curves.png from history.csv (so a resumed run plots every epoch): one panel per
    metric, train and val lines, integer epoch ticks; matplotlib's Agg backend.  Redrawn after an epoch
    when `every_s` seconds have passed since the last drawing (short proxy runs stay cheap), and always
    when training ends."""

    def __init__(self, run_dir: str, every_s: float = 30.0, keys=None):
        super().__init__()
        self.keys = tuple(keys) if keys else None
        self.history_path = os.path.join(run_dir, HISTORY)
        self.path = os.path.join(run_dir, CURVES)
        self.every_s = every_s
        self._last = None

    def _draw(self):
        plot_history(read_history(self.history_path), self.path, self.keys)
        self._last = time.monotonic()

    def on_train_begin(self, logs=None):
        self._last = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self._last is None or time.monotonic() - self._last >= self.every_s:
            self._draw()

    def on_train_end(self, logs=None):
        self._draw()


def plot_history(history: dict[str, list], path: str, keys=None) -> None:
    """Write the learning curves of `history` (read_history's dict) to `path` atomically (only the
    metrics in `keys` when given)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    names = [k for k in history if k != "epoch" and not k.startswith("val_") and (keys is None or k in keys)]
    if not names or not history.get("epoch"):
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(history["epoch"], history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(history["epoch"], history[f"val_{name}"], marker="o", label="val")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        epochs = history["epoch"]
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)      # one epoch: no 0.95..1.05 ticks around a lone point
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.legend()
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def epoch_bar(epochs: int, desc: str = "training", initial: int = 0, keys=("loss", "val_accuracy")):
    """A Keras callback drawing one tqdm bar over `epochs` (its total); an early stop closes the bar at
    the epoch reached and says so."""
    from tqdm.auto import tqdm

    class EpochBar(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, initial=initial, desc=desc, unit="epoch")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{logs[k]:.4g}" for k in keys if k in logs}, refresh=False)
            self.bar.update(epoch + 1 - self.bar.n)

        def on_train_end(self, logs=None):
            if self.bar.n < epochs:
                self.bar.set_description(f"{desc} (stopped early)")
            self.bar.close()

    return EpochBar()
