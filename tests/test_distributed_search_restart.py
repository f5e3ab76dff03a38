"""A keras-tuner chief SIGKILLed mid-search while both workers are evaluating (tfnas.search.distributed):
`Cluster` restarts it, it resumes from its saved oracle state, the two trials in flight are reported to the new
chief by the workers that hold them (not reissued as new trials, not evaluated twice), every trial is evaluated
and told exactly once, and the best architecture equals the sequential run with the same seed."""
import json
import os
import signal
import time

import pytest

from core_toy import ChainEvaluator, ChainSpace
from killing import run_beside
from tfnas.search.evolution import RegularizedEvolution
from tfnas.search.loop import run_search
from tfnas.space import Evaluator, Objective

HERE = os.path.abspath(__file__)


class StampedEvaluator(Evaluator):
    """ChainEvaluator that sleeps `sleep_s` and logs each start/end (tuner id, pid, architecture key)."""

    def __init__(self, log, sleep_s=0.0):
        self.inner, self.log, self.sleep_s = ChainEvaluator(), log, sleep_s

    def _write(self, event, arch):
        with open(self.log, "a") as f:
            f.write(json.dumps({"event": event, "tuner": os.environ.get("KERASTUNER_TUNER_ID", "seq"),
                                "pid": os.getpid(), "arch": arch.key()}) + "\n")

    def evaluate(self, arch):
        self._write("start", arch)
        time.sleep(self.sleep_s)
        result = self.inner.evaluate(arch)
        self._write("end", arch)
        return result


def make_search(log, sleep_s=0.0, seed=11):
    strategy = RegularizedEvolution(ChainSpace(), Objective("loss", "min"), population_size=6, sample_size=3,
                                    children_per_generation=4, generations=2, mutations_start=2, mutations_end=1,
                                    seed=seed)
    return strategy, StampedEvaluator(log, sleep_s)


def _events(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def _in_flight(events):
    """{tuner id: architecture key} of the evaluations started and not yet ended."""
    open_ = {}
    for e in events:
        if e["event"] == "start":
            open_[e["tuner"]] = e["arch"]
        else:
            open_.pop(e["tuner"], None)
    return open_


def _oracle(directory, log):
    """A StrategyOracle on `directory` as a (re)started chief builds it (reloads what is there)."""
    from tfnas.search.oracle import StrategyOracle
    strategy, _ = make_search(log)
    oracle = StrategyOracle(strategy, max_trials=strategy.total_trials)
    oracle._set_project_dir(directory, "search")
    if os.path.exists(os.path.join(directory, "search", "oracle.json")):
        oracle.reload()
    return oracle


def _end(oracle, trial, loss):
    from keras_tuner.src.engine.trial import TrialStatus
    oracle.update_trial(trial.trial_id, {"loss": loss})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)


def test_restarted_chief_gives_ongoing_trials_back_to_their_workers(tmp_path):
    """In one process: the oracle a restarted chief reloads keeps both ongoing trials with their tuner ids, hands
    a third worker a new trial, takes the held trials' results once (a repeated end_trial is ignored)."""
    d, log = str(tmp_path), str(tmp_path / "log")
    first = _oracle(d, log)
    a, b = first.create_trial("worker0"), first.create_trial("worker1")
    _end(first, first.create_trial("worker2"), 3.0)
    del first   # the chief is killed here: its last state is on disk

    chief = _oracle(d, log)
    assert {k: t.trial_id for k, t in chief.ongoing_trials.items()} == {"worker0": a.trial_id,
                                                                       "worker1": b.trial_id}
    assert chief.create_trial("worker0").trial_id == a.trial_id        # a restarted worker0 gets its trial back
    fresh = chief.create_trial("worker2")
    assert fresh.trial_id not in (a.trial_id, b.trial_id)              # not reissued to another worker
    assert int(fresh.hyperparameters.get("strategy_trial_id")) == 3
    _end(chief, a, 1.0)
    _end(chief, b, 2.0)
    _end(chief, b, 2.0)                                                # worker1 repeats its call: ignored
    assert sorted(r.trial.id for r in chief.strategy.history) == [0, 1, 2]
    assert list(chief.ongoing_trials) == ["worker2"] and chief.end_order.count(b.trial_id) == 1
    assert chief.strategy.best().result.metrics == {"loss": 1.0}


