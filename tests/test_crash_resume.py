"""Crash tests: `tfnas data split` killed with SIGKILL mid-way, then re-run, gives the same outputs as an
uninterrupted run, never touches its input, and leaves no temporary files behind."""
import hashlib
import json
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


def _temp_outputs_exist(out_dir) -> bool:
    return os.path.isdir(out_dir) and any(".tmp-" in n for n in os.listdir(out_dir))


def _wait_for_temp_outputs(proc, out_dir) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not _temp_outputs_exist(out_dir):
        time.sleep(0.01)


def writing_window(cmd, out_dir) -> float:
    """Run `cmd` to the end; seconds from its temporary outputs appearing to its exit (where kills land)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_temp_outputs(proc, out_dir)
    start = time.time()
    assert proc.wait() == 0
    return time.time() - start


def kill_when(cmd, ready, delay=0.0, env=None, timeout=300.0) -> bool:
    """Start `cmd`, wait until `ready()` holds (it is mid-way), sleep `delay`, SIGKILL it; True if it was killed
    (False: it finished first)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.005)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return not finished


def kill_when_started(cmd, out_dir, delay, env=None):
    """`kill_when` once `cmd`'s temporary outputs exist in `out_dir`."""
    return kill_when(cmd, lambda: _temp_outputs_exist(out_dir), delay, env, timeout=120)


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
    then `--resume`d: one history row per epoch, and the history and test logloss of the uninterrupted run
    exactly (the text reader's stream has no known length; tfnas/train/callbacks.py OptimizerSteps keeps
    Adam's step count from drifting by one per `fit`, which made this resume differ by ~3e-6 before)."""
    data = _ctr_data(tmp_path / "data")
    cmd = [sys.executable, "-m", "tfnas.cli", "ctr", "train", "--model", "mlp", "--data", data, "--epochs", "3",
           "--batch-size", "64", "--verbose", "0", "--hparams", '{"embedding_dim": 4, "hidden": [8]}']
    ref = subprocess.run(cmd + ["--logdir", str(tmp_path / "ref")], cwd=ROOT, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "run"
    index = run / "checkpoints" / "last" / "checkpoint"
    delay = float(np.random.default_rng().uniform(0.0, 0.3))
    killed = kill_when(cmd + ["--logdir", str(run)], index.exists, delay=delay)
    assert killed, "the run finished before it could be killed"
    resumed = subprocess.run(cmd + ["--logdir", str(run), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    rows, want = _history_rows(run), _history_rows(tmp_path / "ref")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert rows == want, f"killed after {delay:.2f} s past the first checkpoint"

    def logloss(out):
        return [ln for ln in out.splitlines() if "test logloss" in ln][0].split("test logloss")[1].split()[:3]
    assert logloss(resumed.stdout) == logloss(ref.stdout)


def _nasrec_config(root):
    from tfnas.nasrec.config import (DataConfig, ExportConfig, FinetuneConfig, NASRecConfig, RetrainConfig,
                                     SearchConfig, SpaceConfig, SupernetConfig)
    cfg = NASRecConfig(
        run_dir=os.path.join(root, "run"),
        data=DataConfig(dir=os.path.join(root, "data"), synthetic=True, synthetic_rows=3000, synthetic_seed=1),
        space=SpaceConfig(kind="full", num_blocks=1, extra={"dense_widths": [16, 32], "sparse_widths": [16]}),
        supernet=SupernetConfig(steps=16, warmup_steps=4, batch_size=128, save_every=4),
        finetune=FinetuneConfig(steps=4, batch_size=128, eval_batch_size=512, eval_steps=1),
        search=SearchConfig(population_size=4, sample_size=2, children_per_generation=2, generations=1),
        retrain=RetrainConfig(top_k=1, epochs=2, steps_per_epoch=6, batch_size=128, eval_batch_size=1024,
                              baselines=["mlp"]),
        export=ExportConfig(name="nasrec_tiny", root=os.path.join(root, "saved_models")))
    path = os.path.join(root, "config.json")
    os.makedirs(root, exist_ok=True)
    cfg.save(path)
    return path


@pytest.mark.long
def test_nasrec_run_killed_in_each_stage_resumes_to_the_uninterrupted_result(tmp_path):
    """`tfnas nasrec run` SIGKILLed once in each of its four stages (after a supernet checkpoint, after the
    first searched candidate, after a retrain epoch checkpoint, while exporting), re-run after each kill:
    the same candidates, the same retrained results and one export version, as an uninterrupted run.

    Candidates (supernet + search) and retrain metrics must be bit-identical."""
    import glob
    ref_cfg, run_cfg = _nasrec_config(str(tmp_path / "ref")), _nasrec_config(str(tmp_path / "run"))
    tfnas = [sys.executable, "-m", "tfnas.cli", "nasrec", "run", "--no-progress", "--config"]
    subprocess.run(tfnas + [ref_cfg], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "run" / "run"
    points = {
        "train-supernet": lambda: bool(glob.glob(str(run / "supernet" / "ckpt-*.index"))),
        "search": lambda: (run / "search" / "search_state.json").exists(),
        "retrain": lambda: bool(glob.glob(str(run / "retrain" / "runs" / "*" / "checkpoints" / "last" / "checkpoint"))),
        "export": lambda: (tmp_path / "run" / "saved_models" / "nasrec_tiny").exists(),
    }
    killed = [stage for stage, ready in points.items() if kill_when(tfnas + [run_cfg], ready)]
    assert killed, "every run finished before it could be killed"
    subprocess.run(tfnas + [run_cfg], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def read(root):
        with open(root / "run" / "search" / "candidates.jsonl") as f:
            cands = [{k: v for k, v in json.loads(line).items() if k != "eval_seconds"} for line in f]
        with open(root / "run" / "retrain" / "results.json") as f:
            results = json.load(f)
        return cands, results, sorted(os.listdir(root / "saved_models" / "nasrec_tiny"))
    (got_c, got_r, got_v), (want_c, want_r, want_v) = read(tmp_path / "run"), read(tmp_path / "ref")
    assert got_c == want_c
    assert got_v == want_v == ["1"]
    assert sorted(got_r) == sorted(want_r)
    for name in want_r:
        for key in ("val_logloss", "test_logloss"):
            assert got_r[name][key] == want_r[name][key], (name, key)
    assert len(killed) >= 3, f"killed only in {killed}"
