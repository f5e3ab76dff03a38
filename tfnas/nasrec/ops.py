"""NASRec operators: the math once (functions of input and weight tensors) and fixed-size Keras layers.

The supernet (`tfnas.nasrec.elastic`) calls the same functions with weights sliced from its largest
version, so a standalone subnet built from these layers computes exactly what the supernet computed.

Shapes: dense tensors [B, units]; sparse tensors [B, rows, EMBEDDING_DIM] (rows = embedding rows).

Operator balancing (the Dot-Product): a block of dense width d projects its sparse input to
k = round(sqrt(2 d)) rows, stacks the dense input (projected to one 16-dim row) on top, and takes the
k (k + 1) / 2 pairwise dot products of distinct rows, about d values; a linear layer then maps them to
exactly d units.  So Dot-Product's output width, and hence its cost downstream, tracks d like FC's does,
instead of being fixed by the number of sparse rows (26 x 25 / 2 = 325 on Criteo).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from tfnas.nasrec.space import dot_rows  # noqa: F401  (operator balancing: rows of a Dot-Product)
from tfnas.supernet.masking import layer_norm

# plain TF code with no tensor-dependent Python control flow: skip autograph (it costs
# most of the tracing time otherwise)
_no_autograph = tf.autograph.experimental.do_not_convert

ATTENTION_HEADS = 8


def num_pairs(rows: int) -> int:
    """Distinct pairs among `rows` sparse rows plus the one dense row."""
    return rows * (rows + 1) // 2


def tril_indices(n: int) -> np.ndarray:
    """Flat indices of the strict lower triangle of an n x n matrix, row-major.

    Row-major order makes the pairs of the first r rows a prefix, so a narrower Dot-Product's pairs are
    the first entries of a wider one's."""
    return np.array([r * n + c for r in range(1, n) for c in range(r)], np.int32)


# ------------------------------------------------------------------------------------------ math
@_no_autograph
def dense_ln(x, kernel, bias, gamma, beta):
    """x @ kernel + bias, then LayerNorm."""
    return layer_norm(tf.matmul(x, kernel) + bias, gamma, beta)


@_no_autograph
def row_linear(x, kernel, bias):
    """Linear map over the rows of a sparse tensor: [B, R, E] -> [B, E, S] (rows last).

    One transpose + a 2-D matmul: about 2x faster on CPU than einsum "bre,rs->bes", forward + backward."""
    r, e = x.shape[1], x.shape[2]
    y = tf.matmul(tf.reshape(tf.transpose(x, [0, 2, 1]), [-1, r]), kernel)
    return tf.reshape(y, [-1, e, kernel.shape[1]]) + bias


@_no_autograph
def efc(x, kernel, bias, gamma, beta):
    """Embedding fully-connected: rows R -> S by a linear map, LayerNorm over rows, ReLU -> [B, S, E]."""
    y = layer_norm(row_linear(x, kernel, bias), gamma, beta)
    return tf.transpose(tf.nn.relu(y), [0, 2, 1])


@_no_autograph
def pairwise(dense_row, sparse_rows):
    """Dot products of distinct rows of [dense_row; sparse_rows]: [B,E],[B,k,E] -> [B, k(k+1)/2]."""
    t = tf.concat([dense_row[:, None, :], sparse_rows], axis=1)
    n = t.shape[1]
    z = tf.matmul(t, t, transpose_b=True)
    return tf.gather(tf.reshape(z, [-1, n * n]), tril_indices(n), axis=1)


@_no_autograph
def fm_term(sparse_rows, axis: int = 1):
    """Factorization-machine interaction: (sum of rows)^2 - sum of squared rows -> [B, E] (rows on `axis`)."""
    return tf.square(tf.reduce_sum(sparse_rows, axis)) - tf.reduce_sum(tf.square(sparse_rows), axis)


@_no_autograph
def gate(left, right, kernel, bias):
    """sigmoid(left @ kernel + bias) * right (right's width = kernel's output width)."""
    return tf.sigmoid(tf.matmul(left, kernel) + bias) * right


