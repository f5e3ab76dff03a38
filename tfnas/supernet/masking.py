"""Elastic widths for weight-sharing supernets: masks, and the cheaper slice-then-pad form they equal.

A supernet layer holds its largest weights; a subnet of width ``w`` uses the first ``w`` units.  Two
equal ways to compute it with static outer shapes (so a new width never retraces a ``tf.function``):

* mask form: compute all ``max`` units, then zero units >= w (`apply_width_mask`; LayerNorm statistics
  over the first w units only: `masked_layer_norm`);
* slice form: slice the weights to ``w`` (a dynamic size inside the graph), compute w units, zero-pad
  back to ``max`` (`take`, `pad_to`).  Same numbers, less work; NASRec's supernet uses this form and the
  tests check it against the mask form and against a plain width-w layer.
"""
from __future__ import annotations

import tensorflow as tf

LN_EPSILON = 1e-5   # torch.nn.LayerNorm's default, as in the NASRec reference


def width_mask(width, max_width: int, dtype=tf.float32) -> tf.Tensor:
    """[max_width] vector: 1 for the first `width` units, 0 after."""
    return tf.cast(tf.range(max_width) < tf.cast(width, tf.int32), dtype)


def apply_width_mask(x: tf.Tensor, width, axis: int = -1) -> tf.Tensor:
    """Zero every unit at position >= `width` along `axis` (x's size there is the max width)."""
    axis = axis % x.shape.rank
    mask = width_mask(width, x.shape[axis], x.dtype)
    shape = [1] * x.shape.rank
    shape[axis] = -1
    return x * tf.reshape(mask, shape)


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, axis: int = -1,
               epsilon: float = LN_EPSILON) -> tf.Tensor:
    """LayerNorm over one axis with explicit scale/offset tensors (so sliced weights can be used)."""
    mean, var = tf.nn.moments(x, axes=[axis], keepdims=True)
    shape = [1] * x.shape.rank
    shape[axis] = -1
    return (x - mean) * tf.math.rsqrt(var + epsilon) * tf.reshape(gamma, shape) + tf.reshape(beta, shape)


def masked_layer_norm(x: tf.Tensor, width, gamma: tf.Tensor, beta: tf.Tensor,
                      epsilon: float = LN_EPSILON) -> tf.Tensor:
    """LayerNorm of the first `width` units of the last axis (mask form); units >= width come out zero."""
    m = width_mask(width, x.shape[-1], x.dtype)
    n = tf.reduce_sum(m)
    mean = tf.reduce_sum(x * m, -1, keepdims=True) / n
    var = tf.reduce_sum(tf.square(x - mean) * m, -1, keepdims=True) / n
    return ((x - mean) * tf.math.rsqrt(var + epsilon) * gamma + beta) * m


def take(x: tf.Tensor, size, axis: int = -1) -> tf.Tensor:
    """The first `size` entries of `x` along `axis`; `size` may be a tensor (dynamic inside the graph)."""
    axis = axis % x.shape.rank
    begin = [0] * x.shape.rank
    sizes = [-1] * x.shape.rank
    sizes[axis] = size
    return tf.slice(x, begin, tf.stack([tf.cast(s, tf.int32) for s in sizes]))


def take2(w: tf.Tensor, rows, cols, row_start=0) -> tf.Tensor:
    """w[row_start:row_start+rows, :cols] for a 2-D weight, with tensor-valued sizes."""
    begin = tf.stack([tf.cast(row_start, tf.int32), 0])
    return tf.slice(w, begin, tf.stack([tf.cast(rows, tf.int32), tf.cast(cols, tf.int32)]))


def pad_to(x: tf.Tensor, size: int, axis: int = -1) -> tf.Tensor:
    """Zero-pad `x` along `axis` up to the static `size` (and set that static shape)."""
    axis = axis % x.shape.rank
    pads = [[0, 0] for _ in range(x.shape.rank)]
    pads[axis] = [0, size - tf.shape(x)[axis]]
    out = tf.pad(x, pads)
    shape = x.shape.as_list()
    shape[axis] = size
    return tf.ensure_shape(out, [None] + shape[1:]) if axis != 0 else out
