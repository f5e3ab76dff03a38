"""Building blocks shared by the hand-made CTR ranking networks (embeddings, MLPs, interactions).

Every block is a Keras layer with `get_config`, so networks built from them save, reload and export.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from pipelines.ctr.schema import FeatureSpec

_PKG = "tfnas_ctr"


@tf.keras.utils.register_keras_serializable(package=_PKG)
class FieldEmbedding(tf.keras.layers.Layer):
    """Looks up one `dim`-vector per sparse field: int64 [B, n_sparse] -> float32 [B, n_sparse, dim].

    All fields share one concatenated table (row offset per field), read with a single `tf.gather`,
    so the gradient is an `IndexedSlices` over only the rows in the batch: a table of millions of rows
    costs memory but not compute, and sparse-aware optimizers (SGD, Adagrad) update only those rows.
    """

    def __init__(self, vocab_sizes: Sequence[int], dim: int = 16, l2: float = 0.0,
                 initializer_scale: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_sizes = tuple(int(v) for v in vocab_sizes)
        self.dim = int(dim)
        self.l2 = float(l2)
        self.initializer_scale = initializer_scale
        offsets, total = [], 0
        for v in self.vocab_sizes:
            offsets.append(total)
            total += v
        self._offsets = tf.constant(offsets, dtype=tf.int64)
        self._rows = total

    def build(self, input_shape):
        scale = self.initializer_scale if self.initializer_scale is not None else self.dim ** -0.5
        self.table = self.add_weight(
            name="table", shape=(self._rows, self.dim),
            initializer=tf.keras.initializers.RandomUniform(-scale, scale),
            regularizer=None)
        super().build(input_shape)

    def call(self, sparse):
        ids = tf.cast(sparse, tf.int64) + self._offsets
        # embedding_lookup, not tf.gather: on one variable it is the same gather (bit for bit), and on a table
        # sharded across parameter servers (a ShardedVariable) it looks up each shard and restores the ids'
        # order; tf.gather there refuses 2-D ids, and with 1-D ids TF 2.14 returns the rows grouped by shard.
        out = tf.nn.embedding_lookup(self.table, ids)
        if self.l2:
            # Penalise only the rows used in this batch: keeps the regulariser sparse too.
            self.add_loss(self.l2 * tf.reduce_sum(tf.square(out)) / tf.cast(tf.shape(out)[0], out.dtype))
        return out

    def get_config(self):
        return {**super().get_config(), "vocab_sizes": list(self.vocab_sizes), "dim": self.dim,
                "l2": self.l2, "initializer_scale": self.initializer_scale}


@tf.keras.utils.register_keras_serializable(package=_PKG)
class DenseFieldEmbedding(tf.keras.layers.Layer):
    """Turns each dense feature into a field vector `x_i * v_i + b_i`: [B, n_dense] -> [B, n_dense, dim].

    This is how DeepFM and AutoInt put numeric features into the same field space as sparse ones.
    """

    def __init__(self, dim: int = 16, use_bias: bool = True, stddev: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.use_bias = bool(use_bias)
        self.stddev = stddev

    def build(self, input_shape):
        n = int(input_shape[-1])
        self.v = self.add_weight(name="v", shape=(n, self.dim),
                                 initializer=tf.keras.initializers.RandomNormal(
                                     stddev=self.stddev if self.stddev is not None else self.dim ** -0.5))
        self.b = (self.add_weight(name="b", shape=(n, self.dim), initializer="zeros")
                  if self.use_bias else None)
        super().build(input_shape)

    def call(self, dense):
        out = dense[:, :, None] * self.v[None]
        return out + self.b[None] if self.b is not None else out

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "use_bias": self.use_bias, "stddev": self.stddev}


@tf.keras.utils.register_keras_serializable(package=_PKG)
class MLP(tf.keras.layers.Layer):
    """A stack of Dense+activation layers (optionally with dropout), last layer optionally linear."""

    def __init__(self, units: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 final_activation: str | None = "same", **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        self.activation = activation
        self.dropout = float(dropout)
        self.final_activation = final_activation
        last_act = activation if final_activation == "same" else final_activation
        self._layers = []
        for i, u in enumerate(self.units):
            act = last_act if i == len(self.units) - 1 else activation
            self._layers.append(tf.keras.layers.Dense(u, activation=act, name=f"dense_{i}"))
            if self.dropout and i < len(self.units) - 1:
                self._layers.append(tf.keras.layers.Dropout(self.dropout))

    def call(self, x, training=None):
        for layer in self._layers:
            x = layer(x, training=training) if isinstance(layer, tf.keras.layers.Dropout) else layer(x)
        return x

    def get_config(self):
        return {**super().get_config(), "units": list(self.units), "activation": self.activation,
                "dropout": self.dropout, "final_activation": self.final_activation}


@tf.keras.utils.register_keras_serializable(package=_PKG)
class PairwiseDot(tf.keras.layers.Layer):
    """DLRM's interaction: dot products of every pair of field vectors, [B, F, d] -> [B, F*(F-1)/2]."""

    def call(self, fields):
        n = int(fields.shape[1])
        gram = tf.matmul(fields, fields, transpose_b=True)                  # [B, F, F]
        flat = tf.reshape(gram, [-1, n * n])
        lower = [i * n + j for i in range(n) for j in range(i)]             # strictly lower triangle
        return tf.gather(flat, tf.constant(lower, dtype=tf.int32), axis=1)


@tf.keras.utils.register_keras_serializable(package=_PKG)
class FMInteraction(tf.keras.layers.Layer):
    """Factorization-machine second-order term: 0.5 * sum_k((sum_i v_ik)^2 - sum_i v_ik^2) -> [B, 1]."""

    def call(self, fields):
        square_of_sum = tf.square(tf.reduce_sum(fields, axis=1))
        sum_of_square = tf.reduce_sum(tf.square(fields), axis=1)
        return 0.5 * tf.reduce_sum(square_of_sum - sum_of_square, axis=1, keepdims=True)


class CTRNetwork(tf.keras.Model):
    """Base of every ranking network: maps a processed batch {"dense", "sparse"} to logits [B, 1].

    Subclasses keep their hyper-parameters in `self.hparams` (all JSON-able) so `get_config` /
    `from_config` round-trip with the FeatureSpec stored as a dict.
    """

    def __init__(self, spec: FeatureSpec | dict, name: str | None = None, **hparams):
        super().__init__(name=name)
        self.spec = spec if isinstance(spec, FeatureSpec) else FeatureSpec.from_dict(spec)
        self.hparams = hparams

    @staticmethod
    def split(features):
        """The processed dense [B, nd] float32 and sparse [B, ns] int64 tensors of a batch."""
        if "dense" not in features or "sparse" not in features:
            raise KeyError(f"ranking network needs a processed batch with 'dense' and 'sparse', "
                           f"got keys {sorted(features)}")
        return tf.cast(features["dense"], tf.float32), tf.cast(features["sparse"], tf.int64)

    def get_config(self):
        return {"spec": self.spec.to_dict(), "name": self.name, **self.hparams}

    def get_build_config(self):
        # Input shapes follow from the spec; never record a shape from some earlier (maybe bad) call.
        return {"from_spec": True}

    def build_from_config(self, config):
        """Create the variables by calling the network on a one-row zero batch shaped by the spec."""
        self({"dense": tf.zeros([1, self.spec.num_dense], tf.float32),
              "sparse": tf.zeros([1, self.spec.num_sparse], tf.int64)})

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
