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
    t.set_defaults(func=_train)

    lb = sub.add_parser("leaderboard", help="train every baseline briefly and compare them on test",
                        description="Train all baselines, print logloss/AUC/params/FLOPs against the "
                                    "Bayes-optimal logloss, export the best and check it in a fresh process.")
    _common(lb)
    lb.add_argument("--logdir", default="runs/leaderboard", help="one sub-directory per model (resumable)")
    lb.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
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
    p.add_argument("--steps-per-epoch", type=int, default=None, help="default: one pass over train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bad-rows", choices=("error", "skip"), default="error",
                   help="a malformed row stops the run naming file:line: field (error) or is counted and dropped")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras fit verbosity")


def _config(args, model: str, hparams: dict):
    from tfnas.train.ctr import TrainConfig
    return TrainConfig(model=model, data=args.data, epochs=args.epochs, batch_size=args.batch_size,
                       learning_rate=args.lr, optimizer=args.optimizer, hparams=hparams,
                       sparse_learning_rate=args.sparse_lr,
                       steps_per_epoch=args.steps_per_epoch, seed=args.seed, bad_rows=args.bad_rows)


def _print_skipped(out: dict) -> None:
    """Rows dropped under --bad-rows skip: counts by reason and up to 5 examples naming file and line."""
    if out.get("skipped"):
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(out["skipped"].items()))
        print(f"skipped bad rows: {counts}")
        for example in out.get("skipped_examples", []):
            print(f"  {example}")


def evaluate_network(network, spec, data: str) -> dict:
    """Test logloss/AUC (tfnas.metrics, exact) plus params and FLOPs per example of a network."""
    import tensorflow as tf

    from pipelines.ctr.train import predict_split
    from tfnas.metrics import auc, count_params, flops_per_example, logloss

    y, p = predict_split(network, data, "test")
    sig = {"dense": tf.TensorSpec([None, spec.num_dense], tf.float32),
           "sparse": tf.TensorSpec([None, spec.num_sparse], tf.int64)}
    return {"logloss": logloss(y, p), "auc": auc(y, p), "rows": int(len(y)),
            "params": count_params(network), "flops": flops_per_example(network, sig)}


def _train(args) -> int:
    from tfnas.train.ctr import load_run, train_run

    try:
        hparams = json.loads(args.hparams)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--hparams is not valid JSON: {exc}") from None
    try:
        out = train_run(_config(args, args.model, hparams), args.logdir, resume=args.resume,
                        verbose=args.verbose)
    except FileExistsError as exc:
        raise RuntimeError(str(exc)) from None
    _print_skipped(out)
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
    """Plain-text leaderboard, Bayes-optimal logloss first, then models by test logloss."""
    head = f"{'model':<10} {'logloss':>9} {'AUC':>7} {'params':>11} {'FLOPs/ex':>11} {'train s':>8}"
    lines = [head, "-" * len(head)]
    lines.append(f"{'bayes-opt':<10} {bayes:>9.5f} {'':>7} {'':>11} {'':>11} {'':>8}" if bayes is not None
                 else f"{'bayes-opt':<10} {'n/a':>9}   (not a synthetic data set)")
    for r in sorted(rows, key=lambda r: r["logloss"]):
        lines.append(f"{r['model']:<10} {r['logloss']:>9.5f} {r['auc']:>7.4f} {r['params']:>11,} "
                     f"{r['flops']:>11,} {r['seconds']:>8.1f}")
    return "\n".join(lines)


def _leaderboard(args) -> int:

    from pipelines.ctr.dataset import make_split_dataset
    from pipelines.ctr.train import data_format
    from tfnas.train.ctr import RUN_FILE, load_run, train_run
    from tfnas.export import check_reload, export_saved_model

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"--models: unknown {unknown}; choose from {list(MODELS)}")
    rows = []
    for name in models:
        logdir = os.path.join(args.logdir, name)
        resume = os.path.exists(os.path.join(logdir, RUN_FILE))
        print(f"== {name} ({'resuming' if resume else 'training'} in {logdir})", flush=True)
        out = train_run(_config(args, name, {}), logdir, resume=resume, verbose=args.verbose)
        _print_skipped(out)
        network, spec, _ = load_run(logdir)
        rows.append({"model": name, "seconds": out["seconds"], **evaluate_network(network, spec, args.data)})
    bayes = bayes_logloss_of(args.data)
    table = format_table(rows, bayes)
    print(table)
    with open(os.path.join(args.logdir, "leaderboard.json"), "w") as f:
        json.dump({"bayes_logloss": bayes, "rows": rows}, f, indent=1)

    best = min(rows, key=lambda r: r["logloss"])
    network, spec, _ = load_run(os.path.join(args.logdir, best["model"]))
    path = export_saved_model(network, spec, args.export_name, root=args.export_root)
    print(f"best: {best['model']} exported to {path}")
    # make_split_dataset reads the folder's dataset.json, so a table's schema comes with it
    raw = next(iter(make_split_dataset(args.data, "test", args.check_rows, spec=spec, fmt=data_format(args.data),
                                       processed=False)))
    diff = check_reload(network, spec, path, raw)
    print(f"reloaded {path} in a fresh process: {len(raw['dense'])} raw test rows, "
          f"max |p_served - p_keras| = {diff:.3g}")
    return 0 if diff < 1e-5 else 1