@pytest.mark.long   # 4 TF processes (chief twice, 2 workers): ~60 CPU s, over the CI budget (make test-long)
def test_chief_killed_mid_search_resumes_without_losing_or_repeating_a_trial(tmp_path):
    from tfnas.search import distributed as D

    seq, seq_eval = make_search(str(tmp_path / "seq.jsonl"))
    run_search(seq, seq_eval)

    log = str(tmp_path / "dist.jsonl")
    cluster = D.Cluster(f"{HERE}:make_search", {"log": log, "sleep_s": 0.8}, str(tmp_path / "dist"), workers=2)
    seen = {}

    def killer():   # SIGKILL the chief once 3 evaluations ended and both workers are inside one
        end = time.monotonic() + 300
        while time.monotonic() < end:
            events = _events(log)
            flight = _in_flight(events)
            if sum(e["event"] == "end" for e in events) >= 3 and len(flight) == 2:
                seen["in_flight"] = flight
                seen["chief_pid"] = cluster.procs["chief"].pid
                os.kill(seen["chief_pid"], signal.SIGKILL)
                return
            time.sleep(0.01)

    dist = run_beside(lambda: cluster.run(timeout=240), killer, cluster.stop)
    assert "in_flight" in seen, "the chief was never killed with both workers mid-evaluation"
    assert cluster.restarts == {"chief": 1, "worker0": 0, "worker1": 0}, cluster.restarts

    total = seq.total_trials
    assert len(dist.history) == total and not dist.pending and dist.done
    assert sorted(r.trial.id for r in dist.history) == list(range(total))          # each trial told once
    assert [r.trial.arch.key() for r in sorted(dist.history, key=lambda r: r.trial.id)] == \
        [r.trial.arch.key() for r in seq.history]                                  # same proposals
    assert dist.best().trial.arch.key() == seq.best().trial.arch.key()
    assert dist.best().result.metrics == seq.best().result.metrics
    assert not any(r.failed for r in dist.history)

    events = _events(log)
    keys = sorted(r.trial.arch.key() for r in dist.history)
    assert sorted(e["arch"] for e in events if e["event"] == "start") == keys      # none evaluated twice
    assert sorted(e["arch"] for e in events if e["event"] == "end") == keys        # none lost
    for tuner, key in seen["in_flight"].items():   # the trials in flight at the kill ran once, on their worker
        runs = [e["tuner"] for e in events if e["arch"] == key and e["event"] == "start"]
        assert tuner in runs and len(runs) == keys.count(key)
    project = tmp_path / "dist" / "search"
    assert len(list(project.glob("trial_*/trial.json"))) == total                  # no trial reissued as new
    with open(project / "oracle.json") as f:
        state = json.load(f)
    assert sorted(state["end_order"]) == sorted(state["start_order"]) and len(state["end_order"]) == total
    assert state["ongoing_trials"] == {} and state["retry_queue"] == []
    for pid in [p.pid for p in cluster.procs.values()] + [seen["chief_pid"]]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


LAUNCHER = r"""
import sys
from tfnas.search.distributed import launch
launch(sys.argv[1] + ":make_search", {"log": sys.argv[2], "sleep_s": 5.0}, sys.argv[3], workers=2)
"""


@pytest.mark.long   # 3 TF child processes started and left to die: ~30-60 s on 2 cores (make test-long)
def test_children_of_a_killed_launcher_exit(tmp_path):
    """SIGKILL the process running `launch` while its workers evaluate: the chief and both workers exit on their
    own within seconds (else a re-run's new chief would share the project with the old one)."""
    import subprocess
    import sys

    log, work = str(tmp_path / "log.jsonl"), tmp_path / "dist"
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, HERE, log, str(work)])
    try:
        end = time.monotonic() + 240
        while len(_in_flight(_events(log))) < 2:
            assert time.monotonic() < end and launcher.poll() is None, "the workers never started evaluating"
            time.sleep(0.05)
        with open(work / "cluster.json") as f:
            pids = json.load(f)["pids"]
        launcher.kill()
        launcher.wait()
        end = time.monotonic() + 20
        alive = dict(pids)
        while alive and time.monotonic() < end:
            for name, pid in list(alive.items()):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    del alive[name]
            time.sleep(0.1)
        assert not alive, f"still running 20 s after their launcher was killed: {alive}"
        assert not [e for e in _events(log) if e["event"] == "end"]   # they stopped mid-evaluation
    finally:
        if launcher.poll() is None:
            launcher.kill()
