"""The tabular benchmarks the NASGEM ablation runs on, behind one interface: NAS-Bench-201 (analog-nasbench's
15,625 cells) and NAS-Bench-101 (the official `nasbench_only108.tfrecord`, when its path is given).

A table gives its search space, a key per architecture (equivalent cells share it), the canonical
architecture of a key (what every encoding sees, so two spellings of one cell get one vector), the metric
of a key, and every key. NB101 proposals are pruned to their input->output path and matched by WL hash
(`tfnas.nasgem.nasbench101`); NB101 accuracies are reported in % like NB201's.
"""
from __future__ import annotations

import numpy as np


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


class NB101Table:
    name = "nb101"

    def __init__(self, path, metric: str = "test_accuracy"):
        from pipelines.nasbench.nb101 import read_nb101
        from tfnas.nasgem.nasbench101 import NUM_NODES, NB101TableSpace, matrix_to_arch, prune
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
        self.space = NB101TableSpace(self.rows)

    def key(self, arch):
        return self._prune(arch).fingerprint()

    def canonical(self, key):
        return self._arch[key]

    def value(self, key) -> float:
        return 100.0 * float(self.rows[key][self.metric])


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
