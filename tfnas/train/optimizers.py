"""One `make_optimizer` for every method, and the reference (PyTorch) Adagrad NASRec's papers train with.

Keras 2.14's Adagrad starts its accumulator at 0.1 and puts eps inside the square root; the reference
(torch.optim.Adagrad, facebookresearch/NasRec) starts at 0 and divides by sqrt(acc) + eps with eps 1e-2.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf


class ReferenceAdagrad(tf.keras.optimizers.Optimizer):
    """acc += g²; w -= lr · g / (sqrt(acc) + eps), acc starting at 0 (as in PyTorch); IndexedSlices
    gradients update only their rows (duplicate rows are summed first, as PyTorch coalesces them)."""

    def __init__(self, learning_rate=0.01, epsilon: float = 1e-2, initial_accumulator_value: float = 0.0,
                 name: str = "ReferenceAdagrad", **kwargs):
        super().__init__(name=name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"initial_accumulator_value must be >= 0, got {initial_accumulator_value}")
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.epsilon = float(epsilon)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def build(self, var_list):
        super().build(var_list)
        if hasattr(self, "_built") and self._built:
            return
        self._built = True
        self._accumulators = []
        init = tf.keras.initializers.Constant(self.initial_accumulator_value)
        for var in var_list:
            self._accumulators.append(self.add_variable_from_reference(
                var, "accumulator", initial_value=init(shape=var.shape, dtype=var.dtype)))

    def update_step(self, gradient, variable):
        lr = tf.cast(self.learning_rate, variable.dtype)
        eps = tf.cast(self.epsilon, variable.dtype)
        acc = self._accumulators[self._index_dict[self._var_key(variable)]]
        if isinstance(gradient, tf.IndexedSlices):
            rows, idx = tf.unique(gradient.indices)
            values = tf.math.unsorted_segment_sum(gradient.values, idx, tf.shape(rows)[0])
            acc.scatter_add(tf.IndexedSlices(values * values, rows))
            denom = tf.sqrt(tf.gather(acc, rows)) + eps
            variable.scatter_sub(tf.IndexedSlices(lr * values / denom, rows))
        else:
            acc.assign_add(gradient * gradient)
            variable.assign_sub(lr * gradient / (tf.sqrt(acc) + eps))

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "epsilon": self.epsilon, "initial_accumulator_value": self.initial_accumulator_value})
        return config


def make_optimizer(name: str, learning_rate, clipnorm: Optional[float] = None, epsilon: float = 1e-2):
    """An optimizer by name: "adagrad" (the reference Adagrad above), "keras_adagrad", "adam", "sgd"
    (momentum 0.9, Nesterov, as NASRec's scripts use), "plain_sgd"; `learning_rate` may be a schedule."""
    kw = {"clipnorm": clipnorm} if clipnorm else {}
    name = name.lower()
    if name == "adagrad":
        return ReferenceAdagrad(learning_rate, epsilon=epsilon, **kw)
    if name == "keras_adagrad":
        return tf.keras.optimizers.Adagrad(learning_rate, **kw)
    if name == "adam":
        return tf.keras.optimizers.Adam(learning_rate, **kw)
    if name == "sgd":
        return tf.keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, **kw)
    if name == "plain_sgd":
        return tf.keras.optimizers.SGD(learning_rate, **kw)
    raise ValueError(f"unknown optimizer {name!r}; use adagrad, keras_adagrad, adam, sgd or plain_sgd")


def make_optimizer_pair(name: str, learning_rate: float, sparse_learning_rate: float = 0.2):
    """(optimizer, sparse_optimizer or None) for CTR runs: "adam+adagrad" (default) | "adagrad" | "adam" |
    "sgd", built by `make_optimizer`.

    "adam+adagrad": Adam for dense layers, Keras's Adagrad (row-wise, touches only the batch's rows) for the
    embedding tables' sparse gradients.  Keras 2.14's Adam alone decays its moments densely over every
    table row each step (measured ~20x slower per step than Adagrad on the synthetic spec's 534k rows).
    CTR runs keep the Keras Adagrad and plain SGD they were tuned with ("keras_adagrad", "plain_sgd").
    """
    if name == "adam+adagrad":
        return make_optimizer("adam", learning_rate), make_optimizer("keras_adagrad", sparse_learning_rate)
    single = {"adam": "adam", "adagrad": "keras_adagrad", "sgd": "plain_sgd"}
    if name not in single:
        raise ValueError(f"unknown optimizer {name!r}; choose adam+adagrad or one of {sorted(single)}")
    return make_optimizer(single[name], learning_rate), None
