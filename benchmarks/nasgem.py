"""NASGEM ablation on the NAS-Bench-201 table (analog-nasbench): best true accuracy vs evaluated cells for
random search, regularized evolution and the bootstrap search on four encodings: adjacency + op one-hot,
hashed WL counts, the Keras graph encoder trained on the WL kernel (NASGEM) and the same encoder untrained
(no WL target); mean ± std over seeds, queries to reach the table's top 1 %, the encoder's WL fit on
held-out pairs, a PNG of the curves, a 2-D PCA of the WL embedding coloured by accuracy, and speeds.

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
from tfnas.nasgem.embedding import fit_wl_encoder, untrained_embedding  # noqa: E402
from tfnas.nasgem.encoder import GraphFeaturizer  # noqa: E402
from tfnas.nasgem.encoding import AdjacencyEncoding, WLFeatureEncoding  # noqa: E402
from tfnas.nasgem.nasbench201 import NB201Space, arch_to_cell, cell_to_arch  # noqa: E402
from tfnas.nasgem.predictor import EnsemblePredictor  # noqa: E402
from tfnas.nasgem.search import BootstrapSearch  # noqa: E402
from tfnas.runs import write_json_atomic  # noqa: E402
from tfnas.search.evolution import RegularizedEvolution  # noqa: E402
from tfnas.search.random import RandomSearch  # noqa: E402
from tfnas.space import Objective, Result  # noqa: E402


class TableEncoding:
    """An encoding precomputed for every NB201 cell (15,625), so 20 seeds do not re-encode the same cells."""

    def __init__(self, enc, cells):
        self.enc, self.name = enc, enc.name
        x = enc.encode([cell_to_arch(c) for c in cells])
        self.row = {c: i for i, c in enumerate(cells)}
        self.x = np.asarray(x, np.float32)

    def encode(self, archs):
        return self.x[[self.row[arch_to_cell(a)] for a in archs]]


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


def plot_projection(z, acc, path, plt):
    """2-D PCA of the embeddings of every cell, coloured by accuracy (dead cells at 10 % drawn under the rest)."""
    z = z - z.mean(0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    p = z @ vt[:2].T
    order = np.argsort(acc)
    fig, ax = plt.subplots(figsize=(5, 4))
    sc = ax.scatter(p[order, 0], p[order, 1], c=acc[order], s=2, cmap="viridis", vmin=max(acc.min(), 80))
    fig.colorbar(sc, label="accuracy (%), clipped at 80")
    ax.set(xlabel="PC 1", ylabel="PC 2", title="WL-guided embedding of all NB201 cells")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--evals", type=int, default=300)
    ap.add_argument("--metric", default="baseline_accuracy")
    ap.add_argument("--cache", default=None, help="NB201 table cache folder (default $TFNAS_NASBENCH_CACHE)")
    ap.add_argument("--out", default="runs/bench_nasgem")
    ap.add_argument("--methods", default="random,evolution,bootstrap_adjacency,bootstrap_wl_hashed,"
                    "bootstrap_untrained_embedding,bootstrap_wl_embedding")
    args = ap.parse_args(argv)
    pool = 500 if args.quick else 2000
    table = load_nb201(args.cache)
    accs = np.array(sorted(r[args.metric] for r in table.values()))
    top1 = float(np.quantile(accs, 0.99))
    space, obj = NB201Space(), Objective("acc", "max")
    cells = sorted(table)
    all_archs = [cell_to_arch(c) for c in cells]
    fz = GraphFeaturizer.from_samples(all_archs[:500])
    n_cells, n_pairs = (1000, 10000) if args.quick else (2000, 20000)
    t = time.perf_counter()
    wl_emb = fit_wl_encoder(space, fz, n_cells=n_cells, n_pairs=n_pairs, epochs=10, seed=0)
    fit = {k: v for k, v in wl_emb.report.items() if k != "loss"}
    fit["seconds_total"] = time.perf_counter() - t
    print("WL encoder fit:", json.dumps(fit), flush=True)
    raw = {"adjacency": AdjacencyEncoding.from_samples(all_archs[:200]), "wl_hashed": WLFeatureEncoding(h=2, dim=256),
           "untrained_embedding": untrained_embedding(fz, seed=0), "wl_embedding": wl_emb}
    encodings = {k: TableEncoding(v, cells) for k, v in raw.items()}
    makers = {
        "random": lambda s: RandomSearch(space, obj, args.evals, seed=s),
        "evolution": lambda s: RegularizedEvolution(space, obj, population_size=20, sample_size=5,
                                                    children_per_generation=10, generations=(args.evals - 20) // 10,
                                                    mutations_start=1, mutations_end=1, seed=s),
        **{f"bootstrap_{k}": (lambda s, e=e: BootstrapSearch(space, obj, e, args.evals, num_init=20,
                                                               pool_size=pool, batch=10, seed=s))
           for k, e in encodings.items()},
    }
    unknown = sorted(set(args.methods.split(",")) - set(makers))
    if unknown:
        ap.error(f"--methods: unknown {unknown}; choose from {sorted(makers)}")
    report = {"metric": args.metric, "table_best": float(accs[-1]), "top1_threshold": top1, "evals": args.evals,
              "seeds": args.seeds, "pool_size": pool, "wl_encoder_fit": fit, "methods": {}}
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
        os.makedirs(args.out, exist_ok=True)
        write_json_atomic(os.path.join(args.out, "report.json"), report)  # after each method: a cut run keeps it
        print(f"{name:22s} best@{args.evals} {m['final_mean']:.2f} ± {m['final_std']:.2f}  top-1% reached "
              f"{m['reached_top1']}/{args.seeds}, median queries {m['median_queries_to_top1']}  ({m['seconds']:.0f}s)",
              flush=True)
    report["speed"] = speeds(raw)
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
        plot_projection(encodings["wl_embedding"].x, np.array([table[c][args.metric] for c in cells]),
                        os.path.join(args.out, "embedding_pca.png"), plt)
    except ImportError:
        print("matplotlib not installed: no PNG")


if __name__ == "__main__":
    main()
