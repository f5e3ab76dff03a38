"""NASRec supernet: samplers, no retracing, subnet == supernet, checkpoint resume, sparse updates."""
import numpy as np
import pytest
import tensorflow as tf

from pipelines.ctr.schema import FeatureSpec
from tfnas.nasrec import ops
from tfnas.nasrec.subnet import build_subnet, subnet_from_supernet
from tfnas.nasrec.supernet import NASRecSupernet, dedup
from tfnas.nasrec.training import train_supernet
from tfnas.supernet.sampling import PathSampler

SPEC = FeatureSpec.uniform(3, 4, 40)
TINY = dict(dense_widths=(4, 8, 16), sparse_widths=(2, 4))
B = 8


def batch(seed=0):
    g = np.random.default_rng(seed)
    return ({"dense": g.normal(size=(B, 3)).astype("f"), "sparse": g.integers(0, 40, (B, 4))},
            g.integers(0, 2, B).astype("f"))


def dataset(n=16):
    return tf.data.Dataset.from_tensor_slices([0]).repeat(n).enumerate().map(
        lambda i, _: tuple(tf.nest.map_structure(tf.constant, batch(0)))).map(lambda x, y: (x, y))


def test_any_count_is_one_plus_binomial_and_subsets_uniform():
    s = PathSampler("single_op_any_connection", seed=1)
    counts = np.array([int(s.any_count(7)) for _ in range(600)])
    observed = np.bincount(counts, minlength=5)[1:] / len(counts)
    assert np.allclose(observed, np.array([1, 3, 3, 1]) / 8, atol=0.06)
    assert int(s.any_count(1)) == 1 and set(int(s.any_count(2)) for _ in range(50)) == {1, 2}
    masks = np.array([s.subset_mask(5, 2).numpy() for _ in range(400)])
    assert (masks.sum(1) == 2).all() and np.allclose(masks.mean(0), 0.4, atol=0.08)
    single = PathSampler("single_path", seed=2)
    assert all(int(single.connections(6).numpy().sum()) == 1 for _ in range(20))
    assert all(int(single.operators(4).numpy().sum()) == 1 for _ in range(20))
    anyp = PathSampler("any_path", seed=3)
    n_ops = np.array([anyp.operators(4).numpy().sum() for _ in range(400)])
    assert np.allclose(np.bincount(n_ops, minlength=5)[1:] / 400, np.array([1, 3, 3, 1]) / 8, atol=0.07)


def test_warmup_probability_decays_linearly():
    s = PathSampler(warmup_steps=100, seed=0)
    probs = [float(s.full_probability(t)) for t in (0, 25, 50, 100, 300)]
    np.testing.assert_allclose(probs, [1.0, 0.75, 0.5, 0.0, 0.0])
    freq = np.mean([bool(s.use_full(50)) for _ in range(400)])
    assert abs(freq - 0.5) < 0.09
    assert float(PathSampler(warmup_steps=0).full_probability(0)) == 0.0


@pytest.fixture(scope="module")
def small_supernet():
    sn = NASRecSupernet(SPEC, kind="small", num_blocks=2, warmup_steps=0, seed=0, **TINY)
    sn(batch()[0])
    return sn


def test_sampled_choices_are_space_members_and_warmup_is_full():
    sn = NASRecSupernet(SPEC, kind="full", num_blocks=3, warmup_steps=10, seed=0, **TINY)
    archs = {sn.space.decode(sn.sample_choice(tf.constant(10, tf.int64)).numpy()) for _ in range(20)}
    assert len(archs) > 15
    L = sn.layout
    full = sn.sample_choice(tf.constant(0, tf.int64)).numpy()
    np.testing.assert_array_equal(np.delete(full, [L.left, L.right], 1), np.delete(sn.full, [L.left, L.right], 1))


@pytest.mark.parametrize("kind,balance_dot", [("small", True), ("full", True), ("small", False)])
def test_subnet_from_supernet_matches_supernet(kind, balance_dot):
    sn = NASRecSupernet(SPEC, kind=kind, num_blocks=3, balance_dot=balance_dot, **TINY)
    x, _ = batch(1)
    sn(x)
    rng = np.random.default_rng(0)
    for v in sn.trainable_variables:   # non-trivial LayerNorm scales/offsets, so slicing mistakes show
        v.assign(rng.normal(0, 0.3, v.shape).astype("f") + (1.0 if "gamma" in v.name or "_g:" in v.name else 0.0))
    for _ in range(6):
        arch = sn.space.sample(rng)
        sn.fix(arch)
        sub = subnet_from_supernet(sn, arch)
        np.testing.assert_allclose(sub(x).numpy(), sn(x).numpy(), atol=1e-4, rtol=1e-5)
        assert sub.count_params() < sn.count_params()


