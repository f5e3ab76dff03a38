"""Routability NAS search space (arXiv 2012.01737, details chosen here): one DAG cell shared by a fixed macro.

Macro (fixed): 3x3 stem conv to `width` channels, then three cells of `width` channels: one at the input grid, one
strided (2x2 max-pool of the cell input, 1x1 strided projection on the shortcut) and one up-sampling (nearest 2x),
then a 1x1 conv to one logit per tile, so the output is back on the input grid (H, W must be even). Every node
and every cell has `width` channels, nodes join their inputs by 'add' and the cell output is the sum of its leaves
plus the residual shortcut (the DAG-cell builder's residual rule: leaves are linear).

Cell (searched): an input node 0 and NODES op nodes 1..4. A node's op is one of CANDIDATES: regular conv 3x3 / 5x5,
atrous conv 3x3 at dilation 2 / 4, mixed depth-wise conv with kernels (3, 5) / (3, 5, 7). Edges come from a guide
DAG (GUIDES: chain, ladder, wide, dense; each a set of allowed edges i -> j, i < j): every node keeps a non-empty
subset of its guide inputs (each guide input kept with probability 1/2, one drawn uniformly if none is), so every
node is active. Mutation: change one node's op (p 0.5), toggle one guide edge keeping every node fed (p 0.4), or
switch guide (p 0.1; edges outside the new guide dropped, unfed nodes get one of their new guide inputs).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tfnas.builders.dag_cells import CellStack, DagCellBuilder, Stage
from tfnas.graph import Architecture
from tfnas.space import SearchSpace

NODES = 4
CANDIDATES = (
    ("conv", {"kernel_size": 3}),
    ("conv", {"kernel_size": 5}),
    ("dil_conv", {"kernel_size": 3, "dilation": 2}),
    ("dil_conv", {"kernel_size": 3, "dilation": 4}),
    ("mixed_dw", {"kernel_sizes": [3, 5]}),
    ("mixed_dw", {"kernel_sizes": [3, 5, 7]}),
)
_ALL = [(i, j) for j in range(1, NODES + 1) for i in range(j)]
GUIDES = {
    "chain": [(j - 1, j) for j in range(1, NODES + 1)],
    "ladder": [(j - 1, j) for j in range(1, NODES + 1)] + [(j - 2, j) for j in range(2, NODES + 1)],
    "wide": [(0, j) for j in range(1, NODES + 1)] + [(1, 3), (2, 4)],
    "dense": _ALL,
}
GUIDE_NAMES = tuple(GUIDES)


def candidate_index(op: str, attrs: dict) -> int:
    """Index in CANDIDATES of a node's (op, settings); ValueError when it is not a candidate."""
    for k, (cop, cattrs) in enumerate(CANDIDATES):
        if op == cop and all(attrs.get(key) == value for key, value in cattrs.items()):
            return k
    raise ValueError(f"op {op!r} with settings {attrs} is not a routenas candidate")


def make_arch(ops, edges, guide: str) -> Architecture:
    """A cell from candidate indices per node 1..NODES and an edge list."""
    nodes = [(0, {"op": "input"})] + [(j, {"op": CANDIDATES[k][0], **CANDIDATES[k][1]})
                                      for j, k in enumerate(ops, start=1)]
    return Architecture(nodes, sorted(edges), meta={"space": "routenas", "guide": guide})


@dataclasses.dataclass(frozen=True)
class Macro:
    """The fixed part: channel width, stem kernel, initializer seed of built subnets."""

    width: int = 32
    stem_kernel: int = 3

    def stack(self, seed: int | None = 0) -> CellStack:
        w = self.width
        return CellStack(stages=[Stage(w), Stage(w, strides=2), Stage(w, upsample=2)], stem_filters=w,
                         stem_kernel=self.stem_kernel, residual=True, join="add", output_join="add", output="map",
                         seed=seed, input_name="features")


