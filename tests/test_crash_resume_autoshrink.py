"""`tfnas autoshrink search-cnn` SIGKILLed at three points and resumed ends with the same best cell, the same
scores and a history without duplicated or missing trials as an uninterrupted run (issue 10, "Resume is exact").

Every run is the real CLI (`tfnas.cli.main`) in its own process. To pay TensorFlow's start-up once, a fork
server imports TensorFlow (running no op) in a fresh process and forks one child per run; the test kills
those children with SIGKILL. Proxy training runs under `seeded()` on CPU, so equal means bit-identical.
"""
import json
import os
import signal
import time

import pytest
from cli_fork_server import ForkServer

ARGS = ["autoshrink", "search-cnn", "--nodes", "4", "--candidates", "2", "--keep-fraction", "0.67",
        "--train-per-class", "10", "--val-per-class", "5", "--epochs", "1", "--batch-size", "32",
        "--image-size", "8", "--filters", "4", "--no-progress"]


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


def _kill_when(server, log, out, condition, delay=0.0, timeout=120.0) -> int:
    """Start a run into `out`, SIGKILL it once `condition()` holds (after `delay` s); returns trials saved."""
    pid = server.start(ARGS + ["--out", out], log)
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
    server, log = ForkServer(), str(tmp_path / "log.txt")
    try:
        plain, killed = str(tmp_path / "plain"), str(tmp_path / "killed")
        assert server.run(ARGS + ["--out", plain], log) == 0, (tmp_path / "log.txt").read_text()
        expected = _comparable(plain)
        n = len(expected["trials"])
        assert n == 4 and not expected["pending"]     # 6 edges -> 5 -> 4 (round(0.67 * 6)), 2 candidates a step

        # 1: inside the first trial's training; 2: as soon as trial 1's result is saved (the end of step 0:
        # between the checkpoint and the step/best files, or early in the next trial); 3: inside the last trial
        saved = [_kill_when(server, log, killed, lambda: _started(killed) == 0, delay=0.5)]
        saved.append(_kill_when(server, log, killed, lambda: len(_history(killed)) >= 2))
        saved.append(_kill_when(server, log, killed, lambda: _started(killed) == n - 1, delay=0.3))
        assert saved[0] == 0 and 2 <= saved[1] < n - 1 and saved[2] == n - 1, saved
        assert server.run(ARGS + ["--out", killed], log) == 0, (tmp_path / "log.txt").read_text()
    finally:
        server.close()
    got = _comparable(killed)
    assert [t[0] for t in got["trials"]] == list(range(n))          # no trial duplicated or missing
    assert got == expected                                          # bit-identical scores, cells, steps
    assert not [f for f in os.listdir(killed) if f.endswith(".tmp")]
