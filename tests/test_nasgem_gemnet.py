"""GEMNet space (up to 30 nodes): valid samples / mutants, array sampler == cells, scoring, train + export CLI."""
import json

import numpy as np
import pytest

from tfnas.cli import main
from tfnas.nasgem.embedding import untrained_embedding
from tfnas.nasgem.encoder import GraphFeaturizer
from tfnas.nasgem.gemnet import GEMNetSpace, featurize_arrays, score_sampled
from tfnas.nasgem.predictor import EnsemblePredictor


def test_space_samples_and_mutants_are_valid_dags():
    space, rng = GEMNetSpace(), np.random.default_rng(0)
    sizes = set()
    for _ in range(40):
        a = space.sample(rng)
        space.check(a)
        space.check(space.mutate(a, rng))
        sizes.add(len(a))
    assert max(sizes) <= 30 and min(sizes) >= 4 and len(sizes) > 10
    bad = space.sample(rng).with_edge(0, 1).with_edge_removed(0, 1)
    with pytest.raises(ValueError, match="node 1"):
        space.check(bad)


def test_array_sampler_matches_cells_and_scoring_ranks_by_prediction():
    space = GEMNetSpace(max_nodes=12)
    fz = GraphFeaturizer(space.labels(), space.max_nodes)
    emb = untrained_embedding(fz, hidden=16, dim=8, layers=2, seed=0)
    ops, adj, mask = space.sample_arrays(np.random.default_rng(1), 30)
    cells = [space.arrays_to_arch(o, a) for o, a in zip(ops, adj)]
    np.testing.assert_allclose(emb.embed_features(featurize_arrays(ops, adj, mask, fz, space)), emb.encode(cells),
                               rtol=1e-5, atol=1e-6)
    train = [space.sample(np.random.default_rng(i)) for i in range(40)]
    pred = EnsemblePredictor(4, hidden=16, seed=0).fit(emb.encode(train), [len(a) for a in train])
    top = score_sampled(space, emb, pred, np.random.default_rng(2), 2000, top=5, chunk=700)
    means = [m for _, m, _ in top]
    assert len(top) == 5 and means == sorted(means, reverse=True)
    all_means = pred.predict(emb.embed_features(featurize_arrays(*space.sample_arrays(np.random.default_rng(2), 700),
                                                                 fz, space)))[0]
    assert means[0] >= all_means.max() - 1e-6  # the first chunk's best is among the kept


def test_train_and_export_cli(tmp_path, capsys):
    space = GEMNetSpace(max_nodes=5)
    cell = tmp_path / "cell.json"
    space.sample(np.random.default_rng(0)).save(str(cell))
    run = tmp_path / "run"
    assert main(["nasgem", "train", "--cell", str(cell), "--max-nodes", "5", "--epochs", "1", "--filters", "4",
                 "--run-dir", str(run)]) == 0
    result = json.loads((run / "result.json").read_text())
    assert 0.0 <= result["val_accuracy"] <= 1.0 and result["params"] > 0 and result["macs"] > 0
    assert main(["nasgem", "export", "--run-dir", str(run), "--root", str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "gemnet" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "sm" / "gemnet" / "1.tflite").stat().st_size > 0
    assert main(["nasgem", "export", "--run-dir", str(tmp_path / "none")]) != 0
    assert "no trained model" in capsys.readouterr().err
