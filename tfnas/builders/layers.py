"""Keras layers the DAG-cell ops need beyond the built-ins (registered, with `get_config`, so `.keras` reloads)."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def split_channels(channels: int, groups: int) -> list[int]:
    """Split `channels` into `groups` near-equal parts, the first ones one larger (as MixConv does)."""
    if groups < 1 or channels < groups:
        raise ValueError(f"cannot split {channels} channels into {groups} groups")
    base, extra = divmod(channels, groups)
    return [base + (1 if i < extra else 0) for i in range(groups)]


@tf.keras.utils.register_keras_serializable(package="tfnas")
class MixedDepthwiseConv2D(tf.keras.layers.Layer):
    """Mixed depth-wise convolution (MixConv, Tan & Le 2019): channel groups, each with its own kernel size.

    The input channels are split into len(kernel_sizes) near-equal groups; group i gets a depth-wise
    k_i×k_i convolution; the results are concatenated (channels out = channels in).
    """

    def __init__(self, kernel_sizes: Sequence[int] = (3, 5, 7), strides: int = 1, dilation_rate: int = 1,
                 use_bias: bool = False, depthwise_initializer="glorot_uniform", depthwise_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise ValueError(f"MixedDepthwiseConv2D: kernel_sizes must be positive ints, got {kernel_sizes}")
        self.strides, self.dilation_rate, self.use_bias = int(strides), int(dilation_rate), bool(use_bias)
        self.depthwise_initializer = tf.keras.initializers.get(depthwise_initializer)
        self.depthwise_regularizer = tf.keras.regularizers.get(depthwise_regularizer)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.splits = split_channels(channels, len(self.kernel_sizes))
        self.convs = []
        for i, k in enumerate(self.kernel_sizes):
            init = self.depthwise_initializer
            if getattr(init, "seed", None) is not None:   # distinct but reproducible draws per group
                init = init.__class__.from_config({**init.get_config(), "seed": init.seed + i})
            self.convs.append(tf.keras.layers.DepthwiseConv2D(
                k, strides=self.strides, padding="same", dilation_rate=self.dilation_rate, use_bias=self.use_bias,
                depthwise_initializer=init, depthwise_regularizer=self.depthwise_regularizer,
                name=f"dw{k}x{k}_{i}"))
        shape = list(input_shape)
        for conv, c in zip(self.convs, self.splits):
            conv.build(tf.TensorShape(shape[:-1] + [c]))
        super().build(input_shape)

    def call(self, inputs):
        parts = tf.split(inputs, self.splits, axis=-1)
        return tf.concat([conv(p) for conv, p in zip(self.convs, parts)], axis=-1)

    def compute_output_shape(self, input_shape):
        return self.convs[0].compute_output_shape(input_shape[:-1] + (input_shape[-1],))

    def get_config(self):
        return {**super().get_config(), "kernel_sizes": list(self.kernel_sizes), "strides": self.strides,
                "dilation_rate": self.dilation_rate, "use_bias": self.use_bias,
                "depthwise_initializer": tf.keras.initializers.serialize(self.depthwise_initializer),
                "depthwise_regularizer": tf.keras.regularizers.serialize(self.depthwise_regularizer)
                if self.depthwise_regularizer else None}
