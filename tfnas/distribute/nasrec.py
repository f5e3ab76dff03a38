"""`tfnas nasrec train-supernet|retrain|run --workers N`: NASRec's supernet training and retraining on N local
worker processes under MultiWorkerMirroredStrategy, on the same launcher, TF_CONFIG and per-worker folders as
`tfnas ctr train --workers N` (tfnas/distribute/cluster.py, tfnas/distribute/ctr.py).

The launching process holds the run folder's lock and writes the full config and the stage to
<run_dir>/mwms/<stage>.json; each worker (`python -m tfnas.distribute.nasrec <that file>`, or any process started
with a TF_CONFIG: `run_worker`) runs that one stage in the strategy's scope.  The chief's files are the run; worker i
writes its copies (collective checkpoints, retrain results) under <run_dir>/worker-<i>/ and logs to
<run_dir>/worker-<i>.log.  Before a stage a non-chief worker copies the chief's state (supernet checkpoints; search
candidates and retrain results), so a killed cluster restarted with the same command resumes from the chief's last
supernet checkpoint, or with the chief's next unfinished retrain model, on every worker alike.

What is distributed: the supernet's steps (global batch = supernet.batch_size split by example; each step's path
keyed on (seed, step), identical on every worker; gradients all-reduced, tfnas/nasrec/supernet.py) and every
retrained model (the `fit_ctr` protocol under the strategy, as `ctr train`).  The search and the export run in
the launching process (`tfnas nasrec search --workers N` distributes the search itself, tfnas/nasrec/workers.py).
"""
from __future__ import annotations

import os
import sys

CLUSTER_STAGES = ("train-supernet", "retrain")
FOLDER = "mwms"
# what a non-chief worker copies from the chief's run folder before a stage (the first one must exist)
_SYNC = {"train-supernet": ("supernet",), "retrain": ("search", "retrain")}


def check_workers(workers: int) -> None:
    """--workers of a NASRec stage: 1 (this process) or a local cluster of N >= 2."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")


def check_retrain_ready(cfg) -> None:
    """Retraining on a cluster needs the finished search (the workers only retrain, they do not search)."""
    from tfnas.nasrec.search import CANDIDATES_FILE
    path = os.path.join(cfg.run_dir, "search", CANDIDATES_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"retrain --workers: no searched candidates ({path}); run `tfnas nasrec search` "
                                "first, or `tfnas nasrec run --workers N` for every stage")


def write_launch_config(cfg, stage: str, progress: bool) -> str:
    """Write what every worker needs into <run_dir>/mwms/<stage>.json atomically; return its path."""
    from tfnas.distribute.cluster import write_launch_file

    spec = {"config": cfg.to_dict(), "stage": stage, "progress": bool(progress)}
    spec["config"]["run_dir"] = os.path.abspath(cfg.run_dir)
    return write_launch_file(os.path.join(cfg.run_dir, FOLDER, f"{stage}.json"), spec)


def launch_stage(cfg, stage: str, workers: int, progress: bool = True, timeout: float = 24 * 3600) -> None:
    """Run `stage` of `cfg` on `workers` local processes; RuntimeError naming the failed worker and its log."""
    from tfnas.distribute.cluster import launch_module

    if stage not in CLUSTER_STAGES:
        raise ValueError(f"nasrec --workers: stage {stage!r} does not run on a cluster; choose from "
                         f"{list(CLUSTER_STAGES)}")
    if workers < 2:
        raise ValueError(f"--workers: a cluster needs at least 2 workers, got {workers}")
    if stage == "retrain":
        check_retrain_ready(cfg)
    launch_module("tfnas.distribute.nasrec", write_launch_config(cfg, stage, progress), workers, cfg.run_dir,
                  f"nasrec {stage}", "rerun the same command to resume", timeout,
                  env={"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")})


def run_worker(cfg, stage: str, progress: bool = True):
    """This process's part of `stage` under TF_CONFIG's strategy (call before any other TensorFlow op).

    A non-chief worker writes under <run_dir>/worker-<i>/ and skips the scikit-learn reference rows (the chief
    fits them); returns the stage's output on this worker."""
    from tfnas.distribute.cluster import cluster_info, strategy_from_env, sync_from_chief, worker_run_dir

    strategy = strategy_from_env()
    if stage not in CLUSTER_STAGES:
        raise ValueError(f"under TF_CONFIG only {list(CLUSTER_STAGES)} run as a worker, not {stage!r}")
    chief_dir = cfg.run_dir
    if not cluster_info()["is_chief"]:
        cfg.run_dir = worker_run_dir(chief_dir)
        cfg.retrain.references = []
        progress = False
        sync_from_chief(chief_dir, _SYNC[stage])
    if stage == "retrain":   # a worker that cannot see the chief's folder needs the search copied by hand
        check_retrain_ready(cfg)
    from tfnas.nasrec.pipeline import Pipeline
    pipe = Pipeline(cfg, progress)
    with strategy.scope():
        return pipe.stage_train_supernet() if stage == "train-supernet" else pipe.stage_retrain()


def run_with_workers(cfg, workers: int, progress: bool = True) -> dict:
    """`nasrec run --workers N`: the supernet and the retrain on the cluster, search and export here; every
    stage skipped when its output exists (as `pipeline.run`); returns the same dict."""
    from tfnas.nasrec.pipeline import Pipeline

    pipe, out = Pipeline(cfg, progress), {}
    _ = pipe.data                                  # planted data written once, before the workers read it
    if not os.path.exists(pipe.path("supernet", "DONE.json")):
        launch_stage(cfg, "train-supernet", workers, progress)
    out["train-supernet"] = pipe.stage_train_supernet()
    out["search"] = pipe.stage_search()
    if not os.path.exists(pipe.path("export.json")):
        launch_stage(cfg, "retrain", workers, progress)
    out["retrain"] = pipe.stage_retrain()
    out["report"] = pipe.report()
    out["export"] = pipe.stage_export()
    return out


def worker_main(path: str) -> int:
    """One worker of `launch_stage`: read the launch file, run its stage."""
    from tfnas.distribute.cluster import worker_entry

    def run(spec):
        from tfnas.nasrec.config import NASRecConfig
        run_worker(NASRecConfig.from_dict(spec["config"], source=path), spec["stage"], spec["progress"])
    return worker_entry(path, "nasrec", run)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
