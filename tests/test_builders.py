"""Core builders: every registered op (shape, params), joins, down-/up-sampling cells, AutoShrink equivalence,
`.keras` round trip and no unused weights."""
import numpy as np
import pytest

from tfnas.autoshrink.cell import cell_from_edges, full_cnn_cell, prune_unreachable
from tfnas.graph import Architecture

F, C_IN = 4, 6       # op filters, op input channels
BN = 4 * F           # gamma, beta, moving mean and variance per channel


def _op_model(op, attrs, channels=C_IN):
    import tensorflow as tf
    from tfnas.builders.ops import OpContext, apply_op
    x = tf.keras.Input((8, 8, channels))
    return tf.keras.Model(x, apply_op(op, x, {"op": op, **attrs}, OpContext(seed=1), "t", F))


def _mixed_params(kernels, channels=C_IN):
    from tfnas.builders.layers import split_channels
    return sum(k * k * c for k, c in zip(kernels, split_channels(channels, len(kernels)))) + channels * F + BN


OP_CASES = [  # op, attrs, expected output channels, expected params (from the layer formulas)
    ("conv", {"kernel_size": 3}, F, 3 * 3 * C_IN * F + BN),
    ("conv", {"kernel_size": 5}, F, 5 * 5 * C_IN * F + BN),
    ("conv_1x1", {}, F, C_IN * F + BN),
    ("sep_conv", {"kernel_size": 5}, F, 5 * 5 * C_IN + C_IN * F + BN),
    ("sep_conv_3x3", {}, F, 3 * 3 * C_IN + C_IN * F + BN),
    ("dil_conv", {"kernel_size": 3, "dilation": 2}, F, 3 * 3 * C_IN * F + BN),
    ("dil_conv", {"kernel_size": 3, "dilation": 3, "separable": True}, F, 3 * 3 * C_IN + C_IN * F + BN),
    ("mixed_dw", {"kernel_sizes": [3, 5]}, F, _mixed_params([3, 5])),
    ("mixed_dw", {"kernel_sizes": [3, 5, 7, 9]}, F, _mixed_params([3, 5, 7, 9])),
    ("max_pool", {"pool_size": 3}, C_IN, 0),
    ("avg_pool", {"pool_size": 2}, C_IN, 0),
    ("identity", {}, C_IN, 0),
]


@pytest.mark.parametrize("op,attrs,channels,params", OP_CASES)
def test_each_op_shape_and_params(op, attrs, channels, params):
    model = _op_model(op, attrs)
    assert model.output_shape == (None, 8, 8, channels)
    assert model.count_params() == params
    if op == "dil_conv":
        conv = [la for la in model.layers if la.name in ("t_conv", "t_sep")][0]
        assert conv.dilation_rate == (attrs["dilation"],) * 2


def test_registry_rejects_unknown_ops_and_missing_filters():
    import tensorflow as tf
    from tfnas.builders.ops import OpContext, apply_op
    x = tf.keras.Input((8, 8, 3))
    with pytest.raises(ValueError, match="n3: unknown op 'nope'"):
        apply_op("nope", x, {}, OpContext(), "n3")
    with pytest.raises(ValueError, match="needs a 'filters'"):
        apply_op("conv", x, {}, OpContext(), "n3")


def test_mixed_depthwise_groups_use_their_own_kernels():
    import tensorflow as tf
    from tfnas.builders.layers import MixedDepthwiseConv2D
    layer = MixedDepthwiseConv2D([3, 5], depthwise_initializer=tf.keras.initializers.GlorotUniform(seed=3))
    x = np.random.default_rng(0).random((2, 9, 9, 5)).astype("float32")
    out = layer(x).numpy()
    assert layer.splits == [3, 2] and [c.kernel_size for c in layer.convs] == [(3, 3), (5, 5)]
    for conv, sl in zip(layer.convs, (slice(0, 3), slice(3, 5))):
        ref = tf.nn.depthwise_conv2d(x[..., sl], conv.depthwise_kernel, [1, 1, 1, 1], "SAME").numpy()
        np.testing.assert_allclose(out[..., sl], ref, rtol=1e-5, atol=1e-6)
    assert [c.depthwise_initializer.seed for c in layer.convs] == [3, 4]   # seeded groups draw differently


def _diamond(op="conv"):
    """in → a, in → b, (a, b) → c: node c has two inputs."""
    nodes = [("in", {"op": "input"}), ("a", {"op": op, "kernel_size": 3}), ("b", {"op": "sep_conv"}),
             ("c", {"op": "conv_1x1"})]
    return Architecture(nodes, [("in", "a"), ("in", "b"), ("a", "c"), ("b", "c")])


