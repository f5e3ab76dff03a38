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
    def from_dict(cls, d: dict) -> Trial:
        return cls(int(d["id"]), Architecture.from_dict(d["arch"]), dict(d.get("info", {})))


@dataclasses.dataclass(frozen=True)
class Record:
    """A finished trial and its result; status "failed" (with the error text) when its evaluation raised,
    gave a NaN objective or ran past the time limit. Failed records never win (`Strategy.score` = -inf)."""

    trial: Trial
    result: Result
    status: str = "ok"
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict:
        d = {"trial": self.trial.to_dict(), "result": self.result.to_dict(), "status": self.status}
        return {**d, "error": self.error} if self.error else d

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        return cls(Trial.from_dict(d["trial"]), Result.from_dict(d["result"]), str(d.get("status", "ok")),
                   str(d.get("error", "")))


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def rng_from_state(state: dict) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


class Strategy(abc.ABC):
    """Proposes architectures (`ask`), learns from results (`tell`); `state`/`restore` round-trip via JSON.

    Subclasses implement `_propose()` and may override `_on_result(record)` (which also sees FAILED
    records). Proposals handed out but not yet told are kept in the state and handed out again first after
    `restore`, so a killed search loses nothing but the evaluation that was running; `attempts` counts how
    often each was handed out so a runner can record one that keeps dying as FAILED (`expire_pending`).
    """

    kind = "strategy"

    def __init__(self, objective: Objective, seed: int = 0):
        self.objective = objective
        self.rng = np.random.default_rng(seed)
        self.history: list[Record] = []
        self.pending: dict[int, Trial] = {}
        self._reissue: list[int] = []
        self.attempts: dict[int, int] = {}   # pending trial id -> times handed out
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
                self.attempts[trial_id] = self.attempts.get(trial_id, 0) + 1
                return self.pending[trial_id]
        if self.done:
            return None
        arch = self._propose()
        if arch is None:
            return None
        trial = Trial(self._next_id, arch, self._trial_info())
        self._next_id += 1
        self.pending[trial.id] = trial
        self.attempts[trial.id] = 1
        return trial

    def ask_many(self, n: int) -> list[Trial]:
        """Up to `n` trials to evaluate together (fewer when the strategy must wait for results or is done)."""
        out = []
        while len(out) < n:
            trial = self.ask()
            if trial is None or any(t.id == trial.id for t in out):
                break
            out.append(trial)
        return out

    def _trial_info(self) -> dict:
        return {}

    def tell(self, trial_id: int, result: Result) -> Record:
        if trial_id not in self.pending:
            raise KeyError(f"trial {trial_id} is not pending (already told, or never asked)")
        record = Record(self.pending.pop(trial_id), result)
        return self._add(record)

    def tell_failure(self, trial_id: int, error: str, result: Result | None = None) -> Record:
        """Record trial `trial_id` as FAILED with `error`; `result` keeps whatever costs are known."""
        if trial_id not in self.pending:
            raise KeyError(f"trial {trial_id} is not pending (already told, or never asked)")
        result = result or Result({self.objective.name: math.nan})
        return self._add(Record(self.pending.pop(trial_id), result, "failed", error))

    def _add(self, record: Record) -> Record:
        self.attempts.pop(record.trial.id, None)
        self.history.append(record)
        self._on_result(record)
        return record

    def hold(self, trial_id: int) -> None:
        """Do not hand pending trial `trial_id` out again after `restore`: another runner still holds it (a
        keras-tuner worker whose ongoing trial the restarted chief gives back to it)."""
        if trial_id in self._reissue:
            self._reissue.remove(trial_id)

    def expire_pending(self, max_attempts: int) -> list[Record]:
        """Record as FAILED every pending trial already handed out `max_attempts` times (after a resume)."""
        out = []
        for trial_id in sorted(self.pending):
            n = self.attempts.get(trial_id, 0)
            if n >= max_attempts:
                out.append(self.tell_failure(trial_id, f"handed out {n} times without a result (the process "
                                                       "stopped during its evaluation each time)"))
        return out

    # -------------------------------------------------------------------------- results
    def score(self, record: Record) -> float:
        return -math.inf if record.failed else self.objective.score(record.result)

    def best(self) -> Record | None:
        finite = [r for r in self.history if not math.isinf(self.score(r))]
        return max(finite, key=self._rank) if finite else None

    def _rank(self, record: Record) -> tuple:
        """Score, ties to the lower trial id: the same winner whatever order results arrived in."""
        return self.score(record), -record.trial.id

    def failures(self) -> list[Record]:
        return [r for r in self.history if r.failed]

    def top_k(self, k: int, unique: bool = True) -> list[Record]:
        """The k best records (distinct architectures when `unique`)."""
        seen, out = set(), []
        for r in sorted(self.history, key=self._rank, reverse=True):
            if r.failed:
                continue
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
            "attempts": {str(k): v for k, v in sorted(self.attempts.items())},
            "extra": self._extra_state(),
        }

    def restore(self, state: dict[str, Any]) -> Strategy:
        if state.get("kind") != self.kind:
            raise ValueError(f"cannot restore a {self.kind!r} strategy from {state.get('kind')!r} state")
        self.objective = Objective(**state["objective"])
        self.rng = rng_from_state(state["rng"])
        self._next_id = int(state["next_id"])
        self.history = [Record.from_dict(r) for r in state["history"]]
        self.pending = {t.id: t for t in (Trial.from_dict(p) for p in state["pending"])}
        self._reissue = sorted(self.pending)
        self.attempts = {int(k): int(v) for k, v in state.get("attempts", {}).items()}
        self._restore_extra(state.get("extra", {}))
        return self
