"""A TFRS ranking model that trains any CTR network (hand-made baseline or searched NASRec subnet).

The network says what is computed (processed batch -> logits [B, 1]); the `tfrs.tasks.Ranking` task
says how it is scored: binary cross-entropy from logits, with AUC and logloss metrics.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs


def ranking_task() -> tfrs.tasks.Ranking:
    """The CTR task: BCE-from-logits loss; `auc` and `logloss` (BinaryCrossentropy) metrics."""
    return tfrs.tasks.Ranking(
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[tf.keras.metrics.AUC(from_logits=True, name="auc", num_thresholds=1000),
                 tf.keras.metrics.BinaryCrossentropy(from_logits=True, name="logloss")])


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class RankingModel(tfrs.Model):
    """Wraps a ranking `network` ({"dense","sparse"} -> logits [B, 1]) in a `tfrs.tasks.Ranking` task.

    `compute_loss(features, training)` takes the data set's dicts, which carry "label" f32 [B];
    calling the model returns logits. `fit`/`evaluate` report `loss`, `auc` and `logloss`.
    """

    def __init__(self, network: tf.keras.Model, label_key: str = "label",
                 sparse_optimizer: tf.keras.optimizers.Optimizer | None = None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.label_key = label_key
        self.task = ranking_task()
        # Optional second optimizer for variables whose gradient is sparse (embedding tables); e.g.
        # Adagrad there (row-wise updates) with Adam for the dense layers.
        self.sparse_optimizer = sparse_optimizer

    def call(self, features, training=None):
        inputs = {"dense": features["dense"], "sparse": features["sparse"]}
        return self.network(inputs, training=training)

    def compute_loss(self, features, training=False) -> tf.Tensor:
        if self.label_key not in features:
            raise KeyError(f"RankingModel.compute_loss: batch has no {self.label_key!r} "
                           f"(keys: {sorted(features)})")
        labels = tf.reshape(tf.cast(features[self.label_key], tf.float32), [-1, 1])
        logits = self(features, training=training)
        return self.task(labels=labels, predictions=logits, training=training)

    def train_step(self, inputs):
        """tfrs.Model's step, except that sparse (IndexedSlices) gradients go to `sparse_optimizer`."""
        if self.sparse_optimizer is None:
            return super().train_step(inputs)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
            total_loss = loss + regularization_loss
        variables = self.trainable_variables
        grads = tape.gradient(total_loss, variables)
        sparse = [(g, v) for g, v in zip(grads, variables) if isinstance(g, tf.IndexedSlices)]
        dense = [(g, v) for g, v in zip(grads, variables)
                 if g is not None and not isinstance(g, tf.IndexedSlices)]
        if sparse:
            self.sparse_optimizer.apply_gradients(sparse)
        self.optimizer.apply_gradients(dense)
        metrics = {m.name: m.result() for m in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics

    def build_optimizer_slots(self) -> None:
        """Create both optimizers' slots before a checkpoint restore: the sparse optimizer gets the
        variables whose gradient is IndexedSlices (embedding tables), the dense one the rest (found from
        one gradient of an all-zeros batch of `network.spec`, or of the functional network's input widths)."""
        if not self.trainable_variables or self.optimizer is None:
            return
        if self.sparse_optimizer is None:
            self.optimizer.build(self.trainable_variables)
            return
        spec = getattr(self.network, "spec", None)
        if spec is not None:
            widths = {"dense": spec.num_dense, "sparse": spec.num_sparse}
        else:      # a functional network (a NASRec subnet): its Input layers say the widths
            widths = {k: int(t.shape[-1]) for k, t in self.network.input.items()}
        batch = {"dense": tf.zeros([2, widths["dense"]], tf.float32),
                 "sparse": tf.zeros([2, widths["sparse"]], tf.int64)}
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(self(batch))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.build([v for g, v in zip(grads, self.trainable_variables)
                              if g is not None and not isinstance(g, tf.IndexedSlices)])
        self.sparse_optimizer.build([v for g, v in zip(grads, self.trainable_variables)
                                     if isinstance(g, tf.IndexedSlices)])

    def predict_proba(self, features) -> tf.Tensor:
        """Click probabilities [B, 1] for a processed batch."""
        return tf.sigmoid(self(features, training=False))

    def get_config(self):
        return {"network": tf.keras.utils.serialize_keras_object(self.network),
                "label_key": self.label_key, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = tf.keras.utils.deserialize_keras_object(config.pop("network"),
                                                          custom_objects=custom_objects)
        return cls(network, **config)