@pytest.mark.parametrize("join", ["concat", "add"])
def test_concat_and_add_joins(join):
    import tensorflow as tf
    from tfnas.builders.dag_cells import apply_cell
    x = tf.keras.Input((8, 8, 3))
    model = tf.keras.Model(x, apply_cell(x, _diamond(), F, residual=False, join=join, name="k"))
    joined = model.get_layer("k_nc_in")
    assert type(joined).__name__ == {"concat": "Concatenate", "add": "Add"}[join]
    c_in = 2 * F if join == "concat" else F
    assert model.get_layer("k_nc_conv").count_params() == c_in * F
    assert model.output_shape == (None, 8, 8, F)


def test_add_join_refuses_unequal_shapes_and_output_join_add():
    import tensorflow as tf
    from tfnas.builders.dag_cells import apply_cell
    x = tf.keras.Input((8, 8, 3))
    pooled = Architecture([("in", {"op": "input"}), ("a", {"op": "conv"}), ("b", {"op": "max_pool"}),
                           ("c", {"op": "conv"})], [("in", "a"), ("in", "b"), ("a", "c"), ("b", "c")])
    with pytest.raises(ValueError, match="k_nc_in: 'add' join needs equal shapes"):
        apply_cell(x, pooled, F, join="add", name="k")
    two_leaves = Architecture([("in", {"op": "input"}), ("a", {"op": "conv"}), ("b", {"op": "sep_conv"})],
                              [("in", "a"), ("in", "b")])
    concat = apply_cell(x, two_leaves, F, residual=False, output_join="concat", name="o1")
    added = apply_cell(x, two_leaves, F, residual=False, output_join="add", name="o2")
    assert concat.shape[-1] == 2 * F and added.shape[-1] == F


def _map_cell():
    nodes = [("in", {"op": "input"}), ("a", {"op": "dil_conv", "dilation": 2}),
             ("b", {"op": "mixed_dw", "kernel_sizes": [3, 5]}), ("c", {"op": "sep_conv", "kernel_size": 3}),
             ("d", {"op": "avg_pool"})]
    return Architecture(nodes, [("in", "a"), ("in", "b"), ("a", "c"), ("b", "c"), ("in", "d")])


def _map_builder(residual=True, seed=0):
    from tfnas.builders.dag_cells import CellStack, DagCellBuilder, Stage
    stages = [Stage(8, strides=2), Stage(12, repeats=2, strides=2), Stage(8, upsample=2), Stage(8, upsample=2)]
    return DagCellBuilder(CellStack(stages, stem_filters=8, residual=residual, output="map", seed=seed,
                                    weight_decay=1e-5, input_name="maps"))


@pytest.mark.parametrize("residual", [True, False])
def test_strided_and_upsampling_cells_restore_the_grid_for_a_map_model(residual):
    model = _map_builder(residual).build(_map_cell(), (16, 16, 3), 1, name="routability")
    assert model.output_shape == (None, 16, 16, 1)
    names = [layer.name for layer in model.layers]
    assert "s1c0_nin_pool" in names and "s3c0_nin_up" in names and "s2c1_nin_pool" not in names
    grids = {layer.name: layer.output_shape[1:3] for layer in model.layers if layer.name.endswith("_out")}
    assert grids == {"s1c0_out": (8, 8), "s2c0_out": (4, 4), "s2c1_out": (4, 4), "s3c0_out": (8, 8),
                     "s4c0_out": (16, 16)}


def test_same_seed_same_weights_and_no_unused_weights():
    from tfnas.builders.base import unused_weights
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 16, 3)).astype("float32")
    y = rng.random((3, 16, 16, 1)).astype("float32")
    for residual in (True, False):
        model = _map_builder(residual, seed=5).build(_map_cell(), (16, 16, 3), 1)
        twin = _map_builder(residual, seed=5).build(_map_cell(), (16, 16, 3), 1)
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), twin.get_weights()))
        assert unused_weights(model, x, y) == []
    arch = prune_unreachable(cell_from_edges(full_cnn_cell(5, seed=1), [(0, 1), (0, 2), (1, 3), (2, 3), (0, 4)]))
    from tfnas.autoshrink.cnn import Macro, build_cnn
    clf = build_cnn(arch, (8, 8, 3), 5, Macro(scales=(1.0, 2.0), replicate=(1, 2), pools=(1, 2), stem_filters=8))
    assert unused_weights(clf, x[:, :8, :8], rng.random((3, 5)).astype("float32")) == []


def test_map_model_saves_as_keras_and_reloads_identically(tmp_path):
    import tensorflow as tf
    model = _map_builder(seed=2).build(_map_cell(), (16, 16, 3), 2)
    x = np.random.default_rng(1).random((2, 16, 16, 3)).astype("float32")
    path = str(tmp_path / "map.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert [type(la).__name__ for la in loaded.layers] == [type(la).__name__ for la in model.layers]
    assert loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ the AutoShrink path before the core builder
# (tfnas/autoshrink/cnn.py at 7276ab6, condensed; kept as the oracle the core builder must equal)
def _legacy_conv_bn(x, filters, kernel, name, activation, weight_decay, separable=False, strides=1, bn=0.9):
    import tensorflow as tf
    reg = tf.keras.regularizers.l2(weight_decay) if weight_decay else None
    if separable:
        x = tf.keras.layers.SeparableConv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                            depthwise_regularizer=reg, pointwise_regularizer=reg,
                                            name=f"{name}_sep")(x)
    else:
        x = tf.keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                   kernel_regularizer=reg, name=f"{name}_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=bn, name=f"{name}_bn")(x)
    return tf.keras.layers.ReLU(name=f"{name}_relu")(x) if activation else x


