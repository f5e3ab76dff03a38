"""Weisfeiler-Lehman subtree kernel between labelled `Architecture`s (NASGEM's similarity target).

Choices (the paper does not spell them out): a node's initial label is its op plus its settings (every
node attribute but `op`, as sorted JSON); each iteration relabels a node by (its label, the sorted
labels of its predecessors, the sorted labels of its successors), so data-flow direction matters.
Labels are hashed strings, hence comparable across graphs without a shared dictionary. The feature
vector counts every label of iterations 0..h; the kernel is the cosine of two such count vectors, in [0, 1].
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

from tfnas.graph import Architecture


def node_label(arch: Architecture, node) -> str:
    """op plus its settings, e.g. `conv|{"kernel": 3}`."""
    attrs = dict(arch.attrs(node))
    op = str(attrs.pop("op", ""))
    return op if not attrs else f"{op}|{json.dumps(attrs, sort_keys=True, default=str)}"


def _h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def wl_features(arch: Architecture, h: int = 2) -> Counter:
    """Counts of WL subtree labels of iterations 0..h (iteration i's labels are prefixed `i:`)."""
    if h < 0:
        raise ValueError(f"WL iterations h must be >= 0, got {h}")
    g = arch.graph
    labels = {n: node_label(arch, n) for n in g.nodes}
    feats = Counter(f"0:{lab}" for lab in labels.values())
    for it in range(1, h + 1):
        labels = {n: _h(json.dumps([labels[n], sorted(labels[p] for p in g.predecessors(n)),
                                    sorted(labels[s] for s in g.successors(n))]))
                  for n in g.nodes}
        feats.update(f"{it}:{lab}" for lab in labels.values())
    return feats


def kernel_from_features(fa: Counter, fb: Counter) -> float:
    dot = sum(v * fb.get(k, 0) for k, v in fa.items())
    na = math.sqrt(sum(v * v for v in fa.values()))
    nb = math.sqrt(sum(v * v for v in fb.values()))
    return 0.0 if na == 0 or nb == 0 else min(1.0, dot / (na * nb))


def wl_kernel(a: Architecture, b: Architecture, h: int = 2) -> float:
    """Normalised WL subtree kernel in [0, 1]; 1 for isomorphic graphs (same labels)."""
    return kernel_from_features(wl_features(a, h), wl_features(b, h))
