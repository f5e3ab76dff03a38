"""NASRec under MultiWorkerMirroredStrategy (tfnas/distribute/nasrec.py): `tfnas nasrec train-supernet --workers 2`,
SIGKILLed after its first checkpoint and restarted, and `tfnas nasrec retrain --workers 2` on the searched
candidates of a one-process run end at that run's supernet weights and retrained metrics (same global batch, same
global steps, every path keyed on (seed, step)).  Tolerances (all-reduce sums in another order): supernet and
retrained weights 1e-4 absolute (measured up to 1.8e-5), accumulators (optimizer slots, metric totals) 1e-3 of
their largest value (Adagrad's sum the squared gradients' float noise; measured 6e-5), retrained val/test logloss
1e-6 relative (measured 2e-8).  The
cheap checks (keyed paths across simulated workers, --workers refused without TensorFlow) stay in make test."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHT_TOL, SLOT_RTOL, LOGLOSS_RTOL = 1e-4, 1e-3, 1e-6


def _config(root, data):
    """The tiny pipeline config (tests/test_nasrec_pipeline.py) with paths keyed on the step, 24 supernet steps
    saved every 4, capped vocabularies (small checkpoints); written to <root>.json."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from test_nasrec_pipeline import tiny_config
    cfg = tiny_config(root)
    cfg.data.dir, cfg.data.vocab_cap = data, 64
    cfg.supernet.steps, cfg.supernet.save_every, cfg.supernet.extra = 24, 4, {"path_seed": "step"}
    cfg.save(root + ".json")
    return root + ".json"


def _cli(*args, check=True, **kw):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    out = subprocess.run([sys.executable, "-m", "tfnas.cli", "nasrec", *args, "--no-progress"], cwd=ROOT, env=env,
                         capture_output=True, text=True, **kw)
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def _worst(got: dict, want: dict) -> tuple[float, float]:
    """(largest |diff| of a weight, largest |diff| of an accumulator (optimizer slot, metric total) / its largest
    |value|)."""
    w = s = 0.0
    for k, v in want.items():
        d = float(np.max(np.abs(got[k].astype(np.float64) - v))) if v.size else 0.0
        if "OPTIMIZER_SLOT" in k or "_metrics/" in k:
            s = max(s, d / max(float(np.max(np.abs(v))), 1e-12))
        else:
            w = max(w, d)
    return w, s


def _checkpoint(folder):
    import tensorflow as tf
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(folder))
    values = {k: np.asarray(reader.get_tensor(k)) for k in reader.get_variable_to_shape_map()}
    return {k: v for k, v in values.items() if v.dtype.kind in "fiu"}


