"""DCN-v2 (Wang et al. 2021): explicit feature crosses (tfrs Cross layers) stacked with a deep MLP."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from pipelines.ctr.baselines.layers import MLP, CTRNetwork, FieldEmbedding


@tf.keras.utils.register_keras_serializable(package="tfnas_ctr")
class DCNv2(CTRNetwork):
    """x0 = concat(dense, embeddings); x_{l+1} = x0 * (W x_l + b) + x_l for `num_cross` layers; MLP -> logit.

    `projection_dim` gives the low-rank cross (DCN-Mix style cost saving); embeddings use tf.gather, so
    their gradients stay sparse.
    """

    def __init__(self, spec, embedding_dim: int = 16, num_cross: int = 3,
                 projection_dim: int | None = None, hidden: Sequence[int] = (256, 128),
                 name: str | None = "dcnv2"):
        super().__init__(spec, name=name, embedding_dim=int(embedding_dim), num_cross=int(num_cross),
                         projection_dim=None if projection_dim is None else int(projection_dim),
                         hidden=[int(h) for h in hidden])
        self.embedding = FieldEmbedding(self.spec.vocab_sizes, embedding_dim, name="embedding")
        self.crosses = [tfrs.layers.dcn.Cross(projection_dim=projection_dim, name=f"cross_{i}")
                        for i in range(num_cross)]
        self.deep = MLP(hidden, name="deep") if hidden else None
        self.head = tf.keras.layers.Dense(1, name="logit")

    def call(self, features, training=None):
        dense, sparse = self.split(features)
        emb = self.embedding(sparse)
        x0 = tf.concat([dense, tf.reshape(emb, [-1, emb.shape[1] * emb.shape[2]])], axis=1)
        x = x0
        for cross in self.crosses:
            x = cross(x0, x)
        if self.deep is not None:
            x = self.deep(x)
        return self.head(x)
