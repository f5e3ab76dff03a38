"""Routability core: estimator shapes, data loading and normalisation, protocol metrics, and a tiny CLI run."""
import json
import os
import shutil

import numpy as np
import pytest

from tfnas.routability import data, estimators, protocol

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "eda_default")


@pytest.mark.parametrize("name", sorted(estimators.ESTIMATORS))
def test_estimator_output_grid_equals_input_grid(name):
    m = estimators.build_estimator(name, (16, 20, 6))
    assert m.output_shape == (None, 16, 20, 1)
    if name == "logistic":
        assert m.count_params() == 7
    if name == "flnet":
        assert m.count_params() == 9 * 9 * 6 * 64 + 64 + 9 * 9 * 64 + 1
        assert len(m.losses) == 2


@pytest.mark.parametrize("name", sorted(estimators.ESTIMATORS))
def test_estimator_weights_depend_only_on_the_seed(name):
    """Two builds with one seed are identical (federated clients and re-runs start from the same weights)."""
    import tensorflow as tf
    a = estimators.build_estimator(name, (16, 20, 6), 3)
    tf.random.uniform([7])                      # global RNG state moves between the builds
    b = estimators.build_estimator(name, (16, 20, 6), 3)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_routenet_rejects_grid_not_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        estimators.build_estimator("routenet", (18, 16, 6))
    with pytest.raises(ValueError, match="unknown estimator"):
        estimators.build_estimator("nope", (16, 16, 6))


def test_metrics_on_hand_made_arrays():
    y = np.array([[[0, 1], [0, 1]], [[0, 0], [0, 0]], [[1, 0], [0, 0]]], np.float32)
    p = np.array([[[0.1, 0.9], [0.2, 0.8]], [[0.3, 0.3], [0.2, 0.1]], [[0.4, 0.5], [0.1, 0.1]]], np.float32)
    r = protocol.evaluate(y, p, n_failed=np.array([3.0, 0.0, 1.0]), scale=1.0)
    assert r["n_single_class_skipped"] == 1
    assert r["auc_per_placement"] == pytest.approx((1.0 + 2 / 3) / 2)
    # sums 2.0, 0.9, 1.1 vs counts 3, 0, 1: same order -> tau 1
    assert r["kendall_tau"] == pytest.approx(1.0)
    assert protocol.fit_count_scale(np.array([[1.0], [2.0]]), np.array([2.0, 4.0])) == pytest.approx(2.0)


def test_split_by_design_never_leaks_and_leave_one_out():
    designs = [f"d{i % 7}" for i in range(40)]
    for seed in range(3):
        s = protocol.split_by_design(designs, seed=seed)
        sets = [{designs[i] for i in s[k]} for k in ("train", "val", "test")]
        assert not (sets[0] & sets[2]) and not (sets[0] & sets[1]) and not (sets[1] & sets[2])
        assert sum(len(s[k]) for k in s) == 40
    assert protocol.split_by_design(designs, seed=1) == protocol.split_by_design(designs, seed=1)
    lo = protocol.leave_one_out(designs, "d3")
    assert {designs[i] for i in lo["test"]} == {"d3"} and "d3" not in {designs[i] for i in lo["train"]}


def test_normalizer_uses_train_stats_only():
    train = np.ones((2, 3, 3, 2), np.float32) * np.array([1.0, 5.0])
    test = np.full((1, 3, 3, 2), 100.0, np.float32)
    n = data.Normalizer.fit(train)
    assert np.allclose(n.mean, [1.0, 5.0])
    n2 = data.Normalizer.from_config(json.loads(json.dumps(n.get_config())))
    assert np.allclose(n2(test), n(test)) and np.allclose(n(test)[..., 0], 99.0 / 1e-6, rtol=1e-4)


def _copy_sample(tmp_path, name="s"):
    src = data.sample_dirs(DATA)[0]
    dst = tmp_path / "samples" / name
    shutil.copytree(src, dst)
    return str(dst)


def test_bad_samples_error_names_file_or_are_skipped(tmp_path):
    good = _copy_sample(tmp_path, "good")
    bad = _copy_sample(tmp_path, "bad")
    z = dict(np.load(os.path.join(bad, "sample.npz")))
    z["feature/rudy"] = z["feature/rudy"] * np.nan
    np.savez_compressed(os.path.join(bad, "sample.npz"), **z)
    with pytest.raises(ValueError, match=r"bad/sample.npz.*rudy.*NaN"):
        data.load_samples([good, bad], grid=(8, 8))
    out = data.load_samples([good, bad], grid=(8, 8), bad_samples="skip")
    assert out["x"].shape == (1, 8, 8, 6) and len(out["skipped"]) == 1
    z["feature/rudy"] = np.zeros((3, 3), np.float32)
    np.savez_compressed(os.path.join(bad, "sample.npz"), **z)
    with pytest.raises(ValueError, match=r"bad/sample.npz.*'feature/rudy' has shape \(3, 3\)"):
        data.load_sample(bad)
    del z["feature/congestion"]
    z["feature/rudy"] = z["feature/cell_density"]
    np.savez_compressed(os.path.join(bad, "sample.npz"), **z)
    with pytest.raises(ValueError, match=r"bad/sample.npz.*missing map 'feature/congestion'"):
        data.load_sample(bad)


def test_load_clips_resizes_and_labels():
    d = data.load_samples(data.sample_dirs(DATA)[:4], grid=(12, 12))
    assert d["x"].shape == (4, 12, 12, 6) and d["y"].shape == (4, 12, 12, 1)
    assert set(np.unique(d["y"])) <= {0.0, 1.0} and np.all(np.isfinite(d["x"]))
    assert len(d["design"]) == 4 and d["n_failed"].shape == (4,)


def test_cli_train_tiny_run_and_export(tmp_path):
    from tfnas.cli import main
    out = str(tmp_path / "run")
    assert main(["routability", "train", "--model", "logistic", "--data", DATA, "--out", out,
                 "--grid", "8", "8", "--epochs", "1"]) == 0
    for f in ("design/seed0/model.keras", "leaderboard.json", "design/seed0/maps.png", "design/seed0/roc.png",
              "run.json"):
        assert os.path.exists(os.path.join(out, f)), f
    lb = json.load(open(os.path.join(out, "leaderboard.json")))[0]
    assert 0.0 <= lb["auc_pooled_mean"] <= 1.0 and lb["params"] == 7
    assert main(["export", "--run", out, "--name", "rt", "--root", str(tmp_path / "exp"), "--no-check"]) == 0