def one_process_run(root, config=None):
    """`tfnas nasrec run` in one process (supernet, search, retrain, export) of `config(run_root, data)` (default
    `_config`) under `root`: (root, its run folder, wall seconds)."""
    cfg = (config or _config)(str(root / "one"), str(root / "data"))
    start = time.perf_counter()
    _cli("run", "--config", cfg)
    return root, root / "one" / "run", time.perf_counter() - start


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: `tfnas nasrec run` in one process, with its wall time."""
    return one_process_run(tmp_path_factory.mktemp("nasrec_mwms"))


@pytest.mark.long   # a one-process run + 2 two-worker clusters (one killed): ~6 min on 2 loaded cores
def test_supernet_two_workers_killed_and_resumed_match_one_process(one_process):
    root, ref, _ = one_process
    cfg = _config(str(root / "two"), str(root / "data"))
    run = root / "two" / "run"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    cmd = [sys.executable, "-m", "tfnas.cli", "nasrec", "train-supernet", "--no-progress", "--config", cfg,
           "--workers", "2"]
    launcher = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index, end = run / "supernet" / "checkpoint", time.time() + 400
    while time.time() < end and launcher.poll() is None and not index.exists():
        time.sleep(0.1)
    assert launcher.poll() is None, "the cluster finished before it could be killed"
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    time.sleep(2)                       # the workers die with the launcher (tests/test_distributed_ctr.py)
    from tfnas.nasrec.training import latest_step
    killed_at = latest_step(str(run / "supernet"))
    assert 0 < killed_at < 24

    start = time.perf_counter()
    _cli("train-supernet", "--config", cfg, "--workers", "2")
    seconds = time.perf_counter() - start
    done = json.loads((run / "supernet" / "DONE.json").read_text())
    assert done["steps"] == 24 and done["resumed_from"] >= killed_at > 0    # the restarted cluster resumed
    got, want, other = (_checkpoint(str(d)) for d in (run / "supernet", ref / "supernet",
                                                      run / "worker-1" / "supernet"))
    assert sorted(got) == sorted(want) and len(want) > 100
    weights, slots = _worst(got, want)
    print(f"\nsupernet 2 workers vs 1 process after 24 steps: weights max |diff| {weights:.3g}, Adagrad slots "
          f"{slots:.3g} relative (resumed from step {done['resumed_from']}; resumed part {seconds:.1f} s wall)")
    assert weights < WEIGHT_TOL and slots < SLOT_RTOL
    assert all(np.array_equal(got[k], other[k]) for k in got)              # mirrored on both workers
    table = "model/embedding/table/.ATTRIBUTES/VARIABLE_VALUE"
    assert float(np.max(np.abs(want[table]))) > 100 * WEIGHT_TOL           # trained far beyond the tolerance


@pytest.mark.long
def test_retrain_two_workers_match_one_process(one_process):
    root, ref, one_seconds = one_process
    cfg = _config(str(root / "retrain2"), str(root / "data"))
    run = root / "retrain2" / "run"
    run.mkdir(parents=True)
    shutil.copytree(ref / "search", run / "search")          # the one-process run's searched candidates
    start = time.perf_counter()
    out = _cli("retrain", "--config", cfg, "--workers", "2")
    seconds = time.perf_counter() - start
    got = json.loads((run / "retrain" / "results.json").read_text())
    want = json.loads((ref / "retrain" / "results.json").read_text())
    assert sorted(got) == sorted(want) and len(want) == 2 and "mlp" in want
    for name in want:
        for key in ("val_logloss", "test_logloss", "final_train_loss"):
            assert got[name][key] == pytest.approx(want[name][key], rel=LOGLOSS_RTOL), (name, key)
        a = _checkpoint(str(run / "retrain" / "runs" / f"{name}.seed0" / "checkpoints" / "last"))
        b = _checkpoint(str(ref / "retrain" / "runs" / f"{name}.seed0" / "checkpoints" / "last"))
        weights, slots = _worst(a, b)
        print(f"\nretrain {name}: weights max |diff| {weights:.3g}, accumulators {slots:.3g} relative")
        assert weights < WEIGHT_TOL and slots < SLOT_RTOL
    worker = json.loads((run / "worker-1" / "retrain" / "results.json").read_text())
    assert worker["mlp"]["val_logloss"] == got["mlp"]["val_logloss"]       # the other worker trained alike
    print(f"\nretrain 2 workers: {seconds:.1f} s wall (one-process full run {one_seconds:.1f} s); "
          + ", ".join(f"{n} val logloss {got[n]['val_logloss']:.8f} vs {want[n]['val_logloss']:.8f}" for n in want))
    assert "found net" in out.stdout


@pytest.mark.long   # 2 TF processes, ~1 min
def test_supernet_under_a_hand_set_tf_config_matches_one_process(one_process):
    """Each worker started as plain `tfnas nasrec train-supernet` with its own TF_CONFIG (as on a real cluster):
    the chief takes the run lock and reports, worker 1 only trains; same weights as one process."""
    from tfnas.distribute.cluster import launch_workers
    root, ref, _ = one_process
    cfg = _config(str(root / "tfconfig"), str(root / "data"))
    run = root / "tfconfig" / "run"
    run.mkdir(parents=True)
    env = {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    codes = launch_workers(2, [sys.executable, "-m", "tfnas.cli", "nasrec", "train-supernet", "--no-progress",
                               "--config", cfg], env=env, timeout=400, log_dir=str(run))
    logs = [(run / f"worker-{i}.log").read_text() for i in (0, 1)]
    assert codes == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert "supernet trained:" in logs[0] and "nasrec train-supernet worker: done" in logs[1]
    weights, slots = _worst(_checkpoint(str(run / "supernet")), _checkpoint(str(ref / "supernet")))
    assert weights < WEIGHT_TOL and slots < SLOT_RTOL


def test_keyed_paths_equal_across_simulated_workers():
    """Two supernets as two workers would hold them: one samples steps 0..5, the other (restarted) only step 5;
    keyed on (seed, step) both draw the same path at step 5, another step draws another path, and the default
    stream depends on the draws before it."""
    import tensorflow as tf

    from pipelines.ctr.schema import FeatureSpec
    from tfnas.nasrec.supernet import NASRecSupernet
    spec = FeatureSpec(("I1", "I2"), ("C1", "C2", "C3"), (16, 30, 8))

    def net(path_seed, seed=3):
        return NASRecSupernet(spec, num_blocks=3, dense_widths=[16, 32], sparse_widths=[16], seed=seed,
                              path_seed=path_seed)
    a, b = net("step"), net("step")
    seq = [a.sample_choice(tf.constant(s, tf.int64)).numpy() for s in range(6)]
    assert np.array_equal(seq[5], b.sample_choice(tf.constant(5, tf.int64)).numpy())
    assert any(not np.array_equal(seq[i], seq[5]) for i in range(5))
    assert not np.array_equal(seq[5], net("step", seed=4).sample_choice(tf.constant(5, tf.int64)).numpy())
    s1, s2 = net("stream"), net("stream")
    s1.sample_choice(tf.constant(0, tf.int64))
    assert not np.array_equal(s1.sample_choice(tf.constant(1, tf.int64)).numpy(),
                              s2.sample_choice(tf.constant(1, tf.int64)).numpy())
    with pytest.raises(ValueError, match="supernet.extra.path_seed must be one of"):
        net("random")


@pytest.mark.parametrize("stage", ["train-supernet", "retrain", "run"])
def test_workers_refused_before_tensorflow_loads(tmp_path, stage):
    code = ("import sys; from tfnas.cli import main\n"
            "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('tensorflow loaded' if 'tensorflow' in sys.modules else 'no tensorflow', rc)")
    out = subprocess.run([sys.executable, "-c", code, "nasrec", stage, "--config", str(tmp_path / "none.json"),
                          "--workers", "0"], cwd=ROOT, capture_output=True, text=True)
    assert "--workers must be >= 1, got 0" in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.stdout.split() == ["no", "tensorflow", "1"]


def test_retrain_on_a_cluster_needs_the_search(tmp_path):
    from tfnas.distribute.nasrec import launch_stage
    from tfnas.nasrec.config import NASRecConfig
    cfg = NASRecConfig(run_dir=str(tmp_path / "run"))
    with pytest.raises(FileNotFoundError, match="retrain --workers: no searched candidates"):
        launch_stage(cfg, "retrain", 2)
    with pytest.raises(ValueError, match="does not run on a cluster"):
        launch_stage(cfg, "search", 2)
    assert not (tmp_path / "run").exists()      # nothing launched, nothing written
