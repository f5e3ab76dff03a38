"""The plainest CTR baseline: dense features and flattened field embeddings through one MLP."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from pipelines.ctr.baselines.layers import MLP, CTRNetwork, FieldEmbedding


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class MLPRanker(CTRNetwork):
    """concat(dense, embeddings) -> MLP(hidden) -> logit.  Embedding gradients stay sparse (tf.gather)."""

    def __init__(self, spec, embedding_dim: int = 16, hidden: Sequence[int] = (256, 128),
                 dropout: float = 0.0, name: str | None = "mlp"):
        super().__init__(spec, name=name, embedding_dim=int(embedding_dim),
                         hidden=[int(h) for h in hidden], dropout=float(dropout))
        self.embedding = FieldEmbedding(self.spec.vocab_sizes, embedding_dim, name="embedding")
        self.mlp = MLP(hidden, dropout=dropout, name="mlp")
        self.head = tf.keras.layers.Dense(1, name="logit")

    def call(self, features, training=None):
        dense, sparse = self.split(features)
        emb = self.embedding(sparse)
        x = tf.concat([dense, tf.reshape(emb, [-1, emb.shape[1] * emb.shape[2]])], axis=1)
        return self.head(self.mlp(x, training=training))
