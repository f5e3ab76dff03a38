"""The tabular benchmarks the NASGEM ablation runs on, behind one interface: NAS-Bench-201 (analog-nasbench's
15,625 cells) and NAS-Bench-101 (the official `nasbench_only108.tfrecord`, when its path is given).

A table gives its search space, a key per architecture (equivalent cells share it), the canonical
architecture of a key (what every encoding sees, so two spellings of one cell get one vector), the metric
of a key, and every key. NB101 proposals are pruned to their input->output path and matched by WL hash
(`tfnas.nasgem.nasbench101`); NB101 accuracies are reported in % like NB201's.
"""
from __future__ import annotations

import numpy as np

from tfnas.space import SearchSpace


class NB201Table:
    name = "nb201"

    def __init__(self, cache=None, metric: str = "baseline_accuracy"):
        from pipelines.nasbench.nb201 import load_nb201
        from tfnas.nasgem.nasbench201 import NB201Space, arch_to_cell, cell_to_arch
        self._to_cell, self._to_arch = arch_to_cell, cell_to_arch
        self.rows, self.metric = load_nb201(cache), metric
        if metric not in next(iter(self.rows.values())):
            raise SystemExit(f"--metric {metric!r}: NB201 table has {sorted(next(iter(self.rows.values())))}")
        self.space, self.max_nodes = NB201Space(), None
        self.keys = sorted(self.rows)

    def key(self, arch):
        return self._to_cell(arch)

    def canonical(self, key):
        return self._to_arch(key)

    def value(self, key) -> float:
        return float(self.rows[key][self.metric])


class InTable(SearchSpace):
    """`space` restricted to the cells a (possibly partial) table holds: a sample not in the table is redrawn
    (up to `sample_tries` times), then replaced by a uniformly drawn table cell; a mutation is redrawn up to
    `mutate_tries` times, then replaced by a sample. On the full NB101 table every valid cell is present, so
    the first draw always holds and this is `space` itself."""

    def __init__(self, space: SearchSpace, table, sample_tries: int = 3, mutate_tries: int = 20):
        self.inner, self.table, self.name = space, table, space.name
        self.sample_tries, self.mutate_tries = int(sample_tries), int(mutate_tries)

    def _known(self, arch) -> bool:
        return self.table.key(arch) in self.table.rows

    def sample(self, rng):
        for _ in range(self.sample_tries):
            arch = self.inner.sample(rng)
            if self._known(arch):
                return arch
        return self.table.member(self.table.keys[int(rng.integers(len(self.table.keys)))])

    def mutate(self, arch, rng):
        for _ in range(self.mutate_tries):
            child = self.inner.mutate(arch, rng)
            if self._known(child):
                return child
        return self.sample(rng)

    def check(self, arch) -> None:
        self.inner.check(arch)


class NB101Table:
    name = "nb101"

    def __init__(self, path, metric: str = "test_accuracy"):
        from pipelines.nasbench.nb101 import read_nb101
        from tfnas.nasgem.nasbench101 import NB101Space, NUM_NODES, matrix_to_arch, prune
        if metric not in ("test_accuracy", "validation_accuracy", "train_accuracy"):
            raise SystemExit(f"--metric {metric!r}: NB101 metrics are test_accuracy, validation_accuracy, "
                             "train_accuracy")
        self._prune, self.metric, self.max_nodes = prune, metric, NUM_NODES
        self.rows, self._arch = {}, {}
        for module_hash, r in read_nb101(path).items():
            arch = prune(matrix_to_arch(r["matrix"], r["ops"]))
            key = arch.fingerprint()
            self.rows[key], self._arch[key] = r, arch
        if not self.rows:
            raise SystemExit(f"{path}: no 108-epoch records")
        self.keys = sorted(self.rows)
        self.space = InTable(NB101Space(), self)

    def key(self, arch):
        return self._prune(arch).fingerprint()

    def canonical(self, key):
        return self._arch[key]

    def value(self, key) -> float:
        return 100.0 * float(self.rows[key][self.metric])

    def member(self, key):
        """The key's cell as a member of the 7-node space: the file stores pruned matrices (k <= 7 nodes), so the
        missing interior nodes are added unconnected (conv3x3) before the output; pruning drops them again."""
        from tfnas.nasgem.nasbench101 import OPS, matrix_to_arch
        r, n = self.rows[key], self.max_nodes
        k = len(r["matrix"])
        m = [[0] * n for _ in range(n)]
        where = list(range(k - 1)) + [n - 1]                       # old index -> new index
        for i in range(k):
            for j in range(k):
                if r["matrix"][i][j]:
                    m[where[i]][where[j]] = 1
        ops = list(r["ops"][:-1]) + [OPS[0]] * (n - k) + [r["ops"][-1]]
        return matrix_to_arch(m, ops)


class CachedEncoding:
    """An encoding applied to each table key's canonical architecture once (seeds re-query the same cells)."""

    def __init__(self, enc, table):
        self.enc, self.table, self.name, self.cache = enc, table, enc.name, {}

    def encode(self, archs):
        keys = [self.table.key(a) for a in archs]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            for k, v in zip(todo, np.asarray(self.enc.encode([self.table.canonical(k) for k in todo]), np.float32)):
                self.cache[k] = v
        return np.stack([self.cache[k] for k in keys])
