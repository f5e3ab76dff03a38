"""What a model is trained for: a `Task` holds the loss, the metrics and how a batch splits into
(features, label[, sample_weight]), so one `train()` (tfnas/train/trainer.py) serves every method.

Tasks: classification (images), per-tile binary cross-entropy (map models), TFRS ranking (CTR), and
language modelling (text).  Every loss takes logits (models end without a sigmoid/softmax).
"""
from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf


class Task:
    """Base: `loss()`, `metrics()` (fresh objects per call, so two models never share metric state) and
    `split(batch)`.  A batch that is already a tuple passes through; a dict is split by `label_key` (and
    `weight_key`, if set)."""

    name = "task"

    def __init__(self, label_key: str = "label", weight_key: Optional[str] = None):
        self.label_key = label_key
        self.weight_key = weight_key

    def loss(self) -> tf.keras.losses.Loss:
        raise NotImplementedError

    def metrics(self) -> list:
        return []

    def compile(self, model, optimizer) -> None:
        """Compile `model` for this task (Keras `compile` with the task's loss and metrics)."""
        model.compile(optimizer=optimizer, loss=self.loss(), metrics=self.metrics())

    def split(self, batch):
        """(features, label) or (features, label, sample_weight) from one element of a dataset."""
        if isinstance(batch, (tuple, list)):
            if len(batch) not in (2, 3):
                raise ValueError(f"task {self.name!r}: a tuple batch must be (features, label[, weight]), "
                                 f"got {len(batch)} parts")
            return tuple(batch)
        if isinstance(batch, dict):
            if self.label_key not in batch:
                raise ValueError(f"task {self.name!r}: batch has no label field {self.label_key!r} "
                                 f"(fields {sorted(batch)})")
            feats = {k: v for k, v in batch.items() if k not in (self.label_key, self.weight_key)}
            if len(feats) == 1:
                feats = next(iter(feats.values()))
            if self.weight_key is not None:
                if self.weight_key not in batch:
                    raise ValueError(f"task {self.name!r}: batch has no weight field {self.weight_key!r}")
                return feats, batch[self.label_key], batch[self.weight_key]
            return feats, batch[self.label_key]
        raise ValueError(f"task {self.name!r}: cannot split a batch of type {type(batch).__name__}")

    def map_dataset(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """The dataset as Keras `fit` wants it: (features, label[, weight]) elements."""
        return ds.map(lambda *b: self.split(b[0] if len(b) == 1 else b))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "label_key": self.label_key, "weight_key": self.weight_key}


class ClassificationTask(Task):
    """Sparse categorical cross-entropy from logits (optionally label-smoothed) + accuracy.  Keras's
    sparse CE has no label smoothing, so with smoothing the integer labels are one-hot encoded first."""

    name = "classification"

    def __init__(self, num_classes: Optional[int] = None, label_smoothing: float = 0.0, **kw):
        super().__init__(**kw)
        if label_smoothing and not num_classes:
            raise ValueError("ClassificationTask: label_smoothing needs num_classes")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"ClassificationTask: label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_classes = num_classes
        self.label_smoothing = float(label_smoothing)

    def loss(self):
        if self.label_smoothing:
            return tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=self.label_smoothing)
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        if self.label_smoothing:
            return [tf.keras.metrics.CategoricalAccuracy(name="accuracy")]
        return [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def split(self, batch):
        parts = super().split(batch)
        if not self.label_smoothing:
            return parts
        label = tf.one_hot(tf.cast(tf.reshape(parts[1], [-1]), tf.int32), self.num_classes)
        return (parts[0], label) + tuple(parts[2:])

    def config(self):
        return {**super().config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}


class TileBCETask(Task):
    """Per-tile binary cross-entropy from logits for map models (label and output [B, H, W(, 1)]); an
    optional mask (`weight_key`) is the per-tile sample weight, so masked-out tiles add nothing; AUC over
    tiles.  Labels are cast to float32 and given the logits' trailing channel axis if they lack it."""

    name = "tile_bce"

    def __init__(self, mask_key: Optional[str] = None, **kw):
        super().__init__(weight_key=mask_key, **kw)

    def loss(self):
        # Reduction over the last axis would average a channel of one; keep per-tile values and let
        # Keras weight them with the mask (sample_weight broadcast to [B, H, W]).
        return _PerTileBCE()

    def metrics(self):
        return [tf.keras.metrics.AUC(name="auc", from_logits=True)]

    def split(self, batch):
        parts = super().split(batch)
        label = tf.cast(parts[1], tf.float32)
        rest = tuple(tf.cast(w, tf.float32) for w in parts[2:])
        return (parts[0], label) + rest


@tf.keras.utils.register_keras_serializable(package="tfnas")
class _PerTileBCE(tf.keras.losses.Loss):
    """Binary CE from logits, one value per tile ([B, H, W]), the label reshaped to the logits' shape."""

    def __init__(self, name: str = "tile_bce", **kw):
        super().__init__(name=name, **kw)

    def call(self, y_true, y_pred):
        y_true = tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))
        per = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
        return tf.reduce_mean(per, axis=-1) if per.shape.rank and per.shape.rank > 3 else per


class RankingTask(Task):
    """CTR: `tfrs.tasks.Ranking` with binary cross-entropy from logits and AUC.  Keras `compile` takes its
    loss object; the TFRS task itself is `tfrs_task()` for models that follow `tfrs.Model.compute_loss`."""

    name = "ranking"

    def _loss_object(self):
        return tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def tfrs_task(self):
        import tensorflow_recommenders as tfrs
        return tfrs.tasks.Ranking(loss=self._loss_object(),
                                  metrics=[tf.keras.metrics.AUC(name="auc", from_logits=True)])

    def loss(self):
        return self._loss_object()

    def metrics(self):
        return [tf.keras.metrics.AUC(name="auc", from_logits=True)]

    def split(self, batch):
        parts = super().split(batch)
        label = tf.reshape(tf.cast(parts[1], tf.float32), [-1, 1])
        return (parts[0], label) + tuple(parts[2:])

    def compile(self, model, optimizer) -> None:
        """A TFRS model (`compute_loss`) owns its `tfrs.tasks.Ranking` and takes whole dict batches: compile
        it with the optimizer only; any other Keras model gets the loss and metrics."""
        if hasattr(model, "compute_loss") and hasattr(model, "task"):
            model.compile(optimizer=optimizer)
        else:
            super().compile(model, optimizer)

    def map_dataset(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """Dict batches pass through unchanged (a TFRS model splits them in `compute_loss`)."""
        spec = ds.element_spec
        return ds if isinstance(spec, dict) else super().map_dataset(ds)


class LanguageModelTask(Task):
    """Next-token prediction: sparse CE from logits per token (labels [B, T], logits [B, T, V]), averaged
    over tokens by Keras; accuracy per token.  Perplexity is exp(val loss)."""

    name = "language_model"

    def loss(self):
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        return [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


TASKS = {c.name: c for c in (ClassificationTask, TileBCETask, RankingTask, LanguageModelTask)}


def make_task(name: str, **kw) -> Task:
    """A Task by its `name` (as written in run.json)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known {sorted(TASKS)}")
    return TASKS[name](**kw)
