"""Multi-objective selection: the Pareto front of val logloss vs FLOPs, the FLOPs budget of the export, the
mean +- std table with its noise marks, and the supernet budget scaled with the data."""
import pytest

from tfnas.nasrec.pareto import front_text, pareto_front, plot_front, within_budget
from tfnas.nasrec.retrain import beyond_noise, best_candidate, comparison_table, summarise_seeds

RESULTS = {
    "cand_1": {"kind": "nasrec", "flops": 1e4, "val_logloss": 0.440, "test_logloss": 0.441, "n_seeds": 3,
               "test_logloss_std": 0.001},
    "cand_2": {"kind": "nasrec", "flops": 5e4, "val_logloss": 0.430, "test_logloss": 0.431, "n_seeds": 3,
               "test_logloss_std": 0.001},
    "dcnv2": {"kind": "baseline", "flops": 8e4, "val_logloss": 0.435, "test_logloss": 0.4335, "n_seeds": 3,
              "test_logloss_std": 0.004},
    "mlp": {"kind": "baseline", "flops": 2e4, "val_logloss": 0.438, "test_logloss": 0.439, "n_seeds": 3,
            "test_logloss_std": 0.001},
    "logreg": {"kind": "reference", "val_logloss": 0.420, "test_logloss": 0.421},
}


def test_front_drops_dominated_models_and_references(tmp_path):
    assert pareto_front(RESULTS) == ["cand_1", "mlp", "cand_2"]          # dcnv2: cand_2 is cheaper and better
    assert "cand_2" in front_text(RESULTS) and "logreg" not in front_text(RESULTS)
    plot_front(RESULTS, str(tmp_path / "p.png"), max_flops=3e4)
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_flops_budget_picks_the_best_found_net_under_it():
    assert best_candidate(RESULTS)[0] == "cand_2"
    assert best_candidate(RESULTS, max_flops=2e4)[0] == "cand_1"
    with pytest.raises(ValueError, match="max_flops"):
        best_candidate(RESULTS, max_flops=10)
    rows = [{"id": 1, "flops": 1e4}, {"id": 2, "flops": 5e4}]
    assert within_budget(rows, 0) == rows and within_budget(rows, 2e4) == rows[:1]


def test_seed_summary_and_noise_marks():
    s = summarise_seeds({"0": {"val_logloss": 0.40, "test_logloss": 0.41, "flops": 7.0},
                         "1": {"val_logloss": 0.42, "test_logloss": 0.43, "flops": 7.0}})
    assert s["val_logloss"] == pytest.approx(0.41) and s["test_logloss_std"] == pytest.approx(0.01)
    assert s["n_seeds"] == 2 and s["flops"] == 7.0
    assert beyond_noise(RESULTS["cand_2"], RESULTS["mlp"]) and not beyond_noise(RESULTS["cand_2"], RESULTS["dcnv2"])
    table = comparison_table(RESULTS, {"val": 0.3, "test": 0.31}, "cand_2")
    line = {ln.split()[0]: ln for ln in table.splitlines()}
    assert "+- 0.00100" in line["cand_2"] and line["mlp"].rstrip().endswith("!")
    assert not line["dcnv2"].rstrip().endswith("!") and "bayes-optimal" in table


def test_supernet_budget_scales_with_the_data(tmp_path):
    from tfnas.nasrec.config import DataConfig, NASRecConfig, SupernetConfig
    from tfnas.nasrec.pipeline import Pipeline
    cfg = NASRecConfig(run_dir=str(tmp_path / "run"),
                       data=DataConfig(dir=str(tmp_path / "data"), synthetic=True, synthetic_rows=2000),
                       supernet=SupernetConfig(batch_size=100, epochs=2.5, warmup_fraction=0.1, steps=7))
    steps, warmup = Pipeline(cfg, progress=False).supernet_budget()
    n = Pipeline(cfg, progress=False).data.num_batches("train", 100)
    assert steps == round(2.5 * n) and warmup == round(0.1 * steps) and n >= 15
