"""GEMNet space (NASGEM's large cell space): cells of up to 30 nodes, built by the core DAG-cell builder.

A cell is node 0 (`input`) plus `n - 1` op nodes, n uniform in [min_nodes, max_nodes]; node i (i >= 1)
takes 1 or 2 inputs (p = 0.5 each) drawn uniformly from nodes 0..i-1, so every node is active and the
graph is a DAG in id order; ops are uniform over `OPS`. The paper gives the node budget (30) but not the
sampling rule or the op list: both are our choice, ops taken from the core registry (3x3 / 1x1 / separable
/ dilated convs, 3x3 max / avg pool, identity). Mutation re-draws one node's op or one of its inputs.
`sample_arrays` draws many cells straight into the encoder's padded (x, a, mask) arrays (no networkx
objects), so 100k cells can be scored in seconds; `arrays_to_arch` turns the chosen rows into cells.
The macro network (`build_gemnet`): stem 3x3 conv, three stages of cells (the 2nd and 3rd halve the grid),
each cell residual with concat joins as the core builder does, global pooling and a Dense head.
"""
from __future__ import annotations

import numpy as np

from tfnas.builders.dag_cells import CellStack, DagCellBuilder, Stage
from tfnas.graph import Architecture
from tfnas.space import SearchSpace

OPS = ("conv", "conv_1x1", "sep_conv", "dil_conv", "max_pool", "avg_pool", "identity")


class GEMNetSpace(SearchSpace):
    """Random DAG cells of `min_nodes`..`max_nodes` nodes (input included)."""

    name = "gemnet"

    def __init__(self, max_nodes: int = 30, min_nodes: int = 4, ops=OPS):
        if not 2 <= min_nodes <= max_nodes:
            raise ValueError(f"need 2 <= min_nodes <= max_nodes, got {min_nodes}, {max_nodes}")
        self.max_nodes, self.min_nodes, self.ops = int(max_nodes), int(min_nodes), tuple(ops)

    def labels(self) -> list[str]:
        """The encoder's node-label vocabulary of this space (`input` first)."""
        return ["input", *self.ops]

    def sample_arrays(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(op index [count, N] with -1 = padding, 0 = input; adjacency [count, N, N]; node mask [count, N])."""
        n_max = self.max_nodes
        sizes = rng.integers(self.min_nodes, n_max + 1, count)
        ids = np.arange(n_max)
        mask = (ids[None, :] < sizes[:, None]).astype(np.float32)
        ops = rng.integers(1, len(self.ops) + 1, (count, n_max))
        ops[:, 0] = 0
        ops[mask == 0] = -1
        adj = np.zeros((count, n_max, n_max), np.float32)
        rows = np.arange(count)
        for i in range(1, n_max):
            live = mask[:, i] > 0
            first = rng.integers(0, i, count)
            adj[rows[live], first[live], i] = 1.0
            second = rng.integers(0, i, count)
            extra = live & (rng.random(count) < 0.5)
            adj[rows[extra], second[extra], i] = 1.0
        return ops, adj, mask

    def arrays_to_arch(self, ops_row: np.ndarray, adj: np.ndarray) -> Architecture:
        labels = self.labels()
        nodes = [(i, {"op": labels[int(o)]}) for i, o in enumerate(ops_row) if o >= 0]
        live = {i for i, _ in nodes}
        edges = [(int(u), int(v)) for u, v in zip(*np.nonzero(adj)) if u in live and v in live]
        return Architecture(nodes, edges, meta={"space": self.name})

    def sample(self, rng: np.random.Generator) -> Architecture:
        ops, adj, _ = self.sample_arrays(rng, 1)
        return self.arrays_to_arch(ops[0], adj[0])

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        node = int(rng.integers(1, len(arch)))
        if rng.random() < 0.5:
            op = str(rng.choice([o for o in self.ops if o != arch.op(node)]))
            return Architecture([(n, {**arch.attrs(n), "op": op} if n == node else arch.attrs(n)) for n in arch.nodes],
                                arch.edges, meta=arch.meta)
        preds = arch.predecessors(node)
        old = preds[int(rng.integers(len(preds)))]
        choices = [p for p in range(node) if p not in preds]
        if not choices:
            return self.mutate(arch, rng)
        out = arch.with_edge_removed(old, node)
        return out.with_edge(int(rng.choice(choices)), node)

    def check(self, arch: Architecture) -> None:
        n = len(arch)
        if not self.min_nodes <= n <= self.max_nodes:
            raise ValueError(f"GEMNet cell has {n} nodes, outside [{self.min_nodes}, {self.max_nodes}]")
        if sorted(arch.nodes) != list(range(n)) or arch.op(0) != "input":
            raise ValueError("GEMNet cell nodes must be 0..n-1 with node 0 the input")
        for u, v in arch.edges:
            if u >= v:
                raise ValueError(f"GEMNet cell edge {u}->{v} does not go forward")
        for i in range(1, n):
            if arch.op(i) not in self.ops:
                raise ValueError(f"GEMNet cell node {i}: op {arch.op(i)!r} not in {self.ops}")
            if not 1 <= len(arch.predecessors(i)) <= 2:
                raise ValueError(f"GEMNet cell node {i} has {len(arch.predecessors(i))} inputs (1 or 2 allowed)")


def featurize_arrays(ops: np.ndarray, adj: np.ndarray, mask: np.ndarray, featurizer, space: GEMNetSpace) -> dict:
    """The encoder's inputs for `sample_arrays` output (same as `featurizer.featurize` on the cells)."""
    col = np.array([featurizer.index.get(lab, len(featurizer.ops)) for lab in space.labels()])
    if featurizer.max_nodes != space.max_nodes:
        raise ValueError(f"featurizer max_nodes {featurizer.max_nodes} != space max_nodes {space.max_nodes}")
    x = np.zeros((*ops.shape, featurizer.num_features), np.float32)
    b, i = np.nonzero(ops >= 0)
    x[b, i, col[ops[b, i]]] = 1.0
    return {"x": x, "a": adj, "mask": mask}


def build_gemnet(arch: Architecture, input_shape=(16, 16, 3), classes: int = 10, filters: int = 16,
                 repeats: int = 1, seed: int | None = 0):
    """The GEMNet macro network around one cell, by the core `DagCellBuilder`."""
    stack = CellStack(stages=(Stage(filters, repeats), Stage(2 * filters, repeats, strides=2),
                              Stage(4 * filters, repeats, strides=2)), stem_filters=filters, seed=seed)
    return DagCellBuilder(stack).build(arch, input_shape, classes, name="gemnet")


def score_sampled(space: GEMNetSpace, embedding, predictor, rng: np.random.Generator, count: int, top: int = 10,
                  kappa: float = 0.0, chunk: int = 10_000) -> list[tuple[Architecture, float, float]]:
    """Sample `count` cells in chunks, embed, predict; the `top` by mean + kappa*std as (cell, mean, std)."""
    best_rows: list = []
    for start in range(0, count, chunk):
        ops, adj, mask = space.sample_arrays(rng, min(chunk, count - start))
        z = embedding.embed_features(featurize_arrays(ops, adj, mask, embedding.featurizer, space))
        mean, std = predictor.predict(z)
        score = mean + kappa * std
        for i in np.argsort(-score, kind="stable")[:top]:
            best_rows.append((float(score[i]), float(mean[i]), float(std[i]), ops[i], adj[i]))
        best_rows = sorted(best_rows, key=lambda r: -r[0])[:top]
    return [(space.arrays_to_arch(o, a), m, s) for _, m, s, o, a in best_rows]
