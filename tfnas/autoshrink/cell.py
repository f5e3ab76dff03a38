"""AutoShrink cells as `Architecture`s: the fully connected starting DAG, pruning and the node roles.

A cell has nodes 0..N-1 (ints); node 0 is the cell input, every other node carries an op. Edges only go
forward (u < v). A node is *active* when it is reachable from node 0; the builders ignore inactive
nodes (`active_nodes`, `leaf_nodes`, `node_inputs` are the core builder's, `tfnas.builders.dag_cells`),
and `prune_unreachable` drops edges leaving them (the reference's ``optimize_mask``).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from tfnas.builders.dag_cells import active_nodes, leaf_nodes, node_inputs  # noqa: F401  (the core's cell rules)
from tfnas.graph import Architecture

CNN_OPS = ("sep_conv_3x3", "conv_1x1")
RNN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
KERNEL_SIZES = {"sep_conv_3x3": 3, "conv_1x1": 1}


def full_dag_edges(num_nodes: int) -> list[tuple[int, int]]:
    """Every forward edge u -> v (u < v) of an N-node DAG: N(N-1)/2 edges."""
    return [(u, v) for u in range(num_nodes) for v in range(u + 1, num_nodes)]


def balanced_ops(num_ops: int, choices: Sequence[str], rng: np.random.Generator) -> list[str]:
    """A shuffled assignment using each choice equally often (± 1), like the reference's ``seed_group_ops``."""
    ops = [choices[i % len(choices)] for i in range(num_ops)]
    rng.shuffle(ops)
    return ops


def full_cnn_cell(num_nodes: int = 8, seed: int = 0, filters: int = 16,
                  ops: Sequence[str] = CNN_OPS) -> Architecture:
    """The starting CNN cell: all forward edges, node ops fixed by a balanced shuffled draw."""
    if num_nodes < 2:
        raise ValueError(f"num_nodes must be >= 2, got {num_nodes}")
    unknown = [op for op in ops if op not in KERNEL_SIZES]
    if unknown:
        raise ValueError(f"unknown CNN cell ops {unknown}; known: {sorted(KERNEL_SIZES)}")
    rng = np.random.default_rng(seed)
    drawn = balanced_ops(num_nodes - 1, list(ops), rng)
    nodes = [(0, {"op": "input"})]
    nodes += [(i, {"op": op, "filters": int(filters), "kernel_size": KERNEL_SIZES[op]})
              for i, op in enumerate(drawn, start=1)]
    meta = {"space": "autoshrink_cnn", "kind": "cnn_cell", "seed": int(seed)}
    return Architecture(nodes, full_dag_edges(num_nodes), meta=meta)


def full_rnn_cell(num_nodes: int = 6, seed: int = 0,
                  activations: Sequence[str] = RNN_ACTIVATIONS) -> Architecture:
    """The starting RNN cell: all forward edges, each non-input node with a seeded random activation."""
    if num_nodes < 2:
        raise ValueError(f"num_nodes must be >= 2, got {num_nodes}")
    unknown = [a for a in activations if a not in RNN_ACTIVATIONS]
    if unknown:
        raise ValueError(f"unknown RNN activations {unknown}; known: {list(RNN_ACTIVATIONS)}")
    rng = np.random.default_rng(seed)
    nodes = [(0, {"op": "input"})]
    nodes += [(i, {"op": str(activations[int(rng.integers(len(activations)))])})
              for i in range(1, num_nodes)]
    meta = {"space": "autoshrink_rnn", "kind": "rnn_cell", "seed": int(seed)}
    return Architecture(nodes, full_dag_edges(num_nodes), meta=meta)


def check_cell(arch: Architecture) -> None:
    """Raise ValueError naming the problem if `arch` is not a cell: int nodes 0..N-1, node 0 'input', u < v."""
    nodes = sorted(arch.nodes, key=lambda n: (not isinstance(n, int), str(n)))
    if nodes != list(range(len(nodes))):
        raise ValueError(f"cell nodes must be the ints 0..{len(nodes) - 1}, got {arch.nodes}")
    if arch.op(0) != "input":
        raise ValueError(f"cell node 0 must have op 'input', got {arch.op(0)!r}")
    for u, v in arch.edges:
        if not u < v:
            raise ValueError(f"cell edge {u}->{v} must go forward (u < v)")


def prune_unreachable(arch: Architecture) -> Architecture:
    """Drop every edge leaving a node that node 0 cannot reach (those nodes compute nothing)."""
    alive = arch.reachable_from(0)
    for u, v in arch.edges:
        if u not in alive:
            arch = arch.with_edge_removed(u, v)
    return arch


def active_edges(arch: Architecture) -> list[tuple[int, int]]:
    """Edges whose source is reachable from node 0, sorted: the candidates a shrinking step may remove."""
    alive = arch.reachable_from(0)
    return sorted((u, v) for u, v in arch.edges if u in alive)


def cell_from_edges(template: Architecture, edges: Iterable[tuple[int, int]]) -> Architecture:
    """The cell with `template`'s nodes and meta but exactly `edges` (any subset of forward edges)."""
    nodes = [(n, template.attrs(n)) for n in template.nodes]
    arch = Architecture(nodes, [(int(u), int(v)) for u, v in edges], meta=template.meta)
    check_cell(arch)
    return arch


def describe(arch: Architecture) -> str:
    """One line: active nodes with ops and the active edges, for logs and reports."""
    ops = ", ".join(f"{n}:{arch.op(n)}" for n in active_nodes(arch))
    edges = " ".join(f"{u}->{v}" for u, v in active_edges(arch))
    return f"nodes [{ops}] edges [{edges}]"
