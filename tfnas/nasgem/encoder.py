"""NASGEM's graph encoder in Keras: message passing over a cell DAG to one embedding vector per cell.

Input per cell (`GraphFeaturizer`): op one-hots `x` [N, F] (node label = op + settings, plus an `unknown`
column), the forward adjacency `a` [N, N] (a[i, j] = 1 for edge i -> j) and a node mask, padded to
`max_nodes` in topological order. Each `MessagePassing` layer updates every node from itself, the mean
of its predecessors (forward edges, a^T h) and the mean of its successors (backward edges, a h), with
separate weights for the three (the paper says "forward and backward" message passing; the mean and
ReLU are our choice). `GraphReadout` is the masked mean and max over nodes, then a linear map to `dim`.
Permutation of node ids does not change the embedding (the featurizer's order only fixes the padding).
Weights are initialised from a numpy generator seeded by the caller (no global seeds), so fits repeat.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from tfnas.graph import Architecture
from tfnas.nasgem.wl_kernel import node_label


class GraphFeaturizer:
    """Architectures -> padded (x, a, mask) arrays; `ops` is the label vocabulary, unknown labels share a column."""

    def __init__(self, ops: Sequence[str], max_nodes: int):
        self.ops = list(dict.fromkeys(ops))
        self.index = {o: i for i, o in enumerate(self.ops)}
        self.max_nodes = int(max_nodes)

    @classmethod
    def from_samples(cls, archs, max_nodes: int | None = None) -> GraphFeaturizer:
        archs = list(archs)
        ops = sorted({node_label(a, n) for a in archs for n in a.nodes})
        return cls(ops, max_nodes or max(len(a) for a in archs))

    @property
    def num_features(self) -> int:
        return len(self.ops) + 1

    def config(self) -> dict:
        return {"ops": self.ops, "max_nodes": self.max_nodes}

    def featurize(self, archs: Sequence[Architecture]) -> dict:
        n, f = self.max_nodes, self.num_features
        x = np.zeros((len(archs), n, f), np.float32)
        a = np.zeros((len(archs), n, n), np.float32)
        mask = np.zeros((len(archs), n), np.float32)
        for b, arch in enumerate(archs):
            order = arch.topological_order()
            if len(order) > n:
                raise ValueError(f"architecture has {len(order)} nodes > the encoder's max_nodes={n}")
            pos = {node: i for i, node in enumerate(order)}
            for node, i in pos.items():
                x[b, i, self.index.get(node_label(arch, node), len(self.ops))] = 1.0
            for u, v in arch.edges:
                a[b, pos[u], pos[v]] = 1.0
            mask[b, : len(order)] = 1.0
        return {"x": x, "a": a, "mask": mask}


@tf.keras.utils.register_keras_serializable(package="tfnas_nasgem")
class MessagePassing(tf.keras.layers.Layer):
    """h' = relu(W_s h + W_f mean_pred(h) + W_b mean_succ(h)) on masked nodes."""

    def __init__(self, units: int, **kw):
        super().__init__(**kw)
        self.units = int(units)
        self.self_dense = tf.keras.layers.Dense(self.units, name="self")
        self.fwd_dense = tf.keras.layers.Dense(self.units, use_bias=False, name="forward")
        self.bwd_dense = tf.keras.layers.Dense(self.units, use_bias=False, name="backward")

    def call(self, inputs):
        h, a, mask = inputs
        at = tf.transpose(a, [0, 2, 1])
        fwd = tf.matmul(at, h) / tf.maximum(tf.reduce_sum(at, -1, keepdims=True), 1.0)
        bwd = tf.matmul(a, h) / tf.maximum(tf.reduce_sum(a, -1, keepdims=True), 1.0)
        out = tf.nn.relu(self.self_dense(h) + self.fwd_dense(fwd) + self.bwd_dense(bwd))
        return out * mask[..., None]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@tf.keras.utils.register_keras_serializable(package="tfnas_nasgem")
class GraphReadout(tf.keras.layers.Layer):
    """Masked mean and max over nodes, concatenated."""

    def call(self, inputs):
        h, mask = inputs
        m = mask[..., None]
        mean = tf.reduce_sum(h * m, 1) / tf.maximum(tf.reduce_sum(m, 1), 1.0)
        mx = tf.reduce_max(h * m - 1e9 * (1.0 - m), 1)
        return tf.concat([mean, mx], -1)


def build_encoder(num_features: int, max_nodes: int, hidden: int = 64, dim: int = 32, layers: int = 3,
                  name: str = "graph_encoder") -> tf.keras.Model:
    """Functional encoder {x, a, mask} -> embedding [B, dim]."""
    x = tf.keras.Input((max_nodes, num_features), name="x")
    a = tf.keras.Input((max_nodes, max_nodes), name="a")
    mask = tf.keras.Input((max_nodes,), name="mask")
    h = tf.keras.layers.Dense(hidden, activation="relu", name="embed_ops")(x)
    for i in range(layers):
        h = MessagePassing(hidden, name=f"mp{i}")([h, a, mask])
    g = GraphReadout(name="readout")([h, mask])
    g = tf.keras.layers.Dense(hidden, activation="relu", name="head")(g)
    out = tf.keras.layers.Dense(dim, name="embedding")(g)
    return tf.keras.Model({"x": x, "a": a, "mask": mask}, out, name=name)


def reinitialise(model: tf.keras.Model, seed: int) -> None:
    """Glorot-uniform kernels and zero biases drawn from numpy (seeded), so a refit starts from the same point."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if len(shape) == 2:
            lim = np.sqrt(6.0 / (shape[0] + shape[1]))
            w.assign(rng.uniform(-lim, lim, size=shape).astype(np.float32))
        else:
            w.assign(np.zeros(shape, np.float32))


def reset_optimizer(optimizer) -> None:
    """Zero an optimizer's slots and step count (a fresh Adam without retracing the compiled train step)."""
    for v in optimizer.variables:
        v.assign(tf.zeros_like(v))


def embed(model: tf.keras.Model, feats: dict, batch: int = 4096) -> np.ndarray:
    """Embeddings of featurized cells in batches (no Keras predict loop overhead)."""
    fn = getattr(model, "_tfnas_embed_fn", None)
    if fn is None:
        fn = tf.function(lambda d: model(d, training=False), reduce_retracing=True)
        model._tfnas_embed_fn = fn
    n = len(feats["x"])
    out = [fn({k: tf.constant(v[i:i + batch]) for k, v in feats.items()}).numpy() for i in range(0, n, batch)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)