@_no_autograph
def attention(x, wq, bq, wk, bk, wv, bv, wo, bo, heads: int = ATTENTION_HEADS):
    """Multi-head self-attention over the rows of x [B, S, E] (head size E / heads)."""
    e = x.shape[-1]
    hd = e // heads

    def split(t):
        return tf.transpose(tf.reshape(t, [tf.shape(t)[0], -1, heads, hd]), [0, 2, 1, 3])

    q, k, v = (split(tf.einsum("bse,ef->bsf", x, w) + b) for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    a = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(hd), axis=-1)
    o = tf.reshape(tf.transpose(tf.matmul(a, v), [0, 2, 1, 3]), [tf.shape(x)[0], -1, e])
    return tf.einsum("bse,ef->bsf", o, wo) + bo


@_no_autograph
def transformer(rows, w):
    """Attention block on projected rows [B, S, E]: MHA + residual + LN, FFN(E->E->E) + residual + LN.

    `w` maps names (wq bq wk bk wv bv wo bo ln1_g ln1_b w1 b1 w2 b2 ln2_g ln2_b) to tensors."""
    a = attention(rows, w["wq"], w["bq"], w["wk"], w["bk"], w["wv"], w["bv"], w["wo"], w["bo"])
    a = layer_norm(a + rows, w["ln1_g"], w["ln1_b"])
    f = tf.einsum("bse,ef->bsf", tf.nn.relu(tf.einsum("bse,ef->bsf", a, w["w1"]) + w["b1"]), w["w2"]) + w["b2"]
    return layer_norm(a + f, w["ln2_g"], w["ln2_b"])


ATTN_WEIGHTS = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "ln1_g", "ln1_b", "w1", "b1", "w2", "b2",
                "ln2_g", "ln2_b")


def attention_weight_shapes(e: int) -> dict:
    """Shapes of the attention block's weights for embedding dim `e` (size-independent of rows)."""
    return {n: ((e, e) if n.startswith("w") else (e,)) for n in ATTN_WEIGHTS}


# ------------------------------------------------------------------------------------------ layers
class NASRecLayer(tf.keras.layers.Layer):
    """Base: weights created in a fixed order by `_weights(spec)`; `get_config` returns the init args."""

    _BASE_KWARGS = ("name", "trainable", "dtype", "dynamic", "input_dim", "input_shape", "batch_input_shape")

    def __init__(self, **kwargs):
        base = {k: kwargs.pop(k) for k in list(kwargs) if k in self._BASE_KWARGS}
        super().__init__(**base)
        self._args = dict(kwargs)
        for k, v in kwargs.items():
            setattr(self, k, v)

    def add(self, name, shape, init="glorot_uniform"):
        """Create one weight; zeros for biases/offsets, ones for LayerNorm scales."""
        return self.add_weight(name=name, shape=shape, initializer=init, trainable=True)

    def get_config(self):
        return {**super().get_config(), **self._args}


class FeatureEmbedding(NASRecLayer):
    """All sparse features' tables in one [sum(vocab), dim] variable; ids [B, F] -> rows [B, F, dim].

    One table with per-feature offsets means one gather per step, whose gradient is IndexedSlices
    (sparse Adagrad updates touch only the looked-up rows)."""

    def __init__(self, vocab_sizes, dim: int = 16, **kwargs):
        super().__init__(vocab_sizes=[int(v) for v in vocab_sizes], dim=int(dim), **kwargs)
        self.offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=(int(sum(self.vocab_sizes)), self.dim),
                                     initializer=tf.keras.initializers.RandomUniform(-0.05, 0.05))
        super().build(input_shape)

    def call(self, ids):
        return tf.gather(self.table, tf.cast(ids, tf.int64) + self.offsets)


class FC(NASRecLayer):
    """Dense op 'fc': Linear(units) + LayerNorm + ReLU on the concatenated dense input."""

    def __init__(self, units: int, **kwargs):
        super().__init__(units=int(units), **kwargs)

    def build(self, input_shape):
        n = int(input_shape[-1])
        self.kernel, self.bias = self.add("kernel", (n, self.units)), self.add("bias", (self.units,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.units,), "ones"), self.add("beta", (self.units,), "zeros")
        super().build(input_shape)

    def call(self, x):
        return tf.nn.relu(dense_ln(x, self.kernel, self.bias, self.gamma, self.beta))


