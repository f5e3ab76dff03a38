"""The one CTR training protocol (early stopping on validation logloss, best epoch restored) and the
scikit-learn reference rows every leaderboard carries."""
import numpy as np

from pipelines.ctr.schema import FeatureSpec


def _arrays(n, rng, signal=True):
    dense = rng.normal(size=(n, 3)).astype(np.float32)
    sparse = rng.integers(0, 30, (n, 4)).astype(np.int64)
    logit = (dense[:, 0] + 1.5 * (sparse[:, 0] % 3 == 0) - 1.0) if signal else np.zeros(n)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return dense, sparse, label


def _dataset(a, batch, shuffle=False):
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensor_slices({"dense": a[0], "sparse": a[1], "label": a[2]})
    return (ds.shuffle(len(a[2]), seed=0) if shuffle else ds).batch(batch)


def test_fit_ctr_stops_early_and_restores_the_best_validation_epoch(tmp_path):
    """Pure-noise labels and a wide net: validation logloss gets worse as it memorises ids; the returned
    model is the best epoch's (its validation logloss is the history's minimum), not the last one."""
    from pipelines.ctr.baselines import build_baseline
    from tfnas.nasrec.retrain import predict_metrics
    from tfnas.train.ctr import fit_ctr
    from tfnas.train.seeding import seeded

    rng = np.random.default_rng(0)
    train, val = _arrays(512, rng, signal=False), _arrays(512, rng, signal=False)
    spec = FeatureSpec.uniform(3, 4, 30)
    with seeded(0):
        model, out = fit_ctr(build_baseline("mlp", spec, embedding_dim=8, hidden=[64]), _dataset(train, 32, True),
                             _dataset(val, 512), run_dir=str(tmp_path), epochs=8, learning_rate=0.02,
                             sparse_learning_rate=1.0, patience=1)
    hist = out["history"]["val_logloss"]
    assert out["epochs_run"] < 8 and out["best_epoch"] == int(np.argmin(hist)) + 1
    assert hist[-1] > min(hist)                         # the last epoch was worse ...
    got = predict_metrics(model, _dataset(val, 512), "val_")["val_logloss"]
    assert abs(got - min(hist)) < 2e-3                  # ... and the best one is what came back


def test_reference_rows_beat_the_base_rate_and_select_on_validation():
    from pipelines.ctr.reference import reference_results
    rng = np.random.default_rng(1)
    train, val, test = _arrays(3000, rng), _arrays(1000, rng), _arrays(1000, rng)
    out = reference_results(train, val, test)
    p = train[2].mean()
    base = -float(np.mean(test[2] * np.log(p) + (1 - test[2]) * np.log(1 - p)))
    assert set(out) == {"logreg", "hgb"}
    for row in out.values():
        assert row["kind"] == "reference" and row["test_logloss"] < base - 0.02 and row["test_auc"] > 0.65
    assert out["logreg"]["chosen"]["C"] in (0.01, 0.03, 0.1)
