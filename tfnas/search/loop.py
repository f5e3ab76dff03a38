"""`run_search`: drive any Strategy with any Evaluator, checkpointing after every ask and result so a killed
search resumes exactly where it stopped (only the evaluation in flight is redone, at most
`policy.max_attempts` times in all: `<checkpoint>.attempts` counts the in-flight trial's starts, written
before it runs, so a candidate that kills the process is recorded FAILED instead of re-run for ever). Failing candidates
become FAILED records (`tfnas.search.failures`)."""
from __future__ import annotations

import json
import os
from typing import Callable

from tfnas.runs import write_json_atomic
from tfnas.search.failures import FailurePolicy, SearchFailed, evaluate_guarded
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
               on_record: Callable[[Record], None] | None = None,
               policy: FailurePolicy | None = None) -> Strategy:
    """Ask, evaluate, tell until the strategy is done (or `max_trials` more results have arrived).

    Raises SearchFailed after `policy.max_consecutive_failures` FAILED records in a row (state saved first).
    """
    policy = policy or FailurePolicy()
    streak = 0
    if checkpoint_path and load_state(strategy, checkpoint_path):
        for record in strategy.expire_pending(policy.max_attempts):
            streak = check_streak(streak, record, policy)
        save_state(strategy, checkpoint_path)
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
            started = _started(checkpoint_path, trial.id)
            if started >= policy.max_attempts:
                record = strategy.tell_failure(trial.id, f"handed out {started} times without a result (the "
                                                         "process stopped during its evaluation each time)")
            else:
                if checkpoint_path:
                    write_json_atomic(f"{checkpoint_path}.attempts", {"trial": trial.id, "started": started + 1})
                result, error = evaluate_guarded(evaluator, trial.arch, strategy.objective.name, policy)
                if error is None:
                    record = strategy.tell(trial.id, result)
                else:
                    record = strategy.tell_failure(trial.id, error, result)
            told += 1
            if checkpoint_path:
                save_state(strategy, checkpoint_path)
            if on_record:
                on_record(record)
            streak = check_streak(streak, record, policy)
            if bar is not None:
                best = strategy.best()
                bar.update(1)
                if best is not None:
                    bar.set_postfix({strategy.objective.name: f"{best.result.get(strategy.objective.name):.5g}"})
    finally:
        if bar is not None:
            bar.close()
    return strategy


def _started(checkpoint_path: str | None, trial_id: int) -> int:
    """How often trial `trial_id` was started before without a result (0 when unknown or another trial)."""
    path = f"{checkpoint_path}.attempts"
    if not checkpoint_path or not os.path.exists(path):
        return 0
    with open(path) as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError:
            return 0  # a torn write of this small file only forgets one count
    return int(d.get("started", 0)) if d.get("trial") == trial_id else 0


def check_streak(streak: int, record: Record, policy: FailurePolicy) -> int:
    """The new count of failures in a row; raises SearchFailed when it reaches the policy's limit."""
    streak = streak + 1 if record.failed else 0
    if policy.max_consecutive_failures is not None and streak >= policy.max_consecutive_failures:
        raise SearchFailed(f"{streak} candidates failed in a row (limit max_consecutive_failures="
                           f"{policy.max_consecutive_failures}); last: trial {record.trial.id}: {record.error}")
    return streak
