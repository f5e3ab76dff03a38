"""PNG plots of a NASRec search: best logloss per generation, and logloss vs FLOPs of every candidate."""
from __future__ import annotations

import os
from typing import Sequence


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_search_progress(best_per_generation: Sequence[float], path: str,
                         metric: str = "logloss", title: str = "NASRec search") -> str:
    """Line plot of the best objective found up to each generation (x = -1 is the initial population)."""
    if not best_per_generation:
        raise ValueError("plot_search_progress: no generations to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = list(range(-1, len(best_per_generation) - 1))
    ax.plot(xs, best_per_generation, marker="o" if len(xs) < 40 else None)
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # generations are whole numbers
    ax.ticklabel_format(axis="y", useOffset=False)           # no "+1.1e3" offset: the values read as printed
    ax.set_xlabel("generation (-1 = initial population)")
    ax.set_ylabel(f"best supernet-proxy {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def plot_metric_vs_flops(flops: Sequence[float], values: Sequence[float], path: str,
                         metric: str = "logloss", highlight: Sequence[int] = (),
                         title: str = "NASRec candidates") -> str:
    """Scatter of every candidate's metric against its per-example FLOPs; `highlight` indices in red."""
    if len(flops) != len(values) or not flops:
        raise ValueError(f"plot_metric_vs_flops: need equal non-empty lists, got {len(flops)} and {len(values)}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    hi = sorted({i for i in highlight if 0 <= i < len(flops)})
    rest = [i for i in range(len(flops)) if i not in set(hi)]   # each candidate drawn once, in one colour
    ax.scatter([flops[i] for i in rest], [values[i] for i in rest], s=12, alpha=0.6, label="candidates")
    if hi:
        ax.scatter([flops[i] for i in hi], [values[i] for i in hi], s=40, c="red",
                   label=f"top-{len(hi)} (passed to retrain)")
    ax.legend(fontsize=7)
    flops_axis(ax, flops)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xlabel("FLOPs per example")
    ax.set_ylabel(f"supernet-proxy {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def flops_axis(ax, flops: Sequence[float]) -> None:
    """FLOPs on x with engineering labels (12k, 3.4M): log scale only when the values span a decade or more,
    since a log axis over a narrower range shows one tick label or none."""
    from matplotlib.ticker import EngFormatter, LogLocator
    positive = [f for f in flops if f and f > 0]
    if positive and max(positive) / min(positive) >= 10:
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))   # labelled minor ticks that do not collide
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.xaxis.set_minor_formatter(EngFormatter(sep=""))
    ax.tick_params(axis="x", which="minor", labelsize=6)


def _save(fig, plt, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
