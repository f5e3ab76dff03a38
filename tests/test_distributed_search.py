"""keras-tuner chief + 2 workers on localhost (tfnas.search.distributed): every trial told exactly once, the
same best architecture as a sequential run with the same seed, a worker killed mid-trial restarted without
losing or duplicating its trial; every child process is gone after."""
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


class LoggedEvaluator(Evaluator):
    """ChainEvaluator that logs every start/end (tuner id, pid, arch) and sleeps `sleep_s`; the `hang_id` worker's
    second evaluation hangs (after writing `marker`) until the test kills it; a restarted process does not hang."""

    def __init__(self, log, sleep_s=0.0, hang_id=None, marker=None):
        self.inner, self.log, self.sleep_s = ChainEvaluator(), log, sleep_s
        self.hang_id, self.marker, self.count = hang_id, marker, 0

    def _write(self, event, arch):
        line = json.dumps({"event": event, "tuner": os.environ.get("KERASTUNER_TUNER_ID", "seq"),
                           "pid": os.getpid(), "arch": arch.key()})
        with open(self.log, "a") as f:
            f.write(line + "\n")

    def evaluate(self, arch):
        self.count += 1
        if self.count == 1 and self.hang_id:   # a barrier: both workers take part although TF imports take long
            me = os.environ["KERASTUNER_TUNER_ID"]
            open(f"{self.marker}.ready-{me}", "w").close()
            end = time.monotonic() + 240
            while not all(os.path.exists(f"{self.marker}.ready-worker{i}") for i in (0, 1)):
                if time.monotonic() > end:
                    raise TimeoutError("the other worker never started")
                time.sleep(0.05)
        self._write("start", arch)
        if (self.hang_id and os.environ.get("KERASTUNER_TUNER_ID") == self.hang_id and self.count == 2
                and not os.path.exists(self.marker)):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
        time.sleep(self.sleep_s)
        result = self.inner.evaluate(arch)
        self._write("end", arch)
        return result


def make_toy(log, seed=7, sleep_s=0.0, hang_id=None, marker=None):
    strategy = RegularizedEvolution(ChainSpace(), Objective("loss", "min"), population_size=6, sample_size=3,
                                    children_per_generation=3, generations=2, mutations_start=2, mutations_end=1,
                                    seed=seed)
    return strategy, LoggedEvaluator(log, sleep_s, hang_id, marker)


def _events(log):
    with open(log) as f:
        return [json.loads(line) for line in f]


def _wait_for(path, timeout=240):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise TimeoutError(path)
        time.sleep(0.05)


