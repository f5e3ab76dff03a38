"""PNG figures of a shrinking search: score / quality / cost per step, and a cell's DAG.

Every figure is saved to a temporary name and renamed, so a killed search never leaves half a PNG.
"""
from __future__ import annotations

import os

from tfnas.graph import Architecture

# Short op names that fit inside a node circle.
OUTPUT_NODE = "__cell_output__"   # the drawn sink of the leaves; not a node of the Architecture
COST_NAMES = {"macs": "MACs", "flops": "FLOPs", "params": "parameters"}   # axis labels of cost keys
SHORT_OPS = {"input": "in", "sep_conv_3x3": "sep3x3", "conv_1x1": "conv1x1", "identity": "id", "sigmoid": "sigm"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str, dpi: int = 100) -> None:
    plt = _pyplot()
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{ext or '.png'}"
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)


def plot_steps(steps: list[dict], path: str, quality: str = "accuracy", cost: str = "macs") -> None:
    """Best and mean score, best `quality` and mean `cost` of each step's candidates against edges left.

    The x axis (edges left, an integer) gets integer ticks only; no axis uses an offset ("+1.1e3"), so a
    perplexity reads as its value."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter
    if not steps:
        return
    plt = _pyplot()
    edges = [s["edges_left"] for s in steps]

    def per_step(key, part, fn):
        out = []
        for s in steps:
            values = [c[part][key] for c in s["candidates"] if key in c.get(part, {})]
            out.append(fn(values) if values else float("nan"))
        return out

    best = min if quality == "perplexity" else max
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(edges, [s["best_score"] for s in steps], "o-", label="best candidate")
    axes[0].plot(edges, [s["mean_score"] for s in steps], "s--", label="mean of candidates")
    axes[0].set_ylabel("score (higher is better)")
    axes[0].legend(fontsize=8)
    axes[1].plot(edges, per_step(quality, "metrics", best), "o-")
    axes[1].set_ylabel(f"{'lowest' if best is min else 'highest'} {quality} of the step")
    axes[2].plot(edges, per_step(cost, "cost", lambda v: sum(v) / len(v)), "o-")
    axes[2].set_ylabel(f"mean {COST_NAMES.get(cost, cost)} of the candidates")
    for ax in axes:
        ax.set_xlabel("edges left after the step")
        if len(set(edges)) <= 12:
            ax.set_xticks(sorted(set(edges)))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        ax.yaxis.set_major_formatter(formatter)
        lo, hi = min(edges), max(edges)
        ax.set_xlim(hi + 0.5, lo - 0.5)      # shrinking runs right to left: fewer edges to the right
        ax.grid(alpha=0.3)
    fig.suptitle(f"edge shrinking: {_count(len(steps), 'step')}, {steps[0]['edges_before']} → {edges[-1]} edges",
                 fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def cell_layout(arch: Architecture) -> tuple[dict, dict]:
    """Positions (networkx `multipartite_layout` by topological generation among active nodes; inactive
    nodes in an extra rightmost column) and each node's layer."""
    import networkx as nx
    g = nx.DiGraph(arch.graph)
    alive = arch.reachable_from(0) if 0 in g else set(g)
    live = g.subgraph(alive)
    layer = {n: i for i, gen in enumerate(nx.topological_generations(live)) for n in gen}
    dead_layer = max(layer.values(), default=-1) + 1
    for n in g:
        g.nodes[n]["layer"] = layer.get(n, dead_layer)
    pos = nx.multipartite_layout(g, subset_key="layer")
    pos = {n: (x, -y) for n, (x, y) in pos.items()}       # lower node ids at the top of each column
    return pos, {n: g.nodes[n]["layer"] for n in g}


def _arc(p1, p2, rad: float, t):
    """Points of matplotlib's arc3 curve (a quadratic Bezier) from p1 to p2 at parameters t."""
    import numpy as np
    (x1, y1), (x2, y2) = p1, p2
    c = np.array([(x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)])
    return (1 - t) ** 2 * np.array([x1, y1]) + 2 * t * (1 - t) * c + t ** 2 * np.array([x2, y2])


