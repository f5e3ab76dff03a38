"""NASRec's search stage: regularized evolution (or random) over a NASRec space, scored by the supernet.

Runs through `tfnas.search.loop.run_search` (checkpoint after each candidate, so a killed search resumes
with the same proposals) or, with `runner="keras_tuner"`, through the keras-tuner Oracle adapter
(several worker processes at once: tfnas/nasrec/workers.py, `tfnas nasrec search --workers N`).
Writes `candidates.jsonl` (one line per candidate: architecture, metrics, FLOPs, params, generation) and
two PNGs (best logloss per generation; logloss vs FLOPs).
"""
from __future__ import annotations

import json
import os
from typing import Optional

from tfnas.graph import Architecture
from tfnas.nasrec.config import SearchConfig
from tfnas.nasrec.seeding import baseline_seeds
from tfnas.search.evolution import RegularizedEvolution
from tfnas.search.loop import run_search
from tfnas.search.random import RandomSearch
from tfnas.search.strategy import Record, Strategy
from tfnas.space import Evaluator, Objective, SearchSpace

STATE_FILE = "search_state.json"
CANDIDATES_FILE = "candidates.jsonl"
PROGRESS_PNG = "search_progress.png"
FLOPS_PNG = "logloss_vs_flops.png"

_DIRECTIONS = {"logloss": "min", "auc": "max"}


def make_strategy(cfg: SearchConfig, space: SearchSpace) -> Strategy:
    """The strategy a SearchConfig describes (regularized evolution with its settings, or random)."""
    if cfg.objective not in _DIRECTIONS:
        raise ValueError(f"search.objective must be one of {sorted(_DIRECTIONS)}, got {cfg.objective!r}")
    objective = Objective(cfg.objective, _DIRECTIONS[cfg.objective])
    if cfg.strategy == "evolution":
        return RegularizedEvolution(space, objective, population_size=cfg.population_size,
                                    sample_size=cfg.sample_size,
                                    children_per_generation=cfg.children_per_generation,
                                    generations=cfg.generations, mutations_start=cfg.mutations_start,
                                    mutations_end=cfg.mutations_end, seed=cfg.seed,
                                    seed_architectures=load_seed_architectures(cfg.seed_architectures)
                                    + baseline_seeds(cfg.seed_baselines, space))
    if cfg.strategy == "random":
        for field in ("seed_architectures", "seed_baselines"):
            if getattr(cfg, field):
                raise ValueError(f"search.{field} needs search.strategy 'evolution', got 'random'")
        total = cfg.population_size + cfg.generations * cfg.children_per_generation
        return RandomSearch(space, objective, num_trials=total, seed=cfg.seed)
    raise ValueError(f"search.strategy must be 'evolution' or 'random', got {cfg.strategy!r}")


def load_seed_architectures(paths: list) -> list[Architecture]:
    """The architectures of search.seed_architectures; a bad entry names the field index and the file."""
    out = []
    for i, path in enumerate(paths):
        if not isinstance(path, str):
            raise ValueError(f"search.seed_architectures[{i}] must be a file path, got {path!r}")
        try:
            out.append(Architecture.load(path))
        except (OSError, ValueError) as e:
            raise ValueError(f"search.seed_architectures[{i}] ({path}): {e}") from None
    return out


def seeding_summary(rows: list[dict], winner_id: int | None) -> str:
    """One line: how many searched candidates were seeded and whether the winner (trial `winner_id`) was."""
    seeded = [r for r in rows if r.get("seeded")]
    if not seeded:
        return "seeding: none (random initial population, as in the paper)"
    won = next((r for r in rows if r["id"] == winner_id), None)
    # "non-seeded" is kept for the lineage report (no seed among its ancestors); a winner mutated from a seed is
    # searched but a seed descendant
    what = "unknown" if won is None else ("a seeded architecture" if won.get("seeded") else
                                          "a searched architecture (not itself a seed; lineage below)")
    return f"seeding: {len(seeded)} of {len(rows)} candidates seeded; the winner (trial {winner_id}) is {what}"


def run_nasrec_search(cfg: SearchConfig, space: SearchSpace, evaluator: Evaluator, out_dir: str,
                      runner: str = "loop", max_trials: Optional[int] = None,
                      progress: bool = True) -> Strategy:
    """Run (or resume) the search into `out_dir`; write candidates.jsonl and the two PNGs when done."""
    os.makedirs(out_dir, exist_ok=True)
    strategy = make_strategy(cfg, space)
    if runner == "loop":
        run_search(strategy, evaluator, os.path.join(out_dir, STATE_FILE), max_trials=max_trials,
                   progress=progress)
    elif runner == "keras_tuner":
        strategy = run_with_oracle(strategy, evaluator, out_dir, max_trials=max_trials)
    else:
        raise ValueError(f"runner must be 'loop' or 'keras_tuner', got {runner!r}")
    if strategy.done:
        write_outputs(strategy, out_dir)
    return strategy


