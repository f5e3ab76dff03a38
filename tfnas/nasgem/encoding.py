"""Fixed-length vectors for any DAG `Architecture`: the adjacency + op one-hot baseline and hashed WL features.

`AdjacencyEncoding`: nodes in topological order (ties broken by id), the upper triangle of the padded
`max_nodes` x `max_nodes` adjacency plus one op one-hot per node slot (the common NAS-predictor baseline).
`WLFeatureEncoding`: the WL subtree label counts of `wl_kernel.wl_features`, hashed into `dim` buckets and
L2-normalised, so the dot product of two vectors approximates their WL kernel (a no-training stand-in
for NASGEM's WL-guided embedding; the trained Keras encoder is `embedding.WLEmbedding`).
The vocabulary of ops is fixed at construction (from the space's ops or from a sample of it).
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np

from tfnas.graph import Architecture
from tfnas.nasgem.wl_kernel import node_label, wl_features


def _order(arch: Architecture) -> list:
    import networkx as nx
    return list(nx.lexicographical_topological_sort(arch.graph, key=lambda n: (str(type(n)), str(n))))


class AdjacencyEncoding:
    """Padded upper-triangular adjacency + op one-hots; `ops` is the label vocabulary (op + settings)."""

    name = "adjacency"

    def __init__(self, ops: Sequence[str], max_nodes: int):
        self.ops = list(dict.fromkeys(ops))
        self.index = {o: i for i, o in enumerate(self.ops)}
        self.max_nodes = int(max_nodes)
        self._iu = np.triu_indices(self.max_nodes, 1)

    @classmethod
    def from_samples(cls, archs: Iterable[Architecture]) -> AdjacencyEncoding:
        archs = list(archs)
        ops = sorted({node_label(a, n) for a in archs for n in a.nodes})
        return cls(ops, max(len(a) for a in archs))

    @property
    def dim(self) -> int:
        return len(self._iu[0]) + self.max_nodes * (len(self.ops) + 1)

    def encode_one(self, arch: Architecture) -> np.ndarray:
        order = _order(arch)
        if len(order) > self.max_nodes:
            raise ValueError(f"architecture has {len(order)} nodes > max_nodes={self.max_nodes}")
        pos = {n: i for i, n in enumerate(order)}
        adj = np.zeros((self.max_nodes, self.max_nodes), np.float32)
        for u, v in arch.edges:
            adj[pos[u], pos[v]] = 1.0
        onehot = np.zeros((self.max_nodes, len(self.ops) + 1), np.float32)  # last column: unknown op
        for n, i in pos.items():
            onehot[i, self.index.get(node_label(arch, n), len(self.ops))] = 1.0
        return np.concatenate([adj[self._iu], onehot.ravel()])

    def encode(self, archs: Sequence[Architecture]) -> np.ndarray:
        return np.stack([self.encode_one(a) for a in archs])


class WLFeatureEncoding:
    """Hashed WL subtree counts (iterations 0..h) in `dim` buckets, L2-normalised."""

    name = "wl"

    def __init__(self, h: int = 2, dim: int = 256):
        self.h, self.dim = int(h), int(dim)

    def encode_one(self, arch: Architecture) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for label, count in wl_features(arch, self.h).items():
            v[int(hashlib.md5(label.encode()).hexdigest()[:8], 16) % self.dim] += count
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def encode(self, archs: Sequence[Architecture]) -> np.ndarray:
        return np.stack([self.encode_one(a) for a in archs])