def _legacy_apply_cell(x, arch, filters, strides, residual, wd, name, bn):
    import tensorflow as tf
    alive = sorted(arch.reachable_from(0))
    leaves = {n for n in alive if not any(s in alive for s in arch.successors(n))}
    outs = {0: tf.keras.layers.MaxPooling2D(strides, strides, padding="same", name=f"{name}_n0_pool")(x)
            if strides > 1 else x}
    for node in alive[1:]:
        inputs = [outs[p] for p in arch.predecessors(node) if p in alive]
        h = inputs[0] if len(inputs) == 1 else tf.keras.layers.Concatenate(name=f"{name}_n{node}_in")(inputs)
        op = arch.op(node)
        outs[node] = _legacy_conv_bn(h, filters, int(arch.attrs(node).get("kernel_size", 3 if op == "sep_conv_3x3"
                                                                          else 1)),
                                     f"{name}_n{node}", not (residual and node in leaves), wd,
                                     separable=op == "sep_conv_3x3", bn=bn)
    leaf_outs = [outs[n] for n in sorted(leaves)]
    out = leaf_outs[0] if len(leaf_outs) == 1 else tf.keras.layers.Concatenate(name=f"{name}_out")(leaf_outs)
    if residual:
        shortcut = x
        if strides > 1 or x.shape[-1] != out.shape[-1]:
            shortcut = _legacy_conv_bn(x, int(out.shape[-1]), 1, f"{name}_proj", False, wd, strides=strides, bn=bn)
        out = tf.keras.layers.Add(name=f"{name}_add")([shortcut, out])
    return out


def _legacy_build_cnn(arch, input_shape, num_classes, macro):
    import tensorflow as tf
    from tfnas.autoshrink.cnn import cell_base_filters, make_divisible
    wd, bn = macro.weight_decay, macro.bn_momentum
    reg = tf.keras.regularizers.l2(wd) if wd else None
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = _legacy_conv_bn(inputs, make_divisible(macro.stem_filters * macro.channel_scale), 3, "stem", True, wd,
                        strides=macro.stem_strides, bn=bn)
    for s, (reps, pool, f) in enumerate(zip(macro.replicate, macro.pools,
                                            macro.stage_filters(cell_base_filters(arch))), start=1):
        for r in range(int(reps)):
            x = _legacy_apply_cell(x, arch, f, int(pool) if r == 0 else 1, macro.residual, wd, f"s{s}c{r}", bn)
    if macro.head_filters:
        x = _legacy_conv_bn(x, macro.head_filters, 1, "head", True, wd, bn=bn)
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if macro.dropout:
        x = tf.keras.layers.Dropout(macro.dropout, name="drop")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(x))


def _layer_table(model):
    def clean(cfg):
        return {k: v for k, v in cfg.items() if k != "name"}
    return [(layer.name, type(layer).__name__, clean(layer.get_config())) for layer in model.layers]


@pytest.mark.parametrize("which", ["proxy", "shrink_cnn"])
def test_autoshrink_cells_through_the_core_builder_equal_the_old_path(which):
    from tfnas.autoshrink.cnn import Macro, build_cnn, small_shrink_cnn
    macro = (Macro(scales=(1.0, 2.0), replicate=(1, 2), pools=(1, 2), stem_filters=8, dropout=0.1)
             if which == "proxy" else small_shrink_cnn(width=0.25, depth=(1, 1, 2, 1, 1), head_filters=32))
    template = full_cnn_cell(6, seed=4)
    all_edges = sorted(template.edges)
    rng = np.random.default_rng(7)
    subsets = [all_edges, []] + [[e for e in all_edges if rng.random() < 0.4] for _ in range(3)]
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    for edges in subsets:
        arch = prune_unreachable(cell_from_edges(template, edges))
        old = _legacy_build_cnn(arch, (16, 16, 3), 10, macro)
        new = build_cnn(arch, (16, 16, 3), 10, macro)
        assert _layer_table(new) == _layer_table(old), edges
        assert len(new.weights) == len(old.weights) and new.count_params() == old.count_params()
        assert [w.shape for w in new.weights] == [w.shape for w in old.weights]
        new.set_weights(old.get_weights())
        for training in (False, True) if not macro.dropout else (False,):   # dropout draws differ per call
            np.testing.assert_array_equal(new(x, training=training).numpy(), old(x, training=training).numpy())
        assert len(new.losses) == len(old.losses)
        np.testing.assert_allclose(float(sum(new.losses)), float(sum(old.losses)), rtol=1e-6)
