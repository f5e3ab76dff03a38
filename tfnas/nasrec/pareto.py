"""Multi-objective view of a NASRec run: validation logloss vs FLOPs per example of every retrained deep
model (found nets and hand-made baselines), the Pareto front printed and plotted.  Reference rows
(scikit-learn) have no FLOPs count and stay out of it.  A FLOPs budget (`export.max_flops`,
`--max-flops`) limits which candidates are retrained and exported."""
from __future__ import annotations

from typing import Optional


def pareto_front(results: dict, metric: str = "val_logloss") -> list[str]:
    """Names of the models no other model beats on both `metric` (lower) and FLOPs (lower), by FLOPs."""
    deep = {k: v for k, v in results.items() if v.get("kind") in ("nasrec", "baseline") and metric in v}
    front = [k for k, v in deep.items()
             if not any(o["flops"] <= v["flops"] and o[metric] <= v[metric]
                        and (o["flops"] < v["flops"] or o[metric] < v[metric]) for o in deep.values())]
    return sorted(front, key=lambda k: deep[k]["flops"])


def front_text(results: dict, metric: str = "val_logloss") -> str:
    names = pareto_front(results, metric)
    cells = ", ".join(f"{k} ({results[k]['flops']:.4g} FLOPs, {results[k][metric]:.5f})" for k in names)
    return f"Pareto front ({metric} vs FLOPs/example): {cells}"


def within_budget(rows: list[dict], max_flops: float) -> list[dict]:
    """Rows whose `flops` fit `max_flops` (all rows when it is 0 or less)."""
    return rows if not max_flops or max_flops <= 0 else [r for r in rows if r.get("flops", 0.0) <= max_flops]


def plot_front(results: dict, path: str, metric: str = "val_logloss", max_flops: Optional[float] = None) -> str:
    """PNG: every deep model's `metric` against FLOPs (log x), the front joined by a line, the budget dashed."""
    from tfnas.nasrec.plots import _pyplot, _save, flops_axis
    deep = {k: v for k, v in results.items() if v.get("kind") in ("nasrec", "baseline") and metric in v}
    if not deep:
        raise ValueError("plot_front: no retrained deep models")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, colour in (("nasrec", "tab:red"), ("baseline", "tab:blue")):
        names = [k for k, v in deep.items() if v["kind"] == kind]
        if not names:        # no legend entry for a kind with nothing drawn
            continue
        ax.scatter([deep[k]["flops"] for k in names], [deep[k][metric] for k in names], c=colour,
                   label="found" if kind == "nasrec" else "hand-made")
        for k in names:   # labels offset from their marker so neither hides the other
            ax.annotate(k, (deep[k]["flops"], deep[k][metric]), xytext=(5, 4), textcoords="offset points",
                        fontsize=7)
    front = [k for k in pareto_front(results, metric) if k in deep]
    fx, fy = [deep[k]["flops"] for k in front], [deep[k][metric] for k in front]
    if len(front) >= 2:
        ax.plot(fx, fy, "k--", lw=0.8, label="Pareto front")
    ax.scatter(fx, fy, s=140, facecolors="none", edgecolors="k", lw=0.8,   # a one-model front is still visible
               label="on the Pareto front" if len(front) >= 2 else "Pareto front (one model)")
    if max_flops:
        ax.axvline(max_flops, color="grey", ls=":", label="FLOPs budget")
    flops_axis(ax, [v["flops"] for v in deep.values()] + ([max_flops] if max_flops else []))
    ax.margins(0.1)   # room for the labels of the outermost models
    ax.set_xlabel("FLOPs per example")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)
