"""Failure-tolerant search: raising / NaN / too-slow candidates become FAILED records in both runners."""
import json
import math
import time

import pytest

from core_toy import ChainEvaluator, ChainSpace
from tfnas.search.evolution import RegularizedEvolution
from tfnas.search.failures import FailurePolicy, SearchFailed
from tfnas.search.loop import run_search
from tfnas.search.random import RandomSearch
from tfnas.space import Objective, Result


class FlakyEvaluator(ChainEvaluator):
    """Raises when node 0 is op 'a' width 1, NaN loss when op 'c' width 1, sleeps when op 'a' width 2."""

    def __init__(self, sleep=0.0):
        super().__init__()
        self.sleep = sleep

    def evaluate(self, arch):
        op, width = arch.op(0), arch.attrs(0)["width"]
        if op == "a" and width == 1:
            raise ValueError("bad candidate")
        result = super().evaluate(arch)
        if op == "c" and width == 1:
            return Result({"loss": math.nan}, result.cost)
        if self.sleep and op == "a" and width == 2:
            time.sleep(self.sleep)
        return result


def kind(arch):
    op, width = arch.op(0), arch.attrs(0)["width"]
    return {("a", 1): "raise", ("c", 1): "nan", ("a", 2): "slow"}.get((op, width), "ok")


def evolution(**kw):
    return RegularizedEvolution(ChainSpace(), Objective("loss", "min"), population_size=8, sample_size=3,
                                children_per_generation=4, generations=6, seed=7, **kw)


def check_records(strategy, slow_fails):
    kinds = [kind(r.trial.arch) for r in strategy.history]
    assert {"raise", "nan", "ok"} <= set(kinds)
    for r, k in zip(strategy.history, kinds):
        failing = k in ("raise", "nan") or (k == "slow" and slow_fails)
        assert r.failed == failing, (k, r)
        assert "eval_seconds" in r.result.cost
        if k == "raise":
            assert "ValueError: bad candidate" in r.error
        if k in ("nan", "ok"):
            assert "flops" in r.result.cost  # costs kept even for a NaN result
    assert not strategy.best().failed and all(not r.failed for r in strategy.top_k(5))


def test_loop_records_failures_and_goes_on(tmp_path):
    ckpt = tmp_path / "s.json"
    s = run_search(evolution(), FlakyEvaluator(), checkpoint_path=str(ckpt), progress=False,
                   policy=FailurePolicy(max_consecutive_failures=None))
    assert s.done and len(s.history) == 8 + 6 * 4
    check_records(s, slow_fails=False)
    saved = json.load(open(ckpt))["history"]
    assert [h["status"] for h in saved] == [r.status for r in s.history]
    # evolution never mutates a failed parent
    failed_ids = {r.trial.id for r in s.history if r.failed}
    assert not failed_ids & {r.trial.info.get("parent") for r in s.history}


def test_time_limit_fails_a_slow_candidate():
    s = RandomSearch(ChainSpace(), Objective("loss"), num_trials=30, seed=3)
    start = time.perf_counter()
    run_search(s, FlakyEvaluator(sleep=2.0), progress=False, policy=FailurePolicy(timeout_s=0.3,
                                                                                   max_consecutive_failures=None))
    slow = [r for r in s.history if kind(r.trial.arch) == "slow"]
    assert slow and all(r.failed and "TimeoutError" in r.error for r in slow)
    assert time.perf_counter() - start < 2.0 * len(slow)
    check_records(s, slow_fails=True)


def test_consecutive_failures_stop_the_search():
    class Always(ChainEvaluator):
        def evaluate(self, arch):
            raise RuntimeError(f"boom {arch.op(0)}")

    s = RandomSearch(ChainSpace(), Objective("loss"), num_trials=20, seed=0)
    with pytest.raises(SearchFailed, match=r"3 candidates failed in a row.*last: trial 2: RuntimeError: boom"):
        run_search(s, Always(), progress=False, policy=FailurePolicy(max_consecutive_failures=3))
    assert len(s.history) == 3 and all(r.failed for r in s.history)


def test_trial_pending_at_kill_is_not_retried_forever(tmp_path):
    first = RandomSearch(ChainSpace(), Objective("loss"), num_trials=6, seed=0).ask().arch

    class Killer(ChainEvaluator):
        def evaluate(self, arch):
            if arch == first:
                raise KeyboardInterrupt  # the process dies during this candidate's evaluation
            return super().evaluate(arch)

    ckpt = str(tmp_path / "s.json")
    policy = FailurePolicy(max_attempts=2)
    make = lambda: RandomSearch(ChainSpace(), Objective("loss"), num_trials=6, seed=0)  # noqa: E731
    for _ in range(2):  # killed twice on the same trial
        with pytest.raises(KeyboardInterrupt):
            run_search(make(), Killer(), checkpoint_path=ckpt, progress=False, policy=policy)
    assert json.load(open(ckpt + ".attempts")) == {"trial": 0, "started": 2}
    s = run_search(make(), ChainEvaluator(), checkpoint_path=ckpt, progress=False, policy=policy)
    assert s.done and len(s.history) == 6
    assert s.history[0].failed and "handed out 2 times" in s.history[0].error
    assert not any(r.failed for r in s.history[1:])


def test_ask_many_hands_out_a_generation():
    s = evolution()
    first = s.ask_many(20)
    assert [t.id for t in first] == list(range(8))  # the initial population, then it must wait
    assert s.ask_many(3) == []
    for t in first:
        s.tell(t.id, ChainEvaluator().evaluate(t.arch))
    assert len(s.ask_many(10)) == 4  # one generation of children


def test_keras_tuner_runner_records_failures_and_costs(tmp_path):
    from tfnas.search.oracle import EvaluatorTuner, StrategyOracle
    s = evolution()
    tuner = EvaluatorTuner(StrategyOracle(s, policy=FailurePolicy(timeout_s=0.3, max_consecutive_failures=None)),
                           FlakyEvaluator(sleep=1.0), directory=str(tmp_path), project_name="flaky",
                           overwrite=True)
    tuner.search()
    assert s.done and len(s.history) == 8 + 6 * 4
    check_records(s, slow_fails=True)
    ok = [r for r in s.history if not r.failed]
    assert all(r.result.cost["flops"] > 0 and "cost_flops" not in r.result.metrics for r in ok)


def test_shrinking_step_whose_candidates_all_fail_is_redrawn():
    from tfnas.graph import Architecture
    from tfnas.search.shrinking import EdgeShrinking

    class FailSmall(ChainEvaluator):
        def evaluate(self, arch):
            if arch.num_edges() < 5:
                raise ValueError("too small")
            return Result({"score": float(arch.num_edges())})

    dense = Architecture([(i, {"op": "a"}) for i in range(4)], [(i, j) for i in range(4) for j in range(i + 1, 4)])
    s = EdgeShrinking(dense, candidates_per_step=2, keep_fraction=0.2, seed=0)
    run_search(s, FailSmall(), progress=False, max_trials=8, policy=FailurePolicy(max_consecutive_failures=None))
    assert len(s.steps) == 1 and s.current.num_edges() == 5  # the one removal with a usable candidate
    assert len(s.history) == 8 and all(r.failed for r in s.history[2:]) and not s.done
