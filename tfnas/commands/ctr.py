"""`tfnas ctr train|leaderboard`: train one CTR baseline, or rank all of them against the Bayes-optimal logloss."""
from __future__ import annotations

import argparse
import json
import os

MODELS = ("dlrm", "deepfm", "dcnv2", "autoint", "mlp")


def register(subparsers) -> None:
    """Add the `ctr` command group: `train` and `leaderboard`."""
    p = subparsers.add_parser("ctr", help="CTR ranking baselines: train, leaderboard")
    sub = p.add_subparsers(dest="ctr_command", metavar="{train,leaderboard}")
    sub.required = True

    t = sub.add_parser("train", help="train one baseline (TensorBoard, CSV, PNG curves, checkpoints)",
                       description="Train a CTR baseline on a data directory (spec.json + train/valid/test).")
    t.add_argument("--model", required=True, choices=MODELS)
    _common(t)
    t.add_argument("--logdir", required=True, help="run directory (runs/...)")
    t.add_argument("--resume", action="store_true", help="continue the run in --logdir from its last epoch")
    t.add_argument("--hparams", default="{}", help='JSON hyper-parameters, e.g. \'{"embedding_dim": 8}\'')
    t.add_argument("--workers", type=int, default=1,
                   help="train on N local worker processes under MultiWorkerMirroredStrategy (global batch "
                        "--batch-size split across them; a TF_CONFIG already set makes this process one worker)")
    t.set_defaults(func=_train)

    lb = sub.add_parser("leaderboard", help="train every baseline over seeds and compare them, with reference rows",
                        description="Train all baselines under one protocol (early stopping on validation, best "
                                    "epoch restored) for each seed, add logistic-regression and gradient-boosted-"
                                    "trees reference rows, print val/test logloss (mean +- std), AUC, params, "
                                    "FLOPs against the Bayes-optimal logloss, export the model with the best "
                                    "validation logloss and check it in a fresh process.")
    _common(lb)
    lb.add_argument("--logdir", default="runs/leaderboard", help="<logdir>/<model>/seed<k>/ per run (resumable)")
    lb.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    lb.add_argument("--seeds", default="0,1,2", help="comma-separated seeds; each model is trained once per seed")
    lb.add_argument("--references", default="logreg,hgb",
                    help="scikit-learn reference rows (logreg, hgb; empty for none), fitted on the same features")
    lb.add_argument("--export-name", default="ctr_best", help="saved_models/<name>/<version>")
    lb.add_argument("--export-root", default="saved_models")
    lb.add_argument("--check-rows", type=int, default=512, help="raw test rows for the reload check")
    lb.set_defaults(func=_leaderboard)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="data directory (tfnas data synth / split output)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--optimizer", default="adam+adagrad", choices=("adam+adagrad", "adagrad", "adam", "sgd"),
                   help="adam+adagrad: Adam for dense layers, Adagrad (row-wise) for embedding tables")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (dense layers)")
    p.add_argument("--sparse-lr", type=float, default=0.2,
                   help="embedding-table learning rate with --optimizer adam+adagrad")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="cap on training steps per epoch (default: one pass over train)")
    p.add_argument("--seed", type=int, default=0, help="seed of `ctr train` (leaderboard: --seeds)")
    p.add_argument("--patience", type=int, default=2,
                   help="stop after this many epochs without a better validation logloss, best epoch restored "
                        "(0: off)")
    p.add_argument("--bad-rows", choices=("error", "skip"), default="error",
                   help="a malformed row stops the run naming file:line: field (error) or is counted and dropped")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras fit verbosity")
    p.add_argument("--dense-encoding", default="log1p", choices=("log1p", "quantile"),
                   help="dense values: log(1+x) (NASRec) or their training-split quantile CDF (piecewise linear)")
    p.add_argument("--dense-bins", type=int, default=32, help="quantile bins fitted on train (--dense-encoding "
                   "quantile); the edges are stored in the run and the export")


def _config(args, model: str, hparams: dict, seed: int | None = None):
    from tfnas.train.ctr import TrainConfig
    return TrainConfig(model=model, data=args.data, epochs=args.epochs, batch_size=args.batch_size,
                       learning_rate=args.lr, optimizer=args.optimizer, hparams=hparams,
                       sparse_learning_rate=args.sparse_lr, patience=args.patience,
                       steps_per_epoch=args.steps_per_epoch, seed=args.seed if seed is None else seed,
                       bad_rows=args.bad_rows, dense_encoding=args.dense_encoding, dense_bins=args.dense_bins)


def _print_skipped(out: dict) -> None:
    """Rows dropped under --bad-rows skip: counts by reason and up to 5 examples naming file and line."""
    if out.get("skipped"):
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(out["skipped"].items()))
        print(f"skipped bad rows: {counts}")
        for example in out.get("skipped_examples", []):
            print(f"  {example}")


