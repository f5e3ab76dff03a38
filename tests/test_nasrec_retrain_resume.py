"""NASRec retrain resumed within a model (tfnas/nasrec/retrain.py): `tfnas nasrec retrain` SIGKILLed after the
first epoch checkpoint of its second model, then re-run, ends bit-identical to the uninterrupted run (the killed
model resumes at epoch 1 on the train stream it had); `tfnas nasrec run --workers 2` SIGKILLed in the same place
and re-run ends at the one-process run's candidates and retrained metrics within tests/test_distributed_nasrec.py's
tolerances, and leaves no worker behind."""
import json
import os
import shutil
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from test_crash_resume import kill_when                                       # noqa: E402
from test_distributed_nasrec import LOGLOSS_RTOL, SLOT_RTOL, WEIGHT_TOL, _checkpoint, _cli, _worst  # noqa: E402
from test_distributed_nasrec import one_process_run                            # noqa: E402
from test_distributed_nasrec import _config as _mwms_config                   # noqa: E402

# the second retrained model (after cand_<id>): killed after its first of two epochs
SECOND = "mlp.seed0"
PROXY_RTOL = 1e-5     # searched candidates' proxy logloss (measured 3.8e-8): supernet within WEIGHT_TOL


def _config(root, data):
    """test_distributed_nasrec's tiny config (paths keyed on the step) with 2 retrain epochs, so a model can be
    killed between them."""
    from tfnas.nasrec.config import NASRecConfig
    path = _mwms_config(root, data)
    cfg = NASRecConfig.load(path)
    cfg.retrain.epochs = 2
    cfg.save(path)
    return path


def _env():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    return env


def _results(run):
    with open(run / "retrain" / "results.json") as f:
        return json.load(f)


def _workers_of(run) -> list[int]:
    """Pids of live processes whose command line names this run's cluster launch files."""
    mark, pids = os.path.join(str(run), "mwms").encode(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted one-process `tfnas nasrec run`, with its wall time."""
    return one_process_run(tmp_path_factory.mktemp("nasrec_resume"), _config)


@pytest.mark.long   # a one-process nasrec run + 2 retrains: ~2-3 min on 2 loaded cores
def test_retrain_killed_within_a_model_resumes_bit_identical(reference):
    root, ref, _ = reference
    cfg = _config(str(root / "killed"), str(root / "data"))
    run = root / "killed" / "run"
    run.mkdir(parents=True)
    shutil.copytree(ref / "search", run / "search")
    cmd = [sys.executable, "-m", "tfnas.cli", "nasrec", "retrain", "--no-progress", "--config", cfg]
    index = run / "retrain" / "runs" / SECOND / "checkpoints" / "last" / "checkpoint"
    assert kill_when(cmd, index.exists, env=_env()), "the retrain finished before it could be killed"
    assert "mlp" not in _results(run), "killed after the second model had finished"
    start = time.perf_counter()
    _cli("retrain", "--config", cfg)
    seconds = time.perf_counter() - start
    got, want = _results(run), _results(ref)
    assert sorted(got) == sorted(want) and len(want) == 2
    assert got["mlp"]["per_seed"]["0"]["resumed_from"] == 1                      # resumed inside the model
    for name in want:
        for key in ("val_logloss", "test_logloss", "final_train_loss", "epochs_run", "best_epoch"):
            assert got[name][key] == want[name][key], (name, key)
        a, b = (_checkpoint(str(r / "retrain" / "runs" / f"{name}.seed0" / "checkpoints" / "last")) for r in (run, ref))
        assert sorted(a) == sorted(b) and all((a[k] == b[k]).all() for k in b), name
    print(f"\nretrain killed after epoch 1 of {SECOND}, resumed: bit-identical ({seconds:.1f} s wall resumed)")


@pytest.mark.long   # 2 two-worker clusters (one killed) after the reference: ~4-6 min on 2 loaded cores
def test_run_two_workers_killed_in_retrain_and_rerun_matches_one_process(reference):
    root, ref, one_seconds = reference
    cfg = _config(str(root / "two"), str(root / "data"))
    run = root / "two" / "run"
    cmd = [sys.executable, "-m", "tfnas.cli", "nasrec", "run", "--no-progress", "--config", cfg, "--workers", "2"]
    index = run / "retrain" / "runs" / SECOND / "checkpoints" / "last" / "checkpoint"
    start = time.perf_counter()
    assert kill_when(cmd, index.exists, env=_env(), timeout=900), "the run finished before it could be killed"
    killed_s = time.perf_counter() - start
    assert "mlp" not in _results(run), "killed after the second model had finished"
    end = time.monotonic() + 10
    while _workers_of(run) and time.monotonic() < end:      # they die with the launcher (PR_SET_PDEATHSIG)
        time.sleep(0.1)
    assert not _workers_of(run), "a worker outlived its killed launcher"

    start = time.perf_counter()
    out = _cli("run", "--config", cfg, "--workers", "2")
    rerun_s = time.perf_counter() - start
    assert not _workers_of(run)
    assert "found net" in out.stdout

    def candidates(r):
        with open(r / "search" / "candidates.jsonl") as f:
            return [json.loads(line) for line in f]
    got_c, want_c = candidates(run), candidates(ref)
    assert [(c["id"], c["arch"]) for c in got_c] == [(c["id"], c["arch"]) for c in want_c] and len(want_c) > 1
    proxy = max(abs(a["logloss"] - b["logloss"]) / abs(b["logloss"]) for a, b in zip(got_c, want_c))
    assert proxy < PROXY_RTOL
    got, want = _results(run), _results(ref)
    assert sorted(got) == sorted(want) and len(want) == 2
    assert got["mlp"]["per_seed"]["0"]["resumed_from"] == 1
    worst, worst_w = 0.0, (0.0, 0.0)
    for name in want:
        for key in ("val_logloss", "test_logloss", "final_train_loss"):
            rel = abs(got[name][key] - want[name][key]) / abs(want[name][key])
            worst = max(worst, rel)
            assert rel < LOGLOSS_RTOL, (name, key, rel)
        assert got[name]["best_epoch"] == want[name]["best_epoch"]
        a, b = (_checkpoint(str(r / "retrain" / "runs" / f"{name}.seed0" / "checkpoints" / "last")) for r in (run, ref))
        weights, slots = _worst(a, b)
        assert weights < WEIGHT_TOL and slots < SLOT_RTOL, (name, weights, slots)
        worst_w = max(worst_w[0], weights), max(worst_w[1], slots)
    exported = [json.loads((r / "export.json").read_text())["model"] for r in (run, ref)]
    assert exported[0] == exported[1]
    print(f"\nnasrec run --workers 2 killed in {SECOND} after {killed_s:.1f} s, rerun {rerun_s:.1f} s (one process "
          f"{one_seconds:.1f} s): proxy logloss rel diff {proxy:.3g}, retrained metrics rel diff {worst:.3g}, "
          f"weights {worst_w[0]:.3g}, accumulators {worst_w[1]:.3g} rel")


def test_retrainer_refuses_one_shared_stream(tmp_path):
    """A dataset shared by every model would give each model batches that depend on the models before it."""
    import tensorflow as tf

    from tfnas.nasrec.config import RetrainConfig
    from tfnas.nasrec.retrain import Retrainer
    with pytest.raises(TypeError, match="fresh dataset per model"):
        Retrainer(str(tmp_path), RetrainConfig(), tf.data.Dataset.range(3), 1, {})
