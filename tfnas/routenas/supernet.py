"""Weight-sharing supernet of the routenas space: every node of every cell holds all CANDIDATES; a path (one op per
node, the edges of one guide-DAG cell) is two int tensors, so a new path never retraces.

`train_step` draws a path in the traced graph (`sample_path`: a uniform guide, each guide input kept with
probability 1/2, one drawn if none is, a uniform op per node; a checkpointed `tf.random.Generator`, so a resumed
training continues the same stream) and takes its loss from the compiled Task (`compute_loss`). `call` runs the
path held in two variables (`set_path`), which is how candidates are scored and how `fit`'s validation runs.
The chosen op runs through `tf.switch_case` (only its branch computes). A node's input is the edge-masked sum of
earlier outputs, its ReLU is skipped when the path makes it a leaf, the cell output is the sum of the leaves plus
the shortcut: the same numbers as the subnet that `space.build_subnet` builds (`transfer_weights` copies the
path's weights into it; tests check the outputs agree). BatchNorm statistics are shared by all paths while the
supernet trains; before a candidate is scored `recalibrate_bn` replaces the statistics of its path's BatchNorm
layers by those of one forward pass over (a seeded subset of) the training placements (as in single-path one-shot
NAS, Guo et al. 2020: shared running statistics mix every path's activations and mis-rank candidates).
"""
from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

from tfnas.builders.ops import OpContext, apply_op, conv_bn
from tfnas.graph import Architecture
from tfnas.routenas.space import CANDIDATES, GUIDE_NAMES, GUIDES, NODES, Macro, RouteNASSpace
from tfnas.supernet.sampling import PathSampler

N = NODES + 1


def guide_masks() -> np.ndarray:
    """[guides, N, N] 0/1: allowed edges i -> j of each guide."""
    m = np.zeros((len(GUIDE_NAMES), N, N), np.int32)
    for g, name in enumerate(GUIDE_NAMES):
        for i, j in GUIDES[name]:
            m[g, i, j] = 1
    return m


def path_of(arch: Architecture) -> tuple:
    """(ops int32 [NODES], edges int32 [N, N]) of a cell."""
    ops, edges, _ = RouteNASSpace().encode(arch)
    m = np.zeros((N, N), np.int32)
    for i, j in edges:
        m[i, j] = 1
    return np.asarray(ops, np.int32), m


