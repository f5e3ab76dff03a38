"""DeepFM (Guo et al. 2017): first-order + factorization-machine + deep MLP over shared field embeddings."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from pipelines.ctr.baselines.layers import (MLP, CTRNetwork, DenseFieldEmbedding, FieldEmbedding,
                                            FMInteraction)


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class DeepFM(CTRNetwork):
    """logit = linear(dense) + sum of 1-d sparse weights + FM(fields) + MLP(flat fields).

    Dense features become fields x_i * v_i; sparse ones are table rows (sparse IndexedSlices gradients).
    """

    def __init__(self, spec, embedding_dim: int = 16, hidden: Sequence[int] = (256, 128),
                 dropout: float = 0.0, name: str | None = "deepfm"):
        super().__init__(spec, name=name, embedding_dim=int(embedding_dim),
                         hidden=[int(h) for h in hidden], dropout=float(dropout))
        # Small initial vectors: the FM term sums ~F^2/2 pairwise products, so unit-scale ones explode.
        self.embedding = FieldEmbedding(self.spec.vocab_sizes, embedding_dim, initializer_scale=0.01,
                                        name="embedding")
        self.first_order = FieldEmbedding(self.spec.vocab_sizes, 1, initializer_scale=1e-3,
                                          name="first_order")
        self.dense_fields = DenseFieldEmbedding(embedding_dim, use_bias=False, stddev=0.01,
                                                name="dense_fields")
        self.dense_linear = tf.keras.layers.Dense(1, name="dense_linear")
        self.fm = FMInteraction(name="fm")
        self.deep = MLP(hidden, dropout=dropout, name="deep")
        self.deep_head = tf.keras.layers.Dense(1, name="deep_logit")

    def call(self, features, training=None):
        dense, sparse = self.split(features)
        fields = tf.concat([self.dense_fields(dense), self.embedding(sparse)], axis=1)  # [B, F, d]
        linear = self.dense_linear(dense) + tf.reduce_sum(self.first_order(sparse), axis=1)
        flat = tf.reshape(fields, [-1, fields.shape[1] * fields.shape[2]])
        return linear + self.fm(fields) + self.deep_head(self.deep(flat, training=training))
