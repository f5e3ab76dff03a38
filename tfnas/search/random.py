"""Random search: independent draws from the space's prior, the baseline every strategy must beat."""
from __future__ import annotations

from tfnas.graph import Architecture
from tfnas.space import Objective, SearchSpace
from tfnas.search.strategy import Strategy


class RandomSearch(Strategy):
    """Propose `num_trials` architectures drawn with `space.sample`."""

    kind = "random"

    def __init__(self, space: SearchSpace, objective: Objective, num_trials: int, seed: int = 0):
        super().__init__(objective, seed)
        self.space = space
        self.num_trials = int(num_trials)

    @property
    def done(self) -> bool:
        return self._next_id >= self.num_trials and not self.pending

    def _propose(self) -> Architecture | None:
        if self._next_id >= self.num_trials:
            return None
        return self.space.sample(self.rng)
