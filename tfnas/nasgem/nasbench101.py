"""NAS-Bench-101 cells (7 nodes, <= 9 edges, conv3x3 / conv1x1 / maxpool3x3) as a `SearchSpace` + table lookup.

Nodes are `0..6` (0 = input, 6 = output), edges go from lower to higher index (upper-triangular matrix).
A cell is valid when the output is reachable from the input and it has at most 9 edges. Table rows (from
`pipelines.nasbench.read_nb101`) and proposals are both pruned to the nodes on an input->output path and
matched by `Architecture.fingerprint()` (WL hash), our stand-in for NB101's own graph hash.
"""
from __future__ import annotations

import numpy as np

from tfnas.graph import Architecture
from tfnas.space import Evaluator, Result, SearchSpace

OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
NUM_NODES = 7
MAX_EDGES = 9


def matrix_to_arch(matrix, ops) -> Architecture:
    n = len(matrix)
    if len(ops) != n:
        raise ValueError(f"NB101 cell: {len(ops)} ops for {n} nodes")
    nodes = [(i, {"op": str(ops[i])}) for i in range(n)]
    edges = [(i, j) for i in range(n) for j in range(n) if matrix[i][j]]
    if any(i >= j for i, j in edges):
        raise ValueError("NB101 cell: adjacency matrix must be strictly upper-triangular")
    return Architecture(nodes, edges, meta={"space": "nb101"})


def prune(arch: Architecture) -> Architecture:
    """Drop nodes not on an input->output path (as NAS-Bench-101 does before hashing)."""
    first, last = min(arch.nodes), max(arch.nodes)
    keep = (arch.reachable_from(first) | {first}) & _reaching(arch, last)
    return arch.without_nodes([n for n in arch.nodes if n not in keep])


def _reaching(arch: Architecture, node) -> set:
    seen, todo = {node}, [node]
    while todo:
        for p in arch.predecessors(todo.pop()):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


class NB101Space(SearchSpace):
    """Uniform over valid cells by rejection: each upper-triangular edge on with p=0.5, interior ops uniform."""

    name = "nb101"

    def sample(self, rng: np.random.Generator) -> Architecture:
        while True:
            m = np.triu(rng.integers(0, 2, size=(NUM_NODES, NUM_NODES)), 1)
            ops = ["input"] + [OPS[i] for i in rng.integers(0, len(OPS), NUM_NODES - 2)] + ["output"]
            arch = matrix_to_arch(m.tolist(), ops)
            if self.contains(arch):
                return arch

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        m = [[1 if arch.graph.has_edge(i, j) else 0 for j in range(NUM_NODES)] for i in range(NUM_NODES)]
        ops = [arch.op(i) for i in range(NUM_NODES)]
        while True:
            m2, ops2 = [r[:] for r in m], ops[:]
            if rng.random() < 0.5:
                i = int(rng.integers(0, NUM_NODES - 1))
                j = int(rng.integers(i + 1, NUM_NODES))
                m2[i][j] = 1 - m2[i][j]
            else:
                k = int(rng.integers(1, NUM_NODES - 1))
                ops2[k] = str(rng.choice([o for o in OPS if o != ops2[k]]))
            cand = matrix_to_arch(m2, ops2)
            if self.contains(cand):
                return cand

    def check(self, arch: Architecture) -> None:
        arch.validate()
        if sorted(arch.nodes) != list(range(NUM_NODES)):
            raise ValueError(f"NB101 cell must have nodes 0..{NUM_NODES - 1}")
        if arch.num_edges() > MAX_EDGES:
            raise ValueError(f"NB101 cell has {arch.num_edges()} edges > {MAX_EDGES}")
        if NUM_NODES - 1 not in arch.reachable_from(0):
            raise ValueError("NB101 cell: output not reachable from input")
        if any(arch.op(k) not in OPS for k in range(1, NUM_NODES - 1)):
            raise ValueError(f"NB101 cell: interior ops must be in {OPS}")


class NB101Evaluator(Evaluator):
    """Table lookup; metrics `accuracy` (test, mean of repeats, %) and `validation_accuracy`; cost `params`."""

    def __init__(self, table: dict):
        self.table = {prune(matrix_to_arch(r["matrix"], r["ops"])).fingerprint(): r for r in table.values()}

    def evaluate(self, arch: Architecture) -> Result:
        key = prune(arch).fingerprint()
        if key not in self.table:
            raise KeyError("NB101 cell not in the table")
        r = self.table[key]
        return Result({"accuracy": 100 * r["test_accuracy"], "validation_accuracy": 100 * r["validation_accuracy"]},
                      {"params": float(r["params"])})
