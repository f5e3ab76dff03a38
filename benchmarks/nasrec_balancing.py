"""Operator-balancing ablation: the same random NASRec subnets with balanced Dot-Products (k = round(sqrt(2d))
rows for dense width d) and without (every Dot-Product interacts the widest one's rows), trained from scratch.

Prints, per variant: FLOPs per example (all subnets, and the Dot-Product blocks' share), params, and val
logloss after the same number of steps; then the paired differences.  Results are checkpointed per
subnet under --out, so a killed run resumes.

    .venv/bin/python benchmarks/nasrec_balancing.py --quick
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def dot_flops(arch) -> tuple[float, list]:
    """Per-example FLOPs of the Dot-Product blocks alone (pairwise products + the linear map to d), and
    (dense width, rows) of each, from the architecture (analytic: 2 FLOPs per multiply-add)."""
    from tfnas.nasrec.space import EMBEDDING_DIM, arch_to_blocks, dot_rows_of
    total, shapes = 0.0, []
    for blk in arch_to_blocks(arch):
        if blk.dense_op != "dot":
            continue
        k = dot_rows_of(arch, blk.dense_width)
        pairs = k * (k + 1) // 2
        total += 2 * EMBEDDING_DIM * (k + 1) ** 2 + 2 * pairs * blk.dense_width
        shapes.append((blk.dense_width, k))
    return total, shapes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/nasrec_demo.json")
    ap.add_argument("--kind", default="small", help="space kind (small: every block is FC or Dot-Product)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subnets", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="from-scratch training steps per subnet")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default="runs/bench_nasrec_balancing")
    args = ap.parse_args(argv)

    import numpy as np
    from nasrec_ranking import from_scratch
    from tfnas.nasrec.config import NASRecConfig
    from tfnas.nasrec.pipeline import Pipeline

    n = args.subnets or (8 if args.quick else 20)
    steps = args.steps or (300 if args.quick else 1500)
    root = args.out + ("_quick" if args.quick else "")
    base = NASRecConfig.load(args.config)
    base.space.kind = args.kind
    t0 = time.perf_counter()
    rows = {}
    blocks = None
    for balance in (True, False):
        cfg = copy.deepcopy(base)
        cfg.space.extra = {**cfg.space.extra, "balance_dot": balance}
        name = "balanced" if balance else "unbalanced"
        cfg.run_dir = os.path.join(root, name)
        pipe = Pipeline(cfg, progress=False)
        if blocks is None:   # the same block lists in both variants
            rng = np.random.default_rng(args.seed)
            blocks = [pipe.space.blocks(pipe.space.sample(rng)) for _ in range(n)]
        archs = [pipe.space.from_blocks(b) for b in blocks]
        logloss = from_scratch(pipe, archs, os.path.join(root, name, "scratch"), steps)
        with open(os.path.join(root, name, "scratch", "results.json")) as f:
            res = json.load(f)
        flops = [res[f"subnet_{i}"]["flops"] for i in range(n)]
        params = [res[f"subnet_{i}"]["params"] for i in range(n)]
        dots = [dot_flops(a) for a in archs]
        rows[name] = {"logloss": logloss, "flops": flops, "params": params,
                      "dot_flops": [d for d, _ in dots], "dot_shapes": [s for _, s in dots]}
        print(f"[balancing] {name}: {n} subnets x {steps} steps ({time.perf_counter() - t0:.0f} s)", flush=True)

    print(f"\nOperator balancing, {n} random NASRec-{args.kind} subnets ({base.space.num_blocks} blocks), "
          f"{steps} from-scratch steps each, val logloss")
    print(f"{'variant':<12}{'mean logloss':>14}{'best':>10}{'FLOPs/ex':>12}{'DP FLOPs/ex':>13}{'params':>12}")
    for name, r in rows.items():
        print(f"{name:<12}{np.mean(r['logloss']):>14.5f}{np.min(r['logloss']):>10.5f}{np.mean(r['flops']):>12.4g}"
              f"{np.mean(r['dot_flops']):>13.4g}{np.mean(r['params']):>12.4g}")
    b, u = rows["balanced"], rows["unbalanced"]
    diff = np.array(b["logloss"]) - np.array(u["logloss"])
    widths = sorted({w for s in b["dot_shapes"] for w, _ in s})
    print(f"paired val logloss balanced - unbalanced: mean {diff.mean():+.5f}, balanced better on "
          f"{int((diff < 0).sum())}/{n}")
    print(f"FLOPs per example balanced / unbalanced: {np.mean(b['flops']) / np.mean(u['flops']):.3f}; "
          f"Dot-Product blocks' widths seen {widths}")
    with open(os.path.join(root, "summary.json"), "w") as f:
        json.dump({"subnets": n, "steps": steps, "kind": args.kind, **rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