@pytest.mark.long   # 3-4 TF processes: ~50-60 CPU s, over the CI budget (make test-long)
def test_chief_and_two_workers_match_the_sequential_run(tmp_path):
    from tfnas.search import distributed as D

    seq, seq_eval = make_toy(str(tmp_path / "seq.jsonl"))
    run_search(seq, seq_eval)

    work, marker = tmp_path / "dist", str(tmp_path / "hanging")
    args = {"log": str(tmp_path / "dist.jsonl"), "sleep_s": 0.1, "hang_id": "worker1", "marker": marker}
    cluster = D.Cluster(f"{HERE}:make_toy", args, str(work), workers=2)
    killed = {}

    def killer():   # kill worker1 in the middle of its second trial
        _wait_for(marker)
        with open(marker) as f:
            killed["worker"] = int(f.read())
        os.kill(killed["worker"], signal.SIGKILL)

    dist = run_beside(lambda: cluster.run(timeout=400), killer, cluster.stop)
    assert cluster.restarts == {"chief": 0, "worker0": 0, "worker1": 1}, cluster.restarts

    total = seq.total_trials
    assert len(dist.history) == total and not dist.pending
    assert sorted(r.trial.id for r in dist.history) == list(range(total))          # each trial told once
    assert [r.trial.arch.key() for r in sorted(dist.history, key=lambda r: r.trial.id)] == \
        [r.trial.arch.key() for r in seq.history]                                  # same proposals
    assert dist.best().trial.arch.key() == seq.best().trial.arch.key()
    assert dist.best().result.metrics == seq.best().result.metrics
    events = _events(args["log"])
    ends = [e["arch"] for e in events if e["event"] == "end"]
    assert sorted(ends) == sorted(r.trial.arch.key() for r in dist.history)      # evaluated to the end once each
    assert {e["tuner"] for e in events} == {"worker0", "worker1"}                  # the chief only serves
    assert all(p.poll() is not None for p in cluster.procs.values())
    for pid in (p.pid for p in cluster.procs.values()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_factory_fails_before_any_child(tmp_path):
    from tfnas.search import distributed as D
    with pytest.raises(ValueError, match="no function 'nope'"):
        D.Cluster(f"{HERE}:nope", {}, str(tmp_path))
    with pytest.raises(ValueError, match="must be 'module:function'"):
        D.Cluster("tests_core_toy", {}, str(tmp_path))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        D.Cluster(f"{HERE}:make_toy", {}, str(tmp_path), workers=0)


@pytest.mark.long   # supernet + 6 candidates twice, 3 TF child processes: ~2 min on 2 cores (make test-long)
def test_nasrec_search_with_two_workers_writes_the_sequential_search(tmp_path):
    """`tfnas nasrec search --workers 2` on the tiny NASRec config: the same candidates (ids, architectures,
    generations, parents, FLOPs), the same best architecture and FLOPs cache as the sequential search."""
    from test_nasrec_pipeline import tiny_config

    from tfnas.cli import main
    from tfnas.nasrec.search import top_candidates, load_candidates

    configs = {}
    for name in ("seq", "dist"):
        cfg = tiny_config(str(tmp_path / name))
        cfg.data.dir = str(tmp_path / "data")     # one synthetic data folder for both
        cfg.save(str(tmp_path / f"{name}.json"))
        configs[name] = cfg
    assert main(["nasrec", "search", "--no-progress", "--config", str(tmp_path / "seq.json")]) == 0
    assert main(["nasrec", "search", "--no-progress", "--workers", "2", "--config", str(tmp_path / "dist.json")]) == 0

    search = {name: os.path.join(cfg.run_dir, "search") for name, cfg in configs.items()}
    rows = {name: load_candidates(folder) for name, folder in search.items()}
    same = ("id", "generation", "parent", "seeded", "fingerprint", "status", "flops", "params", "arch")
    assert [{k: r[k] for k in same} for r in rows["dist"]] == [{k: r[k] for k in same} for r in rows["seq"]]
    assert len(rows["seq"]) == 6
    for a, b in zip(rows["seq"], rows["dist"]):   # scored on the same supernet weights, another process
        assert abs(a["logloss"] - b["logloss"]) < 1e-6 and abs(a["auc"] - b["auc"]) < 1e-6, (a, b)
    best = {name: top_candidates(r, 1)[0]["fingerprint"] for name, r in rows.items()}
    assert best["dist"] == best["seq"]
    caches = {}
    for name, folder in search.items():
        with open(os.path.join(folder, "flops_cache.json")) as f:
            caches[name] = json.load(f)
        for png in ("search_progress.png", "logloss_vs_flops.png"):
            assert os.path.getsize(os.path.join(folder, png)) > 1000
    assert caches["dist"] == caches["seq"] and len(caches["seq"]) == len({r["fingerprint"] for r in rows["seq"]})
    events = os.path.join(search["dist"], "distributed")
    assert {"chief.log", "worker0.log", "worker1.log"} <= set(os.listdir(events))
    # both workers evaluated candidates (their own FLOPs caches), the chief none
    assert sorted(n for n in os.listdir(events) if n.startswith("flops_cache.")) == \
        ["flops_cache.worker0.json", "flops_cache.worker1.json"]


def test_nasrec_search_workers_bad_usage_is_one_line(tmp_path, monkeypatch, capsys):
    """--workers < 0, --workers with keras-tuner's variables set, or only some of those variables: one clear
    line each, before any run folder, supernet or process is made."""
    from test_nasrec_pipeline import tiny_config

    from tfnas.cli import main
    cfg = tiny_config(str(tmp_path))
    cfg.save(str(tmp_path / "c.json"))
    base = ["nasrec", "search", "--no-progress", "--config", str(tmp_path / "c.json")]
    assert main(base + ["--workers", "-1"]) == 1
    assert capsys.readouterr().err.strip() == "tfnas: error: --workers must be >= 0, got -1"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    assert main(base) == 1
    assert capsys.readouterr().err.strip() == (
        "tfnas: error: distributed search: set all of KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT, "
        "KERASTUNER_TUNER_ID or none; missing KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    assert main(base + ["--workers", "2"]) == 1
    assert "--workers starts its own chief and workers" in capsys.readouterr().err
    assert not os.path.exists(cfg.run_dir) and not os.path.exists(cfg.data.dir)


@pytest.mark.long   # supernet + 6 candidates, 3 TF processes started by hand: ~2-4 min on 2 cores
def test_nasrec_search_under_keras_tuner_variables_is_chief_or_worker(tmp_path):
    """Three `tfnas nasrec search` processes started by hand with KERASTUNER_ORACLE_IP/_PORT/_TUNER_ID (workers
    first: they wait for the chief's supernet): the chief writes every candidate once, the workers scored them."""
    import subprocess
    import sys

    from test_nasrec_pipeline import tiny_config

    from tfnas.nasrec.search import load_candidates
    from tfnas.search.distributed import free_port

    cfg = tiny_config(str(tmp_path))
    cfg.save(str(tmp_path / "c.json"))
    argv = [sys.executable, "-m", "tfnas.cli", "nasrec", "search", "--no-progress", "--config",
            str(tmp_path / "c.json")]
    port = str(free_port())
    procs = {}
    for tuner_id in ("worker0", "worker1", "chief"):
        env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port,
               "KERASTUNER_TUNER_ID": tuner_id}
        with open(tmp_path / f"{tuner_id}.out", "w") as log:
            procs[tuner_id] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for p in procs.values():
            p.wait(timeout=600)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    out = {k: (tmp_path / f"{k}.out").read_text()[-3000:] for k in procs}
    assert {k: p.returncode for k, p in procs.items()} == {"worker0": 0, "worker1": 0, "chief": 0}, out
    assert "search candidates:" in out["chief"] and all("search worker: done" in out[w] for w in ("worker0", "worker1"))
    rows = load_candidates(os.path.join(cfg.run_dir, "search"))
    assert [r["id"] for r in rows] == list(range(6)) and all(r["status"] == "ok" for r in rows)
    folder = os.path.join(cfg.run_dir, "search", "distributed")
    scored = {}
    for w in ("worker0", "worker1"):
        path = os.path.join(folder, f"flops_cache.{w}.json")
        if os.path.exists(path):
            with open(path) as f:
                scored.update(json.load(f))
    assert set(scored) == {r["fingerprint"] for r in rows}      # every candidate was scored by a worker
    assert not os.path.exists(os.path.join(cfg.run_dir, ".lock"))  # the chief released the run lock