def evaluate_network(network, spec, data: str, split: str = "test") -> dict:
    """Logloss/AUC on `split` (tfnas.metrics, exact) plus params and FLOPs per example of a network."""
    import tensorflow as tf

    from pipelines.ctr.train import predict_split
    from tfnas.metrics import auc, count_params, flops_per_example, logloss

    y, p = predict_split(network, data, split, spec=spec)
    sig = {"dense": tf.TensorSpec([None, spec.num_dense], tf.float32),
           "sparse": tf.TensorSpec([None, spec.num_sparse], tf.int64)}
    return {"logloss": logloss(y, p), "auc": auc(y, p), "rows": int(len(y)),
            "params": count_params(network), "flops": flops_per_example(network, sig)}


def _check_encoding(args) -> None:
    from pipelines.ctr.dense_encoding import check_encoding
    check_encoding(args.dense_encoding, args.dense_bins)


def _train(args) -> int:
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if not os.path.isdir(args.data):     # before numpy and TensorFlow load (seconds)
        raise FileNotFoundError(f"{args.data}: no such data folder; create it with `tfnas data split` (or "
                                "`tfnas data synth`, `tfnas data cache`)")
    _check_encoding(args)
    from tfnas.train.ctr import load_run, train_run

    try:
        hparams = json.loads(args.hparams)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--hparams is not valid JSON: {exc}") from None
    from tfnas.distribute.cluster import ENV, cluster_info
    if args.workers > 1 and not os.environ.get(ENV):        # a local cluster; the chief's folder is the run
        from tfnas.distribute.ctr import launch_train
        from tfnas.train.ctr import run_history
        launch_train(_config(args, args.model, hparams), args.logdir, args.workers, resume=args.resume,
                     verbose=args.verbose)
        network, spec, run = load_run(args.logdir)
        out = {"epochs_done": len(run_history(args.logdir).get("epoch", [])),
               "seconds": float(run.get("train_seconds", 0.0))}
    else:
        try:
            out = train_run(_config(args, args.model, hparams), args.logdir, resume=args.resume,
                            verbose=args.verbose)
        except FileExistsError as exc:
            raise RuntimeError(str(exc)) from None
        _print_skipped(out)
        if not cluster_info()["is_chief"]:
            return 0                                        # a TF_CONFIG worker: the chief reports
        network, spec, _ = load_run(args.logdir)
    m = evaluate_network(network, spec, args.data)
    print(f"{args.model}: {out['epochs_done']} epochs in {out['seconds']:.1f}s; test logloss "
          f"{m['logloss']:.5f} AUC {m['auc']:.4f} on {m['rows']} rows; params {m['params']:,}; "
          f"FLOPs/example {m['flops']:,}")
    print(f"run: {args.logdir} (run.json, history.csv, curves.png, tensorboard/, checkpoints/)")
    return 0


def bayes_logloss_of(data: str) -> float | None:
    """The Bayes-optimal test logloss a synthetic data directory records (None for real data)."""
    from pipelines.ctr.synthetic import bayes_logloss
    try:
        return bayes_logloss(data, "test")
    except (FileNotFoundError, KeyError):
        return None


def format_table(rows: list[dict], bayes: float | None) -> str:
    """Plain-text leaderboard, Bayes-optimal logloss first, then models by validation logloss (test logloss
    mean +- std over seeds; '!' marks a test gap to the row above larger than the two stds summed)."""
    head = (f"{'model':<10} {'kind':<9} {'val logloss':>19} {'test logloss':>20} {'AUC':>7} {'params':>11} "
            f"{'FLOPs/ex':>11} {'train s':>8}")
    lines = [head, "-" * len(head)]
    lines.append(f"{'bayes-opt':<10} {'':<9} {'':>19} {bayes:>20.5f}" if bayes is not None
                 else f"{'bayes-opt':<10} n/a (not a synthetic data set)")
    prev = None
    for r in sorted(rows, key=lambda r: r["val_logloss"]):
        n = r.get("n_seeds", 1)

        def cell(key, r=r, n=n):
            return f"{r[key]:.5f}" + (f" +- {r[key + '_std']:.5f}" if n > 1 else "")
        mark = " "
        if prev is not None and min(n, prev.get("n_seeds", 1)) > 1:
            gap = abs(r["test_logloss"] - prev["test_logloss"])
            mark = "!" if gap > r["test_logloss_std"] + prev["test_logloss_std"] else " "
        params = f"{r['params']:>11,}" if "params" in r else f"{'':>11}"
        flops = f"{r['flops']:>11,}" if "flops" in r else f"{'':>11}"
        lines.append(f"{r['model']:<10} {r.get('kind', 'deep'):<9} {cell('val_logloss'):>19} "
                     f"{cell('test_logloss'):>19}{mark} {r['auc']:>7.4f} {params} {flops} {r['seconds']:>8.1f}")
        prev = r
    seeds = max((r.get("n_seeds", 1) for r in rows), default=1)
    lines.append(f"(sorted by validation logloss; mean +- std over {seeds} seed(s); '!' = test gap to the row "
                 "above larger than both stds summed)")
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: give at least one seed, each once (got {text!r})")
    return seeds


