"""The `full+ext` space (tfnas/nasrec/ext.py): the paper's spaces unchanged, ext sampling / membership /
canonical keys, subnet-only (the supernet refuses it), and DeepFM / DCN-v2 written in it computing the
hand-made baselines' function (weights copied, same predictions)."""
import dataclasses
import hashlib
import json

import numpy as np
import pytest
import tensorflow as tf

from pipelines.ctr.baselines import build_baseline
from pipelines.ctr.schema import FeatureSpec
from tfnas.graph import Architecture
from tfnas.nasrec import ops
from tfnas.nasrec.baselines_in_space import from_baseline, weights_from_baseline
from tfnas.nasrec.canonical import canonical_key
from tfnas.nasrec.ext import ExtOptions, options_of
from tfnas.nasrec.space import BlockSpec, NASRecSpace, arch_to_blocks
from tfnas.nasrec.subnet import build_subnet

EXT = "full+ext"
SPEC = FeatureSpec.uniform(3, 4, 50)
TOL = 1e-5   # max |logit difference| allowed (float32; measured 2.4e-7 for DeepFM, 0 for DCN-v2)


def _batch(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return {"dense": rng.normal(size=(n, SPEC.num_dense)).astype("float32"),
            "sparse": rng.integers(0, 50, size=(n, SPEC.num_sparse))}


# ------------------------------------------------------------------------------------------ paper spaces
# Hashes of 20 samples, 20 mutants and a chain of 300 mutations (JSON and choice array) per kind, computed
# with the code before the full+ext space existed (commit 9d61935): the paper's spaces draw, encode and
# mutate exactly as before.
PAPER_HASHES = {"small": "8bc10ae517a8c668", "full": "c51e2655d406860a"}


@pytest.mark.parametrize("kind", ["small", "full"])
def test_paper_space_sampling_and_encoding_unchanged(kind):
    sp = NASRecSpace(kind, 7)
    rng = np.random.default_rng(123)
    archs = [sp.sample(rng) for _ in range(20)]
    archs += [sp.mutate(a, rng) for a in archs]
    for _ in range(300):
        archs.append(sp.mutate(archs[-1], rng))
    h = hashlib.sha256()
    for a in archs:
        h.update(json.dumps(a.to_dict(), sort_keys=True).encode())
        h.update(sp.encode(a).tobytes())
    assert h.hexdigest()[:16] == PAPER_HASHES[kind]
    assert sp.layout.fields == 2 * 7 + 2 + 4 + 2 + 4   # the supernet's choice columns: the paper's ops only


def test_paper_spaces_refuse_ext_ops_and_options():
    full = NASRecSpace("full", 3)
    arch = full.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"node 2: field 'dense_op' = 'cross' not in nasrec-full"):
        full.check(arch.with_node(2, dense_op="cross"))
    with pytest.raises(ValueError, match=r"node 'head': attribute\(s\) \['fm'\] only in space kind 'full\+ext'"):
        full.check(arch.with_node("head", fm=True))
    with pytest.raises(ValueError, match="need space kind 'full\\+ext'"):
        full.from_blocks(arch_to_blocks(arch), ExtOptions(head_fm=True))


# ------------------------------------------------------------------------------------------ ext space
def test_ext_sample_mutate_check_and_json():
    space = NASRecSpace(EXT, 4)
    rng = np.random.default_rng(0)
    seen_ops, seen_opts = set(), set()
    for _ in range(100):
        arch = space.sample(rng)
        space.check(arch)
        assert Architecture.from_json(arch.to_json()) == arch
        seen_ops |= {b.dense_op for b in arch_to_blocks(arch)}
        seen_opts.add(options_of(arch))
    assert seen_ops == set(space.dense_ops) and len(seen_opts) == 16
    for _ in range(300):
        child = space.mutate(arch, rng)
        space.check(child)
        assert child != arch
        arch = child
    # concat may read no dense input; every other op needs one
    blocks = arch_to_blocks(arch)
    blocks[0] = BlockSpec("concat", "efc", 16, 16, False, False, (), (0,))
    space.check(space.from_blocks(blocks, options_of(arch)))
    blocks[0] = BlockSpec("fc_noln", "efc", 16, 16, False, False, (), (0,))
    with pytest.raises(ValueError, match=r"node 1 \(dense_op 'fc_noln'\): has 0 'dense' inputs, needs 1..1"):
        space.check(space.from_blocks(blocks, options_of(arch)))
    with pytest.raises(ValueError, match=r"node 0: field 'dense_fields' must be a bool"):
        space.check(arch.with_node(0, dense_fields=1))


def test_ext_subnets_build_run_and_reload():
    space = NASRecSpace(EXT, 3, dense_widths=[16, 32], sparse_widths=[16])
    rng = np.random.default_rng(5)
    batch = _batch(8)
    for _ in range(3):
        arch = space.sample(rng)
        model = build_subnet(arch, SPEC, space=space)
        out = model(batch).numpy()
        assert out.shape == (8, 1) and np.isfinite(out).all()
        again = tf.keras.Model.from_config(model.get_config(), custom_objects=ops.CUSTOM_OBJECTS)
        again.set_weights(model.get_weights())
        np.testing.assert_array_equal(again(batch).numpy(), out)


