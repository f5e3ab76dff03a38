"""Edge shrinking (AutoShrink): start from a dense DAG, remove one edge per step, keep the best removal.

Each step draws k candidate edges among those whose source is reachable from the input node, proposes
"graph minus that edge" for each, and once all k results are in removes the best-scoring edge for good,
then prunes edges leaving nodes that became unreachable. It stops at round(keep_fraction × initial edges).
Everything (current graph, the step's candidates, finished steps) is in `state()`, so a killed search
resumes inside the step it reached. `RandomEdgeRemoval` is the baseline: random removals, same budget.
"""
from __future__ import annotations

import math
from typing import Hashable

from tfnas.graph import Architecture
from tfnas.search.strategy import Record, Strategy
from tfnas.space import Objective

SCORE_MAX = Objective("score", "max")  # frozen, so one shared default is safe


def input_node(arch: Architecture) -> Hashable:
    """The graph's single input node (no predecessors among nodes that have edges, else the first)."""
    with_edges = {n for e in arch.edges for n in e}
    roots = [n for n in arch.inputs() if n in with_edges] or arch.inputs()
    if len(roots) != 1:
        raise ValueError(f"shrinking needs a single input node; {arch!r} has roots {roots}")
    return roots[0]


def removable_edges(arch: Architecture, source: Hashable) -> list[tuple]:
    """Edges leaving nodes reachable from `source`, in a deterministic order."""
    alive = arch.reachable_from(source)
    return sorted((e for e in arch.edges if e[0] in alive), key=repr)


def prune(arch: Architecture, source: Hashable) -> Architecture:
    """Remove every edge whose source node `source` cannot reach (it carries nothing)."""
    alive = arch.reachable_from(source)
    for u, v in arch.edges:
        if u not in alive:
            arch = arch.with_edge_removed(u, v)
    return arch


def _edge(edge) -> list:
    return [edge[0], edge[1]]