def _clear_rad(pos: dict, u, v, clearance: float, flip: bool = False, box=None) -> tuple[float, object]:
    """The gentlest arc bend (matplotlib's arc3 `rad`) whose curve from u to v passes at least `clearance`
    from every other node, so an edge that skips layers is never drawn through or behind the nodes it
    skips and (given `box` = x0, y0, x1, y1) stays inside the frame (`flip` tries the other side first);
    returns the bend and the curve's points."""
    import numpy as np
    others = np.array([p for n, p in pos.items() if n not in (u, v)] or [[1e9, 1e9]])
    t = np.linspace(0.1, 0.9, 17)[:, None]
    sides = (-1, 1) if flip else (1, -1)
    best = None
    for bend in (0.3, 0.5, 0.7, 0.9):
        for side in sides:
            curve = _arc(pos[u], pos[v], side * bend, t)
            gap = float(np.min(np.linalg.norm(curve[:, None, :] - others[None, :, :], axis=-1)))
            if box is not None and not (np.all(curve >= np.array(box[:2])) and np.all(curve <= np.array(box[2:]))):
                gap = -1.0                  # leaves the frame
            if gap >= clearance:
                return side * bend, curve
            if best is None or gap > best[2]:
                best = (side * bend, curve, gap)
    return best[0], best[1]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def plot_cell(arch: Architecture, path: str, title: str | None = None) -> None:
    """Draw the cell DAG left to right in topological layers; an edge that skips layers is drawn as an arc
    so it never hides behind a chain of shorter edges; inactive nodes are grey, labels sit inside nodes."""
    import networkx as nx
    plt = _pyplot()
    g = nx.DiGraph(arch.graph)
    alive = arch.reachable_from(0) if 0 in g else set(g)
    pos, layer = cell_layout(arch)
    leaves = [n for n in g if n in alive and not any(s in alive for s in g.successors(n))] if len(g) > 1 else []
    if leaves:   # the cell's output joins its leaves (concat/add in CNN cells, mean in RNN cells): drawn as a
        xs_alive = [pos[n][0] for n in alive]            # dotted sink so a leaf never reads as a dead end
        step = (max(xs_alive) - min(xs_alive)) / max(1, max(layer[n] for n in alive)) if len(alive) > 1 else 1.0
        pos = {**pos, OUTPUT_NODE: (max(xs_alive) + step * 0.55, sum(pos[n][1] for n in leaves) / len(leaves))}
        layer = {**layer, OUTPUT_NODE: max(layer[n] for n in alive) + 1}
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = ["#9ecae1" if n in alive else "#dddddd" for n in g]
    node_size = 1500
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colors, node_size=node_size, edgecolors="#333333")
    labels = {n: f"{n}\n{SHORT_OPS.get(arch.op(n), arch.op(n))}" for n in g}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=7)
    if leaves:
        ax.text(*pos[OUTPUT_NODE], "out", ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", fc="white", ec="#333333", ls=":"))
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.12 * max(max(xs) - min(xs), 0.5), max(xs) + 0.12 * max(max(xs) - min(xs), 0.5))
    ax.set_ylim(min(ys) - 0.6 * max(max(ys) - min(ys), 0.5), max(ys) + 0.6 * max(max(ys) - min(ys), 0.5))
    inactive = len(g) - len(alive)
    ax.set_title((title + ": " if title else f"{arch.meta.get('space', 'cell')}: ")
                 + f"{_count(arch.num_edges(), 'edge')}, {_count(len(alive), 'active node')}"
                 + (f" ({inactive} inactive, grey)" if inactive else ""), fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    # arc3 bends in display space, so arcs are chosen there: clear of other nodes by their radius (px)
    to_px = ax.transData.transform
    px = {n: tuple(to_px(p)) for n, p in pos.items()}
    clearance = 1.2 * (node_size ** 0.5) / 2 * fig.dpi / 72
    for u, v in g.edges:
        rad = 0.0
        if abs(layer[v] - layer[u]) != 1:   # adjacent layers: a straight line; else an arc clear of the nodes
            rad, _ = _clear_rad(px, u, v, clearance, flip=(layer[v] - layer[u]) % 2 == 0, box=ax.bbox.extents)
        nx.draw_networkx_edges(g, pos, edgelist=[(u, v)], ax=ax, node_size=node_size, arrowsize=12,
                               arrowstyle="-|>", connectionstyle=f"arc3,rad={rad:.2f}",
                               edge_color="#444444" if u in alive else "#bbbbbb")
    for leaf in leaves:
        rad = 0.0 if layer[OUTPUT_NODE] - layer[leaf] == 1 else _clear_rad(px, leaf, OUTPUT_NODE, clearance,
                                                                           box=ax.bbox.extents)[0]
        ax.annotate("", xy=pos[OUTPUT_NODE], xytext=pos[leaf],
                    arrowprops=dict(arrowstyle="-|>", ls=":", color="#666666", shrinkA=19, shrinkB=12,
                                    connectionstyle=f"arc3,rad={rad:.2f}"))
    _save(fig, path)


def plot_export(report: dict, path: str) -> None:
    """One figure of an export: file size, test accuracy (Keras and each TFLite mode) and median latency per
    mode and thread count (XNNPACK solid, builtin kernels hatched)."""
    import numpy as np
    plt = _pyplot()
    modes = [m for m in ("float32", "float16", "int8") if m in report]
    if not modes:
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].bar(modes, [report[m]["bytes"] / 1024 for m in modes], color="#6baed6")
    axes[0].set_ylabel("TFLite file size (KiB)")
    names = ["keras"] + modes
    accs = [report["keras"]["test_accuracy"]] + [report[m]["test_accuracy"] for m in modes]
    axes[1].bar(names, accs, color="#74c476")
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("test accuracy (TFLite: XNNPACK)")   # the keras bar is the float model itself
    for i, a in enumerate(accs):
        axes[1].text(i, a + 0.02, f"{a:.3f}", ha="center", fontsize=8)
    threads = list(report[modes[0]]["latency_ms"])
    width = 0.8 / (2 * len(threads))
    x = np.arange(len(modes))
    for j, t in enumerate(threads):
        off = (2 * j - len(threads) + 0.5) * width
        axes[2].bar(x + off, [report[m]["latency_ms"][t] for m in modes], width, label=f"XNNPACK, {t} thr")
        axes[2].bar(x + off + width, [report[m]["latency_builtin_ms"][t] for m in modes], width, hatch="//",
                    alpha=0.6, label=f"builtin, {t} thr")
    axes[2].set_xticks(x, modes)
    axes[2].set_ylabel("median latency per image (ms)")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{report.get('name', 'model')}: {report.get('params', 0):,} params"
                 + (f", {report['macs']:,} MACs" if report.get("macs") else ""), fontsize=10)
    fig.tight_layout()
    _save(fig, path)
