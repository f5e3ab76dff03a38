"""NASRec search half: config file, supernet evaluator (fine-tune restores the head), resumable evolution,
the keras-tuner Oracle adapter, and the search outputs (candidates.jsonl, PNGs)."""
import json
import math
import os

import numpy as np
import pytest

from tfnas.nasrec.config import NASRecConfig, SearchConfig
from tfnas.nasrec.space import NASRecSpace
from tfnas.space import Evaluator, Result


# ------------------------------------------------------------------------------------------ config
def test_config_roundtrip_and_errors(tmp_path):
    cfg = NASRecConfig()
    assert (cfg.search.population_size, cfg.search.sample_size, cfg.search.children_per_generation,
            cfg.search.generations, cfg.search.mutations_start, cfg.search.mutations_end) == (128, 64, 8, 240, 6, 1)
    cfg.search.generations = 3
    path = tmp_path / "c.json"
    cfg.save(str(path))
    assert NASRecConfig.load(str(path)) == cfg
    (tmp_path / "bad.json").write_text('{"search": {"generatons": 3}}')
    with pytest.raises(ValueError, match=r"bad.json.*search.generatons"):
        NASRecConfig.load(str(tmp_path / "bad.json"))
    (tmp_path / "type.json").write_text('{"finetune": {"steps": "many"}}')
    with pytest.raises(ValueError, match=r"type.json.*finetune.steps"):
        NASRecConfig.load(str(tmp_path / "type.json"))
    (tmp_path / "syntax.json").write_text('{\n "run_dir": ,\n}')
    with pytest.raises(ValueError, match=r"syntax.json:2"):
        NASRecConfig.load(str(tmp_path / "syntax.json"))


@pytest.mark.parametrize("name", ["nasrec_demo", "nasrec_small", "nasrec_full"])
def test_shipped_configs_load(name):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = NASRecConfig.load(os.path.join(root, "configs", f"{name}.json"))
    NASRecSpace(cfg.space.kind, num_blocks=cfg.space.num_blocks, **cfg.space.extra)


