"""`--dense-encoding quantile`: edges fitted on the training split, kept in the run's spec, applied by the
preprocessor and inside the exported serving signature (reloaded in a fresh process)."""
import numpy as np
import pytest

from pipelines.ctr.dense_encoding import check_encoding, fit_edges
from pipelines.ctr.schema import FeatureSpec


def test_edges_are_quantiles_and_the_transform_is_their_cdf():
    from pipelines.ctr.dense_encoding import quantile_transform
    rng = np.random.default_rng(0)
    heavy = rng.pareto(1.0, 20_000) * 1e5                       # a weight in the hundreds of thousands
    zeros = np.where(rng.random(20_000) < 0.9, 0.0, rng.exponential(3000, 20_000))   # zero for 90 % of rows
    const = np.full(20_000, 7.0)
    edges = fit_edges(np.stack([heavy, zeros, const], 1), bins=16)
    assert len(edges[0]) == 17 and list(edges[0]) == sorted(edges[0]) and len(edges[2]) == 1
    x = np.stack([heavy, zeros, const], 1)[:4000].astype(np.float32)
    u = quantile_transform(x, edges).numpy()
    assert u.min() >= 0 and u.max() <= 1 and np.all(u[:, 2] == 0)
    assert abs(np.median(u[:, 0]) - 0.5) < 0.05                # uniform-ish by rank, unlike log1p's values
    assert quantile_transform(np.array([[np.nan, np.nan, np.nan]], np.float32), edges).numpy()[0, 1] == 0.0


def test_spec_round_trip_keeps_edges_and_log1p_specs_serialise_as_before():
    plain = FeatureSpec.uniform(2, 1, 10)
    assert "dense_encoding" not in plain.to_dict()                # committed spec.json files do not change
    q = FeatureSpec(("a", "b"), ("c",), (10,), dense_encoding="quantile", dense_edges=((0.0, 1.0), (2.0,)))
    assert FeatureSpec.from_json(q.to_json()) == q
    with pytest.raises(ValueError, match="edges for 2 dense"):
        FeatureSpec(("a", "b"), ("c",), (10,), dense_encoding="quantile", dense_edges=((0.0, 1.0),))
    with pytest.raises(ValueError, match="expected one of log1p, quantile"):
        check_encoding("pwl")


@pytest.mark.slow
def test_quantile_run_exports_its_edges_into_the_serving_signature(tmp_path):
    from pipelines.ctr.dataset import make_split_dataset
    from pipelines.ctr.synthetic import write_synthetic
    from tfnas.export import check_reload, export_saved_model, load_exported_spec
    from tfnas.train.ctr import TrainConfig, load_run, train_run

    data = str(tmp_path / "d")
    write_synthetic(data, 3000, seed=0)
    before = sorted(p.name for p in (tmp_path / "d").iterdir())
    cfg = TrainConfig(model="mlp", data=data, epochs=1, batch_size=256, dense_encoding="quantile", dense_bins=16,
                      hparams={"embedding_dim": 4, "hidden": [16]})
    train_run(cfg, str(tmp_path / "run"), verbose=0)
    network, spec, _ = load_run(str(tmp_path / "run"))
    assert spec.dense_encoding == "quantile" and all(1 < len(e) <= 17 for e in spec.dense_edges)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == before   # the input folder is untouched
    path = export_saved_model(network, spec, "q", root=str(tmp_path / "saved"))
    assert load_exported_spec(path) == spec
    raw = next(iter(make_split_dataset(data, "test", 256, spec=spec, processed=False)))
    assert check_reload(network, spec, path, raw) < 1e-5
