"""Canonical keys: candidates that differ only in settings with no effect are one candidate (same key, same
built function); a setting with an effect changes the key; top-k keeps one of each function."""
import numpy as np
import pytest

from pipelines.ctr.schema import FeatureSpec
from tfnas.nasrec.canonical import canonical_key
from tfnas.nasrec.space import BlockSpec, blocks_to_arch

SPEC = FeatureSpec.uniform(3, 4, 20)


def _arch(b2=None, b1_fm=False, b3_merge=False):
    b1 = BlockSpec("fc", "efc", 16, 16, False, b1_fm, (0,), (0,))
    b2 = b2 or BlockSpec("dot", "attn", 32, 16, True, True, (0, 1), (0, 1))
    b3 = BlockSpec("fc", "efc", 16, 16, b3_merge, False, (1,), (1,))   # reads block 1 only: block 2 is dead
    return blocks_to_arch([b1, b2, b3])


def _same_function(a, b):
    import tensorflow as tf

    from tfnas.nasrec.subnet import build_subnet
    ma, mb = build_subnet(a, SPEC), build_subnet(b, SPEC)
    assert sorted(layer.name for layer in ma.layers) == sorted(layer.name for layer in mb.layers)
    for layer in ma.layers:
        mb.get_layer(layer.name).set_weights(layer.get_weights())
    rng = np.random.default_rng(0)
    x = {"dense": tf.constant(rng.normal(size=(8, 3)), tf.float32),
         "sparse": tf.constant(rng.integers(0, 20, (8, 4)), tf.int64)}
    return np.allclose(ma(x).numpy(), mb(x).numpy(), atol=1e-6)


def test_dead_block_settings_drop_out_and_build_the_same_function():
    other = BlockSpec("gating", "efc", 64, 32, False, False, (), (0,), 0, 1)
    a, b = _arch(), _arch(b2=other)
    assert a.fingerprint() != b.fingerprint() and canonical_key(a) == canonical_key(b)
    assert _same_function(a, b)


@pytest.mark.parametrize("change", [{"b1_fm": True}, {"b3_merge": True}])
def test_a_setting_with_an_effect_changes_the_key(change):
    assert canonical_key(_arch()) != canonical_key(_arch(**change))


def test_merge_without_a_sparse_reader_has_no_effect():
    # block 1's sparse output is read by block 3's sparse input, so its merge flag matters there ...
    b1m = BlockSpec("fc", "efc", 16, 16, True, False, (0,), (0,))
    b3 = BlockSpec("fc", "efc", 16, 16, False, False, (1,), (0,))   # ... but not once block 3 reads input 0
    b1 = BlockSpec("fc", "efc", 16, 16, False, False, (0,), (0,))
    dead2 = BlockSpec("fc", "efc", 16, 16, False, False, (0,), (0,))
    a, b = blocks_to_arch([b1m, dead2, b3]), blocks_to_arch([b1, dead2, b3])
    assert canonical_key(a) == canonical_key(b) and _same_function(a, b)


def test_top_candidates_keeps_one_row_per_function():
    from tfnas.nasrec.search import top_candidates
    other = BlockSpec("gating", "efc", 64, 32, False, False, (), (0,), 0, 1)
    rows = [{"id": 0, "logloss": 0.40, "architecture": _arch(), "fingerprint": "a"},
            {"id": 1, "logloss": 0.41, "architecture": _arch(b2=other), "fingerprint": "b"},
            {"id": 2, "logloss": 0.42, "architecture": _arch(b1_fm=True), "fingerprint": "c"}]
    assert [r["id"] for r in top_candidates(rows, 2)] == [0, 2]
