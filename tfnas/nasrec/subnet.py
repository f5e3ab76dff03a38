"""Standalone NASRec models: `build_subnet` (plain Keras functional model of one Architecture) and
`subnet_from_supernet` (the same model carrying the supernet's shared weights, sliced to the choice).

The subnet has no masks and no unused weights (layers whose output the head never reads are dropped);
every layer has `get_config` (`ops.CUSTOM_OBJECTS`), so the model saves, reloads and exports like any functional model.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfnas.graph import Architecture
from tfnas.nasrec import ext_ops, ops
from tfnas.nasrec.ext import options_of
from tfnas.nasrec.space import EMBEDDING_DIM, MERGE_ROWS, NASRecSpace, arch_to_blocks, dot_rows_of


def _concat(tensors, axis, name):
    return tensors[0] if len(tensors) == 1 else tf.keras.layers.Concatenate(axis=axis, name=name)(tensors)


def build_subnet(arch: Architecture, spec, embedding_dim: int = EMBEDDING_DIM, space: NASRecSpace | None = None,
                 name: str = "nasrec_subnet") -> tf.keras.Model:
    """Keras functional model of `arch`: {"dense": f32 [B, n_dense], "sparse": int64 [B, n_sparse]} -> logits [B, 1].

    `full+ext` architectures (tfnas/nasrec/ext.py) add the ext ops and the input / head options."""
    blocks = space.blocks(arch) if space is not None else arch_to_blocks(arch)
    if not blocks:
        raise ValueError("build_subnet: architecture has no nasrec_block nodes")
    opts = options_of(arch)
    inputs = {"dense": tf.keras.Input([spec.num_dense], dtype=tf.float32, name="dense"),
              "sparse": tf.keras.Input([spec.num_sparse], dtype=tf.int64, name="sparse")}
    dense = {0: inputs["dense"]}
    sparse = {0: ops.FeatureEmbedding(spec.vocab_sizes, embedding_dim, name="embedding")(inputs["sparse"])}
    if opts.dense_fields:
        fields = ext_ops.DenseFields(embedding_dim, name="dense_fields")(inputs["dense"])
        sparse[0] = tf.keras.layers.Concatenate(axis=1, name="input_rows")([fields, sparse[0]])
    for i, blk in enumerate(blocks, start=1):
        p = f"block{i}_"
        s_in = _concat([sparse[j] for j in blk.sparse_in], 1, p + "sparse_in")
        if blk.dense_op == "fc":
            d = ops.FC(blk.dense_width, name=p + "fc")(_concat([dense[j] for j in blk.dense_in], 1, p + "dense_in"))
        elif blk.dense_op == "fc_noln":
            d_in = _concat([dense[j] for j in blk.dense_in], 1, p + "dense_in")
            d = ext_ops.FCNoLN(blk.dense_width, name=p + "fc_noln")(d_in)
        elif blk.dense_op == "concat":
            d = ext_ops.ConcatFlat(name=p + "concat")([dense[j] for j in blk.dense_in] + [s_in])
        elif blk.dense_op == "cross":
            d = ext_ops.Cross(name=p + "cross")([dense[blk.left], dense[blk.right]])
        elif blk.dense_op == "dot":
            d_in = _concat([dense[j] for j in blk.dense_in], 1, p + "dense_in")
            d = ops.DotProduct(blk.dense_width, embedding_dim, rows=dot_rows_of(arch, blk.dense_width),
                               name=p + "dot")([d_in, s_in])
        else:
            layer = ops.DENSE_LAYERS[blk.dense_op](blk.dense_width, name=p + blk.dense_op)
            d = layer([dense[blk.left], dense[blk.right]])
        s = ops.SPARSE_LAYERS[blk.sparse_op](blk.sparse_width, name=p + blk.sparse_op)(s_in)
        merged = ops.DenseToRows(MERGE_ROWS, embedding_dim, name=p + "merge")(d) if blk.merge else None
        if blk.fm:
            # the dense output's own width: blk.dense_width, except for cross / concat (their input width)
            d = tf.keras.layers.Add(name=p + "fm_add")([d, ops.FMToDense(int(d.shape[-1]), name=p + "fm")(s)])
        if merged is not None:
            s = tf.keras.layers.Concatenate(axis=1, name=p + "merge_rows")([s, merged])
        dense[i], sparse[i] = d, s
    n = len(blocks)
    if opts.head_sparse:
        logits = ops.Head(name="head")([dense[n], sparse[n]])
    else:
        logits = ext_ops.DenseHead(name="head")(dense[n])
    terms = [logits]
    if opts.head_linear:
        terms.append(ext_ops.FirstOrder(spec.vocab_sizes, name="first_order")([inputs["dense"], inputs["sparse"]]))
    if opts.head_fm:
        terms.append(ext_ops.FMLogit(name="fm_logit")(sparse[0]))
    if len(terms) > 1:
        logits = tf.keras.layers.Add(name="logit_sum")(terms)
    return tf.keras.Model(inputs, logits, name=name)


# ------------------------------------------------------------------------------------------ weight copy
def _dense_rows(blocks, j, n_dense, D):
    """Supernet kernel rows (in its [n * D, .] stacked layout) of earlier dense output j."""
    return np.arange(n_dense) if j == 0 else j * D + np.arange(blocks[j - 1].dense_width)


def _sparse_rows(blocks, j, n_sparse, S, P):
    """Row positions, inside a [P]-row slot, of earlier sparse output j's rows (op rows, then merged rows)."""
    if j == 0:
        return np.arange(n_sparse)
    b = blocks[j - 1]
    rows = np.arange(b.sparse_width)
    return np.concatenate([rows, S + np.arange(MERGE_ROWS)]) if b.merge else rows


