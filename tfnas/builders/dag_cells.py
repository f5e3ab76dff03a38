"""The core DAG-cell conv builder: a cell `Architecture` applied to a tensor, and cells stacked into a model.

A cell has one node with op 'input'; every other node carries a registered op (`tfnas.builders.ops`). A
node is *active* when the input node reaches it; inactive nodes build nothing. A node with several inputs
joins them by `join` ('concat' or 'add'); the leaves (active nodes without active successors) are joined
into the cell output by `output_join`. A strided cell pools the input node (`reduce`); an up-sampling
cell up-samples it (`UpSampling2D`), so encoder/decoder stacks give dense per-tile maps. With `residual`
the leaves are linear and the cell input is added, projected by a (strided / up-sampled) 1×1 conv when the
grid or the channels differ. These are AutoShrink's cell rules, generalised.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from tfnas.builders.base import Builder
from tfnas.builders.ops import OpContext, apply_op, conv_bn
from tfnas.graph import Architecture

JOINS = ("concat", "add")


def input_node(arch: Architecture):
    """The cell's one node with op 'input' (ValueError otherwise)."""
    found = [n for n in arch.nodes if arch.op(n) == "input"]
    if len(found) != 1:
        raise ValueError(f"a cell needs exactly one node with op 'input', found {found}")
    return found[0]


def active_nodes(arch: Architecture) -> list:
    """Nodes reachable from the input node, in topological order (input first)."""
    alive = arch.reachable_from(input_node(arch))
    return [n for n in arch.topological_order() if n in alive]


def leaf_nodes(arch: Architecture) -> list:
    """Active nodes without active successors (the input node alone when no edge is left)."""
    order = active_nodes(arch)
    alive = set(order)
    return [n for n in order if not any(s in alive for s in arch.successors(n))]


def node_inputs(arch: Architecture, node) -> list:
    """Active predecessors of `node`, in id order."""
    alive = arch.reachable_from(input_node(arch))
    return [p for p in arch.predecessors(node) if p in alive]


def _join(tensors: list, how: str, name: str):
    import tensorflow as tf
    if len(tensors) == 1:
        return tensors[0]
    if how == "concat":
        return tf.keras.layers.Concatenate(name=name)(tensors)
    if how == "add":
        shapes = {tuple(t.shape[1:]) for t in tensors}
        if len(shapes) > 1:
            raise ValueError(f"{name}: 'add' join needs equal shapes, got {sorted(shapes)}")
        return tf.keras.layers.Add(name=name)(tensors)
    raise ValueError(f"{name}: unknown join {how!r}; use one of {JOINS}")


def apply_cell(x, arch: Architecture, filters: int | None = None, strides: int = 1, upsample: int = 1,
               residual: bool = True, join: str = "concat", output_join: str = "concat",
               ctx: OpContext | None = None, name: str = "cell", reduce: str = "max_pool",
               interpolation: str = "nearest"):
    """Apply one cell to tensor `x`; `filters` (if given) overrides every node's 'filters' attribute."""
    import tensorflow as tf
    ctx = ctx or OpContext()
    if strides > 1 and upsample > 1:
        raise ValueError(f"{name}: a cell either down-samples (strides {strides}) or up-samples ({upsample})")
    order = active_nodes(arch)
    leaves = set(leaf_nodes(arch))
    src = order[0]
    node0 = x
    if strides > 1:
        pools = {"max_pool": tf.keras.layers.MaxPooling2D, "avg_pool": tf.keras.layers.AveragePooling2D}
        if reduce not in pools:
            raise ValueError(f"{name}: unknown reduce {reduce!r}; use one of {sorted(pools)}")
        node0 = pools[reduce](strides, strides, padding="same", name=f"{name}_n{src}_pool")(x)
    elif upsample > 1:
        node0 = tf.keras.layers.UpSampling2D(upsample, interpolation=interpolation, name=f"{name}_n{src}_up")(x)
    outs = {src: node0}
    for node in order[1:]:
        h = _join([outs[p] for p in node_inputs(arch, node)], join, f"{name}_n{node}_in")
        outs[node] = apply_op(arch.op(node), h, arch.attrs(node), ctx, f"{name}_n{node}", filters,
                              activation=not (residual and node in leaves))
    out = _join([outs[n] for n in order if n in leaves], output_join, f"{name}_out")
    if residual:
        shortcut = x
        if upsample > 1:
            shortcut = tf.keras.layers.UpSampling2D(upsample, interpolation=interpolation,
                                                    name=f"{name}_proj_up")(x)
        if strides > 1 or x.shape[-1] != out.shape[-1]:
            shortcut = conv_bn(shortcut, int(out.shape[-1]), 1, ctx, f"{name}_proj", activation=False,
                               strides=strides)
        out = tf.keras.layers.Add(name=f"{name}_add")([shortcut, out])
    return out