class EdgeShrinking(Strategy):
    """AutoShrink's k-candidate edge removal as an ask/tell Strategy (objective: higher score is better)."""

    kind = "edge_shrinking"

    def __init__(self, initial: Architecture, objective: Objective = SCORE_MAX,
                 candidates_per_step: int = 10, keep_fraction: float = 0.01, seed: int = 0,
                 source: Hashable | None = None):
        super().__init__(objective, seed)
        if candidates_per_step < 1:
            raise ValueError(f"candidates_per_step must be >= 1, got {candidates_per_step}")
        if not 0 <= keep_fraction < 1:
            raise ValueError(f"keep_fraction must be in [0, 1), got {keep_fraction}")
        self.source = input_node(initial) if source is None else source
        self.initial = initial
        self.current = prune(initial, self.source)
        self.k = int(candidates_per_step)
        self.keep_fraction = float(keep_fraction)
        self.initial_edges = self.current.num_edges()
        self.target_edges = int(round(self.keep_fraction * self.initial_edges))
        self.steps: list[dict] = []          # one dict per finished step
        self._queue: list[list] = []         # candidate edges of this step not proposed yet
        self._step_trials: dict[int, list] = {}  # trial id -> edge, for this step
        self._last_edge: list | None = None
        self._start_step()

    # --------------------------------------------------------------------------------- steps
    @property
    def step(self) -> int:
        return len(self.steps)

    @property
    def total_trials(self) -> int:
        """Trials a full run needs if every step has k candidates (an upper bound, for progress bars)."""
        edges = self.initial_edges
        return sum(min(self.k, e) for e in range(edges, self.target_edges, -1))

    def _start_step(self) -> None:
        self._step_trials = {}
        if self.current.num_edges() <= self.target_edges:
            self._queue = []
            return
        edges = removable_edges(self.current, self.source)
        order = self.rng.permutation(len(edges))[: min(self.k, len(edges))]
        self._queue = [_edge(edges[i]) for i in order]

    @property
    def done(self) -> bool:
        return self.current.num_edges() <= self.target_edges and not self.pending

    def _propose(self) -> Architecture | None:
        if not self._queue:
            return None                      # wait for this step's outstanding results
        self._last_edge = self._queue.pop(0)
        return prune(self.current.with_edge_removed(*self._last_edge), self.source)

    def _trial_info(self) -> dict:
        info = {"step": self.step, "edge": self._last_edge}
        self._step_trials[self._next_id] = self._last_edge
        return info

    def _on_result(self, record: Record) -> None:
        if record.trial.id not in self._step_trials:
            raise KeyError(f"trial {record.trial.id} does not belong to shrinking step {self.step}")
        if self._queue or any(t in self.pending for t in self._step_trials):
            return
        self._finish_step()

    def _finish_step(self) -> None:
        ids = set(self._step_trials)
        records = [r for r in self.history if r.trial.id in ids]
        scores = [self.score(r) for r in records]
        if all(r.failed for r in records):
            self._start_step()  # no usable candidate: nothing removed, draw this step's candidates again
            return
        best = max(range(len(records)), key=lambda i: (scores[i], -i))
        edge = self._step_trials[records[best].trial.id]
        before = self.current.num_edges()
        self.current = records[best].trial.arch
        finite = [s for s in scores if not math.isinf(s)]
        self.steps.append({
            "step": self.step, "edges_before": before, "edges_left": self.current.num_edges(),
            "removed": edge, "best_trial": records[best].trial.id,
            "best_score": scores[best], "mean_score": sum(finite) / len(finite) if finite else -math.inf,
            "candidates": [{"trial": r.trial.id, "edge": self._step_trials[r.trial.id], "score": s,
                            **r.result.to_dict()} for r, s in zip(records, scores)],
            "arch": self.current.to_dict(),
        })
        self._start_step()

    # --------------------------------------------------------------------------------- state
    def _extra_state(self) -> dict:
        return {"initial": self.initial.to_dict(), "current": self.current.to_dict(), "k": self.k,
                "keep_fraction": self.keep_fraction, "source": self.source, "steps": self.steps,
                "queue": self._queue, "step_trials": [[t, e] for t, e in self._step_trials.items()]}

    def _restore_extra(self, state: dict) -> None:
        if state.get("k") != self.k or state.get("keep_fraction") != self.keep_fraction:
            raise ValueError(f"checkpoint was made with k={state.get('k')}, keep_fraction="
                             f"{state.get('keep_fraction')}; this search has k={self.k}, "
                             f"keep_fraction={self.keep_fraction}")
        initial = Architecture.from_dict(state["initial"], "checkpoint field 'initial'")
        if initial != self.initial:
            raise ValueError("checkpoint starts from a different initial graph than this search")
        self.current = Architecture.from_dict(state["current"], "checkpoint field 'current'")
        self.steps = list(state["steps"])
        self._queue = [list(e) for e in state["queue"]]
        self._step_trials = {int(t): list(e) for t, e in state["step_trials"]}


class RandomEdgeRemoval(Strategy):
    """Baseline: random shrinking paths (remove one random reachable edge per trial, restart when at the
    target size) for a fixed number of trials, so it trains as many candidates as a shrinking run."""

    kind = "random_edge_removal"

    def __init__(self, initial: Architecture, num_trials: int, objective: Objective = SCORE_MAX,
                 keep_fraction: float = 0.01, seed: int = 0, source: Hashable | None = None):
        super().__init__(objective, seed)
        self.source = input_node(initial) if source is None else source
        self.initial = prune(initial, self.source)
        self.num_trials = int(num_trials)
        self.target_edges = int(round(keep_fraction * self.initial.num_edges()))
        self.current = self.initial

    @property
    def done(self) -> bool:
        return self._next_id >= self.num_trials and not self.pending

    def _propose(self) -> Architecture | None:
        if self._next_id >= self.num_trials:
            return None
        if self.current.num_edges() <= self.target_edges:
            self.current = self.initial
        edges = removable_edges(self.current, self.source)
        u, v = edges[int(self.rng.integers(len(edges)))]
        self.current = prune(self.current.with_edge_removed(u, v), self.source)
        return self.current

    def _extra_state(self) -> dict:
        return {"current": self.current.to_dict()}

    def _restore_extra(self, state: dict) -> None:
        self.current = Architecture.from_dict(state["current"], "checkpoint field 'current'")
