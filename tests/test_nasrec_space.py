"""NASRec search space: sampling, membership, mutation, the Architecture <-> choice-array round trip."""
import numpy as np
import pytest

from tfnas.graph import Architecture
from tfnas.nasrec.space import (DENSE_WIDTHS, MAX_INPUTS, SPARSE_WIDTHS, BlockSpec, NASRecSpace,
                                arch_to_blocks, blocks_to_arch)


@pytest.mark.parametrize("kind", ["small", "full"])
def test_sample_contains_encode_decode_json(kind):
    space = NASRecSpace(kind)
    rng = np.random.default_rng(0)
    for _ in range(100):
        arch = space.sample(rng)
        space.check(arch)
        assert space.decode(space.encode(arch)) == arch
        assert Architecture.from_json(arch.to_json()) == arch
        for blk in arch_to_blocks(arch):
            assert blk.dense_op in space.dense_ops and blk.sparse_op in space.sparse_ops
            assert blk.dense_width in DENSE_WIDTHS and blk.sparse_width in SPARSE_WIDTHS


def test_small_space_rejects_full_ops_with_reason():
    arch = NASRecSpace("full").sample(np.random.default_rng(3))
    blocks = arch_to_blocks(arch)
    blocks[0] = BlockSpec("sum", "attn", 16, 16, False, False, (), (0,), 0, 0)
    arch = blocks_to_arch(blocks)
    with pytest.raises(ValueError, match="node 1: field 'dense_op' = 'sum' not in nasrec-small"):
        NASRecSpace("small").check(arch)
    assert not NASRecSpace("small").contains(arch)
    assert NASRecSpace("full").contains(arch)


def test_check_names_bad_width_and_connection_count():
    space = NASRecSpace("full", num_blocks=3)
    arch = space.sample(np.random.default_rng(1))
    with pytest.raises(ValueError, match="node 2: field 'dense_width' = 100"):
        space.check(arch.with_node(2, dense_width=100))
    blocks = arch_to_blocks(arch)
    blocks[2] = BlockSpec("fc", "efc", 16, 16, False, False, (), (0, 1), None, None)
    with pytest.raises(ValueError, match="node 3 .* 0 'dense' inputs, needs 1..3"):
        space.check(blocks_to_arch(blocks))


def test_mutate_makes_one_change_and_stays_in_space():
    space = NASRecSpace("full")
    rng = np.random.default_rng(2)
    arch = space.sample(rng)
    for _ in range(200):
        child = space.mutate(arch, rng)
        space.check(child)
        diff = [i for i, (a, b) in enumerate(zip(arch_to_blocks(arch), arch_to_blocks(child))) if a != b]
        assert len(diff) == 1
        arch = child


def test_input_count_is_one_plus_binomial():
    space = NASRecSpace("small", num_blocks=7)
    rng = np.random.default_rng(0)
    counts = np.array([len(arch_to_blocks(space.sample(rng))[6].sparse_in) for _ in range(3000)])
    expected = np.array([1, 3, 3, 1]) / 8.0      # 1 + Binomial(3, 0.5) for block 7 (7 outputs, cap 4)
    observed = np.bincount(counts, minlength=MAX_INPUTS + 1)[1:] / len(counts)
    assert np.allclose(observed, expected, atol=0.03)