@dataclasses.dataclass(frozen=True)
class Stage:
    """`repeats` cells of `filters`; the first one has `strides` (down) or `upsample` (up), the rest keep the grid."""

    filters: int
    repeats: int = 1
    strides: int = 1
    upsample: int = 1


@dataclasses.dataclass(frozen=True)
class CellStack:
    """Stem conv → stages of cells → [1×1 head conv] → output: 'classes' (pool + Dense) or 'map' (1×1 conv)."""

    stages: Sequence[Stage]
    stem_filters: int = 32
    stem_strides: int = 1
    stem_kernel: int = 3
    head_filters: int = 0              # 0: no head conv
    residual: bool = True
    join: str = "concat"
    output_join: str = "concat"
    reduce: str = "max_pool"
    interpolation: str = "nearest"
    weight_decay: float = 0.0
    bn_momentum: float = 0.9
    dropout: float = 0.0
    output: str = "classes"
    seed: int | None = None            # initializer seed; None keeps Keras' unseeded defaults
    input_name: str = "image"

    def __post_init__(self):
        if self.output not in ("classes", "map"):
            raise ValueError(f"CellStack.output must be 'classes' or 'map', got {self.output!r}")
        for field in ("join", "output_join"):
            if getattr(self, field) not in JOINS:
                raise ValueError(f"CellStack.{field} must be one of {JOINS}, got {getattr(self, field)!r}")


class DagCellBuilder(Builder):
    """Builds `CellStack` models around one cell Architecture (every cell of the stack shares it)."""

    def __init__(self, stack: CellStack):
        self.stack = stack

    def build(self, arch: Architecture, input_shape: Sequence[int], outputs: int, name: str = "dag_cells"):
        import tensorflow as tf
        st = self.stack
        ctx = OpContext(weight_decay=st.weight_decay, bn_momentum=st.bn_momentum, seed=st.seed)
        input_node(arch)
        inputs = tf.keras.Input(shape=tuple(input_shape), name=st.input_name)
        x = conv_bn(inputs, st.stem_filters, st.stem_kernel, ctx, "stem", strides=st.stem_strides)
        for s, stage in enumerate(st.stages, start=1):
            for r in range(int(stage.repeats)):
                x = apply_cell(x, arch, stage.filters, strides=stage.strides if r == 0 else 1,
                               upsample=stage.upsample if r == 0 else 1, residual=st.residual, join=st.join,
                               output_join=st.output_join, ctx=ctx, name=f"s{s}c{r}", reduce=st.reduce,
                               interpolation=st.interpolation)
        if st.head_filters:
            x = conv_bn(x, st.head_filters, 1, ctx, "head")
        reg = ctx.regularizer()
        if st.output == "map":
            out = tf.keras.layers.Conv2D(outputs, 1, kernel_regularizer=reg, kernel_initializer=ctx.initializer(),
                                         name="logits")(x)
        else:
            x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
            if st.dropout:
                x = tf.keras.layers.Dropout(st.dropout, name="drop")(x)
            out = tf.keras.layers.Dense(outputs, kernel_regularizer=reg, kernel_initializer=ctx.initializer(),
                                        name="logits")(x)
        return tf.keras.Model(inputs, out, name=name)
