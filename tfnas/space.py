"""The search contracts every method fills in: `SearchSpace`, `Evaluator`, `Result`, `Objective`."""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from tfnas.graph import Architecture


class SearchSpace(abc.ABC):
    """A set of Architectures with a way to draw one and to make a small random change to one."""

    name: str = "space"

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Architecture:
        """Draw an architecture from the space's prior."""

    @abc.abstractmethod
    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Return a neighbour of `arch` (one random change) that is still in the space."""

    def check(self, arch: Architecture) -> None:
        """Raise ValueError saying why `arch` is not in the space; the default accepts any valid graph."""
        arch.validate()

    def contains(self, arch: Architecture) -> bool:
        try:
            self.check(arch)
        except ValueError:
            return False
        return True

    def mutate_n(self, arch: Architecture, rng: np.random.Generator, times: int) -> Architecture:
        """Apply `times` successive mutations."""
        for _ in range(max(1, int(times))):
            arch = self.mutate(arch, rng)
        return arch


@dataclasses.dataclass(frozen=True)
class Result:
    """What evaluating one architecture produced: quality metrics and costs (FLOPs, params, seconds)."""

    metrics: Mapping[str, float]
    cost: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metrics": {k: float(v) for k, v in self.metrics.items()},
                "cost": {k: float(v) for k, v in self.cost.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Result:
        return cls(dict(d.get("metrics", {})), dict(d.get("cost", {})))

    def get(self, name: str) -> float:
        """A metric or a cost by name."""
        if name in self.metrics:
            return float(self.metrics[name])
        if name in self.cost:
            return float(self.cost[name])
        raise KeyError(f"result has no metric or cost {name!r}; it has "
                       f"{sorted(self.metrics) + sorted(self.cost)}")


@dataclasses.dataclass(frozen=True)
class Objective:
    """Which metric a search optimises and in which direction; `score` is always 'higher is better'."""

    name: str
    direction: str = "min"

    def __post_init__(self):
        if self.direction not in ("min", "max"):
            raise ValueError(f"objective direction must be 'min' or 'max', got {self.direction!r}")

    def score(self, result: Result) -> float:
        value = result.get(self.name)
        if math.isnan(value):
            return -math.inf
        return -value if self.direction == "min" else value

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Evaluator(abc.ABC):
    """Scores an architecture: a supernet proxy, a short training from scratch, a table lookup..."""

    @abc.abstractmethod
    def evaluate(self, arch: Architecture) -> Result:
        """Return the architecture's metrics and costs."""
