"""One NASRec supernet block: the largest version of every operator, driven by an in-graph choice row.

Sparse tensors are kept rows-last inside the supernet, [B, E, rows] (the standalone subnet's layers use
[B, rows, E]): a linear map over rows is then one reshape + matmul, with no transposes or einsum
(4x faster than einsum "bre,rs->bes" on CPU, forward + backward, measured at NASRec sizes).

Widths use the slice form of `tfnas.supernet.masking` (slice the weights to the chosen width, pad the
output back to the maximum): outputs have static shapes [B, D] / [B, E, S + 8] with zeros past the
chosen width, exactly the mask form, while compute follows the chosen sizes.  Inputs are gathered (only
the chosen earlier outputs and their kernel rows enter the matmul), operators the path leaves out are
run at size 1 and are multiplied by 0 (no control flow), and since every choice is a tensor, a new
subnet never retraces.
"""
from __future__ import annotations

import tensorflow as tf

from tfnas.nasrec import ops
from tfnas.nasrec.ext import EXT_KIND
from tfnas.nasrec.space import DENSE_OPS, MERGE_ROWS, SPARSE_OPS, ChoiceLayout
from tfnas.supernet.masking import layer_norm, pad_to, take, take2

# plain TF code with no tensor-dependent Python control flow: skip autograph (it costs
# most of the tracing time otherwise)
_no_autograph = tf.autograph.experimental.do_not_convert


@_no_autograph
def pairwise_rows_last(dense_row, sparse_rows):
    """`ops.pairwise` for rows-last tensors: [B, E], [B, E, k] -> [B, k (k + 1) / 2] (same order)."""
    t = tf.concat([dense_row[:, :, None], sparse_rows], axis=2)
    n = t.shape[2]
    z = tf.matmul(t, t, transpose_a=True)
    return tf.gather(tf.reshape(z, [-1, n * n]), ops.tril_indices(n), axis=1)


