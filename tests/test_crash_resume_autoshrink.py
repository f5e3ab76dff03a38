"""`tfnas autoshrink search-cnn` SIGKILLed at three points and resumed ends with the same best cell, the same
scores and a history without duplicated or missing trials as an uninterrupted run (issue 10, "Resume is exact").

Every run is the real CLI (`tfnas.cli.main`) in its own process. To pay TensorFlow's start-up once, a fork
server imports TensorFlow (running no op) in a fresh process and forks one child per run; the test kills
those children with SIGKILL. Proxy training runs under `seeded()` on CPU, so equal means bit-identical.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

SERVER = r"""
import json, os, sys
from tfnas.cli import quiet_tensorflow
quiet_tensorflow()
import tensorflow  # noqa: F401  (imported before the forks; no op runs in this process)
print("ready", flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "run":
        job = json.loads(arg)
        pid = os.fork()
        if pid == 0:
            log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(log, 1)
            os.dup2(log, 2)
            from tfnas.cli import main
            try:
                rc = main(job["argv"])
            except BaseException:
                rc = 99
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(rc or 0))
        print(pid, flush=True)
    elif cmd == "wait":
        _, status = os.waitpid(int(arg), 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
"""

ARGS = ["autoshrink", "search-cnn", "--nodes", "4", "--candidates", "2", "--keep-fraction", "0.67",
        "--train-per-class", "10", "--val-per-class", "5", "--epochs", "1", "--batch-size", "32",
        "--image-size", "8", "--filters", "4", "--no-progress"]


class ForkServer:
    def __init__(self, tmp):
        self.tmp = tmp
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, out: str) -> int:
        job = {"argv": ARGS + ["--out", out], "log": os.path.join(self.tmp, "log.txt")}
        self.proc.stdin.write(f"run {json.dumps(job)}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def wait(self, pid: int) -> int:
        self.proc.stdin.write(f"wait {pid}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _history(out: str) -> list:
    try:
        with open(os.path.join(out, "search.json")) as f:
            return json.load(f)["history"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return []


def _started(out: str):
    try:
        with open(os.path.join(out, "search.json.attempts")) as f:
            return json.load(f)["trial"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def _kill_when(server, out, condition, delay=0.0, timeout=120.0) -> int:
    """Start a run into `out`, SIGKILL it once `condition()` holds (after `delay` s); returns trials saved."""
    pid = server.start(out)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.01)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    assert server.wait(pid) == -signal.SIGKILL      # reaped, so the run lock sees a dead holder
    return len(_history(out))


def _comparable(out: str) -> dict:
    """What must match: the best cell and record, every trial's arch, metrics and MACs, the steps."""
    with open(os.path.join(out, "search.json")) as f:
        state = json.load(f)
    with open(os.path.join(out, "best_cell.json")) as f:
        best_cell = json.load(f)
    with open(os.path.join(out, "best.json")) as f:
        best = json.load(f)
    trials = [(r["trial"]["id"], r["trial"]["arch"], r["result"]["metrics"], r["result"]["cost"]["macs"], r["status"])
              for r in state["history"]]
    steps = sorted(os.listdir(os.path.join(out, "steps")))
    removed = []
    for name in steps:
        with open(os.path.join(out, "steps", name)) as f:
            step = json.load(f)
        removed.append((step["removed"], step["edges_left"], step["best_score"],
                        [(c["trial"], c["metrics"]) for c in step["candidates"]]))
    return {"best_cell": best_cell, "best": (best["trial"], best["metrics"]), "trials": trials, "steps": removed,
            "pending": state["pending"]}


@pytest.mark.slow   # ~75 CPU s: 4 trials uninterrupted + 4 (and the 2 killed ones redone) resumed
def test_search_cnn_killed_three_times_resumes_to_the_uninterrupted_result(tmp_path):
    server = ForkServer(str(tmp_path))
    try:
        plain, killed = str(tmp_path / "plain"), str(tmp_path / "killed")
        pid = server.start(plain)
        assert server.wait(pid) == 0, (tmp_path / "log.txt").read_text()
        expected = _comparable(plain)
        n = len(expected["trials"])
        assert n == 4 and not expected["pending"]     # 6 edges -> 5 -> 4 (round(0.67 * 6)), 2 candidates a step

        # 1: inside the first trial's training; 2: as soon as trial 1's result is saved (the end of step 0:
        # between the checkpoint and the step/best files, or early in the next trial); 3: inside the last trial
        saved = [_kill_when(server, killed, lambda: _started(killed) == 0, delay=0.5)]
        saved.append(_kill_when(server, killed, lambda: len(_history(killed)) >= 2))
        saved.append(_kill_when(server, killed, lambda: _started(killed) == n - 1, delay=0.3))
        assert saved[0] == 0 and 2 <= saved[1] < n - 1 and saved[2] == n - 1, saved
        pid = server.start(killed)
        assert server.wait(pid) == 0, (tmp_path / "log.txt").read_text()
    finally:
        server.close()
    got = _comparable(killed)
    assert [t[0] for t in got["trials"]] == list(range(n))          # no trial duplicated or missing
    assert got == expected                                          # bit-identical scores, cells, steps
    assert not [f for f in os.listdir(killed) if f.endswith(".tmp")]
