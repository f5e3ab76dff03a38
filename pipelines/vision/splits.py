"""Class-balanced subsets and stratified splits: the proxy datasets a shrinking search trains on."""
from __future__ import annotations

import numpy as np


def class_balanced_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices with `per_class` examples of every class (without replacement; all of a smaller class)."""
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        out.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    out = np.concatenate(out)
    rng.shuffle(out)
    return out


def stratified_split(labels: np.ndarray, fractions, rng: np.random.Generator) -> list[np.ndarray]:
    """Split indices into parts with the given fractions (summing to <= 1), class by class."""
    fractions = list(fractions)
    if sum(fractions) > 1 + 1e-9 or min(fractions) <= 0:
        raise ValueError(f"split fractions must be positive and sum to <= 1, got {fractions}")
    parts = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for p, frac in enumerate(fractions):
            n = int(round(frac * len(idx)))
            parts[p].append(idx[start:start + n])
            start += n
    return [rng.permutation(np.concatenate(p)) for p in parts]
