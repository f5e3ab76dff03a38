"""`tfnas eda generate|split|show`: make labelled placements with the Debian EDA flow, split them, draw one."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the `eda` sub-command group."""
    p = subparsers.add_parser("eda", help="routability data from a real EDA flow (qflow: yosys, graywolf, qrouter)")
    sub = p.add_subparsers(dest="eda_command", metavar="ACTION")

    g = sub.add_parser("generate", help="synthesise designs once, then place + route many layouts (resumable)")
    g.add_argument("--designs", nargs="+", default=[],
                   help="design specs: mult<N>, addtree<K>x<W>, alu<W>, rand<GATES>s<SEED>, .v files or directories")
    g.add_argument("--suite", nargs="+", default=[], choices=("iscas85", "epfl", "banyan", "generated"),
                   help="named suites (circuitgraph netlists or generated families); the suite is the design family")
    g.add_argument("--top", default=None, help="top module of the given .v files / suite netlists (default: the "
                   "module named like the file, else the last module)")
    g.add_argument("--placements-per-design", type=int, default=10, help="placements per design (techs alternate)")
    g.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
    g.add_argument("--out", required=True, help="dataset directory (re-running resumes it)")
    g.add_argument("--seed", type=int, default=0, help="seed of the per-placement knob draws")
    g.add_argument("--tech", nargs="+", default=["osu018"], help="qflow technologies: osu018 osu035 osu050")
    g.add_argument("--place-timeout", type=float, default=300.0, help="seconds per placement step")
    g.add_argument("--route-timeout", type=float, default=300.0, help="seconds per qrouter run")
    g.add_argument("--no-retry-failed", action="store_true", help="skip placements that failed in an earlier run")
    g.add_argument("--keep-defs", action="store_true", help="keep gzipped placed/routed DEF + congestion per sample")
    g.add_argument("--rows-per-tile", type=float, default=2,
                   help="rasteriser tile side in placement rows (smaller = finer maps; 1 doubles the grid of 2; "
                        "fractions split rows, 0.25 = 4 tiles per row height)")
    g.add_argument("--graywolf-fast", type=int, nargs="+", default=[0, 5, 10],
                   help="values the per-placement graywolf TWSC*fast knob is drawn from (0 = normal annealing, about "
                        "3x the CPU of 5 or 10); part of the knob space, so a resume must give the same list")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.set_defaults(func=_generate)

    s = sub.add_parser("split", help="split a dataset by design, or into federated clients by design family")
    s.add_argument("dataset", help="dataset directory made by `tfnas eda generate`")
    s.add_argument("--by", choices=("design", "family"), default="design",
                   help="split whole designs into train/val/test, or whole families into federated clients")
    s.add_argument("--fractions", default="0.7,0.15,0.15", help="train,val,test design fractions (--by design)")
    s.add_argument("--clients", type=int, default=3, help="number of clients (--by family)")
    s.add_argument("--test-fraction", type=float, default=0.25, help="per-client test designs (--by family)")
    s.add_argument("--seed", type=int, default=0, help="seed of the design shuffle")
    s.add_argument("--out", default=None, help="JSON path (default DATASET/splits/<by>_seed<S>.json)")
    s.set_defaults(func=_split)

    sh = sub.add_parser("show", help="draw a sample's feature and label maps to a PNG")
    sh.add_argument("sample", help="sample directory (holds sample.json + sample.npz)")
    sh.add_argument("--png", default=None, help="output PNG (default SAMPLE/sample.png)")
    sh.set_defaults(func=_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _generate(args) -> int:
    from pipelines.eda import designs, generate, suites
    if not args.designs and not args.suite:
        raise ValueError("eda generate: give --designs and/or --suite")
    ds = designs.resolve(args.designs, top=args.top) if args.designs else []
    for name in args.suite:
        ds.extend(suites.suite_designs(name, top=args.top))
    names = [d.name for d in ds]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"eda generate: duplicate design names {', '.join(dup)} (a design given twice?)")
    if any(v < 0 for v in args.graywolf_fast):
        raise ValueError(f"eda generate: --graywolf-fast values must be >= 0, got {args.graywolf_fast}")
    space = generate.KnobSpace(graywolf_fast=tuple(args.graywolf_fast))
    summary = generate.generate(ds, args.out, args.placements_per_design, seed=args.seed, jobs=args.jobs,
                                techs=tuple(args.tech), space=space, place_timeout=args.place_timeout,
                                route_timeout=args.route_timeout, retry_failed=not args.no_retry_failed,
                                keep_defs=args.keep_defs, progress=not args.no_progress,
                                rows_per_tile=args.rows_per_tile)
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
    if args.by == "design":
        empty = [k for (k, v), f in zip(result.items(), fr) if f > 0 and not v["samples"]]
    else:
        parts = ("train", "test") if args.test_fraction > 0 else ("train",)   # --test-fraction 0 asks for no test
        empty = [f"{k}/{part}" for k, v in result.items() for part in parts if not v[part]["samples"]]
    if empty:
        raise ValueError(f"eda split {args.dataset}: empty split(s) {', '.join(empty)} "
                         f"({len(recs)} samples; add designs or change --fractions/--clients)")
    out = args.out or str(Path(args.dataset) / "splits" / f"{args.by}_seed{args.seed}.json")
    splits.save_splits(result, out)
    for k, v in counts.items():
        print(f"{k:>10}: {v}")
    print(f"wrote {out}")
    return 0


def _show(args) -> int:
    from pathlib import Path
    if not (Path(args.sample) / "sample.json").is_file():     # before matplotlib's import (seconds)
        raise FileNotFoundError(f"{Path(args.sample) / 'sample.json'}: no sample.json (sample missing or not "
                                "finished writing)")
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
