"""`tfnas routability train | leaderboard`: hand-made routability estimators on the core train() and the protocol.

`train` runs one estimator for several seeds on the by-design split or leave-one-suite-out (`--split loso`), each
(split, seed) a run folder OUT/<split>/seed<k>/ made by `tfnas.routability.experiment`; OUT/leaderboard.{json,md}
hold mean +- std over seeds, and OUT/run.json points at the first run's model so `tfnas export --run OUT` works.
`--data` is a dataset folder (samples/) or a CircuitNet root (converted into OUT/circuitnet_samples/).
With the default split seeding each seed also draws its own by-design split (`--split-seed` fixes one).
"""
from __future__ import annotations

import json
import os

MODELS = ("routenet", "flnet", "pros", "logreg", "logistic")


def check_data_dir(path: str) -> None:
    """Refuse a missing --data folder before TensorFlow is imported (the full check comes with loading)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such dataset folder (a folder with samples/ or a CircuitNet root)")


def register(subparsers) -> None:
    p = subparsers.add_parser("routability", help="routability estimators (RouteNet, FLNet, PROS, logistic)")
    sub = p.add_subparsers(dest="routability_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train", help="train + evaluate one estimator over seeds (by-design or leave-one-suite-out)")
    t.add_argument("--model", required=True, choices=MODELS, help="logreg = logistic regression per tile")
    add_data_args(t)
    t.add_argument("--out", required=True, help="run folder")
    t.set_defaults(func=_train, lock_arg="out")
    lb = sub.add_parser("leaderboard", help="one table from several `routability train` / routenas folders")
    lb.add_argument("runs", nargs="+", help="folders holding results.json")
    lb.add_argument("--md", default=None, help="also write the markdown table here")
    lb.set_defaults(func=_leaderboard)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def add_data_args(t) -> None:
    """Options shared with `tfnas routenas retrain`: data, grid, split, seeds, training settings."""
    t.add_argument("--data", required=True, help="dataset folder (with samples/) or a CircuitNet root")
    t.add_argument("--grid", type=int, nargs=2, default=[32, 32], metavar=("H", "W"))
    t.add_argument("--split", choices=["design", "loso"], default="design")
    t.add_argument("--group", choices=["suite", "family"], default="suite",
                   help="leave-one-out group for --split loso (data/eda_default is all 'generated': use family)")
    t.add_argument("--hold-out", nargs="+", default=None, help="only these groups for --split loso")
    t.add_argument("--seeds", type=int, nargs="+", default=[0])
    t.add_argument("--split-seed", type=int, default=None, help="one split for every seed (default: the seed)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--patience", type=int, default=5, help="early-stopping patience on validation loss")
    t.add_argument("--bad-samples", choices=["error", "skip"], default="error",
                   help="a sample with a missing map, a wrong shape or NaN: stop naming its file, or skip it (counted)")


def load_dataset(args, out: str) -> dict:
    from tfnas.routability import data
    dirs = data.resolve_sample_dirs(args.data, os.path.join(out, "circuitnet_samples"))
    ds = data.load_samples(dirs, tuple(args.grid), bad_samples=args.bad_samples)
    if ds["skipped"]:
        print(f"skipped {len(ds['skipped'])} bad sample(s) (--bad-samples skip); first: {ds['skipped'][0]}")
    return ds


def run_models(args, ds: dict, models: dict, out: str) -> list:
    """Every (model name -> build(input_shape, seed)) x split x seed into out/<model>/<split>/seed<k>; results."""
    from tfnas.routability.experiment import run_experiment, splits_for
    results = []
    for seed in args.seeds:
        split_seed = seed if args.split_seed is None else args.split_seed
        for split_name, split in splits_for(ds, args.split, split_seed, args.group, args.hold_out).items():
            for name, build in models.items():
                run_dir = os.path.join(out, name, split_name, f"seed{seed}") if len(models) > 1 \
                    else os.path.join(out, split_name, f"seed{seed}")
                r = run_experiment(ds, split, build, run_dir, name=name, seed=seed, epochs=args.epochs,
                                   batch_size=args.batch_size, lr=args.lr, patience=args.patience)
                r.update(model=name, split=split_name, split_seed=split_seed, group=args.group)
                results.append(r)
                print(f"{name} {split_name} seed {seed}: auc_pooled={r['auc_pooled']:.4f} "
                      f"auc_per_placement={r['auc_per_placement']:.4f} tau={r['kendall_tau']:.4f} "
                      f"params={r['params']} tiles/s={r['train_tiles_per_s']:.0f}")
    return results


def write_leaderboard(out: str, results: list, title: str, skipped: list = ()) -> list:
    from tfnas.routability import leaderboard
    from tfnas.runs import write_json_atomic
    rows = leaderboard.aggregate(results)
    write_json_atomic(os.path.join(out, "results.json"), {"results": results, "skipped_samples": list(skipped)})
    write_json_atomic(os.path.join(out, "leaderboard.json"), rows)
    md = leaderboard.markdown(rows, title)
    tmp = os.path.join(out, ".leaderboard.md.tmp")
    with open(tmp, "w") as f:
        f.write(md)
    os.replace(tmp, os.path.join(out, "leaderboard.md"))
    print(md)
    return rows


def _train(args) -> int:
    check_data_dir(args.data)
    from tfnas.routability import estimators
    from tfnas.runs import write_run_info
    os.makedirs(args.out, exist_ok=True)
    ds = load_dataset(args, args.out)
    name = "logistic" if args.model == "logreg" else args.model
    results = run_models(args, ds, {name: lambda shape, seed: estimators.build_estimator(name, shape, seed)},
                         args.out)
    write_leaderboard(args.out, results, f"{name} on {args.data} ({args.split} split)", ds["skipped"])
    first = os.path.relpath(os.path.join(results[0]["run_dir"], "model.keras"), os.path.abspath(args.out))
    write_run_info(args.out, "map", model=first, task="tile_bce", data=os.path.abspath(args.data),
                   calibration=os.path.join(os.path.dirname(first), "calibration.npz"), runs=len(results))
    return 0


def _leaderboard(args) -> int:
    from tfnas.routability import leaderboard
    results = []
    for run in args.runs:
        path = os.path.join(run, "results.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no results (is {run!r} a routability train or routenas folder?)")
        with open(path) as f:
            try:
                results += json.load(f)["results"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise ValueError(f"{path}: malformed results file ({exc})") from None
    md = leaderboard.markdown(leaderboard.aggregate(results))
    if args.md:
        with open(args.md, "w") as f:
            f.write(md)
    print(md)
    return 0
