"""NASGEM graph encoder: permutation invariance, WL-kernel fit beats the untrained net, save/load, no-WL ablation."""
import numpy as np
import pytest

from tfnas.graph import Architecture
from tfnas.nasgem.embedding import (SupervisedEmbedding, WLEmbedding, fit_wl_encoder, pair_fit, sample_pairs,
                                    untrained_embedding)
from tfnas.nasgem.encoder import GraphFeaturizer
from tfnas.nasgem.nasbench201 import NB201Space, arch_to_cell


@pytest.fixture(scope="module")
def setup():
    space = NB201Space()
    rng = np.random.default_rng(0)
    fz = GraphFeaturizer.from_samples([space.sample(rng) for _ in range(100)])
    wl = fit_wl_encoder(space, fz, n_cells=300, n_pairs=3000, epochs=6, hidden=32, dim=16, layers=2, seed=0,
                        heldout_cells=200, heldout_pairs=1000)
    return space, fz, wl


def test_embedding_ignores_node_ids(setup):
    space, fz, _ = setup
    enc = untrained_embedding(fz, hidden=16, dim=8, layers=2, seed=1)
    rng = np.random.default_rng(2)
    for _ in range(5):
        a = space.sample(rng)
        perm = {n: f"z{i}" for i, n in enumerate(reversed(a.nodes))}
        b = Architecture([(perm[n], a.attrs(n)) for n in a.nodes], [(perm[u], perm[v]) for u, v in a.edges])
        np.testing.assert_allclose(enc.encode_one(a), enc.encode_one(b), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="max_nodes"):
        GraphFeaturizer(fz.ops, 3).featurize([a])


def test_wl_fit_on_heldout_pairs_beats_untrained(setup):
    space, fz, wl = setup
    rep = wl.report
    assert rep["trained"] and rep["heldout"]["pairs"] > 100 and rep["loss"][-1] < rep["loss"][0]
    cells, pairs, target = sample_pairs(space, 200, 1000, np.random.default_rng(42))
    feats = fz.featurize(cells)
    trained = pair_fit(wl.model, feats, pairs, target)
    untrained = pair_fit(untrained_embedding(fz, 32, 16, 2, seed=0).model, feats, pairs, target)
    assert trained["pearson"] > 0.6 and trained["spearman"] > 0.6
    assert trained["pearson"] > untrained["pearson"] + 0.1 and trained["mae"] < untrained["mae"]


def test_saved_encoder_reloads_to_same_embeddings(setup, tmp_path):
    space, fz, wl = setup
    archs = [space.sample(np.random.default_rng(3)) for _ in range(8)]
    wl.save(str(tmp_path / "enc"))
    back = WLEmbedding.load(str(tmp_path / "enc"))
    np.testing.assert_allclose(back.encode(archs), wl.encode(archs), rtol=1e-5, atol=1e-6)
    assert back.report["heldout"] == wl.report["heldout"]
    with pytest.raises(FileNotFoundError, match="fit-encoder"):
        WLEmbedding.load(str(tmp_path / "nothing"))


def test_supervised_embedding_fits_target_and_repeats(setup):
    space, fz, _ = setup
    rng = np.random.default_rng(4)
    archs = [space.sample(rng) for _ in range(60)]
    y = np.array([sum(c == 2 for c in arch_to_cell(a)) for a in archs], float)
    sup = SupervisedEmbedding(fz, hidden=32, dim=16, layers=2, steps=150)
    with pytest.raises(RuntimeError):
        sup.encode(archs)
    pred = sup.fit(archs, y, seed=5).model.predict(fz.featurize(archs), verbose=0)[:, 0]
    assert np.corrcoef(pred, y)[0, 1] > 0.8
    first = sup.encode(archs)
    np.testing.assert_allclose(sup.fit(archs, y, seed=5).encode(archs), first, rtol=1e-4, atol=1e-5)
