"""PNG figures of a shrinking search: score / accuracy / cost per step, and a cell's graph."""
from __future__ import annotations

from tfnas.graph import Architecture


def plot_steps(steps: list[dict], path: str, quality: str = "accuracy", cost: str = "macs") -> None:
    """Best and mean score, best `quality` and mean `cost` of the candidates against edges left."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not steps:
        return
    edges = [s["edges_left"] for s in steps]

    def per_step(key, part, fn):
        return [fn([c[part][key] for c in s["candidates"] if key in c[part]] or [float("nan")]) for s in steps]

    best = lambda v: max(v) if quality != "perplexity" else min(v)  # noqa: E731
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(edges, [s["best_score"] for s in steps], "o-", label="best")
    axes[0].plot(edges, [s["mean_score"] for s in steps], "s--", label="mean")
    axes[0].set_ylabel("score"), axes[0].legend()
    axes[1].plot(edges, per_step(quality, "metrics", best), "o-")
    axes[1].set_ylabel(f"best {quality}")
    axes[2].plot(edges, per_step(cost, "cost", mean), "o-")
    axes[2].set_ylabel(f"mean {cost}")
    for ax in axes:
        ax.set_xlabel("edges left")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_cell(arch: Architecture, path: str, title: str | None = None) -> None:
    """Draw the cell DAG (inactive nodes grey), nodes left to right in topological layers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx
    g = nx.DiGraph(arch.graph)
    alive = arch.reachable_from(0) if 0 in g else set(g)
    layer = {}
    for n in arch.topological_order():
        preds = [p for p in g.predecessors(n) if p in alive]
        layer[n] = 1 + max((layer[p] for p in preds), default=-1) if n in alive else -1
    for n in g:
        g.nodes[n]["layer"] = layer[n]
    pos = nx.multipartite_layout(g, subset_key="layer")
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = ["#9ecae1" if n in alive else "#dddddd" for n in g]
    nx.draw_networkx(g, pos, ax=ax, node_color=colors, labels={n: f"{n}\n{arch.op(n)}" for n in g},
                     font_size=7, node_size=1400, arrowsize=12)
    ax.set_title(title or f"{arch.meta.get('space', 'cell')}: {arch.num_edges()} edges")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
