"""FieldEmbedding looks rows up with tf.nn.embedding_lookup so a table sharded across parameter servers (a
ShardedVariable: tf.gather refuses its 2-D ids and, with 1-D ids, returns rows grouped by shard) works: every CTR
baseline's outputs and gradients equal, bit for bit, those of the former 2-D tf.gather, and a table split in two
shards gives the unsplit table's rows and gradient."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pipelines.ctr.baselines import BASELINES, build_baseline  # noqa: E402
from pipelines.ctr.baselines.layers import FieldEmbedding  # noqa: E402
from pipelines.ctr.schema import FeatureSpec  # noqa: E402

SPEC = FeatureSpec.uniform(3, 4, 40)
SMALL = {"dlrm": dict(bottom=[16], top=[16]), "deepfm": dict(hidden=[16]),
         "dcnv2": dict(num_cross=2, hidden=[16]), "autoint": dict(num_layers=1, num_heads=2, key_dim=4),
         "mlp": dict(hidden=[16])}


def _two_d_call(calls):
    """FieldEmbedding.call as it was before: one gather with the [B, n_sparse] ids (counted in `calls`)."""
    def call(self, sparse):
        calls.append(1)
        out = tf.gather(self.table, tf.cast(sparse, tf.int64) + self._offsets)
        if self.l2:
            self.add_loss(self.l2 * tf.reduce_sum(tf.square(out)) / tf.cast(tf.shape(out)[0], out.dtype))
        return out
    return call


def _outputs_and_grads(net, batch, label):
    with tf.GradientTape() as tape:
        logits = net(batch, training=True)
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(label, logits)) + sum(net.losses)
    grads = tape.gradient(loss, net.trainable_variables)
    return logits.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]


def test_lookup_is_bit_identical_to_the_former_gather(monkeypatch):
    rng = np.random.default_rng(0)
    batch = {"dense": rng.normal(size=(33, 3)).astype("float32"),
             "sparse": rng.integers(0, 40, size=(33, 4)).astype("int64")}
    label = (rng.random((33, 1)) < 0.3).astype("float32")
    nets, flat = {}, {}
    for i, name in enumerate(sorted(BASELINES)):
        tf.random.set_seed(i)
        nets[name] = build_baseline(name, SPEC, embedding_dim=8, **SMALL[name])
        flat[name] = _outputs_and_grads(nets[name], batch, label)
    calls = []
    monkeypatch.setattr(FieldEmbedding, "call", _two_d_call(calls))
    for name, net in nets.items():
        before = len(calls)
        logits, grads = _outputs_and_grads(net, batch, label)
        assert len(calls) > before, name                       # the former gather really ran
        assert logits.tobytes() == flat[name][0].tobytes(), name
        assert len(grads) == len(flat[name][1])
        for g, h in zip(grads, flat[name][1]):
            assert g.tobytes() == h.tobytes(), name


def test_a_table_split_in_two_shards_gathers_the_same_rows():
    from tensorflow.python.distribute.sharded_variable import ShardedVariable

    layer = FieldEmbedding([30, 50], dim=4, l2=1e-3)
    ids = tf.constant([[0, 49], [29, 0], [7, 13]], tf.int64)
    with tf.GradientTape() as tape:
        whole = layer(ids)
        loss = tf.reduce_sum(whole * tf.reshape(tf.range(24, dtype=tf.float32), [3, 2, 4]) / 24.0)
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.table)).numpy()
    table = layer.table.numpy()
    layer.table = ShardedVariable([tf.Variable(table[:40]), tf.Variable(table[40:])])
    with tf.GradientTape() as tape:
        split = layer(ids)
        loss = tf.reduce_sum(split * tf.reshape(tf.range(24, dtype=tf.float32), [3, 2, 4]) / 24.0)
    grads = tape.gradient(loss, layer.table.variables)
    assert split.shape == (3, 2, 4)
    assert split.numpy().tobytes() == whole.numpy().tobytes()
    assert np.concatenate([tf.convert_to_tensor(g).numpy() for g in grads]).tobytes() == grad.tobytes()
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="1D"):
        _two_d_call([])(layer, ids)                            # why the old gather kept tables whole
