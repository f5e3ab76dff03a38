"""Metrics: logloss, AUC, Kendall tau against hand values; FLOPs of known layers."""
import numpy as np
import pytest

from tfnas import metrics


def test_logloss_and_auc_hand_values():
    assert metrics.logloss([1, 0], [0.5, 0.5]) == pytest.approx(np.log(2))
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert np.isnan(metrics.auc([1, 1], [0.2, 0.3]))
    assert metrics.per_map_auc([[0, 1], [1, 1]], [[0.1, 0.9], [0.5, 0.5]]) == pytest.approx(1.0)


def test_kendall_tau():
    assert metrics.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_flops_and_params_of_dense_and_conv():
    import tensorflow as tf
    inp = tf.keras.Input((8,))
    dense = tf.keras.Model(inp, tf.keras.layers.Dense(4, use_bias=False)(inp))
    assert metrics.flops_per_example(dense) == 2 * 8 * 4
    assert metrics.count_params(dense) == 32
    img = tf.keras.Input((6, 6, 3))
    conv = tf.keras.Model(img, tf.keras.layers.Conv2D(5, 3, padding="same", use_bias=False)(img))
    assert metrics.macs_per_example(conv) == 6 * 6 * 3 * 3 * 3 * 5
