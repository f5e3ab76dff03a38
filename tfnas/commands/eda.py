"""`tfnas eda generate|split|show`: make labelled placements with the Debian EDA flow, split them, draw one."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    """Add the `eda` sub-command group."""
    p = subparsers.add_parser("eda", help="routability data from a real EDA flow (qflow: yosys, graywolf, qrouter)")
    sub = p.add_subparsers(dest="eda_command", metavar="ACTION")

    g = sub.add_parser("generate", help="synthesise designs once, then place + route many layouts (resumable)")
    g.add_argument("--designs", nargs="+", required=True,
                   help="design specs: mult<N>, addtree<K>x<W>, alu<W>, rand<GATES>s<SEED>, .v files or directories")
    g.add_argument("--placements-per-design", type=int, default=10)
    g.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
    g.add_argument("--out", required=True, help="dataset directory (re-running resumes it)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--tech", nargs="+", default=["osu018"], help="qflow technologies: osu018 osu035 osu050")
    g.add_argument("--place-timeout", type=float, default=300.0, help="seconds per placement step")
    g.add_argument("--route-timeout", type=float, default=300.0, help="seconds per qrouter run")
    g.add_argument("--no-retry-failed", action="store_true", help="skip placements that failed in an earlier run")
    g.add_argument("--keep-defs", action="store_true", help="keep gzipped placed/routed DEF + congestion per sample")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=_generate)

    s = sub.add_parser("split", help="split a dataset by design, or into federated clients by design family")
    s.add_argument("dataset", help="dataset directory made by `tfnas eda generate`")
    s.add_argument("--by", choices=("design", "family"), default="design")
    s.add_argument("--fractions", default="0.7,0.15,0.15", help="train,val,test design fractions (--by design)")
    s.add_argument("--clients", type=int, default=3, help="number of clients (--by family)")
    s.add_argument("--test-fraction", type=float, default=0.25, help="per-client test designs (--by family)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="JSON path (default DATASET/splits/<by>_seed<S>.json)")
    s.set_defaults(func=_split)

    sh = sub.add_parser("show", help="draw a sample's feature and label maps to a PNG")
    sh.add_argument("sample", help="sample directory (holds sample.json + sample.npz)")
    sh.add_argument("--png", default=None, help="output PNG (default SAMPLE/sample.png)")
    sh.set_defaults(func=_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _generate(args) -> int:
    from pipelines.eda import designs, generate
    ds = designs.resolve(args.designs)
    summary = generate.generate(ds, args.out, args.placements_per_design, seed=args.seed, jobs=args.jobs,
                                techs=tuple(args.tech), place_timeout=args.place_timeout,
                                route_timeout=args.route_timeout, retry_failed=not args.no_retry_failed,
                                keep_defs=args.keep_defs, progress=not args.no_progress)
    print(summary.table())
    return 0 if not summary.failed else 1


def _split(args) -> int:
    from pathlib import Path
    from pipelines.eda import splits
    recs = splits.index(args.dataset)
    if args.by == "design":
        fr = tuple(float(x) for x in args.fractions.split(","))
        result = splits.split_by_design(recs, fr, seed=args.seed, names=("train", "val", "test")[:len(fr)])
        counts = {k: f"{len(v['designs'])} designs / {len(v['samples'])} samples" for k, v in result.items()}
    else:
        result = splits.client_split_by_family(recs, args.clients, seed=args.seed, test_fraction=args.test_fraction)
        counts = {k: f"families {','.join(v['families'])}: train {len(v['train']['samples'])}, "
                     f"test {len(v['test']['samples'])} samples" for k, v in result.items()}
    out = args.out or str(Path(args.dataset) / "splits" / f"{args.by}_seed{args.seed}.json")
    splits.save_splits(result, out)
    for k, v in counts.items():
        print(f"{k:>10}: {v}")
    print(f"wrote {out}")
    return 0


def _show(args) -> int:
    from pathlib import Path
    from pipelines.eda.show import render
    png = args.png or str(Path(args.sample) / "sample.png")
    print(render(args.sample, png) or png)
    return 0


if __name__ == "__main__":   # pragma: no cover
    import argparse
    ap = argparse.ArgumentParser(prog="tfnas")
    register(ap.add_subparsers())
    a = ap.parse_args()
    sys.exit(a.func(a))
