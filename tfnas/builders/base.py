"""The `Builder` contract: turn an `Architecture` into a plain functional Keras model.

"Plain" means built-in (or registered, `get_config`-complete) Keras layers only, no masks and no
weights that the output does not depend on, so the model saves as `.keras`, exports and converts to TFLite.
"""
from __future__ import annotations

import abc
from typing import Sequence

from tfnas.graph import Architecture


class Builder(abc.ABC):
    """Architecture → `tf.keras.Model`. Subclasses hold the macro settings; `build` takes the cell."""

    @abc.abstractmethod
    def build(self, arch: Architecture, input_shape: Sequence[int], outputs: int, name: str = "model"):
        """A functional model on inputs of `input_shape` (no batch axis) with `outputs` output channels."""

    def __call__(self, arch: Architecture, input_shape: Sequence[int], outputs: int, name: str = "model"):
        return self.build(arch, input_shape, outputs, name=name)


def unused_weights(model, inputs, labels=None) -> list[str]:
    """Names of trainable weights whose gradient is missing or all zero on `inputs` (should be none).

    The loss is the sum of the outputs, or the mean squared error to `labels` when given; pick inputs
    that exercise every path (random values, batch of a few).
    """
    import tensorflow as tf
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        loss = tf.reduce_sum(out) if labels is None else tf.reduce_mean(tf.square(out - labels))
    grads = tape.gradient(loss, model.trainable_weights)
    return [w.name for w, g in zip(model.trainable_weights, grads)
            if g is None or not bool(tf.reduce_any(tf.not_equal(tf.convert_to_tensor(g), 0.0)))]
