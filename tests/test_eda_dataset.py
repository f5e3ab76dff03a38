"""tf.data over sample dirs: fixed resolution, train-only normalisation saved as JSON, channel selection."""
import numpy as np
import pytest

from pipelines.eda.dataset import FeatureStats, list_samples, make_dataset, make_train_test
from pipelines.eda.sample import Sample

CHANNELS = ("cell_density", "rudy", "congestion")


def _write(path, shape, density, rudy, n_failed, hot_at=None):
    feats = {"cell_density": np.full(shape, density, np.float32), "rudy": np.full(shape, rudy, np.float32),
             "congestion": np.zeros(shape, np.float32), "pin_density": np.ones(shape, np.float32)}
    hot = np.zeros(shape, np.float32)
    if hot_at:
        hot[hot_at] = 1
    util = np.zeros((3,) + shape, np.float32)
    util[1] = np.linspace(0, 1, shape[0] * shape[1]).reshape(shape)
    labels = {"hotspot_stage2": hot, "utilisation": util, "utilisation_max": util.max(0),
              "n_failed_stage2": np.float32(n_failed)}
    Sample(feats, labels, {"design": path.name}).save(path)
    return str(path)


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("eda_ds")
    train = [_write(root / "samples" / "a", (12, 20), 1.0, 2.0, 0, (3, 4)),
             _write(root / "samples" / "b", (30, 18), 3.0, 6.0, 4, (29, 17))]
    test = [_write(root / "samples" / "c", (7, 9), 10.0, 100.0, 2)]
    return root, train, test


def test_stats_from_train_only(splits, tmp_path):
    root, train, test = splits
    assert list_samples(str(root)) == sorted(train + test)
    stats_path = tmp_path / "stats.json"
    train_ds, test_ds, stats = make_train_test(train, test, str(stats_path), channels=CHANNELS, size=(16, 16),
                                               batch_size=2)
    # constant maps: density 1 and 3 -> mean 2, std 1; rudy 2 and 6 -> mean 4, std 2; congestion all 0 -> std 1
    np.testing.assert_allclose(stats.mean, [2.0, 4.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(stats.std, [1.0, 2.0, 1.0], atol=1e-5)
    assert stats.n_samples == 2
    loaded = FeatureStats.load(str(stats_path))
    assert loaded.to_dict() == stats.to_dict()
    feats, targets = next(iter(test_ds))
    # the test sample (density 10, rudy 100) is normalised with the training numbers, not its own
    np.testing.assert_allclose(feats.numpy()[0, ..., 0], 8.0, atol=1e-5)
    np.testing.assert_allclose(feats.numpy()[0, ..., 1], 48.0, atol=1e-4)
    assert feats.shape == (1, 16, 16, 3)
    assert targets["hotspot"].shape == (1, 16, 16, 1) and targets["utilisation"].shape == (1, 16, 16, 1)
    assert targets["n_failed"].numpy().tolist() == [2.0]
    batches = list(train_ds)
    assert sum(int(b[0].shape[0]) for b in batches) == 2


def test_targets_resize_and_channel_selection(splits):
    _, train, _ = splits
    stats = FeatureStats.fit(train, CHANNELS, size=(8, 8))
    ds = make_dataset(train, stats, channels=["rudy"])
    out = list(ds.as_numpy_iterator())
    assert [f.shape for f, _ in out] == [(8, 8, 1), (8, 8, 1)]
    np.testing.assert_allclose(out[0][0][..., 0], -1.0, atol=1e-5)          # (2 - 4) / 2
    hot = out[0][1]["hotspot"]
    assert set(np.unique(hot)) == {0.0, 1.0} and hot.sum() >= 1            # a single hot tile survives downsizing
    assert out[1][1]["n_failed"] == 4.0
    util = out[1][1]["utilisation"]
    assert 0.0 <= util.min() and util.max() <= 1.0 and util.std() > 0
    per_layer = make_dataset(train, stats, channels=["rudy"], targets={"utilisation": "utilisation[1]"})
    np.testing.assert_allclose(next(iter(per_layer))[1]["utilisation"], out[0][1]["utilisation"], atol=1e-6)
    with pytest.raises(KeyError, match="no layer 7"):
        list(make_dataset(train, stats, channels=["rudy"], targets={"utilisation": "utilisation[7]"}))


def test_bad_channel_names(splits):
    _, train, _ = splits
    with pytest.raises(KeyError, match="no feature 'nope'"):
        FeatureStats.fit(train, ["nope"], size=(4, 4))
    stats = FeatureStats.fit(train, ["rudy"], size=(4, 4))
    with pytest.raises(KeyError, match="no training statistics"):
        make_dataset(train, stats, channels=["cell_density"])
