"""A tiny search space and evaluator for testing the search core (chains of ops with widths)."""
import numpy as np

from tfnas.graph import Architecture
from tfnas.space import Evaluator, Result, SearchSpace

OPS = ("a", "b", "c")
WIDTHS = (1, 2, 4, 8)


class ChainSpace(SearchSpace):
    """Chains of `length` nodes, each with an op and a width."""

    name = "chain"

    def __init__(self, length=4):
        self.length = length

    def _build(self, choices):
        nodes = [(i, {"op": op, "width": w}) for i, (op, w) in enumerate(choices)]
        edges = [(i, i + 1) for i in range(len(choices) - 1)]
        return Architecture(nodes, edges, meta={"space": self.name})

    def sample(self, rng):
        return self._build([(OPS[rng.integers(3)], int(WIDTHS[rng.integers(4)])) for _ in range(self.length)])

    def mutate(self, arch, rng):
        node = int(rng.integers(self.length))
        if rng.random() < 0.5:
            return arch.with_node(node, op=OPS[rng.integers(3)])
        return arch.with_node(node, width=int(WIDTHS[rng.integers(4)]))


class ChainEvaluator(Evaluator):
    """Loss = distance to a hidden optimum (all 'b', width 4); counts calls."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, arch):
        self.calls += 1
        loss = sum((arch.op(n) != "b") + abs(np.log2(arch.attrs(n)["width"]) - 2) for n in arch.nodes)
        return Result({"loss": float(loss)}, {"flops": float(sum(arch.attrs(n)["width"] for n in arch.nodes))})
