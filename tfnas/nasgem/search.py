"""Bootstrap search (NASGEM): sample many cells -> encode -> predict -> evaluate the top few -> refit -> repeat.

Works on any `SearchSpace` whose architectures are DAGs: it only uses `space.sample` and an encoding
(`encoding.AdjacencyEncoding` / `WLFeatureEncoding`, the trained `embedding.WLEmbedding`, anything with
`encode(list) -> array`). The first
`num_init` proposals are random; each later round fits `EnsemblePredictor` on every evaluated cell,
scores `pool_size` fresh unseen samples by mean + `kappa` * std and queues the best `batch`.
Resume: the queue is part of the state and the predictor is refit from the history with a seed drawn
from the strategy's rng, so a restored search proposes exactly what the original would have.
"""
from __future__ import annotations

import math

import numpy as np

from tfnas.graph import Architecture
from tfnas.nasgem.predictor import EnsemblePredictor
from tfnas.search.strategy import Strategy
from tfnas.space import Objective, SearchSpace


class BootstrapSearch(Strategy):
    kind = "nasgem_bootstrap"

    def __init__(self, space: SearchSpace, objective: Objective, encoding, num_trials: int, num_init: int = 20,
                 pool_size: int = 1000, batch: int = 10, kappa: float = 0.5, members: int = 8, seed: int = 0,
                 max_sample_tries: int = 20):
        super().__init__(objective, seed)
        if num_init < 2 or batch < 1 or pool_size < batch:
            raise ValueError("need num_init >= 2, batch >= 1 and pool_size >= batch")
        self.space, self.encoding = space, encoding
        self.num_trials, self.num_init = int(num_trials), int(num_init)
        self.pool_size, self.batch, self.kappa = int(pool_size), int(batch), float(kappa)
        self.members, self.max_sample_tries = int(members), int(max_sample_tries)
        self.queue: list[Architecture] = []
        self.rounds = 0

    @property
    def done(self) -> bool:
        return self._next_id >= self.num_trials and not self.pending

    def _key(self, trial) -> str:
        """Architecture key per trial id, memoised (hashing every history entry per proposal is quadratic)."""
        cache = self.__dict__.setdefault("_keys", {})
        if trial.id not in cache:
            cache[trial.id] = trial.arch.key()
        return cache[trial.id]

    def _seen(self) -> set:
        return {self._key(r.trial) for r in self.history} | {self._key(t) for t in self.pending.values()}

    def _fresh(self, n: int, seen: set) -> list[Architecture]:
        out, keys = [], set(seen)
        for _ in range(n * self.max_sample_tries):
            a = self.space.sample(self.rng)
            if a.key() not in keys:
                keys.add(a.key())
                out.append(a)
                if len(out) == n:
                    break
        return out

    def _propose(self) -> Architecture | None:
        if self._next_id >= self.num_trials:
            return None
        seen = self._seen()
        self.queue = [a for a in self.queue if a.key() not in seen]
        if self.queue:
            return self.queue.pop(0)
        done = [r for r in self.history if not math.isinf(self.score(r))]
        if self._next_id < self.num_init or len(done) < 2:
            if self._next_id >= self.num_init and self.pending:
                return None  # wait for results before the first model-guided round
            fresh = self._fresh(1, seen)
            return fresh[0] if fresh else None
        self.queue = self._round(done, seen)
        return self.queue.pop(0) if self.queue else None

    def _round(self, done, seen) -> list[Architecture]:
        x = self.encoding.encode([r.trial.arch for r in done])
        y = np.array([self.score(r) for r in done])
        pred = EnsemblePredictor(self.members, seed=int(self.rng.integers(2 ** 31))).fit(x, y)
        pool = self._fresh(self.pool_size, seen)
        if not pool:
            return []
        mean, std = pred.predict(self.encoding.encode(pool))
        order = np.argsort(-(mean + self.kappa * std), kind="stable")[: self.batch]
        self.rounds += 1
        return [pool[i] for i in order]

    def _extra_state(self) -> dict:
        return {"queue": [a.to_dict() for a in self.queue], "rounds": self.rounds}

    def _restore_extra(self, state: dict) -> None:
        self.queue = [Architecture.from_dict(d) for d in state.get("queue", [])]
        self.rounds = int(state.get("rounds", 0))
