"""Edge shrinking stops exactly at round(keep_fraction × edges), its progress total ends at the trials run,
and the best cell so far is on disk after every trial (issue 15 item 4)."""
import json
import math
import os

import pytest

from tfnas.autoshrink.cell import full_cnn_cell, full_rnn_cell
from tfnas.autoshrink.stopping import ExactEdgeShrinking
from tfnas.search.shrinking import EdgeShrinking
from tfnas.space import Evaluator, Result


class FlopsOnly(Evaluator):
    """Cost-only score (analytic RNN-cell FLOPs, nothing trained): cheaper cells win, so removals that make
    a node unreachable (and prune its out-edges) are preferred: the case that overshot the target."""

    def evaluate(self, arch):
        from tfnas.autoshrink.rnn import rnn_cell_flops
        flops = rnn_cell_flops(arch, 16, 16)
        return Result({"score": -math.log10(flops) + 1e-4 * sum(u for u, _ in arch.edges)}, {"flops": flops})


def _run(strategy, evaluator=None):
    evaluator = evaluator or FlopsOnly()
    totals = [strategy.total_trials]
    while not strategy.done:
        trial = strategy.ask()
        strategy.tell(trial.id, evaluator.evaluate(trial.arch))
        totals.append(strategy.total_trials)
    return totals


@pytest.mark.parametrize("nodes,fraction", [(5, 0.3), (5, 0.1), (5, 0.5), (5, 0.75), (6, 0.2), (6, 0.4), (7, 0.0)])
def test_shrinking_ends_at_exactly_the_kept_fraction(nodes, fraction):
    arch = full_rnn_cell(nodes, seed=0)
    strategy = ExactEdgeShrinking(arch, candidates_per_step=3, keep_fraction=fraction, seed=0)
    target = round(fraction * arch.num_edges())
    totals = _run(strategy)
    assert strategy.current.num_edges() == target == strategy.target_edges
    assert strategy.steps[-1]["edges_left"] == target
    # the progress total is an upper bound that never grows and ends at the trials actually run
    assert all(b <= a for a, b in zip(totals, totals[1:])), totals
    assert totals[-1] == len(strategy.history) == sum(len(s["candidates"]) for s in strategy.steps)


def test_the_core_strategy_overshoots_where_the_exact_one_does_not():
    """The regression of issue 15: keep 0.3 of 10 edges (target 3) ended below 3 with plain EdgeShrinking."""
    arch = full_rnn_cell(5, seed=0)
    plain = EdgeShrinking(arch, candidates_per_step=3, keep_fraction=0.3, seed=0)
    _run(plain)
    exact = ExactEdgeShrinking(arch, candidates_per_step=3, keep_fraction=0.3, seed=0)
    _run(exact)
    assert plain.current.num_edges() < 3 == exact.current.num_edges()


class Snooping(Evaluator):
    """Before each evaluation, reads the best cell on disk: it must be the best of the trials told so far."""

    def __init__(self, out):
        self.out, self.seen, self.inner = out, [], FlopsOnly()

    def evaluate(self, arch):
        path = os.path.join(self.out, "best.json")
        if os.path.exists(path):
            with open(path) as f:
                self.seen.append(json.load(f)["metrics"]["score"])
            with open(os.path.join(self.out, "best_cell.json")) as f:
                json.load(f)
        else:
            self.seen.append(None)
        return self.inner.evaluate(arch)


def test_best_cell_written_after_every_trial_and_bar_total(tmp_path, capsys):
    from tfnas.autoshrink.shrink import run_shrinking
    out = str(tmp_path / "run")
    ev = Snooping(out)
    strategy = run_shrinking(ExactEdgeShrinking(full_cnn_cell(5, seed=0), candidates_per_step=3, keep_fraction=0.3),
                             ev, out, progress=True, plots=False)
    scores = [r.result.get("score") for r in strategy.history]
    assert ev.seen[0] is None
    assert ev.seen[1:] == [max(scores[:i]) for i in range(1, len(scores))]
    n = len(strategy.history)
    assert f"{n}/{n}" in capsys.readouterr().err          # the bar ends full, at the trials run
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    assert os.listdir(os.path.join(out, "tensorboard", "search"))   # TensorBoard scalars of the search