@tf.keras.utils.register_keras_serializable(package="tfnas")
class RouteSupernet(tf.keras.Model):
    """Supernet on a fixed input shape (H, W, C); cells s1c0 (grid), s2c0 (strided), s3c0 (up-sampling)."""

    def __init__(self, input_shape, macro: Macro | None = None, seed: int = 0, sampler_seed: int = 0, **kw):
        super().__init__(**kw)
        macro = macro or Macro()
        self.in_shape = tuple(int(d) for d in input_shape)
        h, w, c = self.in_shape
        if h % 2 or w % 2:
            raise ValueError(f"routenas supernet: input grid {h}x{w} must be even")
        self.macro, self.seed_value, self.sampler_seed = macro, int(seed), int(sampler_seed)
        width = macro.width
        ctx = OpContext(seed=seed)
        x_in = tf.keras.Input(self.in_shape)
        self.stem = tf.keras.Model(x_in, conv_bn(x_in, width, macro.stem_kernel, ctx, "stem"), name="stem")
        self.kinds, self.cands, self.projs, self.grids = [], [], [], []
        grid = (h, w)
        for s, stage in enumerate(macro.stack(seed).stages, start=1):
            name = f"s{s}c0"
            kind = "down" if stage.strides > 1 else "up" if stage.upsample > 1 else "same"
            node_grid = (grid[0] // 2, grid[1] // 2) if kind == "down" else \
                (grid[0] * 2, grid[1] * 2) if kind == "up" else grid
            per_node = []
            for j in range(1, NODES + 1):
                ops = []
                for k, (op, attrs) in enumerate(CANDIDATES):
                    ci = tf.keras.Input((*node_grid, width))
                    out = apply_op(op, ci, dict(attrs), ctx, f"{name}_n{j}_k{k}", width, activation=False)
                    ops.append(tf.keras.Model(ci, out, name=f"{name}_n{j}_k{k}"))
                per_node.append(ops)
            proj = None
            if kind == "down":
                pi = tf.keras.Input((*grid, width))
                proj = tf.keras.Model(pi, conv_bn(pi, width, 1, ctx, f"{name}_proj", activation=False, strides=2),
                                      name=f"{name}_proj")
            self.kinds.append(kind)
            self.cands.append(per_node)
            self.projs.append(proj)
            grid = node_grid
        self.pool = tf.keras.layers.MaxPooling2D(2, 2, padding="same")
        self.up = tf.keras.layers.UpSampling2D(2, interpolation="nearest")
        self.head = tf.keras.layers.Conv2D(1, 1, kernel_initializer=ctx.initializer(), name="logits")
        self.sampler = PathSampler("single_path", seed=sampler_seed)
        self.masks = tf.constant(guide_masks())
        ops0, edges0 = path_of(RouteNASSpace().sample(np.random.default_rng(seed)))
        self.path_ops = tf.Variable(ops0, trainable=False, name="path_ops")
        self.path_edges = tf.Variable(edges0, trainable=False, name="path_edges")
        self(tf.zeros((1, *self.in_shape)))

    # ------------------------------------------------------------------------------ paths
    def set_path(self, arch: Architecture) -> None:
        ops, edges = path_of(arch)
        self.path_ops.assign(ops)
        self.path_edges.assign(edges)

    def sample_path(self) -> tuple:
        """In-graph draw of (ops [NODES], edges [N, N]) from the space's prior."""
        gen = self.sampler.generator
        allowed = tf.gather(self.masks, self.sampler.index(len(GUIDE_NAMES)))
        keep = allowed * tf.cast(gen.uniform((N, N)) < 0.5, tf.int32)
        pick = tf.one_hot(tf.argmax(tf.cast(allowed, tf.float32) * (1.0 + gen.uniform((N, N))), axis=0), N,
                          axis=0, dtype=tf.int32)
        empty = tf.cast(tf.reduce_sum(keep, axis=0, keepdims=True) == 0, tf.int32)
        edges = keep + pick * empty
        edges = edges * tf.constant(np.triu(np.ones((N, N), np.int32), 1))   # node 0 has no inputs
        ops = gen.uniform((NODES,), 0, len(CANDIDATES), dtype=tf.int32)
        return ops, edges

    # ------------------------------------------------------------------------------ forward
    def forward(self, x, ops, edges, training=None):
        e = tf.cast(edges, x.dtype)
        leaf = 1.0 - tf.reduce_max(e, axis=1)                        # [N]: no outgoing edge on the path
        x = self.stem(x, training=training)
        for kind, per_node, proj in zip(self.kinds, self.cands, self.projs):
            node0 = self.pool(x) if kind == "down" else self.up(x) if kind == "up" else x
            outs = [node0]
            for j in range(1, NODES + 1):
                h = tf.add_n([e[i, j] * outs[i] for i in range(j)])
                branches = [lambda m=m: m(h, training=training) for m in per_node[j - 1]]
                y = tf.ensure_shape(tf.switch_case(ops[j - 1], branches), outs[0].shape)
                outs.append(tf.where(leaf[j] > 0.5, y, tf.nn.relu(y)))
            cell = tf.add_n([leaf[j] * outs[j] for j in range(1, NODES + 1)])
            shortcut = proj(x, training=training) if proj is not None else self.up(x) if kind == "up" else x
            x = shortcut + cell
        return self.head(x)

    def call(self, inputs, training=None):
        return self.forward(inputs, self.path_ops, self.path_edges, training=training)

    def train_step(self, data):
        x, y, sw = tf.keras.utils.unpack_x_y_sample_weight(data)
        ops, edges = self.sample_path()
        with tf.GradientTape() as tape:
            logits = self.forward(x, ops, edges, training=True)
            loss = self.compute_loss(x, y, logits, sw)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self.compute_metrics(x, y, logits, sw)

    def batch_norms(self) -> list:
        """Every BatchNormalization layer of the supernet (stem, candidates, projections)."""
        return [la for la in self.layer_table().values() if isinstance(la, tf.keras.layers.BatchNormalization)]

    def recalibrate_bn(self, x) -> None:
        """Set the moving mean/variance of the current path's BatchNorm layers to the statistics of `x` (one
        training-mode forward with momentum 0, so earlier paths' statistics do not leak in); other layers keep
        theirs, weights are unchanged."""
        bns = self.batch_norms()
        saved = [b.momentum for b in bns]
        try:
            for b in bns:
                b.momentum = 0.0
            self._recalibrate_fn()(tf.convert_to_tensor(x, tf.float32))
        finally:
            for b, m in zip(bns, saved):
                b.momentum = m

    def _recalibrate_fn(self):
        # traced once while momentum is 0 (Keras reads it at trace time); the path stays a variable input
        if getattr(self, "_recal", None) is None:
            self._recal = tf.function(lambda x: self.forward(x, self.path_ops, self.path_edges, training=True),
                                      reduce_retracing=True)
        return self._recal

    def get_config(self):
        return {"input_shape": list(self.in_shape), "width": self.macro.width, "stem_kernel": self.macro.stem_kernel,
                "seed": self.seed_value, "sampler_seed": self.sampler_seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        macro = Macro(config.pop("width"), config.pop("stem_kernel"))
        return cls(config.pop("input_shape"), macro, **config)

    # ------------------------------------------------------------------------------ subnets
    def layer_table(self) -> dict:
        """{layer name: layer} over the stem, candidates, projections and head."""
        table = {self.head.name: self.head}
        models = [self.stem] + [m for per_node in self.cands for ops in per_node for m in ops] + \
            [p for p in self.projs if p is not None]
        for m in models:
            for layer in m.layers:
                if layer.weights:
                    table[layer.name] = layer
        return table


_NODE_LAYER = re.compile(r"^(s\d+c\d+_n(\d+))_(.+)$")


def transfer_weights(supernet: RouteSupernet, arch: Architecture, subnet: tf.keras.Model) -> int:
    """Copy the path `arch`'s weights from the supernet into `subnet` (built by `build_subnet`); returns the count
    of layers copied. Every weighted subnet layer must find its supernet layer."""
    ops, _ = path_of(arch)
    table = supernet.layer_table()
    copied = 0
    for layer in subnet.layers:
        if not layer.weights:
            continue
        m = _NODE_LAYER.match(layer.name)
        src = f"{m.group(1)}_k{ops[int(m.group(2)) - 1]}_{m.group(3)}" if m else layer.name
        if src not in table:
            raise ValueError(f"transfer_weights: subnet layer {layer.name!r} has no supernet layer {src!r}")
        layer.set_weights(table[src].get_weights())
        copied += 1
    return copied
