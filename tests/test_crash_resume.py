"""Crash tests: `tfnas data split` killed with SIGKILL mid-way, then re-run, gives the same outputs as an
uninterrupted run, never touches its input, and leaves no temporary files behind."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLIT = ("import sys; from pipelines.ctr.split import split_files; "
         "split_files([sys.argv[1]], sys.argv[2], 'criteo', seed=5)")


def make_input(path, n):
    rng = np.random.default_rng(0)
    labels = (rng.random(n) < 0.3).astype(int)
    with open(path, "w") as f:
        for i, y in enumerate(labels):
            f.write("\t".join([str(y)] + [str(i % 97)] * 13 + [f"{(i * 31) % 1009:08x}"] * 26) + "\n")


def digest(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        if name in ("train.txt", "valid.txt", "test.txt", "spec.json", "dataset.json"):
            with open(os.path.join(folder, name), "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def _wait_for_temp_outputs(proc, out_dir) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(out_dir) and any(".tmp-" in n for n in os.listdir(out_dir)):
            return
        time.sleep(0.01)


def writing_window(cmd, out_dir) -> float:
    """Run `cmd` to the end; seconds from its temporary outputs appearing to its exit (where kills land)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_temp_outputs(proc, out_dir)
    start = time.time()
    assert proc.wait() == 0
    return time.time() - start


def kill_when_started(cmd, out_dir, delay, env=None):
    """Start `cmd`, wait until its temporary outputs exist (it is mid-way), sleep `delay`, SIGKILL it."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_temp_outputs(proc, out_dir)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return not finished


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6])
def test_split_killed_then_rerun_identical(tmp_path, fraction):
    """Killed at a fraction of the writing time the uninterrupted run took (so the points hold on a fast or
    a loaded machine)."""
    src = tmp_path / "in.txt"
    make_input(src, 60_000)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    ref, run = tmp_path / "ref", tmp_path / "run"
    window = writing_window([sys.executable, "-c", SPLIT, str(src), str(ref)], str(ref))
    killed = kill_when_started([sys.executable, "-c", SPLIT, str(src), str(run)], str(run), fraction * window)
    assert killed, "the split finished before it could be killed; make the input larger"
    # Nothing half-written: a kill that lands after the renames (the process was still shutting down) may
    # leave finished files, and each one must then be the uninterrupted run's file.
    finished = digest(run)
    assert all(finished[name] == digest(ref)[name] for name in finished)
    subprocess.run([sys.executable, "-c", SPLIT, str(src), str(run)], cwd=ROOT, check=True)
    assert digest(run) == digest(ref) and len(digest(ref)) == 3
    assert not [n for n in os.listdir(run) if ".tmp-" in n]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


@pytest.mark.slow
def test_cli_split_killed_then_rerun_identical(tmp_path):
    """The CLI path (run lock, spec files): the dead holder's lock is taken over on the re-run."""
    src = tmp_path / "in.txt"
    make_input(src, 60_000)
    tfnas = [sys.executable, "-m", "tfnas.cli", "data", "split", str(src), "--seed", "5", "--no-progress"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(tfnas + ["--out", str(ref)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    assert kill_when_started(tfnas + ["--out", str(run)], str(run), 0.1)
    assert os.path.exists(run / ".lock")  # left by the killed holder
    subprocess.run(tfnas + ["--out", str(run)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    assert digest(run) == digest(ref) and len(digest(ref)) == 5
    assert sorted(os.listdir(run)) == sorted(os.listdir(ref))


def _ctr_data(path):
    from pipelines.ctr.dataset import load_info, load_spec
    from pipelines.ctr.schema import save_spec
    from pipelines.ctr.synthetic import write_synthetic
    write_synthetic(str(path), 3000, seed=3)
    save_spec(str(path), load_spec(str(path)).with_cap(32), load_info(str(path)))
    return str(path)


def _history_rows(run_dir):
    import csv
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        return [{k: v for k, v in r.items()} for r in csv.DictReader(f)]


def test_ctr_train_killed_after_an_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    """`tfnas ctr train` SIGKILLed after its first epoch checkpoint (at a random point of a later epoch),
    then `--resume`d: one history row per epoch and the uninterrupted run's values and test logloss.

    Tolerance 1e-3 relative (AUC moves most): the data stream is aligned exactly (tfnas/train/trainer.py), and a resume
    after epoch 2 of 3 is bit-identical, but one after epoch 1 of 3 drifts by ~3e-6 in epoch 3 even with
    shuffling off, from state outside the checkpoint that we have not found (measured 2026-12-03)."""
    data = _ctr_data(tmp_path / "data")
    cmd = [sys.executable, "-m", "tfnas.cli", "ctr", "train", "--model", "mlp", "--data", data, "--epochs", "3",
           "--batch-size", "64", "--verbose", "0", "--hparams", '{"embedding_dim": 4, "hidden": [8]}']
    ref = subprocess.run(cmd + ["--logdir", str(tmp_path / "ref")], cwd=ROOT, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "run"
    proc = subprocess.Popen(cmd + ["--logdir", str(run)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    index = run / "checkpoints" / "last" / "checkpoint"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not index.exists():
        time.sleep(0.005)
    time.sleep(float(np.random.default_rng().uniform(0.0, 0.3)))
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed, "the run finished before it could be killed"
    resumed = subprocess.run(cmd + ["--logdir", str(run), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    rows, want = _history_rows(run), _history_rows(tmp_path / "ref")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] and [sorted(r) for r in rows] == [sorted(r) for r in want]
    for got_row, want_row in zip(rows, want):
        np.testing.assert_allclose([float(got_row[k]) for k in sorted(got_row)],
                                   [float(want_row[k]) for k in sorted(got_row)], rtol=1e-3, atol=1e-6)

    def logloss(out):
        return float([ln for ln in out.splitlines() if "test logloss" in ln][0].split("test logloss")[1].split()[0])
    assert logloss(resumed.stdout) == pytest.approx(logloss(ref.stdout), rel=1e-3)
