"""DLRM (Naumov et al. 2019): bottom MLP on dense features, pairwise dot interaction, top MLP."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from pipelines.ctr.baselines.layers import MLP, CTRNetwork, FieldEmbedding, PairwiseDot


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class DLRM(CTRNetwork):
    """Dense -> bottom MLP (ends at embedding_dim); dot products of all field pairs; top MLP -> logit.

    Embedding tables are read with tf.gather, so their gradients are sparse IndexedSlices.
    """

    def __init__(self, spec, embedding_dim: int = 16, bottom: Sequence[int] = (64, 32),
                 top: Sequence[int] = (128, 64), name: str | None = "dlrm"):
        super().__init__(spec, name=name, embedding_dim=int(embedding_dim),
                         bottom=[int(u) for u in bottom], top=[int(u) for u in top])
        self.embedding = FieldEmbedding(self.spec.vocab_sizes, embedding_dim, name="embedding")
        self.bottom = MLP(list(bottom) + [embedding_dim], name="bottom_mlp")
        self.interaction = PairwiseDot(name="interaction")
        self.top = MLP(top, name="top_mlp")
        self.head = tf.keras.layers.Dense(1, name="logit")

    def call(self, features, training=None):
        dense, sparse = self.split(features)
        z = self.bottom(dense)                                       # [B, d]
        fields = tf.concat([z[:, None, :], self.embedding(sparse)], axis=1)
        x = tf.concat([z, self.interaction(fields)], axis=1)
        return self.head(self.top(x))
