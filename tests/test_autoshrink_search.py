"""Edge shrinking: each step removes the best-scoring candidate (real tiny proxy training), and resumes."""
import json
import math
import os

import pytest

from tfnas.autoshrink.cell import active_edges, full_cnn_cell, full_rnn_cell
from tfnas.graph import Architecture
from tfnas.search.shrinking import EdgeShrinking, RandomEdgeRemoval
from tfnas.space import Evaluator, Result


class CellFlopsEvaluator(Evaluator):
    """A cost-only evaluator (analytic RNN-cell FLOPs, nothing trained): cheap, deterministic, real."""

    def evaluate(self, arch):
        from tfnas.autoshrink.rnn import rnn_cell_flops
        flops = rnn_cell_flops(arch, 16, 16)
        # prefer removing edges into high-numbered nodes: a fixed, known preference to check the choice
        tie = sum(v for _, v in active_edges(arch))
        return Result({"score": -math.log10(flops) + 1e-3 * tie}, {"flops": flops})


def test_shrinking_logic_full_run_and_state_round_trip():
    arch = full_rnn_cell(8, seed=0)
    strategy = EdgeShrinking(arch, candidates_per_step=10, keep_fraction=0.01, seed=1)
    assert strategy.target_edges == round(0.01 * 28) == 0
    ev, asked = CellFlopsEvaluator(), 0
    while not strategy.done:
        trial = strategy.ask()
        # a fresh strategy restored from the JSON state proposes exactly the same next trial
        clone = EdgeShrinking(arch, candidates_per_step=10, keep_fraction=0.01, seed=1)
        clone.restore(json.loads(json.dumps(strategy.state())))
        assert clone.ask().arch == trial.arch
        strategy.tell(trial.id, ev.evaluate(trial.arch))
        asked += 1
    steps = strategy.steps
    assert [s["edges_before"] for s in steps][0] == 28 and steps[-1]["edges_left"] == 0
    for s in steps:
        assert len(s["candidates"]) == min(10, s["edges_before"])
        best = max(s["candidates"], key=lambda c: c["score"])
        assert s["removed"] == best["edge"] and s["edges_left"] < s["edges_before"]
    assert asked == sum(len(s["candidates"]) for s in steps) <= strategy.total_trials


def test_random_edge_removal_baseline_budget():
    arch = full_cnn_cell(5, seed=0)
    base = RandomEdgeRemoval(arch, num_trials=13, keep_fraction=0.0, seed=0)
    sizes = []
    while not base.done:
        t = base.ask()
        sizes.append(t.arch.num_edges())
        base.tell(t.id, CellFlopsEvaluator().evaluate(t.arch))
    assert len(sizes) == 13 and max(sizes) < 10 and min(sizes) == 0


