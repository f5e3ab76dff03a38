"""The op registry of the DAG-cell builder: each op is a function (x, node attributes, context) → tensor.

Ops are registered by name; their settings come from the node's attributes (`filters`, `kernel_size`,
`dilation`, `kernel_sizes`, `pool_size`). Conv ops are conv → BatchNorm → ReLU (ReLU left out when the
context says the node is linear); layer names are `<prefix>_conv|_sep|_dw|_pw|_bn|_relu|_pool`, the
names AutoShrink always used, so its checkpoints and tests keep matching.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable

OPS: dict[str, Callable] = {}


@dataclasses.dataclass
class OpContext:
    """Settings shared by every op of a model: regularisation, BN momentum, initializer seeds."""

    weight_decay: float = 0.0
    bn_momentum: float = 0.9
    seed: int | None = None            # None: Keras' unseeded default initializers (AutoShrink's behaviour)
    _counter: itertools.count = dataclasses.field(default_factory=itertools.count, repr=False)

    def regularizer(self):
        import tensorflow as tf
        return tf.keras.regularizers.l2(self.weight_decay) if self.weight_decay else None

    def initializer(self):
        """A glorot-uniform initializer with a fresh seed derived from `seed`, or Keras' default string."""
        import tensorflow as tf
        if self.seed is None:
            return "glorot_uniform"
        return tf.keras.initializers.GlorotUniform(seed=int(self.seed) * 10_007 + next(self._counter))


def register_op(name: str):
    """Decorator: register `fn(x, attrs, ctx, prefix, filters, activation)` under `name`."""
    def wrap(fn):
        if name in OPS:
            raise ValueError(f"op {name!r} is registered twice")
        OPS[name] = fn
        return fn
    return wrap


def apply_op(op: str, x, attrs: dict, ctx: OpContext, prefix: str, filters: int | None = None,
             activation: bool = True):
    """Apply registered op `op` to `x`. `filters` overrides the node's own `filters` attribute."""
    if op not in OPS:
        raise ValueError(f"{prefix}: unknown op {op!r}; registered ops: {sorted(OPS)}")
    return OPS[op](x, attrs, ctx, prefix, filters if filters is not None else attrs.get("filters"), activation)


def _need_filters(filters, prefix: str, op: str) -> int:
    if filters is None:
        raise ValueError(f"{prefix}: op {op!r} needs a 'filters' attribute (or the builder's filters)")
    return int(filters)


def bn_relu(x, ctx: OpContext, prefix: str, activation: bool):
    import tensorflow as tf
    x = tf.keras.layers.BatchNormalization(momentum=ctx.bn_momentum, name=f"{prefix}_bn")(x)
    if activation:
        x = tf.keras.layers.ReLU(name=f"{prefix}_relu")(x)
    return x


def conv_bn(x, filters: int, kernel: int, ctx: OpContext, prefix: str, activation: bool = True,
            strides: int = 1, dilation: int = 1, separable: bool = False):
    """Conv2D (or SeparableConv2D) 'same', no bias → BatchNorm → [ReLU]."""
    import tensorflow as tf
    reg = ctx.regularizer()
    if separable:
        x = tf.keras.layers.SeparableConv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                            dilation_rate=dilation, depthwise_regularizer=reg,
                                            pointwise_regularizer=reg, depthwise_initializer=ctx.initializer(),
                                            pointwise_initializer=ctx.initializer(), name=f"{prefix}_sep")(x)
    else:
        x = tf.keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                   dilation_rate=dilation, kernel_regularizer=reg,
                                   kernel_initializer=ctx.initializer(), name=f"{prefix}_conv")(x)
    return bn_relu(x, ctx, prefix, activation)


@register_op("conv")
def conv(x, attrs, ctx, prefix, filters, activation):
    """k×k convolution (`kernel_size`, default 3)."""
    return conv_bn(x, _need_filters(filters, prefix, "conv"), int(attrs.get("kernel_size", 3)), ctx, prefix,
                   activation)


@register_op("conv_1x1")
def conv_1x1(x, attrs, ctx, prefix, filters, activation):
    """AutoShrink's 1×1 convolution (a `kernel_size` attribute, if any, is honoured as before)."""
    return conv_bn(x, _need_filters(filters, prefix, "conv_1x1"), int(attrs.get("kernel_size", 1)), ctx, prefix,
                   activation)


@register_op("sep_conv")
def sep_conv(x, attrs, ctx, prefix, filters, activation):
    """Depth-wise separable k×k convolution (`kernel_size`, default 3)."""
    return conv_bn(x, _need_filters(filters, prefix, "sep_conv"), int(attrs.get("kernel_size", 3)), ctx, prefix,
                   activation, separable=True)


@register_op("sep_conv_3x3")
def sep_conv_3x3(x, attrs, ctx, prefix, filters, activation):
    """AutoShrink's separable 3×3 convolution."""
    return conv_bn(x, _need_filters(filters, prefix, "sep_conv_3x3"), int(attrs.get("kernel_size", 3)), ctx,
                   prefix, activation, separable=True)


@register_op("dil_conv")
def dil_conv(x, attrs, ctx, prefix, filters, activation):
    """Dilated (atrous) k×k convolution (`kernel_size` default 3, `dilation` default 2); `separable` optional."""
    return conv_bn(x, _need_filters(filters, prefix, "dil_conv"), int(attrs.get("kernel_size", 3)), ctx, prefix,
                   activation, dilation=int(attrs.get("dilation", 2)), separable=bool(attrs.get("separable", False)))


@register_op("mixed_dw")
def mixed_dw(x, attrs, ctx, prefix, filters, activation):
    """Mixed depth-wise conv over channel groups (`kernel_sizes`, default [3, 5, 7]) → 1×1 to `filters` → BN."""
    import tensorflow as tf
    from tfnas.builders.layers import MixedDepthwiseConv2D
    filters = _need_filters(filters, prefix, "mixed_dw")
    x = MixedDepthwiseConv2D(attrs.get("kernel_sizes", (3, 5, 7)), dilation_rate=int(attrs.get("dilation", 1)),
                             depthwise_initializer=ctx.initializer(), depthwise_regularizer=ctx.regularizer(),
                             name=f"{prefix}_dw")(x)
    x = tf.keras.layers.Conv2D(filters, 1, use_bias=False, kernel_regularizer=ctx.regularizer(),
                               kernel_initializer=ctx.initializer(), name=f"{prefix}_pw")(x)
    return bn_relu(x, ctx, prefix, activation)


def _pool(kind: str):
    def op(x, attrs, ctx, prefix, filters, activation):
        import tensorflow as tf
        layer = tf.keras.layers.MaxPooling2D if kind == "max" else tf.keras.layers.AveragePooling2D
        size = int(attrs.get("pool_size", 3))
        return layer(size, strides=1, padding="same", name=f"{prefix}_pool")(x)
    op.__doc__ = f"{kind} pooling, `pool_size` (default 3), stride 1, 'same': channels and grid unchanged."
    return op


register_op("max_pool")(_pool("max"))
register_op("avg_pool")(_pool("avg"))


@register_op("identity")
def identity(x, attrs, ctx, prefix, filters, activation):
    """The input itself (no layer, no weights). A zero op is left out on purpose: drop the edge instead."""
    return x
