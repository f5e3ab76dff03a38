"""NASRec operators: shapes at every width, mask form == slice form == a true width-w layer."""
import numpy as np
import pytest
import tensorflow as tf

from tfnas.nasrec import ops
from tfnas.nasrec.space import DENSE_WIDTHS, SPARSE_WIDTHS
from tfnas.supernet import masking

B, E = 3, 16


@pytest.mark.parametrize("width", DENSE_WIDTHS)
def test_dense_ops_shapes_every_width(width):
    dense, sparse = tf.random.normal([B, 40]), tf.random.normal([B, 30, E])
    assert ops.FC(width)(dense).shape == (B, width)
    assert ops.DotProduct(width)([dense, sparse]).shape == (B, width)
    assert ops.SigmoidGating(width)([dense, tf.random.normal([B, 24])]).shape == (B, width)
    assert ops.Sum(width)([dense, tf.random.normal([B, 24])]).shape == (B, width)
    assert ops.FMToDense(width)(sparse).shape == (B, width)
    assert ops.DenseToRows(8, E)(tf.random.normal([B, width])).shape == (B, 8, E)
    k = ops.dot_rows(width)                      # operator balancing: k(k+1)/2 pairs ~ width
    assert abs(ops.num_pairs(k) - width) <= k + 1


@pytest.mark.parametrize("rows", SPARSE_WIDTHS)
def test_sparse_ops_shapes_every_width(rows):
    sparse = tf.random.normal([B, 30, E])
    assert ops.EFC(rows)(sparse).shape == (B, rows, E)
    assert ops.Attention(rows)(sparse).shape == (B, rows, E)


def test_pairwise_prefix_and_fm_match_brute_force():
    d, s = np.random.randn(B, E).astype("f"), np.random.randn(B, 5, E).astype("f")
    t = np.concatenate([d[:, None], s], 1)
    brute = np.stack([[t[b, r] @ t[b, c] for r in range(6) for c in range(r)] for b in range(B)])
    np.testing.assert_allclose(ops.pairwise(d, s).numpy(), brute, rtol=1e-5, atol=1e-5)
    # pairs of the first 3 sparse rows are a prefix of the pairs of all 5 (dot-product slicing relies on it)
    np.testing.assert_allclose(ops.pairwise(d, s[:, :3]).numpy(), brute[:, :ops.num_pairs(3)], rtol=1e-5, atol=1e-5)
    fm = np.stack([sum(s[b, i] * s[b, j] for i in range(5) for j in range(5) if i != j) for b in range(B)])
    np.testing.assert_allclose(ops.fm_term(s).numpy(), fm, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("width", [16, 100, 128])
def test_mask_form_equals_slice_form_equals_width_w_layer(width):
    n_in, max_w = 20, 128
    x = tf.random.normal([B, n_in])
    kernel, bias = tf.random.normal([n_in, max_w]), tf.random.normal([max_w])
    gamma, beta = tf.random.normal([max_w]) + 1.0, tf.random.normal([max_w])
    # mask form: all max_w units, LayerNorm statistics over the first `width`, zeros after
    masked = tf.nn.relu(masking.masked_layer_norm(x @ kernel + bias, width, gamma, beta))
    # slice form: weights sliced to `width`, output zero-padded back to max_w
    sliced = masking.pad_to(tf.nn.relu(ops.dense_ln(
        x, masking.take(kernel, width), masking.take(bias, width, 0), masking.take(gamma, width, 0),
        masking.take(beta, width, 0))), max_w)
    # a plain width-w layer with the sliced weights
    layer = ops.FC(width)
    layer.build(x.shape)
    layer.set_weights([kernel[:, :width].numpy(), bias[:width].numpy(), gamma[:width].numpy(), beta[:width].numpy()])
    np.testing.assert_allclose(masked.numpy(), sliced.numpy(), atol=1e-5)
    np.testing.assert_allclose(masked.numpy()[:, :width], layer(x).numpy(), atol=1e-5)
    assert not np.any(masked.numpy()[:, width:])
    np.testing.assert_array_equal(masking.apply_width_mask(tf.ones([2, 8]), 3).numpy().sum(1), [3, 3])


def test_layers_round_trip_get_config():
    for layer in (ops.FC(32), ops.DotProduct(64), ops.SigmoidGating(16), ops.Sum(16), ops.EFC(16),
                  ops.Attention(32), ops.DenseToRows(8, 16), ops.FMToDense(32), ops.Head(),
                  ops.FeatureEmbedding([5, 7], 16)):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_feature_embedding_uses_one_table_with_offsets_and_sparse_grads():
    emb = ops.FeatureEmbedding([3, 4], 2)
    ids = tf.constant([[0, 0], [2, 3]], tf.int64)
    with tf.GradientTape() as tape:
        out = emb(ids)
    table = emb.table.numpy()
    np.testing.assert_allclose(out.numpy()[1], table[[2, 3 + 3]])
    assert isinstance(tape.gradient(out, emb.table), tf.IndexedSlices)