def test_operator_balancing_switch_fixes_dot_rows():
    """Balanced: a Dot-Product of width d interacts dot_rows(d) rows; unbalanced: the widest one's, always."""
    rng = np.random.default_rng(3)
    for balance in (True, False):
        space = NASRecSupernet(SPEC, kind="small", num_blocks=3, balance_dot=balance, **TINY).space
        rows = set()
        for _ in range(12):
            arch = space.sample(rng)
            model = build_subnet(arch, SPEC, 16, space=space)
            for layer in model.layers:
                if isinstance(layer, ops.DotProduct):
                    rows.add((layer.units, layer.s_kernel.shape[1]))
        if balance:
            assert all(k == ops.dot_rows(w) for w, k in rows) and len({k for _, k in rows}) > 1
        else:
            assert {k for _, k in rows} == {ops.dot_rows(16)} and len({w for w, _ in rows}) > 1
    other = NASRecSupernet(SPEC, kind="small", num_blocks=3, balance_dot=True, **TINY).space
    with pytest.raises(ValueError, match="dot_rows"):
        other.check(arch)   # an unbalanced arch is not in the balanced space


def test_build_subnet_is_plain_serializable_keras():
    space_arch = NASRecSupernet(SPEC, kind="full", num_blocks=3, **TINY).space.sample(np.random.default_rng(5))
    model = build_subnet(space_arch, SPEC, 16)
    x, _ = batch(2)
    clone = tf.keras.Model.from_config(model.get_config(), custom_objects=ops.CUSTOM_OBJECTS)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), atol=1e-6)
    assert model(x).shape == (B, 1)


def test_no_retracing_across_sampled_and_fixed_subnets(small_supernet):
    sn = small_supernet
    sample = tf.function(lambda step: sn.sample_choice(step))
    choices = {sample(tf.constant(5, tf.int64)).numpy().tobytes() for _ in range(10)}
    assert len(choices) == 10
    forward = tf.function(lambda x: sn(x))
    x, _ = batch(3)
    rng = np.random.default_rng(1)
    before = sn.traces
    outs = []
    for _ in range(10):
        sn.fix(sn.space.sample(rng))
        outs.append(forward(x).numpy())
    assert sn.traces - before == 1                     # traced once, then 10 subnets by variable only
    assert len({o.tobytes() for o in outs}) > 5
    sn.compile(optimizer=tf.keras.optimizers.legacy.Adagrad(0.05, initial_accumulator_value=0.0, epsilon=1e-2))
    before = sn.traces
    hist = sn.fit(dataset(10), epochs=1, verbose=0)     # 10 steps, each a freshly sampled path
    assert sn.traces - before <= 2 and np.isfinite(hist.history["loss"][0])


def test_checkpoint_resume_continues_at_saved_step(tmp_path):
    def make():
        return NASRecSupernet(SPEC, kind="small", num_blocks=1, warmup_steps=3, seed=7, **TINY)

    kw = dict(learning_rate=0.05, save_every=2, progress=False)
    tf.keras.utils.set_random_seed(0)
    straight = make()
    train_supernet(straight, dataset(), 6, str(tmp_path / "a"), **kw)
    tf.keras.utils.set_random_seed(0)
    first = make()
    out = train_supernet(first, dataset(), 6, str(tmp_path / "b"), stop_at=4, **kw)   # "killed" at step 4
    assert out["step"] == 4
    resumed = make()                                   # a fresh process would see the same thing
    out = train_supernet(resumed, dataset(), 6, str(tmp_path / "b"), tensorboard_dir=str(tmp_path / "tb"),
                         log_every=1, **kw)
    assert out["resumed_from"] == 4 and out["step"] == 6
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))            # TensorBoard scalars of the run
    for a, b in zip(straight.trainable_variables, resumed.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_sparse_embedding_update_equals_dense_update():
    table = tf.random.normal([10, 4])
    ids = tf.constant([1, 3, 1, 7, 1])
    upstream = tf.random.normal([5, 4])
    var_s, var_d = tf.Variable(table), tf.Variable(table)
    with tf.GradientTape(persistent=True) as tape:
        ls = tf.reduce_sum(tf.gather(var_s, ids) * upstream)
        ld = tf.reduce_sum(tf.gather(tf.convert_to_tensor(var_d), ids) * upstream)
    gs, gd = dedup(tape.gradient(ls, var_s)), tf.convert_to_tensor(tape.gradient(ld, var_d))   # sparse vs dense
    assert isinstance(gs, tf.IndexedSlices) and len(gs.indices) == 3 and isinstance(gd, tf.Tensor)
    (gs_c,), ns = tf.clip_by_global_norm([gs], 1.0)
    (gd_c,), nd = tf.clip_by_global_norm([gd], 1.0)
    np.testing.assert_allclose(float(ns), float(nd), rtol=1e-6)
    for _ in range(3):
        for var, g in ((var_s, gs_c), (var_d, gd_c)):
            opt = getattr(var, "_opt", None) or tf.keras.optimizers.legacy.Adagrad(0.1, initial_accumulator_value=0.0,
                                                                                  epsilon=1e-2)
            var._opt = opt
            opt.apply_gradients([(g, var)])
    np.testing.assert_allclose(var_s.numpy(), var_d.numpy(), atol=1e-6)