def build_subnet(arch: Architecture, input_shape, macro: Macro | None = None, seed: int = 0, name: str = "routenas"):
    """The plain functional Keras model of one cell (the core DAG-cell builder)."""
    macro = macro or Macro()
    h, w = input_shape[0], input_shape[1]
    if h % 2 or w % 2:
        raise ValueError(f"routenas: input grid {h}x{w} must be even (one strided and one up-sampling cell)")
    RouteNASSpace().check(arch)
    return DagCellBuilder(macro.stack(seed)).build(arch, tuple(input_shape), 1, name=name)


class RouteNASSpace(SearchSpace):
    """Cells of NODES op nodes with ops from CANDIDATES and edges from one of GUIDES (see module docstring)."""

    name = "routenas"

    def _edges(self, guide: str, rng) -> list:
        allowed = GUIDES[guide]
        edges = []
        for j in range(1, NODES + 1):
            preds = [i for i, jj in allowed if jj == j]
            keep = [i for i in preds if rng.random() < 0.5]
            edges += [(i, j) for i in (keep or [preds[int(rng.integers(len(preds)))]])]
        return edges

    def sample(self, rng: np.random.Generator) -> Architecture:
        guide = GUIDE_NAMES[int(rng.integers(len(GUIDE_NAMES)))]
        ops = [int(rng.integers(len(CANDIDATES))) for _ in range(NODES)]
        return make_arch(ops, self._edges(guide, rng), guide)

    def encode(self, arch: Architecture) -> tuple:
        """(op indices [NODES], edge list, guide) of a cell in the space."""
        self.check(arch)
        ops = [candidate_index(arch.op(j), arch.attrs(j)) for j in range(1, NODES + 1)]
        return ops, list(arch.edges), arch.meta["guide"]

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        ops, edges, guide = self.encode(arch)
        move = rng.random()
        if move < 0.5:
            j = int(rng.integers(NODES))
            ops[j] = int([k for k in range(len(CANDIDATES)) if k != ops[j]][int(rng.integers(len(CANDIDATES) - 1))])
            return make_arch(ops, edges, guide)
        if move < 0.9:
            allowed = GUIDES[guide]
            order = rng.permutation(len(allowed))
            for idx in order:
                e = tuple(allowed[int(idx)])
                if e not in edges:
                    return make_arch(ops, edges + [e], guide)
                if sum(1 for _, v in edges if v == e[1]) > 1:
                    return make_arch(ops, [x for x in edges if x != e], guide)
            # every guide edge present and needed (a chain): fall through to a guide switch
        others = [g for g in GUIDE_NAMES if g != guide]
        guide = others[int(rng.integers(len(others)))]
        allowed = set(GUIDES[guide])
        kept = [e for e in edges if e in allowed]
        for j in range(1, NODES + 1):
            if not any(v == j for _, v in kept):
                preds = [i for i, jj in GUIDES[guide] if jj == j]
                kept.append((preds[int(rng.integers(len(preds)))], j))
        return make_arch(ops, kept, guide)

    def check(self, arch: Architecture) -> None:
        arch.validate()
        if sorted(arch.nodes) != list(range(NODES + 1)) or arch.op(0) != "input":
            raise ValueError(f"routenas cell needs nodes 0..{NODES} with node 0 the input, got {arch.nodes}")
        guide = arch.meta.get("guide")
        if guide not in GUIDES:
            raise ValueError(f"routenas cell: meta 'guide' {guide!r} not one of {GUIDE_NAMES}")
        for j in range(1, NODES + 1):
            candidate_index(arch.op(j), arch.attrs(j))
            if not arch.predecessors(j):
                raise ValueError(f"routenas cell: node {j} has no input")
        outside = sorted(set(arch.edges) - set(GUIDES[guide]))
        if outside:
            raise ValueError(f"routenas cell: edges {outside} are not in guide {guide!r}")
