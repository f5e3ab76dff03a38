"""The FLNet results table (per client and averaged; ROC-AUC pooled over each client's validation tiles, as the
reference reports it, and mean per-placement ROC-AUC) and the PNG of per-client ROC-AUC per round per algorithm.

"vs local" is the relative change of the client-averaged pooled ROC-AUC over local-only training of the same model
(the paper's "collaboration beats each company's own model by about 11 %" is this figure for FedAvg).
"""
from __future__ import annotations

import os

import numpy as np

PAPER_GAIN = "about +11 % (FLNet paper, arXiv 2203.16009, federated over local-only)"


def _mean(final: dict, key: str) -> float:
    vals = [v[key] for v in final.values() if v.get(key) is not None and not np.isnan(v[key])]
    return float(np.mean(vals)) if vals else float("nan")


def summarise(entry: dict) -> dict:
    """Add the client-averaged figures to one run entry."""
    entry["mean_auc_pooled"] = _mean(entry["final"], "auc_pooled")
    entry["mean_auc_per_placement"] = _mean(entry["final"], "auc_per_placement")
    return entry


def _pm(values) -> str:
    values = [v for v in values if not np.isnan(v)]
    if not values:
        return "-"
    return f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else "")


def _covered(runs, key: str) -> str:
    """"k/N clients" that a client-averaged `key` covers (a client without a value, e.g. per-placement ROC-AUC when
    every validation placement is single-class, is left out of the mean); "k1-k2/N" when seeds differ."""
    counts = [sum(1 for v in r["final"].values() if v.get(key) is not None and not np.isnan(v[key])) for r in runs]
    n = max(len(r["final"]) for r in runs)
    return f"{min(counts)}/{n}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}/{n}"


def table(results: dict) -> str:
    """Markdown: one row per model x algorithm (mean ± std over seeds); per client: pooled / per-placement AUC."""
    runs = results["runs"]
    clients = sorted({c for r in runs for c in r["final"]})
    seeds = sorted({r["seed"] for r in runs})
    head = "| model | algorithm | " + " | ".join(clients) + " | mean pooled | mean per placement | vs local |"
    lines = [f"seeds {seeds}; cells: ROC-AUC pooled over the client's validation tiles / mean per-placement "
             f"ROC-AUC; means over the clients that have a value [k/N clients]; paper: {PAPER_GAIN}", "", head,
             "|" + "---|" * (len(clients) + 5)]
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], r["algorithm"]), []).append(r)
    local = {m: {r["seed"]: r["mean_auc_pooled"] for r in g} for (m, a), g in groups.items() if a == "local"}
    for (model, algo), g in groups.items():
        cells = []
        for c in clients:
            pooled = [r["final"][c]["auc_pooled"] for r in g if c in r["final"]]
            per = [r["final"][c]["auc_per_placement"] for r in g if c in r["final"]]
            cells.append(f"{np.nanmean(pooled):.3f} / {np.nanmean(per):.3f}" if pooled else "-")
        gains = [100 * (r["mean_auc_pooled"] / local[model][r["seed"]] - 1) for r in g
                 if r["seed"] in local.get(model, {}) and local[model][r["seed"]] > 0]
        rel = "-" if not gains or algo == "local" else (
            f"{np.mean(gains):+.1f} %" + (f" ± {np.std(gains):.1f}" if len(gains) > 1 else ""))
        lines.append(f"| {model} | {algo} | " + " | ".join(cells) +
                     f" | {_pm([r['mean_auc_pooled'] for r in g])} [{_covered(g, 'auc_pooled')}]"
                     f" | {_pm([r['mean_auc_per_placement'] for r in g])} [{_covered(g, 'auc_per_placement')}]"
                     f" | {rel} |")
    return "\n".join(lines) + "\n"


def write_report(results: dict, out_dir: str) -> None:
    """results.json, table.md and auc_rounds.png, each written atomically."""
    from federated.experiment import jsonable
    from tfnas.runs import write_json_atomic

    write_json_atomic(os.path.join(out_dir, "results.json"), jsonable(results))
    tmp = os.path.join(out_dir, ".table.md.tmp")
    with open(tmp, "w") as f:
        f.write(table(results))
    os.replace(tmp, os.path.join(out_dir, "table.md"))
    plot_rounds(results, os.path.join(out_dir, "auc_rounds.png"))


def plot_rounds(results: dict, path: str) -> None:
    """One panel per (model, federated algorithm) of the first seed: each client's pooled ROC-AUC per round."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    first = results["runs"][0]["seed"] if results["runs"] else None
    fed = [r for r in results["runs"] if r.get("history") and r["seed"] == first]
    if not fed:
        return
    cols = min(len(fed), 4)
    rows = (len(fed) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols + 1.6, 2.8 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(fed):]:
        ax.axis("off")
    # one colour per client in every panel (tab10 repeats after 10 clients: tab20, then line styles as well)
    clients = sorted({h["client"] for r in fed for h in r["history"]})
    palette = plt.get_cmap("tab10" if len(clients) <= 10 else "tab20").colors
    style = {c: (palette[i % len(palette)], ("-", "--", ":")[i // len(palette) % 3]) for i, c in enumerate(clients)}
    for ax, r in zip(axes.flat, fed):
        for c in sorted({h["client"] for h in r["history"]}):
            hs = [h for h in r["history"] if h["client"] == c]
            ax.plot([h["round"] for h in hs], [h["auc_pooled"] for h in hs], marker=".", label=c,
                    color=style[c][0], linestyle=style[c][1])
        ax.set_title(f"{r['model']} {r['algorithm']} (seed {first})", fontsize=8)
        ax.set_xlabel("round")
        rounds = [h["round"] for h in r["history"]]
        if rounds:
            ax.set_xlim(min(rounds) - 0.5, max(rounds) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))   # rounds are whole numbers
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("val ROC-AUC (pooled tiles)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)   # beside the panels, not on a curve
    fig.tight_layout(rect=(0, 0, 1 - 1.5 / fig.get_figwidth(), 1))
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
