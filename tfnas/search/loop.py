"""`run_search`: drive any Strategy with any Evaluator, checkpointing after every result so a killed
search resumes exactly where it stopped (only the evaluation in flight is redone)."""
from __future__ import annotations

import json
import os
import time
from typing import Callable

from tfnas.search.strategy import Record, Strategy
from tfnas.space import Evaluator


def save_state(strategy: Strategy, path: str) -> None:
    """Write the strategy's state atomically (tmp file + rename) so a kill never leaves half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(strategy.state(), f)
    os.replace(tmp, path)


def load_state(strategy: Strategy, path: str) -> bool:
    """Restore `strategy` from `path` if it exists; returns whether it did."""
    if not os.path.exists(path):
        return False
    try:
        with open(path) as f:
            state = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: corrupt search checkpoint: {exc.msg}") from None
    strategy.restore(state)
    return True


def run_search(strategy: Strategy, evaluator: Evaluator, checkpoint_path: str | None = None,
               max_trials: int | None = None, progress: bool = True,
               on_record: Callable[[Record], None] | None = None) -> Strategy:
    """Ask, evaluate, tell until the strategy is done (or `max_trials` more results have arrived)."""
    if checkpoint_path:
        load_state(strategy, checkpoint_path)
    total = getattr(strategy, "total_trials", None) or getattr(strategy, "num_trials", None)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, initial=len(strategy.history), desc=type(strategy).__name__, unit="trial")
    told = 0
    try:
        while not strategy.done and (max_trials is None or told < max_trials):
            trial = strategy.ask()
            if trial is None:
                raise RuntimeError(f"{type(strategy).__name__} is waiting for results but none are pending "
                                   "in this sequential loop")
            start = time.perf_counter()
            result = evaluator.evaluate(trial.arch)
            cost = dict(result.cost)
            cost.setdefault("eval_seconds", time.perf_counter() - start)
            record = strategy.tell(trial.id, type(result)(result.metrics, cost))
            told += 1
            if checkpoint_path:
                save_state(strategy, checkpoint_path)
            if on_record:
                on_record(record)
            if bar is not None:
                best = strategy.best()
                bar.update(1)
                if best is not None:
                    bar.set_postfix({strategy.objective.name: f"{best.result.get(strategy.objective.name):.5g}"})
    finally:
        if bar is not None:
            bar.close()
    return strategy