def subnet_from_supernet(supernet, arch: Architecture, name: str = "nasrec_subnet") -> tf.keras.Model:
    """`build_subnet(arch)` with the supernet's trained weights copied in (sliced to the chosen sizes)."""
    blocks = supernet.space.blocks(arch)
    spec, E = supernet.spec, supernet.embedding_dim
    model = build_subnet(arch, spec, E, name=name)
    D, S = supernet.max_dense, supernet.max_sparse
    P = supernet.blocks[0].P
    n_d, n_s = spec.num_dense, spec.num_sparse
    if not supernet.built:
        raise ValueError("subnet_from_supernet: call the supernet once (or restore it) before copying weights")
    model.get_layer("embedding").set_weights([supernet.embedding.table.numpy()])
    names = {layer.name for layer in model.layers}

    def put(layer_name, weights):
        # layers whose output nothing downstream reads are not in the functional model: skip them
        if layer_name in names:
            model.get_layer(layer_name).set_weights(weights)

    for i, blk in enumerate(blocks, start=1):
        w = {k: v.numpy() for k, v in supernet.blocks[i - 1].w.items()}
        wd, ws = blk.dense_width, blk.sparse_width
        d_rows = np.concatenate([_dense_rows(blocks, j, n_d, D) for j in blk.dense_in]) if blk.dense_in else None
        s_rows = np.concatenate([j * P + _sparse_rows(blocks, j, n_s, S, P) for j in blk.sparse_in])
        width = {j: (n_d if j == 0 else blocks[j - 1].dense_width) for j in range(i)}

        def ln(prefix, n):
            return [w[prefix + "bias"][:n], w[prefix + "gamma"][:n], w[prefix + "beta"][:n]]

        p = f"block{i}_"
        if blk.dense_op == "fc":
            weights = [w["fc/kernel"][d_rows, :wd]] + ln("fc/", wd)
        elif blk.dense_op == "dot":
            k = dot_rows_of(arch, wd)
            weights = ([w["dot/d_kernel"][d_rows]] + ln("dot/d_", E) + [w["dot/s_kernel"][s_rows, :k]]
                       + ln("dot/s_", k) + [w["dot/kernel"][:ops.num_pairs(k), :wd]] + ln("dot/", wd))
        elif blk.dense_op == "gating":
            wl, wr = width[blk.left], width[blk.right]
            weights = [w["gating/g_kernel"][:wl, :wr], w["gating/g_bias"][:wr], w["gating/kernel"][:wr, :wd]] \
                + ln("gating/", wd)
        else:
            m = max(width[blk.left], width[blk.right])
            weights = [w["sum/kernel"][:m, :wd]] + ln("sum/", wd)
        put(p + blk.dense_op, weights)
        pre = blk.sparse_op + "/"
        weights = [w[pre + "kernel"][s_rows, :ws]] + ln(pre, ws)
        if blk.sparse_op == "attn":
            weights += [w["attn/" + n] for n in ops.ATTN_WEIGHTS]
        put(p + blk.sparse_op, weights)
        if blk.merge:
            put(p + "merge", [w["merge/kernel"][:wd]] + ln("merge/", MERGE_ROWS * E))
        if blk.fm:
            put(p + "fm", [w["fm/kernel"][:, :wd]] + ln("fm/", wd))
    last = blocks[-1]
    flat = (_sparse_rows(blocks, len(blocks), n_s, S, P)[:, None] * E + np.arange(E)[None]).reshape(-1)
    kernel = supernet.head.kernel.numpy()
    rows = np.concatenate([np.arange(last.dense_width), D + flat])
    model.get_layer("head").set_weights([kernel[rows], supernet.head.bias.numpy()])
    return model
