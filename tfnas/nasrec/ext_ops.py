"""Keras layers of the `full+ext` space's additions (tfnas/nasrec/ext.py): DCN-v2's cross, the weight-free
concat, the LayerNorm-free FC, DeepFM's dense fields, first-order and FM logits, and a dense-only head.

Initializers follow the baselines they come from (tfrs Cross: truncated normal kernel; DeepFM: dense fields
N(0, 0.01), first-order table U(+-1e-3)), so a retrained ext candidate starts as the baseline would.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfnas.nasrec import ops
from tfnas.nasrec.ops import NASRecLayer, fm_term

_no_autograph = tf.autograph.experimental.do_not_convert


@_no_autograph
def cross(x0, x, kernel, bias):
    """DCN-v2 cross layer: x0 * (x @ kernel + bias) + x."""
    return x0 * (tf.matmul(x, kernel) + bias) + x


class Cross(NASRecLayer):
    """Dense op 'cross' (left = x0, right = x): x0 * (W x + b) + x, the narrower operand zero-padded."""

    def build(self, input_shape):
        self.width = max(int(input_shape[0][-1]), int(input_shape[1][-1]))
        self.kernel = self.add("kernel", (self.width, self.width), "truncated_normal")
        self.bias = self.add("bias", (self.width,), "zeros")
        super().build(input_shape)

    def call(self, inputs):
        x0, x = (tf.pad(t, [[0, 0], [0, self.width - t.shape[-1]]]) for t in inputs)
        return cross(x0, x, self.kernel, self.bias)


class ConcatFlat(NASRecLayer):
    """Dense op 'concat': [dense inputs..., flattened sparse input] side by side (no weights); the sparse
    input [B, R, E] is flattened row-major (row r's E values at r*E..r*E+E-1)."""

    def call(self, inputs):
        *dense, sparse = inputs
        flat = tf.reshape(sparse, [-1, sparse.shape[1] * sparse.shape[2]])
        return tf.concat(list(dense) + [flat], axis=1) if dense else flat


class FCNoLN(NASRecLayer):
    """Dense op 'fc_noln': ReLU(x W + b), the hand-made baselines' MLP layer (no LayerNorm)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(units=int(units), **kwargs)

    def build(self, input_shape):
        self.kernel = self.add("kernel", (int(input_shape[-1]), self.units))
        self.bias = self.add("bias", (self.units,), "zeros")
        super().build(input_shape)

    def call(self, x):
        return tf.nn.relu(tf.matmul(x, self.kernel) + self.bias)


class DenseFields(NASRecLayer):
    """Input option 'dense_fields': dense features [B, n] -> rows x_i v_i [B, n, dim] (DeepFM, no bias)."""

    def __init__(self, dim: int = 16, **kwargs):
        super().__init__(dim=int(dim), **kwargs)

    def build(self, input_shape):
        self.v = self.add("v", (int(input_shape[-1]), self.dim), tf.keras.initializers.RandomNormal(stddev=0.01))
        super().build(input_shape)

    def call(self, dense):
        return dense[:, :, None] * self.v[None]


class FirstOrder(NASRecLayer):
    """Head option 'linear': dense @ w + sum_f table[id_f] -> [B, 1] (one scalar per sparse id; no bias)."""

    def __init__(self, vocab_sizes, **kwargs):
        super().__init__(vocab_sizes=[int(v) for v in vocab_sizes], **kwargs)
        self.offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    def build(self, input_shape):
        self.kernel = self.add("kernel", (int(input_shape[0][-1]), 1))
        self.table = self.add("table", (int(sum(self.vocab_sizes)), 1),
                              tf.keras.initializers.RandomUniform(-1e-3, 1e-3))
        super().build(input_shape)

    def call(self, inputs):
        dense, ids = inputs
        rows = tf.gather(self.table, tf.cast(ids, tf.int64) + self.offsets)         # [B, F, 1]
        return tf.matmul(dense, self.kernel) + tf.reduce_sum(rows, axis=1)


class FMLogit(NASRecLayer):
    """Head option 'fm': 0.5 * sum_k((sum_i v_ik)^2 - sum_i v_ik^2) over rows [B, R, E] -> [B, 1] (no weights)."""

    def call(self, rows):
        return 0.5 * tf.reduce_sum(fm_term(rows), axis=1, keepdims=True)


class DenseHead(NASRecLayer):
    """Head reading only the dense output (head edge roles ["dense"]): Linear(dense) -> [B, 1]."""

    def build(self, input_shape):
        self.kernel, self.bias = self.add("kernel", (int(input_shape[-1]), 1)), self.add("bias", (1,), "zeros")
        super().build(input_shape)

    def call(self, x):
        return tf.matmul(x, self.kernel) + self.bias


CUSTOM_OBJECTS = {c.__name__: c for c in (Cross, ConcatFlat, FCNoLN, DenseFields, FirstOrder, FMLogit, DenseHead)}
ops.CUSTOM_OBJECTS.update(CUSTOM_OBJECTS)   # saved ext subnets reload with ops.CUSTOM_OBJECTS