class DotProduct(NASRecLayer):
    """Dense op 'dot': dense -> 1 row, sparse -> `rows` rows (default dot_rows(units): operator balancing),
    pairwise dots -> Linear(units)+LN."""

    def __init__(self, units: int, embedding_dim: int = 16, rows: int | None = None, **kwargs):
        super().__init__(units=int(units), embedding_dim=int(embedding_dim),
                         rows=None if rows is None else int(rows), **kwargs)

    def build(self, input_shape):
        dense_shape, sparse_shape = input_shape
        e, k = self.embedding_dim, self.rows or dot_rows(self.units)
        self.d_kernel, self.d_bias = self.add("d_kernel", (int(dense_shape[-1]), e)), self.add("d_bias", (e,), "zeros")
        self.d_gamma, self.d_beta = self.add("d_gamma", (e,), "ones"), self.add("d_beta", (e,), "zeros")
        self.s_kernel, self.s_bias = self.add("s_kernel", (int(sparse_shape[1]), k)), self.add("s_bias", (k,), "zeros")
        self.s_gamma, self.s_beta = self.add("s_gamma", (k,), "ones"), self.add("s_beta", (k,), "zeros")
        self.kernel = self.add("kernel", (num_pairs(k), self.units))
        self.bias = self.add("bias", (self.units,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.units,), "ones"), self.add("beta", (self.units,), "zeros")
        super().build(input_shape)

    def call(self, inputs):
        dense, sparse = inputs
        d = dense_ln(dense, self.d_kernel, self.d_bias, self.d_gamma, self.d_beta)
        s = tf.transpose(layer_norm(row_linear(sparse, self.s_kernel, self.s_bias), self.s_gamma, self.s_beta),
                         [0, 2, 1])
        return dense_ln(pairwise(d, s), self.kernel, self.bias, self.gamma, self.beta)


class SigmoidGating(NASRecLayer):
    """Dense op 'gating': Linear(units)+LN of sigmoid(Linear(left)) * right."""

    def __init__(self, units: int, **kwargs):
        super().__init__(units=int(units), **kwargs)

    def build(self, input_shape):
        wl, wr = int(input_shape[0][-1]), int(input_shape[1][-1])
        self.g_kernel, self.g_bias = self.add("g_kernel", (wl, wr)), self.add("g_bias", (wr,), "zeros")
        self.kernel, self.bias = self.add("kernel", (wr, self.units)), self.add("bias", (self.units,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.units,), "ones"), self.add("beta", (self.units,), "zeros")
        super().build(input_shape)

    def call(self, inputs):
        left, right = inputs
        return dense_ln(gate(left, right, self.g_kernel, self.g_bias), self.kernel, self.bias, self.gamma, self.beta)


