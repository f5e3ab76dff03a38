"""`Strategy`: the ask/tell contract of every search, with JSON state so any search resumes exactly."""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any

import numpy as np

from tfnas.graph import Architecture
from tfnas.space import Objective, Result


@dataclasses.dataclass(frozen=True)
class Trial:
    """One proposal: an id unique within the search and the architecture to evaluate."""

    id: int
    arch: Architecture
    info: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"id": self.id, "arch": self.arch.to_dict(), "info": self.info}

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        return cls(int(d["id"]), Architecture.from_dict(d["arch"]), dict(d.get("info", {})))


@dataclasses.dataclass(frozen=True)
class Record:
    """A finished trial and its result."""

    trial: Trial
    result: Result

    def to_dict(self) -> dict:
        return {"trial": self.trial.to_dict(), "result": self.result.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Record":
        return cls(Trial.from_dict(d["trial"]), Result.from_dict(d["result"]))


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def rng_from_state(state: dict) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


class Strategy(abc.ABC):
    """Proposes architectures (`ask`), learns from results (`tell`); `state`/`restore` round-trip via JSON.

    Subclasses implement `_propose()` and may override `_on_result(record)`. Proposals handed out but not
    yet told are kept in the state and handed out again first after `restore`, so a killed search loses
    nothing but the evaluation that was running.
    """

    kind = "strategy"

    def __init__(self, objective: Objective, seed: int = 0):
        self.objective = objective
        self.rng = np.random.default_rng(seed)
        self.history: list[Record] = []
        self.pending: dict[int, Trial] = {}
        self._reissue: list[int] = []
        self._next_id = 0

    # -------------------------------------------------------------------------- contract
    @property
    @abc.abstractmethod
    def done(self) -> bool:
        """True when the search has nothing more to propose."""

    @abc.abstractmethod
    def _propose(self) -> Architecture | None:
        """A new architecture, or None if the strategy must wait for outstanding results."""

    def _on_result(self, record: Record) -> None:
        """Hook: update internal state after a result arrives."""

    def _extra_state(self) -> dict:
        return {}

    def _restore_extra(self, state: dict) -> None:
        pass

    # -------------------------------------------------------------------------- ask / tell
    def ask(self) -> Trial | None:
        """The next trial to evaluate, or None when done or waiting for results."""
        while self._reissue:
            trial_id = self._reissue.pop(0)
            if trial_id in self.pending:
                return self.pending[trial_id]
        if self.done:
            return None
        arch = self._propose()
        if arch is None:
            return None
        trial = Trial(self._next_id, arch, self._trial_info())
        self._next_id += 1
        self.pending[trial.id] = trial
        return trial

    def _trial_info(self) -> dict:
        return {}

    def tell(self, trial_id: int, result: Result) -> Record:
        if trial_id not in self.pending:
            raise KeyError(f"trial {trial_id} is not pending (already told, or never asked)")
        record = Record(self.pending.pop(trial_id), result)
        self.history.append(record)
        self._on_result(record)
        return record

    # -------------------------------------------------------------------------- results
    def score(self, record: Record) -> float:
        return self.objective.score(record.result)

    def best(self) -> Record | None:
        finite = [r for r in self.history if not math.isinf(self.score(r))]
        return max(finite, key=self.score) if finite else None

    def top_k(self, k: int, unique: bool = True) -> list[Record]:
        """The k best records (distinct architectures when `unique`)."""
        seen, out = set(), []
        for r in sorted(self.history, key=self.score, reverse=True):
            if unique:
                if r.trial.arch.key() in seen:
                    continue
                seen.add(r.trial.arch.key())
            out.append(r)
            if len(out) == k:
                break
        return out

    # -------------------------------------------------------------------------- state
    def state(self) -> dict:
        return {
            "kind": self.kind,
            "objective": self.objective.to_dict(),
            "rng": rng_state(self.rng),
            "next_id": self._next_id,
            "history": [r.to_dict() for r in self.history],
            "pending": [t.to_dict() for t in sorted(self.pending.values(), key=lambda t: t.id)],
            "extra": self._extra_state(),
        }

    def restore(self, state: dict[str, Any]) -> "Strategy":
        if state.get("kind") != self.kind:
            raise ValueError(f"cannot restore a {self.kind!r} strategy from {state.get('kind')!r} state")
        self.objective = Objective(**state["objective"])
        self.rng = rng_from_state(state["rng"])
        self._next_id = int(state["next_id"])
        self.history = [Record.from_dict(r) for r in state["history"]]
        self.pending = {t.id: t for t in (Trial.from_dict(p) for p in state["pending"])}
        self._reissue = sorted(self.pending)
        self._restore_extra(state.get("extra", {}))
        return self
