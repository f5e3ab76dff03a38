"""The CTR RankingModel under a multi-replica tf.distribute strategy.  Its loss: binary cross-entropy summed
over the replica's examples and divided by the GLOBAL batch (all replicas' examples), so the all-reduced
(summed) gradients equal the single-process mean-loss gradients of the same global batch.

Keras refuses AUTO / SUM_OVER_BATCH_SIZE reduction under a strategy outside `compile` (it cannot know the global
batch), and the TFRS RankingModel calls its task's loss itself.  We chose to count the global batch with an
all-reduce of the replicas' example counts, so an uneven last batch is still a true mean (one scalar collective
per step).  Its logs: Keras's "auto" reduction sums every per-replica log under MWMS, which doubles metrics that
are already synchronised; so the loss is all-reduced in the step and the logs are reduced with "first".
Its optimizer slots: which variables get sparse (IndexedSlices) gradients is found by one gradient of an
all-zeros batch taken inside `strategy.run` (a mirrored variable has no handle outside a replica context).
"""
from __future__ import annotations

import tensorflow as tf

from pipelines.ctr.ranking import RankingModel


@tf.keras.utils.register_keras_serializable(package="tfnas_distribute")
class GlobalBatchBCE(tf.keras.losses.Loss):
    """BCE (from logits by default): this replica's share of the mean over the global batch."""

    def __init__(self, from_logits: bool = True, name: str = "global_batch_bce", **kw):
        kw.setdefault("reduction", tf.keras.losses.Reduction.SUM)
        super().__init__(name=name, **kw)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        per = tf.keras.losses.binary_crossentropy(tf.cast(y_true, y_pred.dtype), y_pred,
                                                  from_logits=self.from_logits)
        count = tf.cast(tf.shape(per)[0], per.dtype)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, count)
        return per / tf.maximum(count, 1.0)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@tf.keras.utils.register_keras_serializable(package="tfnas_distribute")
class DistributedRankingModel(RankingModel):
    """RankingModel whose TFRS task scores with `GlobalBatchBCE` (same metrics); create it in the strategy's
    scope.  tfrs keeps a task's loss in `_loss` with no setter; the 2-worker tests fail if that changes."""

    def __init__(self, network, **kwargs):
        super().__init__(network, **kwargs)
        if not hasattr(self.task, "_loss"):
            raise TypeError(f"{type(self.task).__name__}: no TFRS ranking loss to replace (tfrs changed?)")
        self.task._loss = GlobalBatchBCE(from_logits=True)
        self.distribute_reduction_method = "first"

    def _global_logs(self, logs: dict) -> dict:
        """The global mean loss in the logs (each replica computed its share of it)."""
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return logs
        logs = dict(logs)
        logs["loss"] = ctx.all_reduce(tf.distribute.ReduceOp.SUM, logs["loss"])
        if "total_loss" in logs:
            logs["total_loss"] = logs["loss"] + logs.get("regularization_loss", 0.0)
        return logs

    def train_step(self, inputs):
        return self._global_logs(super().train_step(inputs))

    def test_step(self, inputs):
        return self._global_logs(super().test_step(inputs))

    def build_optimizer_slots(self) -> None:
        if not self.trainable_variables or self.optimizer is None or self.sparse_optimizer is None:
            return super().build_optimizer_slots()
        widths = {k: int(t.shape[-1]) for k, t in self.network.input.items()} \
            if getattr(self.network, "spec", None) is None else \
            {"dense": self.network.spec.num_dense, "sparse": self.network.spec.num_sparse}
        sparse = []

        def probe():
            batch = {"dense": tf.zeros([2, widths["dense"]], tf.float32),
                     "sparse": tf.zeros([2, widths["sparse"]], tf.int64)}
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(self(batch))
            grads = tape.gradient(loss, self.trainable_variables)
            sparse[:] = [isinstance(g, tf.IndexedSlices) for g in grads]
            dense_ok = [g is not None for g in grads]
            sparse.append(dense_ok)
        tf.distribute.get_strategy().run(probe)
        has_grad = sparse.pop()
        variables = self.trainable_variables
        self.optimizer.build([v for v, s, g in zip(variables, sparse, has_grad) if g and not s])
        self.sparse_optimizer.build([v for v, s in zip(variables, sparse) if s])