class Sum(NASRecLayer):
    """Dense op 'sum': Linear(units)+LN of left + right (the narrower one zero-padded)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(units=int(units), **kwargs)

    def build(self, input_shape):
        self.width = max(int(input_shape[0][-1]), int(input_shape[1][-1]))
        self.kernel, self.bias = self.add("kernel", (self.width, self.units)), self.add("bias", (self.units,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.units,), "ones"), self.add("beta", (self.units,), "zeros")
        super().build(input_shape)

    def call(self, inputs):
        left, right = (tf.pad(t, [[0, 0], [0, self.width - t.shape[-1]]]) for t in inputs)
        return dense_ln(left + right, self.kernel, self.bias, self.gamma, self.beta)


class EFC(NASRecLayer):
    """Sparse op 'efc': embedding rows R -> `rows` by a linear map over rows, LN over rows, ReLU."""

    def __init__(self, rows: int, **kwargs):
        super().__init__(rows=int(rows), **kwargs)

    def build(self, input_shape):
        r = int(input_shape[1])
        self.kernel, self.bias = self.add("kernel", (r, self.rows)), self.add("bias", (self.rows,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.rows,), "ones"), self.add("beta", (self.rows,), "zeros")
        super().build(input_shape)

    def call(self, x):
        return efc(x, self.kernel, self.bias, self.gamma, self.beta)


class Attention(NASRecLayer):
    """Sparse op 'attn': project rows to `rows` (+LN over rows), then a transformer block (8 heads)."""

    def __init__(self, rows: int, **kwargs):
        super().__init__(rows=int(rows), **kwargs)

    def build(self, input_shape):
        r, e = int(input_shape[1]), int(input_shape[2])
        self.kernel, self.bias = self.add("kernel", (r, self.rows)), self.add("bias", (self.rows,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.rows,), "ones"), self.add("beta", (self.rows,), "zeros")
        self.attn = {n: self.add(n, s, "ones" if n.endswith("_g") else
                                 ("zeros" if n[0] == "b" or n.endswith("_b") else "glorot_uniform"))
                     for n, s in attention_weight_shapes(e).items()}
        super().build(input_shape)

    def call(self, x):
        rows = tf.transpose(layer_norm(row_linear(x, self.kernel, self.bias), self.gamma, self.beta), [0, 2, 1])
        return transformer(rows, self.attn)


class DenseToRows(NASRecLayer):
    """Dense->sparse merge: Linear(rows*dim)+LN of the dense output, reshaped to [B, rows, dim]."""

    def __init__(self, rows: int = 8, dim: int = 16, **kwargs):
        super().__init__(rows=int(rows), dim=int(dim), **kwargs)

    def build(self, input_shape):
        n, m = int(input_shape[-1]), self.rows * self.dim
        self.kernel, self.bias = self.add("kernel", (n, m)), self.add("bias", (m,), "zeros")
        self.gamma, self.beta = self.add("gamma", (m,), "ones"), self.add("beta", (m,), "zeros")
        super().build(input_shape)

    def call(self, x):
        return tf.reshape(dense_ln(x, self.kernel, self.bias, self.gamma, self.beta), [-1, self.rows, self.dim])


class FMToDense(NASRecLayer):
    """FM flag: the FM term of the sparse output, Linear(units)+LN, to be added to the dense output."""

    def __init__(self, units: int, **kwargs):
        super().__init__(units=int(units), **kwargs)

    def build(self, input_shape):
        e = int(input_shape[-1])
        self.kernel, self.bias = self.add("kernel", (e, self.units)), self.add("bias", (self.units,), "zeros")
        self.gamma, self.beta = self.add("gamma", (self.units,), "ones"), self.add("beta", (self.units,), "zeros")
        super().build(input_shape)

    def call(self, x):
        return dense_ln(fm_term(x), self.kernel, self.bias, self.gamma, self.beta)


class Head(NASRecLayer):
    """Logit = Linear(dense ++ flattened sparse) -> [B, 1]."""

    def build(self, input_shape):
        n = int(input_shape[0][-1]) + int(input_shape[1][1]) * int(input_shape[1][2])
        self.kernel, self.bias = self.add("kernel", (n, 1)), self.add("bias", (1,), "zeros")
        super().build(input_shape)

    def call(self, inputs):
        dense, sparse = inputs
        flat = tf.reshape(sparse, [-1, sparse.shape[1] * sparse.shape[2]])
        return tf.matmul(tf.concat([dense, flat], 1), self.kernel) + self.bias


DENSE_LAYERS = {"fc": FC, "dot": DotProduct, "gating": SigmoidGating, "sum": Sum}
SPARSE_LAYERS = {"efc": EFC, "attn": Attention}
CUSTOM_OBJECTS = {c.__name__: c for c in (FeatureEmbedding, FC, DotProduct, SigmoidGating, Sum, EFC, Attention,
                                         DenseToRows, FMToDense, Head)}

# the `full+ext` space's layers join CUSTOM_OBJECTS when tfnas/nasrec/ext_ops.py loads (it imports this
# module, so the import comes last)
from tfnas.nasrec import ext_ops  # noqa: E402,F401
