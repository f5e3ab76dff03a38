"""`tfnas flnet run | evaluate`: FLNet federated routability estimation on TensorFlow Federated (federated/).

`run` trains every algorithm x model x seed of a JSON config (configs/flnet/) into OUT, resuming finished rounds
and epochs; OUT/table.md, OUT/results.json and OUT/auc_rounds.png are the results. `evaluate` re-scores the saved
models of OUT on the clients rebuilt from its config and rewrites the table. The config is checked before
TensorFlow or TFF (20-50 s to import) is loaded.
"""
from __future__ import annotations

import os


def register(subparsers) -> None:
    p = subparsers.add_parser("flnet", help="FLNet: federated routability estimation on TensorFlow Federated")
    sub = p.add_subparsers(dest="flnet_command", metavar="SUBCOMMAND")
    r = sub.add_parser("run", help="clients, federated algorithms and baselines of a config; table + PNG")
    r.add_argument("--config", required=True, help="JSON experiment config (see configs/flnet/)")
    r.add_argument("--out", required=True, help="run folder (resumed when run again)")
    r.add_argument("--fresh", action="store_true", help="ignore checkpoints already in --out and start over")
    r.add_argument("--seeds", type=int, nargs="+", default=None, help="override the config's seeds")
    r.set_defaults(func=_run, lock_arg="out")
    e = sub.add_parser("evaluate", help="re-score the saved models of a finished run; rewrite its table")
    e.add_argument("--run", required=True, help="run folder of `tfnas flnet run`")
    e.set_defaults(func=_evaluate, lock_arg="run")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _run(args) -> int:
    if not os.path.isfile(args.config):      # before numpy/federated load (about a CPU second)
        raise ValueError(f"{args.config}: cannot read the config (No such file or directory)")
    from federated.experiment import load_config

    cfg = load_config(args.config)
    if args.seeds is not None:
        cfg["seeds"] = list(args.seeds)
    os.makedirs(args.out, exist_ok=True)
    from federated.experiment import run_experiment

    run_experiment(cfg, args.out, resume=not args.fresh)
    with open(os.path.join(args.out, "table.md")) as f:
        print(f.read())
    return 0


def _evaluate(args) -> int:
    if not os.path.exists(os.path.join(args.run, "results.json")):
        raise ValueError(f"{args.run}: no results.json (not a finished `tfnas flnet run` folder)")
    from federated.experiment import evaluate_experiment

    evaluate_experiment(args.run)
    with open(os.path.join(args.run, "table.md")) as f:
        print(f.read())
    return 0