def test_ext_is_subnet_only():
    from tfnas.nasrec.supernet import NASRecSupernet
    space = NASRecSpace(EXT, 2)
    with pytest.raises(ValueError, match="space.kind 'full\\+ext' is subnet-only"):
        space.encode(space.sample(np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"space.kind: op\(s\) \['cross', 'concat', 'fc_noln'\] are subnet-only"):
        NASRecSupernet(SPEC, kind=EXT, num_blocks=2)


def test_canonical_key_ignores_dead_settings_and_paper_options():
    full, space = NASRecSpace("full", 3), NASRecSpace(EXT, 3)
    arch = full.sample(np.random.default_rng(2))
    blocks = arch_to_blocks(arch)
    same = space.from_blocks(blocks)   # paper options: the function of the `full` architecture
    assert canonical_key(same) == canonical_key(arch)
    assert canonical_key(space.from_blocks(blocks, ExtOptions(head_fm=True))) != canonical_key(arch)
    # the head reads only the dense output: the last block's sparse op, width and merge flag have no effect
    dense_only = ExtOptions(head_sparse=False)
    last = dataclasses.replace(blocks[2], fm=False)
    changed = dataclasses.replace(last, sparse_op="attn" if last.sparse_op == "efc" else "efc",
                                  sparse_width=64 if last.sparse_width != 64 else 16, merge=not last.merge)
    assert canonical_key(space.from_blocks(blocks[:2] + [last], dense_only)) == \
        canonical_key(space.from_blocks(blocks[:2] + [changed], dense_only))
    # cross / concat keep their input width: dense_width has no effect
    x = [BlockSpec("concat", "efc", 16, 16, False, False, (0,), (0,)),
         BlockSpec("cross", "efc", 16, 16, False, False, (), (0,), 1, 1),
         BlockSpec("fc_noln", "efc", 32, 16, False, False, (2,), (0,))]
    y = list(x)
    y[1] = BlockSpec("cross", "efc", 512, 16, False, False, (), (0,), 1, 1)
    assert canonical_key(space.from_blocks(x, dense_only)) == canonical_key(space.from_blocks(y, dense_only))
    # dense_fields counts only when output 0's rows are read
    z = [BlockSpec("fc", "efc", 16, 16, False, False, (0,), (0,))] * 2 + [x[2]]
    z[1] = BlockSpec("fc", "efc", 16, 16, False, False, (1,), (0,))
    z[2] = BlockSpec("fc_noln", "efc", 32, 16, False, False, (2,), (0,))
    on, off = ExtOptions(dense_fields=True, head_sparse=False), dense_only
    assert canonical_key(space.from_blocks(z, on)) == canonical_key(space.from_blocks(z, off))
    assert canonical_key(space.from_blocks(x, on)) != canonical_key(space.from_blocks(x, off))


# ------------------------------------------------------------------------------------------ baselines
@pytest.mark.parametrize("name,hparams,blocks", [
    ("deepfm", {}, 7), ("dcnv2", {}, 7), ("deepfm", {"hidden": [64]}, 2),
    ("dcnv2", {"num_cross": 1, "hidden": [32]}, 4),
])
def test_baseline_in_space_gives_the_baseline_predictions(name, hparams, blocks):
    space = NASRecSpace(EXT, blocks)
    arch = from_baseline(name, space, **hparams)
    assert arch.meta["baseline"] == name
    net = build_baseline(name, SPEC, **hparams)
    batch = _batch()
    net(batch)
    for v in net.trainable_variables:   # move every weight off its initial value (zero biases hide errors)
        v.assign(v + tf.random.stateless_normal(v.shape, [1, 2], stddev=0.05))
    sub = build_subnet(arch, SPEC, space=space)
    weights_from_baseline(net, sub)
    base, got = net(batch).numpy(), sub(batch).numpy()
    assert np.abs(base).max() > 0.1
    assert np.abs(base - got).max() <= TOL
    # no extra weights: DeepFM's two output biases are the subnet head's one
    n_base, n_sub = (sum(int(np.prod(v.shape)) for v in m.trainable_variables) for m in (net, sub))
    assert n_sub == n_base - (1 if name == "deepfm" else 0)


def test_from_baseline_errors_name_the_field():
    with pytest.raises(ValueError, match="space.kind 'full' cannot express deepfm"):
        from_baseline("deepfm", NASRecSpace("full", 7))
    with pytest.raises(ValueError,
                       match=r"dcnv2: needs 6 blocks \(1 concat \+ 3 cross \+ 2 hidden\), space.num_blocks is 3"):
        from_baseline("dcn_v2", NASRecSpace(EXT, 3))
    with pytest.raises(ValueError, match=r"hidden width\(s\) \[256\] not in space.extra.dense_widths"):
        from_baseline("deepfm", NASRecSpace(EXT, 3, dense_widths=[16, 128]))
    with pytest.raises(ValueError, match="projection_dim 8 .*not in the space"):
        from_baseline("dcnv2", NASRecSpace(EXT, 7), projection_dim=8)
    with pytest.raises(ValueError, match="'autoint' is not expressible"):
        from_baseline("autoint", NASRecSpace(EXT, 7))


def test_baselines_in_space_cost_what_the_baselines_cost():
    from tfnas import metrics as tfm
    from tfnas.nasrec.retrain import network_signature
    spec = SPEC.with_cap(2)
    space = NASRecSpace(EXT, 7)
    for name, extra in (("deepfm", 1), ("dcnv2", 0)):   # DeepFM's second output bias is one add
        net = build_baseline(name, spec)
        net({"dense": tf.zeros([1, spec.num_dense]), "sparse": tf.zeros([1, spec.num_sparse], tf.int64)})
        sub = build_subnet(from_baseline(name, space), spec)
        assert tfm.flops_per_example(net, network_signature(spec)) - tfm.flops_per_example(sub) == extra
