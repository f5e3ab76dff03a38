"""`tfnas ctr train --workers N`: one CTR training run on N local worker processes under
MultiWorkerMirroredStrategy (tfnas/distribute/cluster.py), each running the one `train_run` with its TF_CONFIG.

The launching process holds the run folder's lock for the whole cluster and writes the run's TrainConfig to
<logdir>/cluster/config.json (temp + rename); each worker (`python -m tfnas.distribute.ctr <that file>`) reads it,
trains, and logs to <logdir>/worker-<i>.log (the chief's output stays on the console).  The chief's files are the
run (<logdir>/run.json, checkpoints/, history.csv); worker i's copies live in <logdir>/worker-<i>/ (MWMS saves are
collective, so every worker writes its own).  A killed cluster resumes with `--resume`: each worker restores the
chief's last checkpoint.  The global batch is --batch-size, split across the workers.
"""
from __future__ import annotations

import dataclasses
import os
import sys

CLUSTER_DIR = "cluster"
CONFIG = "config.json"


def write_launch_config(config, logdir: str, resume: bool, verbose: int) -> str:
    """Write what every worker needs into <logdir>/cluster/config.json atomically; return its path."""
    from tfnas.distribute.cluster import write_launch_file

    return write_launch_file(os.path.join(logdir, CLUSTER_DIR, CONFIG),
                             {"config": dataclasses.asdict(config), "logdir": os.path.abspath(logdir),
                              "resume": bool(resume), "verbose": int(verbose)})


def launch_train(config, logdir: str, workers: int, resume: bool = False, verbose: int = 0,
                 timeout: float = 24 * 3600) -> None:
    """Train `config` into `logdir` on `workers` local processes; raises RuntimeError naming the failed worker
    and its log when one fails (the others are stopped)."""
    from tfnas.distribute.cluster import launch_module

    if workers < 2:
        raise ValueError(f"--workers: a cluster needs at least 2 workers, got {workers}")
    launch_module("tfnas.distribute.ctr", write_launch_config(config, logdir, resume, verbose), workers, logdir,
                  "ctr train", "rerun with --resume to continue from the last checkpoint", timeout)


def worker_main(path: str) -> int:
    """One worker of `launch_train`: read the launch config, run `train_run` under TF_CONFIG's strategy."""
    from tfnas.distribute.cluster import worker_entry

    def run(spec):
        from tfnas.train.ctr import TrainConfig, train_run
        train_run(TrainConfig(**spec["config"]), spec["logdir"], resume=spec["resume"], verbose=spec["verbose"])
    return worker_entry(path, "ctr", run)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
