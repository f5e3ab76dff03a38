"""Regularized (aging) evolution, as NASRec uses it: tournament selection, mutation, oldest dies first.

Generation-synchronous: the first `population_size` trials are random draws; each later generation
proposes `children_per_generation` mutants of tournament winners (best of `sample_size` random members),
and once all of them are told they join the population and as many of the oldest members are retired.
Children of one generation can therefore be evaluated in parallel. The number of mutations per child
decays linearly from `mutations_start` (first generation) to `mutations_end` (last).

`seed_architectures` (an extension beyond the paper: NASRec starts from random draws only) fills the first
trials of the initial population with given architectures (e.g. hand-made baselines expressed in the
space), in order; the rest of the population is random.  Their trials carry ``info["seeded"] = True`` so a
report can say whether the winner was seeded.
"""
from __future__ import annotations

from typing import Sequence

from tfnas.graph import Architecture
from tfnas.space import Objective, SearchSpace
from tfnas.search.strategy import Record, Strategy


class RegularizedEvolution(Strategy):
    """Aging evolution over a SearchSpace; NASRec's reference settings are 128/64/8/240 and 6 -> 1 mutations."""

    kind = "regularized_evolution"

    def __init__(self, space: SearchSpace, objective: Objective, population_size: int = 128,
                 sample_size: int = 64, children_per_generation: int = 8, generations: int = 240,
                 mutations_start: int = 6, mutations_end: int = 1, seed: int = 0,
                 max_duplicate_retries: int = 10, seed_architectures: Sequence[Architecture] = ()):
        super().__init__(objective, seed)
        if not 1 <= sample_size <= population_size:
            raise ValueError(f"sample_size must be in [1, population_size={population_size}], got {sample_size}")
        if children_per_generation < 1 or generations < 0:
            raise ValueError("children_per_generation must be >= 1 and generations >= 0")
        self.space = space
        self.seed_architectures = list(seed_architectures)
        if len(self.seed_architectures) > population_size:
            raise ValueError(f"{len(self.seed_architectures)} seed_architectures do not fit in "
                             f"population_size={population_size}")
        keys = [a.key() for a in self.seed_architectures]
        if len(set(keys)) != len(keys):
            raise ValueError("seed_architectures holds the same architecture twice")
        check = getattr(space, "check", None)
        for i, arch in enumerate(self.seed_architectures):
            if check is not None:
                try:
                    check(arch)
                except ValueError as e:
                    raise ValueError(f"seed_architectures[{i}] is not in the space: {e}") from None
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.children_per_generation = int(children_per_generation)
        self.generations = int(generations)
        self.mutations_start = int(mutations_start)
        self.mutations_end = int(mutations_end)
        self.max_duplicate_retries = int(max_duplicate_retries)
        self.population: list[int] = []   # indices into history, oldest first
        self.generation_done: list[int] = []  # history indices of the current generation's told children
        self.completed_generations = 0

    # ------------------------------------------------------------------------------ schedule
    @property
    def total_trials(self) -> int:
        return self.population_size + self.generations * self.children_per_generation

    def mutations_for(self, generation: int) -> int:
        """Linear decay from mutations_start to mutations_end over the generations."""
        if self.generations <= 1:
            return self.mutations_start
        frac = generation / (self.generations - 1)
        return int(round(self.mutations_start + (self.mutations_end - self.mutations_start) * frac))

    @property
    def done(self) -> bool:
        return self._next_id >= self.total_trials and not self.pending

    def _current_generation(self) -> int:
        return (self._next_id - self.population_size) // self.children_per_generation

    # ------------------------------------------------------------------------------ ask
    def _propose(self) -> Architecture | None:
        if self._next_id >= self.total_trials:
            return None
        if self._next_id < len(self.seed_architectures):
            return self.seed_architectures[self._next_id]
        if self._next_id < self.population_size:
            return self._unseen(lambda: self.space.sample(self.rng))
        generation = self._current_generation()
        if self.completed_generations == 0 and len(self.population) < self.population_size:
            return None  # wait for the initial population
        if generation > self.completed_generations:
            return None  # wait for the previous generation to finish
        mutations = self.mutations_for(generation)

        def child() -> Architecture:
            # FAILED members age out like others but are never parents; with no failures this is the plain
            # tournament (same draws), with no usable member left a fresh sample replaces the mutant.
            alive = [i for i in self.population if not self.history[i].failed]
            if not alive:
                self._last_parent = None
                return self.space.sample(self.rng)
            members = self.rng.choice(len(alive), size=min(self.sample_size, len(alive)), replace=False)
            contenders = [self.history[alive[int(i)]] for i in members]
            parent = max(contenders, key=self.score)
            self._last_parent = parent.trial.id
            return self.space.mutate_n(parent.trial.arch, self.rng, mutations)

        self._last_mutations = mutations
        return self._unseen(child)

    def _unseen(self, make) -> Architecture:
        """Draw until the architecture is new to the search (bounded retries keep diversity cheaply)."""
        seen = {r.trial.arch.key() for r in self.history} | {t.arch.key() for t in self.pending.values()}
        arch = make()
        for _ in range(self.max_duplicate_retries):
            if arch.key() not in seen:
                break
            arch = make()
        return arch

    def _trial_info(self) -> dict:
        if self._next_id < len(self.seed_architectures):
            return {"generation": -1, "seeded": True}
        if self._next_id < self.population_size:
            return {"generation": -1}
        return {"generation": self._current_generation(), "parent": self._last_parent,
                "mutations": self._last_mutations}

    # ------------------------------------------------------------------------------ tell
    def _on_result(self, record: Record) -> None:
        index = len(self.history) - 1
        if record.trial.info.get("generation", -1) < 0:   # kept in trial-id order: arrival order never matters
            self.population.append(index)
            self.population.sort(key=lambda i: self.history[i].trial.id)
            return
        self.generation_done.append(index)
        if len(self.generation_done) == self.children_per_generation:
            self.population.extend(sorted(self.generation_done, key=lambda i: self.history[i].trial.id))
            self.population = self.population[len(self.population) - self.population_size:]
            self.generation_done = []
            self.completed_generations += 1

    def best_per_generation(self) -> list[float]:
        """Best objective value seen up to the end of each generation (-1 = initial population)."""
        best, out, by_gen = None, [], {}
        for r in self.history:
            by_gen.setdefault(r.trial.info.get("generation", -1), []).append(r)
        for g in sorted(by_gen):
            for r in by_gen[g]:
                if best is None or self.score(r) > self.score(best):
                    best = r
            out.append(best.result.get(self.objective.name))
        return out

    # ------------------------------------------------------------------------------ state
    def _extra_state(self) -> dict:
        return {"population": self.population, "generation_done": self.generation_done,
                "completed_generations": self.completed_generations}

    def _restore_extra(self, state: dict) -> None:
        self.population = list(state["population"])
        self.generation_done = list(state["generation_done"])
        self.completed_generations = int(state["completed_generations"])
