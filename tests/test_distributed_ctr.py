"""`tfnas ctr train --workers 2` (tfnas/distribute/ctr.py): 2 local MultiWorkerMirroredStrategy workers, one
killed with its launcher after the first epoch checkpoint and resumed, end at the single process's history
(same global batch and steps) within 1e-5 relative (all-reduce sums in another order; measured ~1e-7), and
every worker process is gone after the kill.  Fast checks (no cluster) stay in make test."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-5


def _data(path):
    from pipelines.ctr.dataset import load_info, load_spec
    from pipelines.ctr.schema import save_spec
    from pipelines.ctr.synthetic import write_synthetic
    write_synthetic(str(path), 3000, seed=3)
    save_spec(str(path), load_spec(str(path)).with_cap(32), load_info(str(path)))
    return str(path)


def _rows(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _gone(pids, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in _state(p)]
        if not alive:
            return True
        time.sleep(0.2)
    return False


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0]
    except OSError:
        return "X"


@pytest.mark.long   # 4 TF launches + 4 workers, ~3 min on 2 loaded cores (make test-long)
def test_two_workers_killed_and_resumed_match_one_process(tmp_path):
    data = _data(tmp_path / "data")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    cmd = [sys.executable, "-m", "tfnas.cli", "ctr", "train", "--model", "mlp", "--data", data, "--epochs", "3",
           "--batch-size", "64", "--steps-per-epoch", "8", "--verbose", "0",
           "--hparams", '{"embedding_dim": 4, "hidden": [8]}']
    one = subprocess.run(cmd + ["--logdir", str(tmp_path / "one")], cwd=ROOT, env=env, capture_output=True,
                         text=True)
    assert one.returncode == 0, one.stderr[-3000:]

    run = tmp_path / "two"
    launcher = subprocess.Popen(cmd + ["--logdir", str(run), "--workers", "2"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index, end, workers = run / "checkpoints" / "last" / "checkpoint", time.time() + 400, []
    while time.time() < end and launcher.poll() is None and not index.exists():
        workers = _children(launcher.pid) or workers
        time.sleep(0.1)
    assert launcher.poll() is None, "the cluster finished before it could be killed"
    assert len(workers) == 2
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    assert _gone(workers), "workers outlived their SIGKILLed launcher"

    resumed = subprocess.run(cmd + ["--logdir", str(run), "--workers", "2", "--resume"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:] + (run / "worker-1.log").read_text()[-2000:]
    got, want = _rows(run), _rows(tmp_path / "one")
    assert [r["epoch"] for r in got] == ["0", "1", "2"] and sorted(got[0]) == sorted(want[0])
    for g, w in zip(got, want):
        keys = sorted(k for k in w if k != "epoch")
        np.testing.assert_allclose([float(g[k]) for k in keys], [float(w[k]) for k in keys], rtol=TOL, atol=1e-7)
    assert float(want[2]["loss"]) < float(want[0]["loss"]) - 100 * TOL   # training moved far beyond TOL
    assert _rows(run / "worker-1") == got                                  # the other worker trained alike

    def logloss(out):
        return float(out.split("test logloss")[1].split()[0])
    assert logloss(resumed.stdout) == pytest.approx(logloss(one.stdout), rel=TOL)


def test_sync_from_chief_replaces_the_workers_copy(tmp_path, monkeypatch):
    from tfnas.distribute.cluster import sync_from_chief, tf_config
    run = tmp_path / "run"
    (run / "checkpoints" / "last").mkdir(parents=True)
    (run / "checkpoints" / "last" / "ckpt-2.index").write_text("chief")
    (run / "history.csv").write_text("epoch\n0\n1\n")
    mine = run / "worker-1" / "checkpoints" / "last"
    mine.mkdir(parents=True)
    (mine / "ckpt-1.index").write_text("old")
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 1))
    sync_from_chief(str(run))
    assert sorted(os.listdir(mine)) == ["ckpt-2.index"] and (run / "worker-1" / "history.csv").read_text() == \
        "epoch\n0\n1\n"
    assert sorted(os.listdir(run / "worker-1")) == ["checkpoints", "history.csv"]   # no temp left
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 0))
    sync_from_chief(str(run))                                                      # chief: nothing to do
    assert sorted(os.listdir(run)) == ["checkpoints", "history.csv", "worker-1"]


def test_launch_workers_stops_the_others_when_one_fails(tmp_path):
    from tfnas.distribute.cluster import launch_workers
    script = ("import json, os, sys, time; i = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
              "sys.exit(3) if i == 1 else time.sleep(60)")
    start = time.time()
    codes = launch_workers(2, [sys.executable, "-c", script], log_dir=str(tmp_path), timeout=50)
    assert codes[1] == 3 and codes[0] != 0 and time.time() - start < 30
    assert sorted(os.listdir(tmp_path)) == ["worker-0.log", "worker-1.log"]


def test_workers_argument_checked(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tfnas.cli", "ctr", "train", "--model", "mlp", "--data",
                          str(tmp_path), "--logdir", str(tmp_path / "r"), "--workers", "0"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 1 and "--workers must be >= 1, got 0" in out.stderr and "Traceback" not in out.stderr
