"""NASGEM ablation on the NAS-Bench-201 table (analog-nasbench): best true accuracy vs evaluated cells for
random search, regularized evolution and the bootstrap search on four encodings: adjacency + op one-hot,
hashed WL counts, the Keras graph encoder trained on the WL kernel (NASGEM) and the same encoder untrained
(no WL target); mean ± std over seeds, queries to reach the table's top 1 %, the encoder's WL fit on
held-out pairs, a PNG of the curves, a 2-D PCA of the WL embedding coloured by accuracy, and speeds.

    python benchmarks/nasgem.py --quick                      # 20 seeds, 300 evaluations, CPU minutes
    python benchmarks/nasgem.py --quick --metric ptq_accuracy  # second objective: post-training-quantised accuracy
    python benchmarks/nasgem.py --quick --nb101 nasbench_only108.tfrecord   # NAS-Bench-101 (file not shipped)
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

from nasgem_tables import CachedEncoding, NB101Table, NB201Table  # noqa: E402
from tfnas.nasgem.embedding import fit_wl_encoder, untrained_embedding  # noqa: E402
from tfnas.nasgem.encoder import GraphFeaturizer  # noqa: E402
from tfnas.nasgem.encoding import AdjacencyEncoding, WLFeatureEncoding  # noqa: E402
from tfnas.nasgem.plots import plot_projection  # noqa: E402
from tfnas.nasgem.predictor import EnsemblePredictor  # noqa: E402
from tfnas.nasgem.search import BootstrapSearch  # noqa: E402
from tfnas.runs import write_json_atomic  # noqa: E402
from tfnas.search.evolution import RegularizedEvolution  # noqa: E402
from tfnas.search.random import RandomSearch  # noqa: E402
from tfnas.space import Objective, Result  # noqa: E402


ENCODINGS = ("adjacency", "wl_hashed", "untrained_embedding", "wl_embedding")


def run_one(strategy, table, n, ask=10):
    """Best-so-far curve of one search, asking `ask` cells at a time (a batch evaluated in parallel)."""
    best, curve = -np.inf, []
    while not strategy.done and len(curve) < n:
        trials = strategy.ask_many(ask)
        if not trials:
            break
        for t in trials:
            acc = table.value(table.key(t.arch))
            strategy.tell(t.id, Result({"acc": acc}))
            best = max(best, acc)
            curve.append(best)
    return curve[:n]


def censored_queries(hit, evals):
    """Queries to the top 1 % per seed; a seed that never reached it counts as evals + 1 (a lower bound)."""
    return np.array([h if h is not None else evals + 1 for h in hit], float)


def median_difference_ci(a, b, seed=0, n=2000, level=0.9):
    """Bootstrap CI of median(a) - median(b) over seeds (unpaired: each method draws its own random stream)."""
    rng = np.random.default_rng(seed)
    d = [np.median(rng.choice(a, len(a))) - np.median(rng.choice(b, len(b))) for _ in range(n)]
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return {"median_difference": float(np.median(a) - np.median(b)), "ci90": [float(lo), float(hi)]}


def compare_to(report, reference, evals):
    """Queries-to-top-1 % of `reference` against every other method: negative = the reference needs fewer."""
    methods = report["methods"]
    if reference not in methods:
        return {}
    ref = censored_queries(methods[reference]["queries_to_top1"], evals)
    return {name: median_difference_ci(ref, censored_queries(m["queries_to_top1"], evals))
            for name, m in methods.items() if name != reference}


def speeds(encodings, space, n_score=100_000, seed=0):
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(min(2000, n_score))]
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
    sampled = [space.sample(rng) for _ in range(min(10_000, n_score))]
    out["sample_cells_per_s"] = len(sampled) / (time.perf_counter() - t)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--evals", type=int, default=300)
    ap.add_argument("--metric", default=None,
                    help="table metric (NB201: baseline_accuracy, ptq_accuracy, ...; NB101: test_accuracy)")
    ap.add_argument("--cache", default=None, help="NB201 table cache folder (default $TFNAS_NASBENCH_CACHE)")
    ap.add_argument("--nb101", default=None, help="nasbench_only108.tfrecord: run on NAS-Bench-101 instead")
    ap.add_argument("--score-cells", type=int, default=100_000, help="cells scored by the predictor (speed)")
    ap.add_argument("--encoder-cells", type=int, default=None, help="cells for the WL encoder fit (1000 quick)")
    ap.add_argument("--encoder-pairs", type=int, default=None, help="pairs for the WL encoder fit (10000 quick)")
    ap.add_argument("--out", default="runs/bench_nasgem")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="first seed (seeds are OFFSET..OFFSET+SEEDS-1; tune settings on other seeds than you report)")
    ap.add_argument("--ask", type=int, default=10, help="cells asked (and evaluated) at a time, every method")
    ap.add_argument("--num-init", type=int, default=20, help="bootstrap: random cells before the first fit")
    ap.add_argument("--batch", type=int, default=10, help="bootstrap: cells queued per predictor round")
    ap.add_argument("--pool", type=int, default=None, help="bootstrap: fresh cells scored per round "
                    "(default 2000, 500 with --quick)")
    ap.add_argument("--methods", default="random,evolution,bootstrap_adjacency,bootstrap_wl_hashed,"
                    "bootstrap_untrained_embedding,bootstrap_wl_embedding")
    args = ap.parse_args(argv)
    known = {"random", "evolution"} | {f"bootstrap_{k}" for k in ENCODINGS}
    unknown = sorted(set(args.methods.split(",")) - known)
    if unknown:
        ap.error(f"--methods: unknown {unknown}; choose from {sorted(known)}")
    pool = args.pool or (500 if args.quick else 2000)
    if args.nb101:
        table = NB101Table(args.nb101, args.metric or "test_accuracy")
    else:
        table = NB201Table(args.cache, args.metric or "baseline_accuracy")
    accs = np.array(sorted(table.value(k) for k in table.keys))
    top1 = float(np.quantile(accs, 0.99))
    space, obj = table.space, Objective("acc", "max")
    all_archs = [table.canonical(k) for k in table.keys]
    fz = GraphFeaturizer.from_samples(all_archs[:500], max_nodes=table.max_nodes)  # NB101 keys are hashes: random
    n_cells, n_pairs = (1000, 10000) if args.quick else (2000, 20000)
    n_cells, n_pairs = args.encoder_cells or n_cells, args.encoder_pairs or n_pairs
    t = time.perf_counter()
    wl_emb = fit_wl_encoder(space, fz, n_cells=n_cells, n_pairs=n_pairs, epochs=10, seed=0,
                            heldout_cells=min(500, max(50, n_cells // 2)),
                            heldout_pairs=min(5000, max(200, n_pairs // 2)))
    fit = {k: v for k, v in wl_emb.report.items() if k != "loss"}
    fit["seconds_total"] = time.perf_counter() - t
    print("WL encoder fit:", json.dumps(fit), flush=True)
    adjacency = AdjacencyEncoding.from_samples(all_archs[:200])
    if table.max_nodes:
        adjacency = AdjacencyEncoding(adjacency.ops, table.max_nodes)
    raw = {"adjacency": adjacency, "wl_hashed": WLFeatureEncoding(h=2, dim=256),  # the order of ENCODINGS
           "untrained_embedding": untrained_embedding(fz, seed=0), "wl_embedding": wl_emb}
    encodings = {k: CachedEncoding(v, table) for k, v in raw.items()}
    makers = {
        "random": lambda s: RandomSearch(space, obj, args.evals, seed=s),
        "evolution": lambda s: RegularizedEvolution(space, obj, population_size=20, sample_size=5,
                                                    children_per_generation=10, generations=(args.evals - 20) // 10,
                                                    mutations_start=1, mutations_end=1, seed=s),
        **{f"bootstrap_{k}": (lambda s, e=e: BootstrapSearch(space, obj, e, args.evals, num_init=args.num_init,
                                                               pool_size=pool, batch=args.batch, seed=s))
           for k, e in encodings.items()},
    }
    report = {"table": table.name, "cells": len(table.keys), "metric": table.metric, "table_best": float(accs[-1]),
              "top1_threshold": top1, "evals": args.evals,
              "seeds": args.seeds, "seed_offset": args.seed_offset, "ask": args.ask, "num_init": args.num_init,
              "batch": args.batch, "pool_size": pool, "wl_encoder_fit": fit, "methods": {}}
    for name in args.methods.split(","):
        t = time.perf_counter()
        curves = np.array([run_one(makers[name](s), table, args.evals, args.ask)
                           for s in range(args.seed_offset, args.seed_offset + args.seeds)])
        hit = [int(np.argmax(c >= top1)) + 1 if (c >= top1).any() else None for c in curves]
        reached = [h for h in hit if h is not None]
        report["methods"][name] = {
            "final_mean": float(curves[:, -1].mean()), "final_std": float(curves[:, -1].std()),
            "mean_curve": curves.mean(0).tolist(), "std_curve": curves.std(0).tolist(),
            "queries_to_top1": hit, "reached_top1": len(reached),
            "median_queries_to_top1": float(np.median(reached)) if reached else None,
            "seconds": time.perf_counter() - t}
        m = report["methods"][name]
        os.makedirs(args.out, exist_ok=True)
        write_json_atomic(os.path.join(args.out, "report.json"), report)  # after each method: a cut run keeps it
        print(f"{name:22s} best@{args.evals} {m['final_mean']:.2f} ± {m['final_std']:.2f}  top-1% reached "
              f"{m['reached_top1']}/{args.seeds}, median queries {m['median_queries_to_top1']}  ({m['seconds']:.0f}s)",
              flush=True)
    report["wl_embedding_vs"] = compare_to(report, "bootstrap_wl_embedding", args.evals)
    for name, c in report["wl_embedding_vs"].items():
        print(f"WL embedding vs {name:22s} median queries difference {c['median_difference']:+.1f} "
              f"(90 % CI {c['ci90'][0]:+.1f} .. {c['ci90'][1]:+.1f}; unreached seeds count as {args.evals + 1})")
    report["speed"] = speeds(raw, space, args.score_cells)
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
        # the y range starts where every method's mean curve is after 10 % of the evaluations (the first few
        # cells can be NB201's 10 % dead cells and would flatten the plot), and never hides a curve entirely
        after = [np.array(m["mean_curve"])[len(m["mean_curve"]) // 10] for m in report["methods"].values()]
        low = min([top1 - 3] + [a - 0.5 for a in after])
        ax.set(xlabel="evaluated cells", ylabel=f"best {table.metric} ({table.name})", ylim=(low, accs[-1] + 0.3))
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "curves.tmp.png"), dpi=120)
        os.replace(os.path.join(args.out, "curves.tmp.png"), os.path.join(args.out, "curves.png"))
        keys = table.keys if len(table.keys) <= 50_000 else [table.keys[i] for i in np.random.default_rng(0).choice(
            len(table.keys), 50_000, replace=False)]
        plot_projection(encodings["wl_embedding"].encode([table.canonical(k) for k in keys]),
                        os.path.join(args.out, "embedding_pca.png"), [table.value(k) for k in keys],
                        title=f"WL-guided embedding, {table.name}")
    except ImportError:
        print("matplotlib not installed: no PNG")


if __name__ == "__main__":
    main()
