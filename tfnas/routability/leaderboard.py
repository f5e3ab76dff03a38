"""Leaderboard: per-(model, split) mean +- std over seeds of both tasks' metrics, params, FLOPs and tiles/s.

Rows come from `experiment.run_experiment` results; LOSO splits ("loso-<suite>") are also pooled into one
"loso (mean)" row per model, the mean over held-out suites of each seed's figure (std over seeds of that mean).
NaN figures (a test set with one class, tau over one placement) are left out of the mean and counted.
"""
from __future__ import annotations

import math

import numpy as np

METRICS = ("auc_pooled", "auc_per_placement", "kendall_tau")
COSTS = ("params", "flops", "train_tiles_per_s")


def _mean_std(values) -> tuple:
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    if not v:
        return float("nan"), float("nan"), len(values)
    return float(np.mean(v)), float(np.std(v)), len(values) - len(v)


def aggregate(results: list) -> list:
    """[{model, split, seeds, <metric>_mean, <metric>_std, ..., params, flops, train_tiles_per_s}] sorted."""
    groups: dict = {}
    for r in results:
        groups.setdefault((r["model"], r["split"]), []).append(r)
    loso: dict = {}
    for (model, split), rs in groups.items():
        if split.startswith("loso-"):
            for r in rs:
                loso.setdefault(model, {}).setdefault(r["seed"], []).append(r)
    for model, by_seed in loso.items():
        pooled = []
        for seed, rs in sorted(by_seed.items()):
            row = {"model": model, "split": "loso (mean)", "seed": seed}
            for k in METRICS + COSTS:
                row[k] = _mean_std([r[k] for r in rs])[0]
            pooled.append(row)
        groups[(model, "loso (mean)")] = pooled
    rows = []
    for (model, split), rs in sorted(groups.items()):
        row = {"model": model, "split": split, "seeds": sorted({r["seed"] for r in rs})}
        for k in METRICS:
            row[f"{k}_mean"], row[f"{k}_std"], row[f"{k}_nan"] = _mean_std([r[k] for r in rs])
        for k in COSTS:
            row[k] = _mean_std([r[k] for r in rs])[0]
        rows.append(row)
    return rows


def _pm(row, k) -> str:
    m, s = row[f"{k}_mean"], row[f"{k}_std"]
    return "nan" if math.isnan(m) else f"{m:.4f} ± {s:.4f}"


def markdown(rows: list, title: str = "") -> str:
    """A markdown table of `aggregate` rows."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| model | split | seeds | ROC-AUC pooled | ROC-AUC per placement | Kendall τ | params | FLOPs | "
              "train tiles/s |", "|---|---|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['split']} | {len(r['seeds'])} | {_pm(r, 'auc_pooled')} | "
                     f"{_pm(r, 'auc_per_placement')} | {_pm(r, 'kendall_tau')} | {r['params']:,.0f} | "
                     f"{r['flops']:,.0f} | {r['train_tiles_per_s']:,.0f} |")
    return "\n".join(lines) + "\n"


def relative_gain(rows: list, found: str, split: str = "design", baselines=None) -> dict:
    """{metric: relative gain in % of `found` over the best of `baselines` (default: every other model) on `split`}
    (means over seeds)."""
    by = {r["model"]: r for r in rows if r["split"] == split}
    if found not in by:
        raise ValueError(f"relative_gain: no {found!r} row for split {split!r}")
    out = {}
    for k in ("auc_pooled", "kendall_tau"):
        others = [r[f"{k}_mean"] for m, r in by.items() if m != found and (baselines is None or m in baselines)
                  and not math.isnan(r[f"{k}_mean"])]
        best = max(others) if others else float("nan")
        mine = by[found][f"{k}_mean"]
        out[k] = {"found": mine, "best_baseline": best,
                  "gain_pct": 100.0 * (mine - best) / abs(best) if others and best else float("nan")}
    return out