class ElasticBlock(tf.keras.layers.Layer):
    """Block `index` (0-based) of the supernet; reads outputs 0..index, returns (dense [B, D], sparse
    rows-last [B, E, R])."""

    def __init__(self, index: int, layout: ChoiceLayout, dense_ops, sparse_ops, n_dense: int, n_sparse: int,
                 max_dense: int, max_sparse: int, embedding_dim: int = 16, fixed_dot_rows: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        subnet_only = [o for o in dense_ops if o not in DENSE_OPS] + [o for o in sparse_ops if o not in SPARSE_OPS]
        if subnet_only:   # the full+ext space's additions (tfnas/nasrec/ext.py) have no elastic version
            raise ValueError(f"space.kind: op(s) {subnet_only} are subnet-only (space kind {EXT_KIND!r}); the "
                             "weight-sharing supernet implements the paper's kinds 'small' and 'full'")
        self.index, self.layout = index, layout
        self.dense_ops, self.sparse_ops = tuple(dense_ops), tuple(sparse_ops)
        self.n_dense, self.n_sparse = n_dense, n_sparse
        self.D, self.S, self.E = max_dense, max_sparse, embedding_dim
        self.R = max_sparse + MERGE_ROWS
        self.n_in = index + 1
        # earlier outputs are stacked: dense [B, n, D] (raw input zero-padded to D),
        # sparse rows-last [B, E, n, P] (raw rows and block rows zero-padded to P); kernels reading them
        # are [n * D, .] / [n * P, .]
        self.P = max(n_sparse, self.R)
        self.dense_rows = self.n_in * max_dense
        self.sparse_rows = self.n_in * self.P
        # Dot-Product rows: dot_rows(width) per block (operator balancing) or one fixed count (the ablation)
        self.fixed_dot_rows = fixed_dot_rows
        self.K = fixed_dot_rows or ops.dot_rows(max_dense)
        self.w = {}

    def _add(self, name, shape):
        seg = name.split("/")[-1]
        init = "glorot_uniform"
        if seg.endswith(("gamma", "_g")):
            init = "ones"
        elif seg.endswith(("bias", "beta", "_b")) or (seg[0] == "b" and len(seg) == 2):
            init = "zeros"
        self.w[name] = self.add_weight(name=name, shape=shape, initializer=init, trainable=True)

    def _add_ln(self, prefix, in_dim, out_dim):
        self._add(prefix + "kernel", (in_dim, out_dim))
        for n in ("bias", "gamma", "beta"):
            self._add(prefix + n, (out_dim,))

    def build(self, input_shape):
        D, S, E = self.D, self.S, self.E
        if "fc" in self.dense_ops:
            self._add_ln("fc/", self.dense_rows, D)
        if "dot" in self.dense_ops:
            self._add_ln("dot/d_", self.dense_rows, E)
            self._add_ln("dot/s_", self.sparse_rows, self.K)
            self._add_ln("dot/", ops.num_pairs(self.K), D)
        if "gating" in self.dense_ops:
            self._add("gating/g_kernel", (D, D))
            self._add("gating/g_bias", (D,))
            self._add_ln("gating/", D, D)
        if "sum" in self.dense_ops:
            self._add_ln("sum/", D, D)
        if "efc" in self.sparse_ops:
            self._add_ln("efc/", self.sparse_rows, S)
        if "attn" in self.sparse_ops:
            self._add_ln("attn/", self.sparse_rows, S)
            for n, shape in ops.attention_weight_shapes(E).items():
                self._add("attn/" + n, shape)
        self._add_ln("merge/", D, MERGE_ROWS * E)
        self._add_ln("fm/", E, D)
        super().build(input_shape)

    # ------------------------------------------------------------------ helpers
    def _ln(self, prefix, y, width):
        return layer_norm(y, take(self.w[prefix + "gamma"], width, 0), take(self.w[prefix + "beta"], width, 0))

    def _gather_in(self, stack, mask, kernel, block_rows, out, axis):
        """The chosen earlier outputs (mask) gathered on `axis`, and their kernel rows sliced to `out`."""
        idx = tf.reshape(tf.where(mask > 0), [-1])
        x = tf.gather(stack, idx, axis=axis)
        kern = tf.gather(take(tf.reshape(kernel, [self.n_in, block_rows, -1]), out, 2), idx)
        return x, tf.reshape(kern, tf.stack([-1, tf.cast(out, tf.int32)]))

    def _dense_in(self, c, kernel, out_w):
        """concat(chosen dense outputs) @ kernel rows of those outputs [:, :out_w]."""
        x, kern = self._gather_in(c["dense_stack"], c["dense_in"], kernel, self.D, out_w, axis=1)
        return tf.matmul(tf.reshape(x, tf.stack([tf.shape(x)[0], -1])), kern)

    def _sparse_in(self, c, kernel, out_rows):
        """Linear map over the rows of the concatenated chosen sparse outputs: -> [B, E, out_rows]."""
        x, kern = self._gather_in(c["sparse_stack"], c["sparse_in"], kernel, self.P, out_rows, axis=2)
        y = tf.matmul(tf.reshape(x, tf.stack([-1, tf.shape(kern)[0]])), kern)       # x: [B, E, m, P]
        return tf.reshape(y, tf.stack([-1, self.E, out_rows]))

    def _pick(self, c, idx):
        """(earlier dense output `idx` as [B, D], its width) for a tensor index `idx`."""
        return tf.gather(c["dense_stack"], idx, axis=1), tf.gather(c["widths"], idx)

    # ------------------------------------------------------------------ operators (outputs unpadded)
    def _fc(self, c, w):
        p = "fc/"
        y = self._dense_in(c, self.w[p + "kernel"], w) + take(self.w[p + "bias"], w, 0)
        return tf.nn.relu(self._ln(p, y, w))

    def _dot(self, c, w):
        if self.fixed_dot_rows:
            k = tf.constant(self.K, tf.int32)
        else:
            k = tf.cast(tf.round(tf.sqrt(2.0 * tf.cast(w, tf.float32))), tf.int32)
        d = self._dense_in(c, self.w["dot/d_kernel"], self.E) + self.w["dot/d_bias"]
        d = layer_norm(d, self.w["dot/d_gamma"], self.w["dot/d_beta"])
        s = self._sparse_in(c, self.w["dot/s_kernel"], k) + take(self.w["dot/s_bias"], k, 0)
        s = self._ln("dot/s_", s, k)                                      # [B, E, k]
        pairs = take(pairwise_rows_last(d, pad_to(s, self.K, axis=2)), k * (k + 1) // 2)
        y = tf.matmul(pairs, take2(self.w["dot/kernel"], k * (k + 1) // 2, w)) + take(self.w["dot/bias"], w, 0)
        return self._ln("dot/", y, w)

    def _gating(self, c, w):
        (left, wl), (right, wr) = c["left"], c["right"]
        wl, wr = tf.minimum(wl, w * 0 + c["cap"]), tf.minimum(wr, w * 0 + c["cap"])
        g = ops.gate(take(left, wl), take(right, wr), take2(self.w["gating/g_kernel"], wl, wr),
                     take(self.w["gating/g_bias"], wr, 0))
        y = tf.matmul(g, take2(self.w["gating/kernel"], wr, w)) + take(self.w["gating/bias"], w, 0)
        return self._ln("gating/", y, w)

    def _sum(self, c, w):
        (left, wl), (right, wr) = c["left"], c["right"]
        m = tf.minimum(tf.maximum(wl, wr), c["cap"])
        y = tf.matmul(take(left + right, m), take2(self.w["sum/kernel"], m, w)) + take(self.w["sum/bias"], w, 0)
        return self._ln("sum/", y, w)

    def _efc(self, c, s):
        y = self._sparse_in(c, self.w["efc/kernel"], s) + take(self.w["efc/bias"], s, 0)
        return tf.nn.relu(self._ln("efc/", y, s))

    def _attn(self, c, s):
        y = self._sparse_in(c, self.w["attn/kernel"], s) + take(self.w["attn/bias"], s, 0)
        rows = tf.transpose(self._ln("attn/", y, s), [0, 2, 1])
        out = ops.transformer(rows, {n: self.w["attn/" + n] for n in ops.ATTN_WEIGHTS})
        return tf.transpose(out, [0, 2, 1])

    # ------------------------------------------------------------------ forward
    def call(self, dense_stack, widths, sparse_stack, row):
        return self._block(dense_stack, widths, sparse_stack, row)

    @_no_autograph
    def _block(self, dense_stack, widths, sparse_stack, row):
        """dense_stack [B, n, D]: outputs 0..index zero-padded; widths [n] int32: their widths;
        sparse_stack [B, E, n, P]; row: this block's int32 choice row.  Returns [B, D], [B, E, S + 8]."""
        L = self.layout
        n = self.n_in
        w, s = row[L.dense_width], row[L.sparse_width]
        c = {"dense_stack": dense_stack, "widths": widths, "sparse_stack": sparse_stack,
             "dense_in": row[L.dense_in][:n], "sparse_in": row[L.sparse_in][:n]}
        if any(op in self.dense_ops for op in ("gating", "sum")):
            c["left"] = self._pick(c, row[L.left])
            c["right"] = self._pick(c, row[L.right])
        d_active, s_active = row[L.dense_ops], row[L.sparse_ops]
        dense_out = self._run_ops(c, self.dense_ops, DENSE_OPS, d_active, w, lambda fn, v: pad_to(fn(c, v), self.D))
        sparse_out = self._run_ops(c, self.sparse_ops, SPARSE_OPS, s_active, s,
                                   lambda fn, v: pad_to(fn(c, v), self.S, axis=2))
        dense_out = tf.ensure_shape(dense_out, [None, self.D])
        sparse_out = tf.ensure_shape(sparse_out, [None, self.E, self.S])

        # the two flags are cheap: always computed, multiplied by 0/1 (a 0 gives zero gradients too)
        y = tf.matmul(take(dense_out, w), take2(self.w["merge/kernel"], w, MERGE_ROWS * self.E))
        y = layer_norm(y + self.w["merge/bias"], self.w["merge/gamma"], self.w["merge/beta"])
        merged = tf.transpose(tf.reshape(y, [-1, MERGE_ROWS, self.E]), [0, 2, 1])
        merged = merged * tf.cast(row[L.merge], tf.float32)
        fm = ops.fm_term(sparse_out, axis=2)
        f = tf.matmul(fm, take2(self.w["fm/kernel"], self.E, w)) + take(self.w["fm/bias"], w, 0)
        dense_out = dense_out + pad_to(self._ln("fm/", f, w), self.D) * tf.cast(row[L.fm], tf.float32)
        sparse_block = tf.concat([sparse_out, merged], axis=2)
        return tf.ensure_shape(dense_out, [None, self.D]), sparse_block

    def _run_ops(self, c, names, order, active, width, run):
        """Sum of the operators' outputs, each times its 0/1 active flag.

        No control flow (tf.cond's gradients multiply the traced graph many times over): an inactive
        operator runs at size 1 (its width and the operand widths it reads are capped at 1), so it costs
        next to nothing, and its output and gradients are multiplied by 0."""
        total = None
        for op in names:
            a = active[order.index(op)]
            c["cap"] = tf.where(a > 0, tf.constant(1 << 30), 1)
            out = run(getattr(self, "_" + op), tf.where(a > 0, width, 1)) * tf.cast(a, tf.float32)
            total = out if total is None else total + out
        return total


class ElasticHead(tf.keras.layers.Layer):
    """Logit from the last block: dense[:, :w] @ kernel[:w] + flatten(sparse) @ kernel[D:] + bias."""

    def __init__(self, max_dense: int, rows: int, embedding_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.D, self.rows, self.E = max_dense, rows, embedding_dim

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.D + self.rows * self.E, 1),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros")
        super().build(input_shape)

    def call(self, dense, width, sparse):
        return self._head(dense, width, sparse)

    @_no_autograph
    def _head(self, dense, width, sparse):
        """sparse is rows-last [B, E, rows]; the kernel keeps the subnet's row-major (row, e) order."""
        flat = tf.reshape(sparse, [-1, self.E * self.rows])
        k_sparse = tf.reshape(tf.transpose(tf.reshape(self.kernel[self.D:], [self.rows, self.E])), [-1, 1])
        return (tf.matmul(take(dense, width), take2(self.kernel, width, 1))
                + tf.matmul(flat, k_sparse) + self.bias)
