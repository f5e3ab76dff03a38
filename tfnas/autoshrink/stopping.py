"""AutoShrink's edge shrinking with an exact stopping rule and an honest trial count for progress bars.

The core `EdgeShrinking` draws candidates among all reachable edges; removing an edge can make a node
unreachable, and pruning then drops its out-edges too, so one step may jump below the target
(``--keep-fraction 0.3`` of 10 edges ended at 1). The paper only says "until the cell has the kept
fraction of edges"; we choose to offer, in each step, only the removals that leave at least
`target_edges` edges after pruning. Such a removal always exists while edges > target (an in-edge of a
sink node drops only itself), so the search ends at exactly round(keep_fraction × edges).
"""
from __future__ import annotations

from tfnas.search.shrinking import EdgeShrinking, prune, removable_edges


def _edge(edge) -> list:
    return [edge[0], edge[1]]


class ExactEdgeShrinking(EdgeShrinking):
    """`EdgeShrinking` whose candidates never overshoot the target edge count (same state format)."""

    def eligible_edges(self) -> list[tuple]:
        """Reachable edges whose removal (with pruning) leaves at least `target_edges` edges."""
        return [e for e in removable_edges(self.current, self.source)
                if prune(self.current.with_edge_removed(*e), self.source).num_edges() >= self.target_edges]

    def _start_step(self) -> None:
        self._step_trials = {}
        if self.current.num_edges() <= self.target_edges:
            self._queue = []
            return
        edges = self.eligible_edges()
        order = self.rng.permutation(len(edges))[: min(self.k, len(edges))]
        self._queue = [_edge(edges[i]) for i in order]

    def remaining_trials(self) -> int:
        """An upper bound of the trials still to run: this step's unfinished candidates plus k (or fewer)
        per later step if every later step removes a single edge. Exact once the search is done (0)."""
        if self.done:
            return 0
        unfinished = len(self._queue) + sum(1 for t in self._step_trials if t in self.pending)
        after = self.current.num_edges() - 1          # edges once this step's removal is made (at most)
        later = sum(min(self.k, e) for e in range(after, self.target_edges, -1))
        return unfinished + later

    @property
    def total_trials(self) -> int:
        """Trials so far plus `remaining_trials()`: shrinks towards the true count as steps prune more."""
        return len(self.history) + self.remaining_trials()
