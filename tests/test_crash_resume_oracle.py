"""A keras-tuner search through `StrategyOracle` SIGKILLed at a random moment, while writing oracle.json or a
trial.json (half the temporary file written, or written and not yet renamed), and re-run: every on-disk file
still loads, and the resumed search ends with the uninterrupted run's history, best architecture and
keras-tuner trials (issue 10, "Resume is exact").

Each run is a child forked from one server process that imported keras-tuner (and so TensorFlow) once.  A
kill during a save is made reachable by patching, in that child only, `os.fdopen` (the temporary file's
write stops half-way) or `os.replace` (stops before the rename) for the n-th write of the chosen file: the
child then marks the moment in a file and sleeps until it is killed.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVER = r"""
import json, os, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from tfnas.cli import quiet_tensorflow
quiet_tensorflow()
import keras_tuner  # noqa: F401  (imports TensorFlow before the forks; no op runs in this process)
print("ready", flush=True)


def inject(spec, marker):
    '''Stop the spec["at"]-th write of the file named spec["file"] half-way ("write") or before its rename.'''
    count = {"n": 0}

    def hit(name):
        if os.path.basename(name).lstrip(".").startswith(spec["file"]):
            count["n"] += 1
            return count["n"] == spec["at"]
        return False

    def stop():
        open(marker, "w").close()
        time.sleep(600)

    if spec["mode"] == "write":
        real = os.fdopen

        def fdopen(fd, *a, **kw):
            f = real(fd, *a, **kw)
            if not hit(os.readlink(f"/proc/self/fd/{fd}")):
                return f
            write = f.write

            def half(text):
                write(text[:len(text) // 2])
                f.flush()
                stop()
            f.write = half
            return f
        os.fdopen = fdopen
    else:
        real = os.replace

        def replace(src, dst, *a, **kw):
            if hit(dst):
                stop()
            return real(src, dst, *a, **kw)
        os.replace = replace


def search(job):
    from core_toy import ChainEvaluator, ChainSpace
    from tfnas.search.evolution import RegularizedEvolution
    from tfnas.search.oracle import EvaluatorTuner, StrategyOracle
    from tfnas.space import Objective

    class Slow(ChainEvaluator):
        def evaluate(self, arch):
            time.sleep(0.02)
            return super().evaluate(arch)

    strategy = RegularizedEvolution(ChainSpace(), Objective("loss", "min"), population_size=8, sample_size=3,
                                    children_per_generation=4, generations=3, seed=7)
    tuner = EvaluatorTuner(StrategyOracle(strategy, max_trials=20), Slow(), directory=job["dir"],
                           project_name="toy", overwrite=False)
    tuner.search()
    trials = {t.trial_id: [t.status, t.hyperparameters.get("strategy_trial_id")] for t in tuner.oracle.trials.values()}
    out = {"history": [[r.trial.id, r.trial.arch.key(), r.status, r.result.metrics] for r in strategy.history],
           "best": strategy.best().trial.arch.key(), "done": strategy.done, "trials": trials}
    with open(job["summary"], "w") as f:
        json.dump(out, f, default=str)


for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "run":
        job = json.loads(arg)
        pid = os.fork()
        if pid == 0:
            log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(log, 1)
            os.dup2(log, 2)
            rc = 0
            try:
                if job.get("inject"):
                    inject(job["inject"], job["marker"])
                search(job)
            except BaseException:
                import traceback
                traceback.print_exc()
                rc = 99
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
        print(pid, flush=True)
    elif cmd == "wait":
        _, status = os.waitpid(int(arg), 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Server:
    def __init__(self):
        env = {**os.environ, "PYTHONPATH": ROOT}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout.readline().strip() == "ready"

    def _ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def start(self, job):
        return self._ask(f"run {json.dumps(job)}")

    def wait(self, pid):
        return self._ask(f"wait {pid}")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


def _job(root, **kw):
    os.makedirs(root, exist_ok=True)
    return {"dir": str(root / "search"), "summary": str(root / "summary.json"), "log": str(root / "log.txt"),
            "marker": str(root / "marker"), **kw}


def _summary(server, root):
    job = _job(root)
    rc = server.wait(server.start(job))
    assert rc == 0, open(job["log"]).read()[-3000:]
    with open(job["summary"]) as f:
        return json.load(f)


def _project_files_load(root):
    """Every JSON file keras-tuner reads back on reload parses (no torn file), and which temporaries are left."""
    project = root / "search" / "toy"
    for path in [project / "oracle.json", project / "tuner0.json", *project.glob("trial_*/trial.json")]:
        if path.exists():
            json.loads(path.read_text())
    return sorted(str(p.relative_to(project)) for p in project.rglob(".*.tmp"))


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    return _summary(server, tmp_path_factory.mktemp("ref"))


CASES = {
    "random moment": None,
    "half-way through oracle.json": {"file": "oracle.json", "mode": "write", "at": 20},
    "oracle.json before its rename": {"file": "oracle.json", "mode": "rename", "at": 31},
    "half-way through a trial.json": {"file": "trial.json", "mode": "write", "at": 17},
    "trial.json before its rename": {"file": "trial.json", "mode": "rename", "at": 24},
}


@pytest.mark.parametrize("case", list(CASES))
def test_search_killed_resumes_to_the_uninterrupted_result(server, reference, tmp_path, case):
    assert reference["done"] and len(reference["history"]) == 20 and len(reference["trials"]) == 20
    spec = CASES[case]
    job = _job(tmp_path, inject=spec)
    pid = server.start(job)
    project = tmp_path / "search" / "toy"
    if spec is None:        # after 3 to 12 trials have started, and a random part of one evaluation
        at = int(np.random.default_rng().integers(3, 13))
        ready = lambda: len(list(project.glob("trial_*/trial.json"))) >= at   # noqa: E731
        delay = float(np.random.default_rng().uniform(0.0, 0.05))
    else:
        ready, delay = (lambda: os.path.exists(job["marker"])), 0.0
    deadline = time.monotonic() + 120
    while not ready():
        assert time.monotonic() < deadline, f"kill point never reached: {open(job['log']).read()[-2000:]}"
        time.sleep(0.005)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    assert server.wait(pid) == -signal.SIGKILL, "the search finished before it was killed"
    left = _project_files_load(tmp_path)
    if spec is not None:
        assert left, "the kill did not land inside a save"
    resumed = _summary(server, tmp_path)
    assert resumed == reference
    assert _project_files_load(tmp_path) == []        # the killed write's temporary file is cleaned up
