"""MultiWorkerMirroredStrategy from TF_CONFIG, and a launcher that starts N local workers for a quick try.

`launch_workers(n, argv)` gives each of n processes its own TF_CONFIG (`{"cluster": {"worker": [...]},
"task": {"type": "worker", "index": i}}` on free localhost ports) and runs the same command in all; a worker that
fails stops the others (MWMS collectives would hang on it).  Inside, `strategy_from_env()` is MWMS when TF_CONFIG
names more than one worker, else the default strategy, and `worker_run_dir(run_dir)` is `run_dir` on the chief
(worker 0) and `run_dir/worker-<i>` elsewhere, so only the chief's checkpoints and history are the run's (every
worker must still write its own, MWMS saves are collective).  Input: a dataset batched with the GLOBAL batch is
split by tf.distribute's AutoShardPolicy.DATA, so one global step sees the same examples as a single process.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ENV = "TF_CONFIG"
_STRATEGY = []          # the process's strategy: MWMS can be created once per process


def free_ports(n: int) -> list[int]:
    """n TCP ports free on localhost now (held open together so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports: list[int], index: int, task_type: str = "worker", extra: dict | None = None) -> str:
    """TF_CONFIG JSON of task `task_type`/`index` in a localhost cluster of workers on `ports` (`extra`: other
    jobs, e.g. {"ps": [...], "chief": [...]} for ParameterServerStrategy)."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports], **(extra or {})}
    if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"TF_CONFIG: no task {task_type}[{index}] in cluster {sorted(cluster)}")
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def cluster_info(env: dict | None = None) -> dict:
    """{"num_workers", "index", "is_chief"} of this process from TF_CONFIG (one worker when it is unset)."""
    raw = (env if env is not None else os.environ).get(ENV)
    if not raw:
        return {"num_workers": 1, "index": 0, "is_chief": True}
    try:
        cfg = json.loads(raw)
        workers = cfg["cluster"]["worker"]
        task = cfg["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{ENV}: not a valid cluster spec ({exc}); expected "
                         '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}') from None
    chief = task.get("type") == "chief" or ("chief" not in cfg["cluster"] and task.get("type") == "worker"
                                            and index == 0)
    return {"num_workers": len(workers), "index": index, "is_chief": chief}


def strategy_from_env():
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else the default strategy.  Call it
    before any other TensorFlow op: MWMS configures the collectives at program start."""
    import tensorflow as tf
    if cluster_info()["num_workers"] <= 1:
        return tf.distribute.get_strategy()
    if not _STRATEGY:
        _STRATEGY.append(tf.distribute.MultiWorkerMirroredStrategy())
    return _STRATEGY[0]


def is_distributed(strategy) -> bool:
    """Whether `strategy` spans more than one replica (so losses must be scaled by the global batch)."""
    return strategy.num_replicas_in_sync > 1


def sync_from_chief(run_dir: str, names=("checkpoints", "history.csv")) -> None:
    """On a non-chief worker resuming: replace its copies of `names` in `worker_run_dir(run_dir)` by the chief's in
    `run_dir` (atomically per name), so every worker restores the same epoch even if the cluster was killed between
    the chief's checkpoint and this worker's.  A no-op on the chief or where the chief's folder is not visible."""
    mine = worker_run_dir(run_dir)
    if mine == run_dir or not os.path.isdir(os.path.join(run_dir, names[0])):
        return
    os.makedirs(mine, exist_ok=True)
    for name in names:
        src, dst = os.path.join(run_dir, name), os.path.join(mine, name)
        if not os.path.exists(src):
            continue
        tmp = dst + ".sync-tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, tmp)
        if os.path.isdir(dst):
            old = dst + ".sync-old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)


def worker_run_dir(run_dir: str) -> str:
    """`run_dir` on the chief, `run_dir/worker-<index>` on the other workers."""
    info = cluster_info()
    return run_dir if info["is_chief"] else os.path.join(run_dir, f"worker-{info['index']}")


