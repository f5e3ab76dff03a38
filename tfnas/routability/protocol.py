"""Evaluation protocol: seeded splits by design and leave-one-family-out, and the two tasks' metrics.

Failed-net count (task 2) is predicted as scale * sum of the predicted hotspot-probability map, with the scale a
least-squares fit (through the origin) on training placements; Kendall tau is rank-based, so the scale only matters
for reported counts, but fitting it on training data keeps the predictor honest. AUC/tau come from tfnas/metrics.py.
"""
from __future__ import annotations

import numpy as np

from tfnas import metrics


def split_by_design(designs, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict:
    """{"train"|"val"|"test": sample indices}; every design lies in exactly one split (seeded shuffle of designs)."""
    uniq = sorted(set(designs))
    if len(uniq) < len(fractions):
        raise ValueError(f"split_by_design: {len(uniq)} designs, need at least {len(fractions)}")
    order = np.random.default_rng(seed).permutation(len(uniq))
    counts = [max(1, int(round(len(uniq) * f / sum(fractions)))) for f in fractions[1:]]
    n_train = len(uniq) - sum(counts)
    if n_train < 1:
        raise ValueError(f"split_by_design: {len(uniq)} designs too few for fractions {fractions}")
    bounds = np.cumsum([0, n_train] + counts)
    out = {}
    for name, a, b in zip(("train", "val", "test"), bounds[:-1], bounds[1:]):
        chosen = {uniq[i] for i in order[a:b]}
        out[name] = [i for i, d in enumerate(designs) if d in chosen]
    return out


def leave_one_out(groups, held_out) -> dict:
    """Train on every group except `held_out` (a suite or family), test on it."""
    if held_out not in set(groups):
        raise ValueError(f"leave_one_out: group {held_out!r} not among {sorted(set(groups))}")
    return {"train": [i for i, g in enumerate(groups) if g != held_out],
            "test": [i for i, g in enumerate(groups) if g == held_out]}


def leave_one_group_out(designs, groups, held_out, seed: int = 0, val_fraction: float = 0.15) -> dict:
    """Leave-one-suite-out with a validation split: test = the `held_out` group, val = a seeded ~val_fraction of
    the other groups' designs (at least one), train = the rest; no design is in two splits."""
    base = leave_one_out(groups, held_out)
    train_designs = sorted({designs[i] for i in base["train"]})
    if len(train_designs) < 2:
        raise ValueError(f"leave_one_group_out: only {len(train_designs)} design(s) outside {held_out!r}; "
                         "need 2 (train + val)")
    order = np.random.default_rng(seed).permutation(len(train_designs))
    n_val = max(1, int(round(len(train_designs) * val_fraction)))
    val = {train_designs[i] for i in order[:n_val]}
    return {"train": [i for i in base["train"] if designs[i] not in val],
            "val": [i for i in base["train"] if designs[i] in val], "test": base["test"]}


def fit_count_scale(prob_maps, n_failed) -> float:
    """Least-squares factor s minimising sum (s * sum(p) - n)^2 over training placements."""
    sums = np.asarray(prob_maps, np.float64).reshape(len(n_failed), -1).sum(axis=1)
    denom = float((sums * sums).sum())
    return float((sums * np.asarray(n_failed, np.float64)).sum() / denom) if denom > 0 else 0.0


def evaluate(labels, probs, n_failed, scale: float = 1.0) -> dict:
    """ROC-AUC pooled over all tiles, mean per-placement ROC-AUC (single-class placements skipped, counted), tau."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    n = labels.shape[0]
    per = [metrics.auc(y, p) for y, p in zip(labels.reshape(n, -1), probs.reshape(n, -1))]
    valid = [v for v in per if not np.isnan(v)]
    pred_count = scale * probs.reshape(n, -1).sum(axis=1)
    return {"auc_pooled": metrics.auc(labels, probs),
            "auc_per_placement": float(np.mean(valid)) if valid else float("nan"),
            "n_placements": n, "n_single_class_skipped": n - len(valid),
            "kendall_tau": metrics.kendall_tau(pred_count, n_failed) if n > 1 else float("nan"),
            "count_scale": scale}
