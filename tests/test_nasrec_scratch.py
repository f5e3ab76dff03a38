"""search.scorer "scratch" (beyond the paper): full+ext searched end to end with `tfnas nasrec run` on a tiny
copy of configs/nasrec_ext_demo.json (seeded with DeepFM and DCN-v2), a resumed scratch-scored search equal to
the uninterrupted one, and the config errors (supernet + full+ext refused at load, before data is written)."""
import json
import os

import pytest

from tfnas.nasrec.config import NASRecConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "nasrec_ext_demo.json")


def tiny_ext_config(root: str) -> dict:
    """configs/nasrec_ext_demo.json (full+ext, 6 blocks, both baselines seeded) at a tiny size."""
    with open(DEMO) as f:
        d = json.load(f)
    d["run_dir"] = os.path.join(root, "run")
    d["data"].update(dir=os.path.join(root, "data"), synthetic_rows=3000, synthetic_seed=1)
    d["search"].update(population_size=4, sample_size=2, children_per_generation=2, generations=1)
    d["scratch"] = {"steps": 4, "batch_size": 128, "eval_batch_size": 512, "eval_steps": 1, "seed": 0}
    d["retrain"].update(top_k=2, epochs=1, steps_per_epoch=6, batch_size=128, eval_batch_size=1024,
                        baselines=["deepfm"], references=[], seeds=[0, 1])
    d["export"].update(name="nasrec_ext_tiny", root=os.path.join(root, "saved_models"))
    return d


def _write(path, d) -> str:
    with open(path, "w") as f:
        json.dump(d, f)
    return str(path)


def _rows(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [(r["id"], r["generation"], r["fingerprint"], r["seeded"], r["logloss"], r["auc"]) for r in rows]


@pytest.fixture(scope="module")
def ext_run(tmp_path_factory):
    from tfnas.cli import main
    root = str(tmp_path_factory.mktemp("nasrec_scratch"))
    path = _write(os.path.join(root, "ext_tiny.json"), tiny_ext_config(root))
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["nasrec", "run", "--config", path, "--no-progress"])
    assert rc == 0, out.getvalue()
    return path, out.getvalue()


def test_ext_demo_config_runs_end_to_end(ext_run):
    from tfnas.nasrec.search import CANDIDATES_FILE, load_candidates
    cfg, printed = NASRecConfig.load(ext_run[0]), ext_run[1]
    assert cfg.search.scorer == "scratch" and cfg.space.kind == "full+ext"
    assert not os.path.exists(os.path.join(cfg.run_dir, "supernet"))   # skipped: no supernet is trained
    rows = load_candidates(os.path.join(cfg.run_dir, "search"))
    assert len(rows) == 6 and [r["seeded"] for r in rows] == [True, True, False, False, False, False]
    assert [r["architecture"].meta.get("baseline") for r in rows[:2]] == ["deepfm", "dcnv2"]
    assert all(0.0 < r["logloss"] < 2.0 and r["flops"] > 0 for r in rows)
    assert os.path.exists(os.path.join(cfg.run_dir, "search", CANDIDATES_FILE))
    with open(os.path.join(cfg.run_dir, "retrain", "results.json")) as f:
        results = json.load(f)
    cands = sorted(k for k, v in results.items() if v.get("kind") == "nasrec")
    assert len(cands) == 2 and "deepfm" in results
    with open(os.path.join(cfg.run_dir, "seeding.json")) as f:
        seeding = json.load(f)
    assert set(seeding["candidates"]) == set(cands) and seeding["retrain_seeds"] == 2
    non_seeded = sum(seeding["candidates"][w]["lineage"] == "non-seeded"
                     for w in seeding["winner_per_seed"].values())
    assert seeding["non_seeded_wins"] == non_seeded
    assert f"a non-seeded architecture won {non_seeded} of 2 retrain seeds" in printed
    assert "search scorer: scratch" in printed and "exported:" in printed
    with open(os.path.join(cfg.run_dir, "export.json")) as f:
        assert json.load(f)["reload_max_abs_diff"] < 1e-5


def test_resumed_scratch_search_equals_uninterrupted(ext_run, tmp_path):
    """Killed after 2 and resumed (a new evaluator, as in a new process): the same candidates and scores."""
    from tfnas.nasrec.pipeline import Pipeline
    from tfnas.nasrec.search import CANDIDATES_FILE, load_candidates, run_nasrec_search
    cfg = NASRecConfig.load(ext_run[0])
    uninterrupted = os.path.join(cfg.run_dir, "search", CANDIDATES_FILE)
    cfg.run_dir = str(tmp_path / "resumed")
    pipe = Pipeline(cfg, progress=False)
    out = pipe.path("search")
    part = run_nasrec_search(cfg.search, pipe.space, pipe.evaluator(), out, max_trials=2, progress=False)
    assert not part.done
    again = Pipeline(cfg, progress=False)
    run_nasrec_search(cfg.search, again.space, again.evaluator(), out, progress=False)
    assert _rows(os.path.join(out, CANDIDATES_FILE)) == _rows(uninterrupted)
    # a score depends on the architecture alone, not on what was trained before it
    row = load_candidates(out)[0]
    assert again.evaluator().score(row["architecture"])["logloss"] == row["logloss"]


def test_scorer_errors_name_the_field_before_data_is_written(tmp_path, capsys):
    from tfnas.cli import main
    d = tiny_ext_config(str(tmp_path))
    d["search"]["scorer"] = "supernet"
    path = _write(tmp_path / "supernet_ext.json", d)
    with pytest.raises(ValueError, match=r"search.scorer 'supernet' cannot score space.kind 'full\+ext'.*"
                                         r"set search.scorer to 'scratch'"):
        NASRecConfig.load(path)
    assert main(["nasrec", "run", "--config", path, "--no-progress"]) == 1
    assert "search.scorer 'supernet'" in capsys.readouterr().err
    assert not os.path.exists(d["data"]["dir"]) and not os.path.exists(d["run_dir"])
    with pytest.raises(ValueError, match=r"search.scorer 'supernet' cannot score"):   # built in code, too
        from tfnas.nasrec.pipeline import Pipeline
        cfg = NASRecConfig.from_dict(tiny_ext_config(str(tmp_path)))
        cfg.search.scorer = "supernet"
        Pipeline(cfg)
    assert not os.path.exists(d["run_dir"])
    for section, field, value, match in [("search", "scorer", "fast", r"search.scorer must be one of"),
                                         ("scratch", "steps", -1, r"scratch.steps must be >= 0, got -1"),
                                         ("scratch", "eval_batch_size", 0, r"scratch.eval_batch_size must be >= 1")]:
        bad = tiny_ext_config(str(tmp_path))
        bad[section][field] = value
        with pytest.raises(ValueError, match=match):
            NASRecConfig.from_dict(bad)
    # the paper's spaces may use either scorer (scratch scoring of NASRec-Full is an ablation)
    ok = tiny_ext_config(str(tmp_path))
    ok["space"]["kind"], ok["search"]["seed_baselines"] = "full", []
    assert NASRecConfig.from_dict(ok).search.scorer == "scratch"