def data_sharded(dataset):
    """`dataset` with AutoShardPolicy.DATA: each worker takes its part of every global batch (readers that
    stream one file would otherwise be split by file, which a single file cannot be)."""
    import tensorflow as tf
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _die_with_parent() -> None:
    """In a child: get SIGKILL when the launcher dies, even by SIGKILL (Linux PR_SET_PDEATHSIG), so a killed
    launcher leaves no worker behind holding the cluster's ports.  Not SIGTERM: an MWMS worker's coordination
    service catches it as a preemption notice and the worker lives on (measured: 10-30+ s)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def launch_workers(n: int, argv: list[str], env: dict | None = None, timeout: float = 3600,
                   log_dir: str | None = None, chief_output: bool = False) -> list[int]:
    """Run `argv` in n local worker processes with their TF_CONFIG; returns their exit codes (all 0 on success).

    A worker that fails stops the others; the workers die with the launcher.  log_dir: each worker's output goes
    to worker-<i>.log there (with `chief_output`, worker 0's stays on this process's stdout/stderr).
    """
    if n < 1:
        raise ValueError(f"--workers must be >= 1, got {n}")
    ports = free_ports(n)
    procs = []
    try:
        for i in range(n):
            out = open(os.path.join(log_dir, f"worker-{i}.log"), "w") if log_dir and not (chief_output and i == 0) \
                else None
            procs.append(subprocess.Popen(argv, env={**os.environ, **(env or {}), ENV: tf_config(ports, i)},
                                          stdout=out, stderr=subprocess.STDOUT if out else None,
                                          preexec_fn=_die_with_parent))
            if out:
                out.close()
        end = time.monotonic() + timeout
        while True:
            codes = [p.poll() for p in procs]
            if any(c not in (None, 0) for c in codes) or all(c == 0 for c in codes):
                break
            if time.monotonic() > end:
                raise TimeoutError(f"{n} workers did not finish within {timeout} s")
            time.sleep(0.2)
    finally:
        for p in procs:          # the cluster is given up: SIGKILL (SIGTERM is caught, see _die_with_parent)
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()
    return [p.returncode for p in procs]


def write_launch_file(path: str, spec: dict) -> str:
    """Write a worker launch file (JSON) atomically (temp + rename); return its path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(spec, f, indent=1)
    os.replace(path + ".tmp", path)
    return path


def launch_module(module: str, launch_file: str, workers: int, log_dir: str, label: str, hint: str,
                  timeout: float = 24 * 3600, env: dict | None = None) -> None:
    """Run `python -m <module> <launch_file>` on `workers` local processes (the project's root on PYTHONPATH, the
    chief's output on this console); RuntimeError '<label> --workers N: worker i exited with c (see ...); <hint>'
    naming the first failed worker and its log.  Callers check `workers` >= 2 before writing the launch file."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p), **(env or {})}
    codes = launch_workers(workers, [sys.executable, "-m", module, launch_file], env=env, timeout=timeout,
                           log_dir=log_dir, chief_output=True)
    failed = [i for i, c in enumerate(codes) if c != 0]
    if failed:
        i = failed[0]
        where = "its output above" if i == 0 else os.path.join(log_dir, f"worker-{i}.log")
        raise RuntimeError(f"{label} --workers {workers}: worker {i} exited with {codes[i]} (see {where}); {hint}")


def worker_entry(path: str, label: str, run) -> int:
    """A launched worker's main: read its JSON launch file and `run(spec)`; a failure is one line naming the worker
    kind (`tfnas <label> worker: error: ...`, as the CLI prints), with the traceback only under TFNAS_DEBUG."""
    from tfnas.cli import error_line, quiet_tensorflow

    quiet_tensorflow(verbose=False)
    try:
        with open(path) as f:
            spec = json.load(f)
        run(spec)
    except Exception as exc:  # noqa: BLE001 - one line per failing worker, as the CLI does
        if os.environ.get("TFNAS_DEBUG"):
            raise
        print(f"tfnas {label} worker: error: {error_line(exc)}", file=sys.stderr)
        return 1
    return 0
