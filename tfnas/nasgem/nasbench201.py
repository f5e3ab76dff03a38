"""NAS-Bench-201 cells as a `SearchSpace` and the table lookup as an `Evaluator`.

A cell is 6 edges (EDGES of `pipelines.nasbench.nb201`) each with one of 5 ops. As an Architecture the
ops sit on nodes: `in` (node 0), `n1`, `n2` (sum nodes), `out` (node 3), and one node `e<k>` per edge
carrying that edge's op between its two ends. A `none` edge keeps its node (so the cell is recoverable
and mutations stay one-op changes) but with no edges: it carries no data, which is what WL should see.
"""
from __future__ import annotations

import numpy as np

from pipelines.nasbench.nb201 import EDGES, OPS, load_nb201
from tfnas.graph import Architecture
from tfnas.space import Evaluator, Result, SearchSpace

_NODE = {0: "in", 1: "n1", 2: "n2", 3: "out"}
_OP = {0: "input", 1: "add", 2: "add", 3: "output"}


def cell_to_arch(cell) -> Architecture:
    cell = tuple(int(c) for c in cell)
    if len(cell) != len(EDGES) or not all(0 <= c < len(OPS) for c in cell):
        raise ValueError(f"NB201 cell {cell} is not {len(EDGES)} op indices in [0, {len(OPS)})")
    nodes = [(name, {"op": _OP[i]}) for i, name in _NODE.items()]
    edges = []
    for k, ((u, v), c) in enumerate(zip(EDGES, cell)):
        nodes.append((f"e{k}", {"op": OPS[c]}))
        if OPS[c] != "none":
            edges += [(_NODE[u], f"e{k}"), (f"e{k}", _NODE[v])]
    return Architecture(nodes, edges, meta={"space": "nb201"})


def arch_to_cell(arch: Architecture) -> tuple:
    try:
        return tuple(OPS.index(arch.op(f"e{k}")) for k in range(len(EDGES)))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"architecture is not an NB201 cell ({exc})") from None


class NB201Space(SearchSpace):
    """All 5**6 = 15,625 cells, uniform prior; mutation changes one edge's op."""

    name = "nb201"

    def sample(self, rng: np.random.Generator) -> Architecture:
        return cell_to_arch(rng.integers(0, len(OPS), size=len(EDGES)))

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        cell = list(arch_to_cell(arch))
        k = int(rng.integers(len(EDGES)))
        cell[k] = int(rng.choice([c for c in range(len(OPS)) if c != cell[k]]))
        return cell_to_arch(cell)

    def check(self, arch: Architecture) -> None:
        if arch.key() != cell_to_arch(arch_to_cell(arch)).key():
            raise ValueError("architecture is not a canonical NB201 cell")


class NB201Evaluator(Evaluator):
    """Looks the cell up: metrics `accuracy` (CIFAR-10 baseline, %) and the table's quantised/analog ones."""

    def __init__(self, table: dict | None = None, cache_dir=None):
        self.table = table if table is not None else load_nb201(cache_dir)

    def evaluate(self, arch: Architecture) -> Result:
        row = self.table[arch_to_cell(arch)]
        metrics = {"accuracy": row["baseline_accuracy"], "ptq_accuracy": row["ptq_accuracy"],
                   "qat_accuracy": row["qat_accuracy"], "analog_accuracy": row["analog_accuracy"]}
        return Result(metrics, {"queries": 1.0})