def run_with_oracle(strategy: Strategy, evaluator: Evaluator, out_dir: str,
                    max_trials: Optional[int] = None) -> Strategy:
    """Drive `strategy` through keras-tuner (StrategyOracle + EvaluatorTuner); resumes from `out_dir`."""
    from tfnas.search.oracle import EvaluatorTuner, StrategyOracle

    total = getattr(strategy, "total_trials", None) or getattr(strategy, "num_trials", None)
    oracle = StrategyOracle(strategy, max_trials=max_trials or total)
    tuner = EvaluatorTuner(oracle, evaluator, directory=out_dir, project_name="keras_tuner",
                           overwrite=False)
    tuner.search()
    return tuner.oracle.strategy


def record_row(record: Record) -> dict:
    """One candidates.jsonl row: trial id, generation, metrics, costs and the architecture JSON."""
    info = record.trial.info
    return {"id": record.trial.id, "generation": int(info.get("generation", -1)),
            "parent": info.get("parent"), "seeded": bool(info.get("seeded", False)),
            "fingerprint": record.trial.arch.fingerprint(),
            "status": record.status, **({"error": record.error} if record.error else {}),
            **{k: float(v) for k, v in record.result.metrics.items()},
            **{k: float(v) for k, v in record.result.cost.items()},
            "arch": record.trial.arch.to_dict()}


def best_per_generation(strategy: Strategy, chunk: int = 8) -> list[float]:
    """Best objective up to each generation (RegularizedEvolution's own; else per `chunk` trials)."""
    if hasattr(strategy, "best_per_generation"):
        return strategy.best_per_generation()
    out, best = [], None
    for i, r in enumerate(strategy.history):
        if best is None or strategy.score(r) > strategy.score(best):
            best = r
        if (i + 1) % chunk == 0 or i + 1 == len(strategy.history):
            out.append(best.result.get(strategy.objective.name))
    return out


def write_outputs(strategy: Strategy, out_dir: str, top_k: int = 0) -> dict:
    """candidates.jsonl (rows in trial id order: a distributed search tells results in the order they finish)
    + the two PNGs; returns their paths."""
    from tfnas.nasrec import plots

    rows = [record_row(r) for r in sorted(strategy.history, key=lambda r: r.trial.id)]
    path = os.path.join(out_dir, CANDIDATES_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)
    metric = strategy.objective.name
    out = {"candidates": path}
    curve = best_per_generation(strategy)
    if curve:
        out["progress_png"] = plots.plot_search_progress(curve, os.path.join(out_dir, PROGRESS_PNG), metric)
    with_flops = [r for r in rows if "flops" in r]
    if with_flops:
        best_ids = {r.trial.id for r in strategy.top_k(max(1, top_k))}
        hi = [i for i, r in enumerate(with_flops) if r["id"] in best_ids]
        out["flops_png"] = plots.plot_metric_vs_flops([r["flops"] for r in with_flops],
                                                      [r[metric] for r in with_flops],
                                                      os.path.join(out_dir, FLOPS_PNG), metric, hi)
    return out


def load_candidates(out_dir: str) -> list[dict]:
    """Rows of candidates.jsonl (each with an `Architecture` under "architecture")."""
    path = os.path.join(out_dir, CANDIDATES_FILE)
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: invalid JSON: {e.msg}") from e
            row["architecture"] = Architecture.from_dict(row["arch"], source=f"{path}:{i}")
            rows.append(row)
    return rows


def top_candidates(rows: list[dict], k: int, metric: str = "logloss") -> list[dict]:
    """The k best distinct candidates by `metric` (lower is better unless auc): distinct by canonical key
    (tfnas/nasrec/canonical.py: candidates that build the same function are one), by fingerprint for rows
    without an architecture."""
    from tfnas.nasrec.canonical import canonical_key
    sign = -1.0 if _DIRECTIONS.get(metric, "min") == "max" else 1.0
    seen, out = set(), []
    for r in sorted(rows, key=lambda r: sign * r[metric]):
        key = canonical_key(r["architecture"]) if r.get("architecture") is not None else r["fingerprint"]
        if key in seen or r[metric] != r[metric] or r.get("status") == "failed":
            continue
        seen.add(key)
        out.append(r)
        if len(out) == k:
            break
    return out
