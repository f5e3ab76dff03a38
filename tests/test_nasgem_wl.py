"""WL subtree kernel: hand-computed values, [0, 1] range, isomorphism invariance; encodings."""
import numpy as np
import pytest

from tfnas.graph import Architecture
from tfnas.nasgem.encoding import AdjacencyEncoding, WLFeatureEncoding
from tfnas.nasgem.nasbench201 import NB201Space, arch_to_cell, cell_to_arch
from tfnas.nasgem.wl_kernel import wl_features, wl_kernel


def chain(mid, ids=(0, 1, 2), **settings):
    return Architecture([(ids[0], {"op": "input"}), (ids[1], {"op": mid, **settings}), (ids[2], {"op": "output"})],
                        [(ids[0], ids[1]), (ids[1], ids[2])])


def test_hand_computed_kernel():
    a, b = chain("conv"), chain("pool")
    # h=0: features {input, conv, output} vs {input, pool, output}: 2 shared of 3 -> 2/3
    assert wl_kernel(a, b, h=0) == pytest.approx(2 / 3)
    # h=1: every refined label differs (each node sees the mid op) -> 2 shared of 6 -> 1/3
    assert wl_kernel(a, b, h=1) == pytest.approx(1 / 3)
    assert wl_kernel(a, a, h=3) == pytest.approx(1.0)
    # settings are part of the label
    assert wl_kernel(chain("conv", kernel=3), chain("conv", kernel=5), h=0) == pytest.approx(2 / 3)
    # direction matters: input->conv->output vs output<-conv<-input relabelled nodes with same ops
    c = Architecture([(0, {"op": "input"}), (1, {"op": "conv"}), (2, {"op": "output"})], [(0, 1), (0, 2)])
    # h=1: input sees succ {conv,output} (new), conv sees pred input only (new vs chain's pred+succ) -> 3/6
    assert wl_kernel(a, c, h=1) == pytest.approx(3 / 6)
    assert sum(wl_features(a, 2).values()) == 9
    with pytest.raises(ValueError):
        wl_features(a, -1)


def test_isomorphism_invariance_and_range():
    rng = np.random.default_rng(0)
    space = NB201Space()
    for _ in range(20):
        a, b = space.sample(rng), space.sample(rng)
        perm = {n: f"x{i}" for i, n in enumerate(reversed(a.nodes))}
        relabelled = Architecture([(perm[n], a.attrs(n)) for n in a.nodes], [(perm[u], perm[v]) for u, v in a.edges])
        assert wl_kernel(a, relabelled) == pytest.approx(1.0)
        assert wl_kernel(a, b) == pytest.approx(wl_kernel(relabelled, b))
        assert 0.0 <= wl_kernel(a, b) <= 1.0


def test_nb201_cells_round_trip_and_encodings():
    rng = np.random.default_rng(1)
    space = NB201Space()
    archs = [space.sample(rng) for _ in range(30)]
    for a in archs:
        assert arch_to_cell(cell_to_arch(arch_to_cell(a))) == arch_to_cell(a)
        assert space.contains(space.mutate(a, rng))
    adj = AdjacencyEncoding.from_samples(archs)
    x = adj.encode(archs)
    assert x.shape == (30, adj.dim) and set(np.unique(x)) <= {0.0, 1.0}
    wl = WLFeatureEncoding(h=2, dim=1 << 16)
    z = wl.encode(archs[:5])
    # hashed WL dot products approximate the exact kernel (equal when buckets do not collide)
    for i in range(5):
        for j in range(5):
            assert z[i] @ z[j] == pytest.approx(wl_kernel(archs[i], archs[j]), abs=0.05)
