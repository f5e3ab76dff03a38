"""The planted-click-model generator: deterministic, Criteo-readable, Bayes logloss a real floor."""
import json

import numpy as np
import pytest

from pipelines.ctr.synthetic import ClickModelConfig, bayes_logloss, synthetic_spec, write_synthetic

ROWS = 12_000


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return out, write_synthetic(out / "a", ROWS, seed=0)


def load_rows(path):
    labels, dense, cats = [], [], []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            labels.append(int(fields[0]))
            dense.append([float(v) if v else np.nan for v in fields[1:14]])
            cats.append(fields[14:])
    return np.array(labels), np.array(dense), np.array(cats, dtype=object)


def test_deterministic_and_seeded(synth):
    out, bayes = synth
    again = write_synthetic(out / "b", ROWS, seed=0)
    assert again == bayes
    for s in ("train", "valid", "test"):
        assert (out / "a" / f"{s}.txt").read_bytes() == (out / "b" / f"{s}.txt").read_bytes()
    write_synthetic(out / "c", 2_000, seed=1)
    assert (out / "c" / "train.txt").read_bytes()[:5000] != (out / "a" / "train.txt").read_bytes()[:5000]


def test_files_splits_and_bayes_json(synth):
    out, bayes = synth
    d = out / "a"
    assert json.loads((d / "bayes.json").read_text()) == bayes
    assert sum(b["rows"] for b in bayes.values()) == ROWS
    assert abs(bayes["train"]["rows"] - 0.8 * ROWS) <= 2 and abs(bayes["valid"]["rows"] - 0.1 * ROWS) <= 2
    for s, b in bayes.items():
        assert 0.18 < b["ctr"] < 0.27
        assert b["bayes_logloss"] < b["base_rate_logloss"] - 0.05
        assert bayes_logloss(d, s) == b["bayes_logloss"]
        # p is calibrated: its logloss on the realised labels matches its entropy up to sampling noise
        assert abs(b["true_p_logloss"] - b["bayes_logloss"]) < 0.03
    labels, dense, cats = load_rows(d / "valid.txt")
    assert len(labels) == bayes["valid"]["rows"] and dense.shape[1] == 13 and cats.shape[1] == 26
    assert abs(labels.mean() - bayes["valid"]["ctr"]) < 1e-9
    assert np.isnan(dense).any() and (cats == "").any()  # missing values, like Criteo
    with pytest.raises(KeyError):
        bayes_logloss(d, "nope")


def test_readable_by_criteo_reader(synth):
    from pipelines.ctr.dataset import load_spec, make_split_dataset
    out, bayes = synth
    assert load_spec(out / "a") == synthetic_spec()
    n = sum(int(b["label"].shape[0]) for b in make_split_dataset(out / "a", "valid", 1024))
    assert n == bayes["valid"]["rows"]


def test_bayes_below_logistic_regression(synth):
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.preprocessing import OneHotEncoder
    out, bayes = synth
    ytr, dtr, ctr = load_rows(out / "a" / "train.txt")
    yva, dva, cva = load_rows(out / "a" / "valid.txt")
    enc = OneHotEncoder(handle_unknown="ignore", min_frequency=3).fit(ctr)

    def features(d, c):
        return sparse.hstack([enc.transform(c), sparse.csr_matrix(np.log1p(np.maximum(np.nan_to_num(d), 0)))]).tocsr()

    lr = LogisticRegression(C=0.3, max_iter=500).fit(features(dtr, ctr), ytr)
    ll = log_loss(yva, lr.predict_proba(features(dva, cva))[:, 1])
    assert ll < bayes["valid"]["base_rate_logloss"] - 0.02  # the planted signal is learnable ...
    assert bayes["valid"]["bayes_logloss"] < ll              # ... and Bayes is a floor below the fit


def test_strengths_change_bayes(tmp_path):
    weak = write_synthetic(tmp_path / "w", 3_000, seed=0, config=ClickModelConfig(
        first_order=0.1, pairwise=0.1, triple=0.1, dense=0.05, dense_pair=0.0))
    strong = write_synthetic(tmp_path / "s", 3_000, seed=0)
    assert weak["train"]["bayes_logloss"] > strong["train"]["bayes_logloss"] + 0.05


def test_cli_synth(tmp_path):
    from tfnas.cli import main
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--rows", "500", "--seed", "2",
                 "--no-progress"]) == 0
    assert json.loads((tmp_path / "d" / "bayes.json").read_text())["test"]["rows"] >= 49