# ------------------------------------------------------------------------------------------ search
class WidthEvaluator(Evaluator):
    """Cheap deterministic stand-in score: a smooth function of the block widths and ops."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, arch):
        self.calls += 1
        s = 0.0
        for n in range(1, 1 + arch.meta["num_blocks"]):
            a = arch.attrs(n)
            s += abs(math.log2(a["dense_width"]) - 6) + abs(math.log2(a["sparse_width"]) - 5)
            s += 0.5 * (a["dense_op"] != "fc") + 0.3 * a["merge"]
        return Result({"logloss": 0.4 + 0.01 * s, "auc": 0.7}, {"flops": 1000.0 + s})


SMALL_SEARCH = SearchConfig(population_size=6, sample_size=3, children_per_generation=2, generations=4,
                            mutations_start=3, mutations_end=1, seed=3)


def _ids_and_keys(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [(r["id"], r["generation"], r["fingerprint"], r["logloss"]) for r in rows]


def test_evolution_resume_gives_same_search(tmp_path):
    from tfnas.nasrec.search import CANDIDATES_FILE, FLOPS_PNG, PROGRESS_PNG, run_nasrec_search

    space = NASRecSpace("full", num_blocks=3)
    full = run_nasrec_search(SMALL_SEARCH, space, WidthEvaluator(), str(tmp_path / "a"), progress=False)
    assert full.done and len(full.history) == 6 + 4 * 2
    # interrupted after 5 and again after 4 more results, then resumed from the checkpoint
    part = run_nasrec_search(SMALL_SEARCH, space, WidthEvaluator(), str(tmp_path / "b"), max_trials=5,
                             progress=False)
    assert not part.done and not (tmp_path / "b" / CANDIDATES_FILE).exists()
    run_nasrec_search(SMALL_SEARCH, space, WidthEvaluator(), str(tmp_path / "b"), max_trials=4, progress=False)
    ev = WidthEvaluator()
    resumed = run_nasrec_search(SMALL_SEARCH, space, ev, str(tmp_path / "b"), progress=False)
    assert resumed.done and ev.calls == 14 - 9
    a, b = _ids_and_keys(tmp_path / "a" / CANDIDATES_FILE), _ids_and_keys(tmp_path / "b" / CANDIDATES_FILE)
    assert a == b
    assert [g for _, g, _, _ in a] == [-1] * 6 + [0, 0, 1, 1, 2, 2, 3, 3]
    for png in (PROGRESS_PNG, FLOPS_PNG):
        assert (tmp_path / "b" / png).stat().st_size > 1000


def test_oracle_adapter_runs_trials(tmp_path):
    from tfnas.nasrec.search import load_candidates, run_nasrec_search, top_candidates

    space = NASRecSpace("small", num_blocks=2)
    cfg = SearchConfig(population_size=4, sample_size=2, children_per_generation=2, generations=2, seed=1)
    ev = WidthEvaluator()
    strategy = run_nasrec_search(cfg, space, ev, str(tmp_path), runner="keras_tuner", progress=False)
    assert strategy.done and ev.calls == 8 and len(strategy.history) == 8
    rows = load_candidates(str(tmp_path))
    assert len(rows) == 8 and all(space.contains(r["architecture"]) for r in rows)
    best = top_candidates(rows, 3)
    assert [r["logloss"] for r in best] == sorted(r["logloss"] for r in best)
    assert best[0]["logloss"] == min(r["logloss"] for r in rows)
    assert (tmp_path / "keras_tuner").is_dir()


# ------------------------------------------------------------------------------------------ evaluator
@pytest.fixture(scope="module")
def tiny_supernet():
    import tensorflow as tf
    from pipelines.ctr.schema import FeatureSpec
    from tfnas.nasrec.supernet import NASRecSupernet

    spec = FeatureSpec.uniform(3, 4, 50)
    rng = np.random.default_rng(0)
    n = 1024
    dense = rng.random((n, 3)).astype("float32")
    sparse = rng.integers(0, 50, (n, 4))
    logit = 2.0 * dense[:, 0] - 1.0 + 0.8 * (sparse[:, 1] % 3 == 0)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices({"dense": dense, "sparse": sparse, "label": label})
    net = NASRecSupernet(spec, "full", 1, dense_widths=(16, 32), sparse_widths=(16,), seed=0)
    net(next(iter(ds.batch(2))))
    return net, spec, ds


def test_evaluator_finite_and_restores_head(tiny_supernet):
    from tfnas.nasrec.config import FinetuneConfig
    from tfnas.nasrec.evaluate import SupernetEvaluator

    net, spec, ds = tiny_supernet
    space = NASRecSpace("full", 1, dense_widths=(16, 32), sparse_widths=(16,))
    a, b = space.sample(np.random.default_rng(1)), space.sample(np.random.default_rng(2))
    ft = FinetuneConfig(steps=15, batch_size=64, learning_rate=0.1, eval_batch_size=256, eval_steps=2)
    ev = SupernetEvaluator(net, ds.shuffle(1024, seed=0).batch(64).repeat(), ds.batch(256), ft)
    head_before = [v.numpy().copy() for v in net.head_variables()]
    first = ev.evaluate(a).metrics
    other = ev.evaluate(b).metrics
    second = ev.evaluate(a).metrics
    assert np.isfinite(first["logloss"]) and 0 <= first["auc"] <= 1
    assert first == second                     # b's fine-tuning did not leak into a's score
    assert ev.evaluate(b).metrics == other     # nor a's into b's
    for v, w in zip(net.head_variables(), head_before):
        np.testing.assert_array_equal(v.numpy(), w)
    # the ablation (no fine-tuning) scores the untouched head, which differs from the fine-tuned one
    plain = ev.score(a, finetune=False)
    assert np.isfinite(plain["logloss"]) and plain["logloss"] != first["logloss"]
    assert ev.evaluate(a).metrics == first


def test_flops_cache_counts_the_same_flops_with_tiny_tables(tmp_path):
    """Lookups cost no FLOPs, so the cache may profile a tiny-table twin; params still come from the real model."""
    from pipelines.ctr.schema import FeatureSpec
    from tfnas import metrics as tfm
    from tfnas.nasrec.evaluate import FlopsCache
    from tfnas.nasrec.subnet import build_subnet

    spec = FeatureSpec.uniform(3, 4, 1000)
    arch = NASRecSpace("full", 2, dense_widths=[16, 32], sparse_widths=[16]).sample(np.random.default_rng(3))
    cache = FlopsCache(lambda a: build_subnet(a, spec), str(tmp_path / "flops.json"),
                       build_for_flops=lambda a: build_subnet(a, spec.with_cap(2)))
    got = cache(arch)
    real = build_subnet(arch, spec)
    assert got["flops"] == tfm.flops_per_example(real)
    assert got["params"] == tfm.count_params(real)
    assert json.load(open(tmp_path / "flops.json"))[arch.fingerprint()] == got


def test_evolution_seed_architectures_come_first_and_are_marked(tmp_path):
    import dataclasses

    from tfnas.nasrec.search import CANDIDATES_FILE, load_candidates, run_nasrec_search, seeding_summary
    from tfnas.nasrec.space import BlockSpec

    space = NASRecSpace("full", num_blocks=3)
    # the stand-in evaluator's optimum (fc, widths 64 / 32, no merge): a seed the search cannot beat
    best = space.from_blocks([BlockSpec("fc", "efc", 64, 32, False, False, (i,), (i,)) for i in range(3)])
    other = space.sample(np.random.default_rng(7))
    paths = []
    for name, arch in (("best", best), ("other", other)):
        (tmp_path / f"{name}.json").write_text(arch.to_json())
        paths.append(str(tmp_path / f"{name}.json"))
    cfg = dataclasses.replace(SMALL_SEARCH, seed_architectures=paths)
    strategy = run_nasrec_search(cfg, space, WidthEvaluator(), str(tmp_path / "s"), progress=False)
    rows = load_candidates(str(tmp_path / "s"))
    assert [r["seeded"] for r in rows] == [True, True] + [False] * (len(rows) - 2)
    assert rows[0]["architecture"].key() == best.key() and rows[1]["architecture"].key() == other.key()
    assert len({r["architecture"].key() for r in rows}) == len(rows)  # random draws skip the seeds
    assert strategy.best().trial.id == 0
    assert seeding_summary(rows, 0).endswith("the winner (trial 0) is a seeded architecture")
    assert "a searched architecture (not itself a seed" in seeding_summary(rows, 5)
    # resumed halfway: the same candidates
    run_nasrec_search(cfg, space, WidthEvaluator(), str(tmp_path / "r"), max_trials=3, progress=False)
    run_nasrec_search(cfg, space, WidthEvaluator(), str(tmp_path / "r"), progress=False)
    assert _ids_and_keys(tmp_path / "r" / CANDIDATES_FILE) == _ids_and_keys(tmp_path / "s" / CANDIDATES_FILE)
    # bad seeds: outside the space, missing file, with random search
    small = NASRecSpace("small", num_blocks=3)
    bad = space.from_blocks([BlockSpec("fc", "attn", 64, 32, False, False, (i,), (i,)) for i in range(3)])
    (tmp_path / "bad.json").write_text(bad.to_json())
    with pytest.raises(ValueError, match=r"seed_architectures\[0\] is not in the space.*node 1.*sparse_op"):
        run_nasrec_search(dataclasses.replace(SMALL_SEARCH, seed_architectures=[str(tmp_path / "bad.json")]),
                          small, WidthEvaluator(), str(tmp_path / "x"), progress=False)
    with pytest.raises(ValueError, match=r"seed_architectures\[1\] \(.*nope.json\)"):
        run_nasrec_search(dataclasses.replace(SMALL_SEARCH, seed_architectures=[paths[0], "nope.json"]),
                          space, WidthEvaluator(), str(tmp_path / "y"), progress=False)
    with pytest.raises(ValueError, match="needs search.strategy 'evolution'"):
        run_nasrec_search(dataclasses.replace(cfg, strategy="random"), space, WidthEvaluator(),
                          str(tmp_path / "z"), progress=False)
