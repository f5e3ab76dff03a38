"""NASRec's found net vs the hand-made CTR baselines on planted synthetic data at two sizes.

For each size it runs the full NASRec pipeline (supernet, search, retrain of the top-k with the
baselines under the same budget) from `configs/nasrec_demo.json` with the data size changed, and prints
each model's test logloss gap to the Bayes-optimal logloss, AUC and FLOPs.

    .venv/bin/python benchmarks/nasrec_vs_baselines.py --quick
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_size(base, rows: int, root: str, scale: float) -> dict:
    """One pipeline run on `rows` planted rows; returns its retrain results and Bayes logloss."""
    import copy
    from tfnas.nasrec.pipeline import Pipeline
    from tfnas.nasrec.retrain import best_candidate, comparison_table

    cfg = copy.deepcopy(base)
    cfg.data.dir = os.path.join("data", "generated", f"ctr_planted_{rows}")
    cfg.data.synthetic, cfg.data.synthetic_rows = True, rows
    cfg.run_dir = os.path.join(root, f"rows_{rows}")
    cfg.supernet.steps = max(1, int(cfg.supernet.steps * scale))
    cfg.retrain.steps_per_epoch = 0  # one full pass over the training split
    pipe = Pipeline(cfg, progress=False)
    t0 = time.perf_counter()
    pipe.stage_train_supernet()
    pipe.stage_search()
    results = pipe.stage_retrain()
    best, _ = best_candidate(results)
    bayes = pipe.data.bayes_logloss()
    print(f"\n== {rows} rows ({time.perf_counter() - t0:.0f} s; * = found net)")
    print(comparison_table(results, bayes, best))
    return {"rows": rows, "best": best, "bayes": bayes, "results": results}


def summarize(run: dict) -> dict:
    """Test-logloss gap to Bayes for the found net and the best baseline, plus their FLOPs ratio."""
    res, split = run["results"], "test" if "test" in run["bayes"] else "val"
    key = f"{split}_logloss"
    bayes = run["bayes"].get(split, float("nan"))
    base = {k: v for k, v in res.items() if v.get("kind") == "baseline"}
    found = res[run["best"]]
    out = {"rows": run["rows"], "split": split, "bayes": bayes, "found": run["best"],
           "found_logloss": found[key], "found_gap": found[key] - bayes, "found_flops": found["flops"]}
    if base:
        b = min(base, key=lambda k: base[k][key])
        out.update({"best_baseline": b, "baseline_logloss": base[b][key], "baseline_gap": base[b][key] - bayes,
                    "baseline_flops": base[b]["flops"]})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/nasrec_demo.json")
    ap.add_argument("--quick", action="store_true", help="small sizes (20k and 80k rows)")
    ap.add_argument("--sizes", type=int, nargs=2, default=None, help="the two data sizes (rows)")
    ap.add_argument("--out", default="runs/bench_nasrec_vs_baselines")
    args = ap.parse_args(argv)
    from tfnas.nasrec.config import NASRecConfig

    base = NASRecConfig.load(args.config)
    sizes = args.sizes or ([20_000, 80_000] if args.quick else [100_000, 400_000])
    scale = 1.0  # the supernet needs its full step budget to rank candidates (benchmarks/nasrec_ranking.py)
    root = args.out + ("_quick" if args.quick else "")
    runs = [run_size(base, n, root, scale) for n in sizes]
    summary = [summarize(r) for r in runs]
    print("\nsummary (logloss gap to Bayes-optimal; lower is better):")
    for s in summary:
        line = f"  {s['rows']:>8} rows: found {s['found']} gap {s['found_gap']:.5f} ({s['found_flops']:.3g} FLOPs)"
        if "best_baseline" in s:
            line += (f" | best baseline {s['best_baseline']} gap {s['baseline_gap']:.5f} "
                     f"({s['baseline_flops']:.3g} FLOPs)")
        print(line)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