def _mean_std(runs: list[dict]) -> dict:
    import numpy as np
    out = {k: runs[0][k] for k in ("model", "kind", "params", "flops") if k in runs[0]}
    for k in ("val_logloss", "test_logloss", "auc", "val_auc"):
        out[k], out[f"{k}_std"] = float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs]))
    out["seconds"] = float(sum(r["seconds"] for r in runs))
    out["n_seeds"], out["per_seed"] = len(runs), runs
    return out


def _references(args, names: list[str]) -> list[dict]:
    """Logistic regression / gradient-boosted trees rows on the processed train/valid/test splits."""
    from pipelines.ctr.dataset import make_split_dataset
    from pipelines.ctr.reference import arrays, reference_results
    splits = [arrays(make_split_dataset(args.data, s, 4096, bad_rows=args.bad_rows))
              for s in ("train", "valid", "test")]
    rows = []
    for name, r in reference_results(*splits, seed=_seeds(args.seeds)[0], models=tuple(names)).items():
        print(f"== {name}: fitted in {r['train_seconds']:.1f}s ({r['chosen']})", flush=True)
        rows.append({"model": name, "kind": "reference", "val_logloss": r["val_logloss"], "val_auc": r["val_auc"],
                     "test_logloss": r["test_logloss"], "auc": r["test_auc"], "seconds": r["train_seconds"],
                     "chosen": r["chosen"]})
    return rows


def _leaderboard(args) -> int:
    _check_encoding(args)

    from pipelines.ctr.dataset import make_split_dataset
    from pipelines.ctr.reference import REFERENCES
    from pipelines.ctr.train import data_format
    from tfnas.train.ctr import RUN_FILE, load_run, train_run
    from tfnas.export import check_reload, export_saved_model
    from tfnas.runs import write_json_atomic

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"--models: unknown {unknown}; choose from {list(MODELS)}")
    refs = [m.strip() for m in args.references.split(",") if m.strip()]
    if sorted(set(refs) - set(REFERENCES)):
        raise ValueError(f"--references: unknown {sorted(set(refs) - set(REFERENCES))}; choose from "
                         f"{sorted(REFERENCES)}")
    seeds = _seeds(args.seeds)
    rows = []
    for name in models:
        runs = []
        for seed in seeds:
            logdir = os.path.join(args.logdir, name, f"seed{seed}")
            resume = os.path.exists(os.path.join(logdir, RUN_FILE))
            print(f"== {name} seed {seed} ({'resuming' if resume else 'training'} in {logdir})", flush=True)
            out = train_run(_config(args, name, {}, seed), logdir, resume=resume, verbose=args.verbose)
            _print_skipped(out)
            network, spec, _ = load_run(logdir)
            val = evaluate_network(network, spec, args.data, "valid")
            runs.append({"model": name, "kind": "deep", "seed": seed, "logdir": logdir, "seconds": out["seconds"],
                         "epochs": out["epochs_done"], "val_logloss": val["logloss"], "val_auc": val["auc"],
                         **{("test_logloss" if k == "logloss" else k): v
                            for k, v in evaluate_network(network, spec, args.data).items()}})
        rows.append(_mean_std(runs))
    rows += _references(args, refs) if refs else []
    bayes = bayes_logloss_of(args.data)
    table = format_table(rows, bayes)
    print(table)
    write_json_atomic(os.path.join(args.logdir, "leaderboard.json"), {"bayes_logloss": bayes, "rows": rows})

    deep = [r for r in rows if r.get("kind") == "deep"]
    best = min(deep, key=lambda r: r["val_logloss"])                    # selection on validation only
    run = min(best["per_seed"], key=lambda r: r["val_logloss"])
    network, spec, _ = load_run(run["logdir"])
    path = export_saved_model(network, spec, args.export_name, root=args.export_root)
    print(f"best: {best['model']} (seed {run['seed']}, by validation logloss) exported to {path}")
    # make_split_dataset reads the folder's dataset.json, so a table's schema comes with it
    raw = next(iter(make_split_dataset(args.data, "test", args.check_rows, spec=spec, fmt=data_format(args.data),
                                       processed=False)))
    diff = check_reload(network, spec, path, raw)
    print(f"reloaded {path} in a fresh process: {len(raw['dense'])} raw test rows, "
          f"max |p_served - p_keras| = {diff:.3g}")
    return 0 if diff < 1e-5 else 1
