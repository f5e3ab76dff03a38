"""The reference Adagrad against a numpy computation of PyTorch's update on a known gradient sequence."""
import numpy as np
import pytest
import tensorflow as tf

from tfnas.train.optimizers import ReferenceAdagrad, make_optimizer

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.4]), np.array([-2.0, 0.0, 1.0])]


def numpy_adagrad(w, grads, lr, eps):
    acc = np.zeros_like(w)
    for g in grads:
        acc = acc + g * g
        w = w - lr * g / (np.sqrt(acc) + eps)
    return w


def test_dense_matches_numpy():
    w0 = np.array([1.0, 2.0, -3.0])
    var = tf.Variable(w0, dtype=tf.float64)
    opt = ReferenceAdagrad(0.1, epsilon=1e-2)
    for g in GRADS:
        opt.apply_gradients([(tf.constant(g), var)])
    np.testing.assert_allclose(var.numpy(), numpy_adagrad(w0, GRADS, 0.1, 1e-2), rtol=1e-6)
    # and it is not Keras' own Adagrad (accumulator 0.1, eps inside the root)
    k = tf.Variable(w0, dtype=tf.float64)
    kopt = tf.keras.optimizers.Adagrad(0.1, epsilon=1e-2)
    for g in GRADS:
        kopt.apply_gradients([(tf.constant(g), k)])
    assert np.abs(k.numpy() - var.numpy()).max() > 1e-3


def test_sparse_rows_match_numpy_and_untouched_rows_stay():
    table0 = np.arange(12, dtype=np.float64).reshape(4, 3)
    var = tf.Variable(table0)
    opt = make_optimizer("adagrad", 0.05)
    # rows 1 and 3 get the gradient sequence; row 3 twice in one step (summed, as PyTorch coalesces)
    for g in GRADS:
        slices = tf.IndexedSlices(tf.constant(np.stack([g, g / 2, g / 2])), tf.constant([1, 3, 3]),
                                  tf.constant([4, 3]))
        opt.apply_gradients([(slices, var)])
    np.testing.assert_allclose(var.numpy()[0], table0[0])
    np.testing.assert_allclose(var.numpy()[2], table0[2])
    np.testing.assert_allclose(var.numpy()[1], numpy_adagrad(table0[1], GRADS, 0.05, 1e-2), rtol=1e-6)
    np.testing.assert_allclose(var.numpy()[3], numpy_adagrad(table0[3], GRADS, 0.05, 1e-2), rtol=1e-6)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop", 0.1)
