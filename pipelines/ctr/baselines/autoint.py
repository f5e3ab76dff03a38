"""AutoInt (Song et al. 2019): multi-head self-attention over field embeddings with residual links."""
from __future__ import annotations

import tensorflow as tf

from pipelines.ctr.baselines.layers import CTRNetwork, DenseFieldEmbedding, FieldEmbedding


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class InteractingLayer(tf.keras.layers.Layer):
    """One AutoInt block: ReLU(MultiHeadAttention(fields) + W_res fields), [B, F, d] -> [B, F, heads*key_dim]."""

    def __init__(self, num_heads: int = 2, key_dim: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        out = self.num_heads * self.key_dim
        self.attention = tf.keras.layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.key_dim, output_shape=out, use_bias=False,
            name="attention")
        self.residual = tf.keras.layers.Dense(out, use_bias=False, name="residual")

    def call(self, fields):
        return tf.nn.relu(self.attention(fields, fields) + self.residual(fields))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class AutoInt(CTRNetwork):
    """Fields (dense x_i v_i and sparse table rows, sparse gradients) -> `num_layers` attention blocks -> logit."""

    def __init__(self, spec, embedding_dim: int = 16, num_layers: int = 2, num_heads: int = 2,
                 key_dim: int = 8, name: str | None = "autoint"):
        super().__init__(spec, name=name, embedding_dim=int(embedding_dim), num_layers=int(num_layers),
                         num_heads=int(num_heads), key_dim=int(key_dim))
        self.embedding = FieldEmbedding(self.spec.vocab_sizes, embedding_dim, name="embedding")
        self.dense_fields = DenseFieldEmbedding(embedding_dim, name="dense_fields")
        self.blocks = [InteractingLayer(num_heads, key_dim, name=f"interacting_{i}")
                       for i in range(num_layers)]
        self.head = tf.keras.layers.Dense(1, name="logit")

    def call(self, features, training=None):
        dense, sparse = self.split(features)
        x = tf.concat([self.dense_fields(dense), self.embedding(sparse)], axis=1)
        for block in self.blocks:
            x = block(x)
        return self.head(tf.reshape(x, [-1, x.shape[1] * x.shape[2]]))
