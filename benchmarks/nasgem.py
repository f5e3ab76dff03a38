"""NASGEM ablation on the NAS-Bench-201 table (analog-nasbench): best true accuracy vs evaluated cells for
random search, regularized evolution, bootstrap + adjacency encoding, bootstrap + hashed-WL encoding;
mean ± std over seeds, queries to reach the table's top 1 %, a PNG of the curves, and speeds.

    python benchmarks/nasgem.py --quick                      # 20 seeds, 300 evaluations, CPU minutes
    python benchmarks/nasgem.py --quick --metric ptq_accuracy  # second objective: post-training-quantised accuracy
Writes <out>/report.json and <out>/curves.png; every number is measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from pipelines.nasbench.nb201 import load_nb201  # noqa: E402
from tfnas.nasgem.encoding import AdjacencyEncoding, WLFeatureEncoding  # noqa: E402
from tfnas.nasgem.nasbench201 import NB201Space, arch_to_cell, cell_to_arch  # noqa: E402
from tfnas.nasgem.predictor import EnsemblePredictor  # noqa: E402
from tfnas.nasgem.search import BootstrapSearch  # noqa: E402
from tfnas.runs import write_json_atomic  # noqa: E402
from tfnas.search.evolution import RegularizedEvolution  # noqa: E402
from tfnas.search.random import RandomSearch  # noqa: E402
from tfnas.space import Objective, Result  # noqa: E402


class CachedEncoding:
    """Memoises an encoding per NB201 cell (15,625 of them), so 20 seeds do not re-encode the same cells."""

    def __init__(self, enc):
        self.enc, self.cache, self.name = enc, {}, enc.name

    def encode(self, archs):
        rows = []
        for a in archs:
            c = arch_to_cell(a)
            if c not in self.cache:
                self.cache[c] = self.enc.encode_one(a)
            rows.append(self.cache[c])
        return np.stack(rows)


def run_one(strategy, table, metric, n):
    best, curve = -np.inf, []
    while not strategy.done and len(curve) < n:
        trials = strategy.ask_many(10)
        if not trials:
            break
        for t in trials:
            acc = table[arch_to_cell(t.arch)][metric]
            strategy.tell(t.id, Result({"acc": acc}))
            best = max(best, acc)
            curve.append(best)
    return curve[:n]


def speeds(encodings, n_score=100_000, seed=0):
    rng = np.random.default_rng(seed)
    space = NB201Space()
    archs = [space.sample(rng) for _ in range(2000)]
    out = {}
    for name, enc in encodings.items():
        t = time.perf_counter()
        x = enc.encode(archs)
        out[f"{name}_encodings_per_s"] = len(archs) / (time.perf_counter() - t)
        pred = EnsemblePredictor(8, seed=0).fit(x[:300], rng.normal(size=300))
        big = x[rng.integers(0, len(x), n_score)]
        t = time.perf_counter()
        pred.predict(big)
        out[f"{name}_predictor_cells_per_s"] = n_score / (time.perf_counter() - t)
    t = time.perf_counter()
    sampled = [space.sample(rng) for _ in range(10_000)]
    out["sample_cells_per_s"] = len(sampled) / (time.perf_counter() - t)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--evals", type=int, default=300)
    ap.add_argument("--metric", default="baseline_accuracy")
    ap.add_argument("--cache", default=None, help="NB201 table cache folder (default $TFNAS_NASBENCH_CACHE)")
    ap.add_argument("--out", default="runs/bench_nasgem")
    ap.add_argument("--methods", default="random,evolution,bootstrap_adjacency,bootstrap_wl")
    args = ap.parse_args(argv)
    pool = 500 if args.quick else 2000
    table = load_nb201(args.cache)
    accs = np.array(sorted(r[args.metric] for r in table.values()))
    top1 = float(np.quantile(accs, 0.99))
    space, obj = NB201Space(), Objective("acc", "max")
    all_archs = [cell_to_arch(c) for c in sorted(table)]
    encodings = {"adjacency": CachedEncoding(AdjacencyEncoding.from_samples(all_archs[:200])),
                 "wl": CachedEncoding(WLFeatureEncoding(h=2, dim=256))}
    makers = {
        "random": lambda s: RandomSearch(space, obj, args.evals, seed=s),
        "evolution": lambda s: RegularizedEvolution(space, obj, population_size=20, sample_size=5,
                                                    children_per_generation=10, generations=(args.evals - 20) // 10,
                                                    mutations_start=1, mutations_end=1, seed=s),
        "bootstrap_adjacency": lambda s: BootstrapSearch(space, obj, encodings["adjacency"], args.evals, num_init=20,
                                                         pool_size=pool, batch=10, seed=s),
        "bootstrap_wl": lambda s: BootstrapSearch(space, obj, encodings["wl"], args.evals, num_init=20,
                                                  pool_size=pool, batch=10, seed=s),
    }
    report = {"metric": args.metric, "table_best": float(accs[-1]), "top1_threshold": top1, "evals": args.evals,
              "seeds": args.seeds, "pool_size": pool, "methods": {}}
    for name in args.methods.split(","):
        t = time.perf_counter()
        curves = np.array([run_one(makers[name](s), table, args.metric, args.evals) for s in range(args.seeds)])
        hit = [int(np.argmax(c >= top1)) + 1 if (c >= top1).any() else None for c in curves]
        reached = [h for h in hit if h is not None]
        report["methods"][name] = {
            "final_mean": float(curves[:, -1].mean()), "final_std": float(curves[:, -1].std()),
            "mean_curve": curves.mean(0).tolist(), "std_curve": curves.std(0).tolist(),
            "queries_to_top1": hit, "reached_top1": len(reached),
            "median_queries_to_top1": float(np.median(reached)) if reached else None,
            "seconds": time.perf_counter() - t}
        m = report["methods"][name]
        print(f"{name:22s} best@{args.evals} {m['final_mean']:.2f} ± {m['final_std']:.2f}  top-1% reached "
              f"{m['reached_top1']}/{args.seeds}, median queries {m['median_queries_to_top1']}  ({m['seconds']:.0f}s)",
              flush=True)
    report["speed"] = speeds({k: v.enc for k, v in encodings.items()})
    print(json.dumps(report["speed"], indent=1))
    os.makedirs(args.out, exist_ok=True)
    write_json_atomic(os.path.join(args.out, "report.json"), report)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        x = np.arange(1, args.evals + 1)
        for name, m in report["methods"].items():
            mu, sd = np.array(m["mean_curve"]), np.array(m["std_curve"])
            ax.plot(x, mu, label=name)
            ax.fill_between(x, mu - sd, mu + sd, alpha=0.15)
        ax.axhline(top1, ls="--", c="k", lw=0.8, label="top 1 %")
        ax.set(xlabel="evaluated cells", ylabel=f"best {args.metric}", ylim=(top1 - 3, accs[-1] + 0.3))
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "curves.png"), dpi=120)
    except ImportError:
        print("matplotlib not installed: no PNG")


if __name__ == "__main__":
    main()
