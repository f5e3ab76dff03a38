"""Keras builders for AutoShrink CNN cells: the search proxy network and the ShrinkCNN macro model.

Both are plain functional models of built-in Keras layers (Conv2D, SeparableConv2D, BatchNormalization,
ReLU, Concatenate, MaxPooling2D, Add), so they serialise, export to SavedModel and convert to TFLite.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from tfnas.autoshrink.cell import active_nodes, check_cell, leaf_nodes, node_inputs
from tfnas.graph import Architecture


def make_divisible(value: float, divisor: int = 4) -> int:
    """Round `value` to the nearest multiple of `divisor` (at least `divisor`), as the reference does."""
    return max(int(round(value / divisor)), 1) * divisor


@dataclasses.dataclass(frozen=True)
class Macro:
    """How cells are stacked: stem, per-stage scale / repeats / pooling, head, regularisation."""

    scales: Sequence[float] = (1.0, 2.0, 4.0)
    replicate: Sequence[int] = (1, 1, 1)
    pools: Sequence[int] = (1, 2, 2)
    channel_scale: float = 1.0
    stem_filters: int = 32
    stem_strides: int = 1
    head_filters: int = 0          # 0: no 1x1 head conv before global pooling
    residual: bool = True
    weight_decay: float = 1e-5
    dropout: float = 0.0
    bn_momentum: float = 0.9       # Keras' 0.99 lags far behind on proxies with a few steps per epoch

    def __post_init__(self):
        if not (len(self.scales) == len(self.replicate) == len(self.pools)):
            raise ValueError(f"Macro: scales {list(self.scales)}, replicate {list(self.replicate)} and pools "
                             f"{list(self.pools)} must have the same length (one entry per stage)")

    def stage_filters(self, base_filters: int = 16) -> list[int]:
        """Branch filters of each stage: make_divisible(int(base × scale × channel_scale))."""
        return [make_divisible(int(base_filters * s * self.channel_scale)) for s in self.scales]

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dataclasses.asdict(self).items()}


# The reference's search proxy: 3 stages of one cell, scales 1/2/4, pools 1/2/2, residual, L2 1e-5.
PROXY = Macro()
# ShrinkCNN (reference build_imagenet.py): 5 stages [1,3,4,6,4], scales 16×[.5,1,2,4,8]×1.4, head 1280.
SHRINK_CNN = Macro(scales=(0.5, 1.0, 2.0, 4.0, 8.0), replicate=(1, 3, 4, 6, 4), pools=(1, 2, 2, 2, 2),
                   channel_scale=1.4, stem_filters=32, stem_strides=2, head_filters=1280, residual=True,
                   weight_decay=5e-5)


def _conv_bn(x, filters: int, kernel: int, name: str, activation: bool, weight_decay: float,
             separable: bool = False, strides: int = 1, bn_momentum: float = 0.9):
    import tensorflow as tf
    reg = tf.keras.regularizers.l2(weight_decay) if weight_decay else None
    if separable:
        x = tf.keras.layers.SeparableConv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                            depthwise_regularizer=reg, pointwise_regularizer=reg,
                                            name=f"{name}_sep")(x)
    else:
        x = tf.keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                   kernel_regularizer=reg, name=f"{name}_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    if activation:
        x = tf.keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def apply_cell(x, arch: Architecture, filters: int, strides: int = 1, residual: bool = True,
               weight_decay: float = 0.0, name: str = "cell", bn_momentum: float = 0.9):
    """Apply one cell to tensor `x`: conv-bn-relu nodes, concat of multiple inputs and of the leaves.

    Node 0 is `x` (or a max-pool of it when `strides` > 1). With `residual`, leaves are linear and the
    cell input is added, through a strided 1x1 projection when shape or channels differ.
    """
    import tensorflow as tf
    check_cell(arch)
    leaves = set(leaf_nodes(arch))
    if strides > 1:
        node0 = tf.keras.layers.MaxPooling2D(strides, strides, padding="same", name=f"{name}_n0_pool")(x)
    else:
        node0 = x
    outs = {0: node0}
    for node in active_nodes(arch)[1:]:
        inputs = [outs[p] for p in node_inputs(arch, node)]
        h = inputs[0] if len(inputs) == 1 else tf.keras.layers.Concatenate(name=f"{name}_n{node}_in")(inputs)
        op = arch.op(node)
        if op not in ("sep_conv_3x3", "conv_1x1"):
            raise ValueError(f"cell node {node}: unknown op {op!r} (expected sep_conv_3x3 or conv_1x1)")
        outs[node] = _conv_bn(h, filters, int(arch.attrs(node).get("kernel_size", 3 if op == "sep_conv_3x3" else 1)),
                              f"{name}_n{node}", activation=not (residual and node in leaves),
                              weight_decay=weight_decay, separable=op == "sep_conv_3x3", bn_momentum=bn_momentum)
    leaf_outs = [outs[n] for n in sorted(leaves)]
    out = leaf_outs[0] if len(leaf_outs) == 1 else tf.keras.layers.Concatenate(name=f"{name}_out")(leaf_outs)
    if residual:
        shortcut = x
        if strides > 1 or x.shape[-1] != out.shape[-1]:
            shortcut = _conv_bn(x, int(out.shape[-1]), 1, f"{name}_proj", activation=False,
                                weight_decay=weight_decay, strides=strides, bn_momentum=bn_momentum)
        out = tf.keras.layers.Add(name=f"{name}_add")([shortcut, out])
    return out


def cell_base_filters(arch: Architecture) -> int:
    """Per-node filters at scale 1 (the 'filters' attribute of the cell's ops; 16 by default)."""
    values = {int(arch.attrs(n).get("filters", 16)) for n in arch.nodes if n != 0}
    return max(values) if values else 16


def build_cnn(arch: Architecture, input_shape: Sequence[int], num_classes: int, macro: Macro = PROXY,
              name: str = "autoshrink_cnn"):
    """Stem → stages of stacked cells → [1x1 head] → global average pool → logits (no softmax)."""
    import tensorflow as tf
    check_cell(arch)
    reg = tf.keras.regularizers.l2(macro.weight_decay) if macro.weight_decay else None
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    stem = make_divisible(macro.stem_filters * macro.channel_scale)
    bn = macro.bn_momentum
    x = _conv_bn(inputs, stem, 3, "stem", activation=True, weight_decay=macro.weight_decay,
                 strides=macro.stem_strides, bn_momentum=bn)
    filters = macro.stage_filters(cell_base_filters(arch))
    for s, (reps, pool, f) in enumerate(zip(macro.replicate, macro.pools, filters), start=1):
        for r in range(int(reps)):
            x = apply_cell(x, arch, f, strides=int(pool) if r == 0 else 1, residual=macro.residual,
                           weight_decay=macro.weight_decay, name=f"s{s}c{r}", bn_momentum=bn)
    if macro.head_filters:
        x = _conv_bn(x, macro.head_filters, 1, "head", activation=True, weight_decay=macro.weight_decay,
                     bn_momentum=bn)
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if macro.dropout:
        x = tf.keras.layers.Dropout(macro.dropout, name="drop")(x)
    logits = tf.keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)
    return tf.keras.Model(inputs, logits, name=name)


def small_shrink_cnn(width: float = 0.25, depth: Sequence[int] = (1, 1, 2, 2, 1), head_filters: int = 256) -> Macro:
    """A CPU-sized ShrinkCNN: same 5-stage layout, fewer cells, narrower, smaller head, stem stride 1."""
    return dataclasses.replace(SHRINK_CNN, channel_scale=SHRINK_CNN.channel_scale * width, replicate=tuple(depth),
                               head_filters=head_filters, stem_strides=1)
