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


def padded_arch(matrix, ops) -> Architecture:
    """A table cell (the official file stores pruned matrices of k <= 7 nodes) as a member of the 7-node space:
    the missing interior nodes are added unconnected (conv3x3) before the output; `prune` drops them again."""
    k, n = len(matrix), NUM_NODES
    where = list(range(k - 1)) + [n - 1]                           # old index -> new index
    m = [[0] * n for _ in range(n)]
    for i in range(k):
        for j in range(k):
            if matrix[i][j]:
                m[where[i]][where[j]] = 1
    return matrix_to_arch(m, list(ops[:-1]) + [OPS[0]] * (n - k) + [ops[-1]])


class NB101TableSpace(NB101Space):
    """NB101 restricted to the cells of a table `{fingerprint: row}` (e.g. `NB101Evaluator.table`), so a partial
    file can be searched: a sample not in the table is redrawn up to `sample_tries` times, then a table cell is
    drawn uniformly; a mutation is redrawn up to `mutate_tries` times, then replaced by a sample. On the full
    table every valid cell is present: the first draw always holds and this is `NB101Space` itself."""

    def __init__(self, table: dict, sample_tries: int = 3, mutate_tries: int = 20):
        if not table:
            raise ValueError("NB101 table is empty")
        self.table, self.keys = table, sorted(table)
        self.sample_tries, self.mutate_tries = int(sample_tries), int(mutate_tries)

    def _known(self, arch: Architecture) -> bool:
        return prune(arch).fingerprint() in self.table

    def sample(self, rng: np.random.Generator) -> Architecture:
        for _ in range(self.sample_tries):
            arch = super().sample(rng)
            if self._known(arch):
                return arch
        row = self.table[self.keys[int(rng.integers(len(self.keys)))]]
        return padded_arch(row["matrix"], row["ops"])

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        for _ in range(self.mutate_tries):
            child = super().mutate(arch, rng)
            if self._known(child):
                return child
        return self.sample(rng)


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