class Interrupting(Evaluator):
    """Delegates to a real evaluator and counts calls; raises KeyboardInterrupt on call number `kill_at`."""

    def __init__(self, inner, kill_at=None):
        self.inner, self.kill_at, self.calls = inner, kill_at, 0

    def evaluate(self, arch):
        self.calls += 1
        if self.calls == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        return self.inner.evaluate(arch)


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory):
    """A 3-node cell shrunk from 3 edges to 1 with k=2 on a tiny digits proxy, killed once and resumed."""
    from tfnas.autoshrink.cnn import Macro
    from tfnas.autoshrink.data import load_images, proxy_subset
    from tfnas.autoshrink.shrink import CnnProxyEvaluator, run_shrinking
    from tfnas.autoshrink.train import ProxyTraining
    data = proxy_subset(load_images("digits", 8), train_per_class=30, val_per_class=15)
    real = CnnProxyEvaluator(data, Macro(scales=(0.5,), replicate=(1,), pools=(1,), stem_filters=8),
                             ProxyTraining(epochs=2, batch_size=64))
    out = str(tmp_path_factory.mktemp("shrink"))
    arch = full_cnn_cell(3, seed=0)

    def make():
        return EdgeShrinking(arch, candidates_per_step=2, keep_fraction=0.34, seed=0)

    first = Interrupting(real, kill_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_shrinking(make(), first, out, progress=False)
    with open(os.path.join(out, "search.json")) as f:
        saved = json.load(f)
    second = Interrupting(real)
    strategy = run_shrinking(make(), second, out, progress=False)
    return {"strategy": strategy, "first": first, "second": second, "saved": saved, "out": out}


def test_shrink_step_removes_best_scoring_candidate(tiny_search):
    from tfnas.autoshrink.shrink import cnn_score
    strategy = tiny_search["strategy"]
    assert strategy.done and 1 <= len(strategy.steps) <= 2 and strategy.current.num_edges() <= 1
    assert len(strategy.history) == sum(len(s["candidates"]) for s in strategy.steps)
    for step in strategy.steps:
        cands = step["candidates"]
        assert len(cands) == min(2, step["edges_before"])
        scores = [c["score"] for c in cands]
        best = cands[scores.index(max(scores))]
        assert step["removed"] == best["edge"]
        for c in cands:
            assert 0.0 < c["metrics"]["accuracy"] <= 1.0 and c["cost"]["macs"] > 0
            assert c["score"] == pytest.approx(cnn_score(c["metrics"]["accuracy"], c["cost"]["macs"]))
        chosen = Architecture.from_dict(step["arch"])
        assert tuple(best["edge"]) not in chosen.edges
    assert os.path.exists(os.path.join(tiny_search["out"], "steps", "step_000.json"))
    assert os.path.exists(os.path.join(tiny_search["out"], "steps.png"))
    best = strategy.best()
    assert best.result.get("score") == max(r.result.get("score") for r in strategy.history)


def test_killed_search_resumes_where_it_stopped(tiny_search):
    saved, strategy = tiny_search["saved"], tiny_search["strategy"]
    assert len(saved["history"]) == 1 and saved["extra"]["steps"] == []        # killed during trial 2
    n = len(strategy.history)
    assert tiny_search["first"].calls == 2 and tiny_search["second"].calls == n - 1  # trial 0 not redone
    assert [r.trial.id for r in strategy.history] == list(range(n))
    first_record = strategy.history[0].to_dict()
    assert first_record["result"] == saved["history"][0]["result"]
    # the step-0 candidates drawn before the kill are the ones evaluated after the resume
    drawn = [saved["history"][0]["trial"]["info"]["edge"]] + saved["extra"]["queue"]
    assert [c["edge"] for c in strategy.steps[0]["candidates"]] == drawn


class PeakedEvaluator(Evaluator):
    """Score peaks at 5 edges: the best graph is met mid-search, the last steps only get worse."""

    def evaluate(self, arch):
        n = arch.num_edges()
        return Result({"score": -float((n - 5) ** 2) + 1e-3 * sum(v for _, v in arch.edges)}, {"edges": n})


def test_best_is_best_scoring_graph_seen_not_last_step(tmp_path):
    from tfnas.autoshrink.shrink import run_shrinking
    arch = full_rnn_cell(6, seed=0)
    strategy = run_shrinking(EdgeShrinking(arch, candidates_per_step=4, keep_fraction=0.0, seed=0),
                             PeakedEvaluator(), str(tmp_path / "s"), progress=False, plots=False)
    assert strategy.current.num_edges() == 0
    best = strategy.best()
    assert best.trial.arch.num_edges() == 5
    assert best.result.get("score") == max(s["best_score"] for s in strategy.steps)
    assert Architecture.load(str(tmp_path / "s" / "best_cell.json")) == best.trial.arch
    # the random baseline trains exactly the budget it is given
    rand = run_shrinking(RandomEdgeRemoval(arch, num_trials=len(strategy.history), keep_fraction=0.0, seed=0),
                         PeakedEvaluator(), str(tmp_path / "r"), progress=False, plots=False)
    assert len(rand.history) == len(strategy.history)
