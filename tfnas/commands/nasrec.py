"""`tfnas nasrec ...`: NASRec's stages from one JSON config (train-supernet, search, retrain, export, run)."""
from __future__ import annotations

import argparse

_STAGE_HELP = {
    "train-supernet": "train (or resume) the weight-sharing supernet",
    "search": "regularized evolution scored by the supernet (resumable)",
    "retrain": "retrain the top-k candidates and the baselines from scratch; print the comparison",
    "export": "export the best retrained candidate as a SavedModel (TF Serving layout)",
    "run": "all four stages; a stage whose output exists is skipped",
}


WORKER_STAGES = ("train-supernet", "retrain", "run")   # the stages `--workers N` runs on a MWMS cluster


def register(subparsers) -> None:
    """Add the `nasrec` command group with one leaf per stage plus `run` and `config`."""
    p = subparsers.add_parser("nasrec", help="NASRec: search whole CTR models with a supernet")
    sub = p.add_subparsers(dest="nasrec_command", metavar="{train-supernet,search,retrain,export,run,config}")
    sub.required = True
    for name, text in _STAGE_HELP.items():
        leaf = sub.add_parser(name, help=text, description=text)
        leaf.add_argument("--config", required=True, help="NASRec JSON config (see configs/nasrec_*.json)")
        leaf.add_argument("--run-dir", default=None, help="override the config's run_dir")
        leaf.add_argument("--no-progress", action="store_true", help="no progress bars")
        leaf.add_argument("--bad-rows", choices=("error", "skip"), default=None,
                          help="override data.bad_rows: stop at a malformed row, or skip and count it")
        leaf.add_argument("--max-flops", type=float, default=None,
                          help="override export.max_flops: retrain and export the best found net within this "
                               "many FLOPs per example (0: no budget; default: the config's)")
        if name == "search":
            leaf.add_argument("--runner", choices=("loop", "keras_tuner"), default="loop",
                              help="drive the search with run_search (default) or the keras-tuner Oracle")
            leaf.add_argument("--workers", type=int, default=0, metavar="N",
                              help="score candidates in N local worker processes at once (keras-tuner chief/worker "
                                   "mode; same outputs as the sequential search); with KERASTUNER_ORACLE_IP, "
                                   "_PORT and _TUNER_ID set instead, this process is that chief or worker")
        elif name in WORKER_STAGES:
            leaf.add_argument("--workers", type=int, default=1, metavar="N",
                              help="train on N local worker processes under MultiWorkerMirroredStrategy (the "
                                   "config's global batch split across them; run: the supernet and retrain "
                                   "stages); with TF_CONFIG set instead, this process is one of its workers")
        leaf.set_defaults(func=_run_stage, stage=name)
    cfg = sub.add_parser("config", help="print a config with every field filled in (defaults = reference)")
    cfg.add_argument("--config", default=None, help="a partial config to complete (default: none)")
    cfg.set_defaults(func=_print_config)


def _load(args):
    from tfnas.nasrec.config import NASRecConfig
    cfg = NASRecConfig.load(args.config)
    if args.run_dir:
        cfg.run_dir = args.run_dir
    if getattr(args, "max_flops", None) is not None:
        if args.max_flops < 0:
            raise ValueError(f"--max-flops must be >= 0, got {args.max_flops:g}")
        cfg.export.max_flops = float(args.max_flops)
    if getattr(args, "bad_rows", None):
        cfg.data.bad_rows = args.bad_rows
    return cfg


def _run_stage(args: argparse.Namespace) -> int:
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.stage in WORKER_STAGES:   # before TensorFlow loads
        from tfnas.distribute.nasrec import check_workers
        check_workers(args.workers)
    from tfnas.nasrec.pipeline import STAGES, Pipeline, run

    from tfnas.runlock import RunLock

    cfg = _load(args)
    if args.stage in WORKER_STAGES and os.environ.get("TF_CONFIG"):
        return _as_tf_config_worker(args, cfg, RunLock)
    role = _search_role(args)
    if role == "worker":   # writes only its own files; the chief holds the run lock
        from tfnas.nasrec.workers import search_as_role
        search_as_role(cfg, role)
        print("search worker: done")
        return 0
    with RunLock(cfg.run_dir, f"tfnas nasrec {args.stage}"):  # one writer per run folder
        if role == "chief":
            from tfnas.nasrec.workers import search_as_role
            print(f"search candidates: {search_as_role(cfg, role, progress=not args.no_progress)}")
            return 0
        return _stage(args, cfg, STAGES, Pipeline, run)


def _as_tf_config_worker(args: argparse.Namespace, cfg, RunLock) -> int:
    """This process is one MultiWorkerMirroredStrategy worker of TF_CONFIG's cluster; the chief holds the run
    lock and reports."""
    from tfnas.distribute.cluster import cluster_info
    from tfnas.distribute.nasrec import run_worker
    if args.stage == "run":
        raise ValueError("nasrec run under TF_CONFIG: start train-supernet and retrain as the cluster's workers, "
                         "search and export in one process without TF_CONFIG (or use --workers N)")
    if not cluster_info()["is_chief"]:
        run_worker(cfg, args.stage, progress=False)
        print(f"nasrec {args.stage} worker: done")
        return 0
    from tfnas.nasrec.pipeline import Pipeline
    with RunLock(cfg.run_dir, f"tfnas nasrec {args.stage}"):
        out = run_worker(cfg, args.stage, progress=not args.no_progress)
        print(f"supernet trained: {out}" if args.stage == "train-supernet"
              else Pipeline(cfg, not args.no_progress).report())
    return 0


def _search_role(args: argparse.Namespace):
    """'chief'/'worker' when `search` runs under keras-tuner's variables, else None (--workers checked)."""
    if args.stage != "search":
        return None
    from tfnas.nasrec.workers import env_role
    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    role = env_role()
    if role and args.workers:
        raise ValueError("--workers starts its own chief and workers: unset KERASTUNER_ORACLE_IP/_PORT/_TUNER_ID, "
                         "or drop --workers")
    return role


def _stage(args: argparse.Namespace, cfg, STAGES, Pipeline, run) -> int:
    progress = not args.no_progress
    workers = getattr(args, "workers", 1) if args.stage != "search" else 1
    if workers > 1:
        from tfnas.distribute import nasrec as mwms
        if args.stage != "run":
            mwms.launch_stage(cfg, args.stage, workers, progress)
    if args.stage == "run":
        out = mwms.run_with_workers(cfg, workers, progress) if workers > 1 else run(cfg, STAGES, progress=progress)
        print(out["report"])
        print(f"exported: {out['export']}")
        return 0
    pipe = Pipeline(cfg, progress)
    if args.stage == "train-supernet":
        print(f"supernet trained: {pipe.stage_train_supernet()}")
    elif args.stage == "search" and args.workers:
        from tfnas.nasrec.workers import search_with_workers
        print(f"search candidates: {search_with_workers(pipe, args.workers)}")
    elif args.stage == "search":
        print(f"search candidates: {pipe.stage_search(runner=args.runner)}")
    elif args.stage == "retrain":
        pipe.stage_retrain()
        print(pipe.report())
    else:
        print(f"exported: {pipe.stage_export()}")
    return 0


def _print_config(args: argparse.Namespace) -> int:
    from tfnas.nasrec.config import NASRecConfig
    cfg = NASRecConfig.load(args.config) if args.config else NASRecConfig()
    print(cfg.to_json())
    return 0
