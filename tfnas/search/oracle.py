"""Run any `Strategy` as a keras-tuner `Oracle`: keras-tuner then gives resumable trials on disk and its
chief/worker distributed mode, while the Strategy still decides what to try.

The architecture travels in each keras-tuner trial as JSON in the hyperparameter ``architecture``;
`architecture_from_hp(hp)` reads it back inside a hypermodel or `Tuner.run_trial`. Failures follow the same
`FailurePolicy` as `run_search`: `EvaluatorTuner` evaluates through `evaluate_guarded` and reports costs as
``cost_<name>`` metrics and a failure as ``failed`` = 1; the oracle turns them back into the Record's costs and
status (the error text travels in memory, so a distributed worker's failure reads "failed on a worker").

Crash safety (keras-tuner writes its files in place, so a chief killed mid-write left a torn trial.json or
oracle.json that no reload could read): oracle.json, every trial.json and the tuner's file are written to a
temporary name and renamed into place (same paths and JSON as keras-tuner's).  `end_trial` saves the oracle
once, after the Strategy has been told (keras-tuner's own save inside it would otherwise leave a state where
the trial has ended but the Strategy still waits for it, and a resume would run it as an extra trial).  On
reload, a trial.json that oracle.json never recorded (killed between the two writes of a new trial) is
dropped, and temporary files of a killed write are removed.

A restarted chief keeps each ongoing trial assigned to its tuner id (keras-tuner's own reload puts them in
the retry queue, so the first worker to ask got a trial another worker was still evaluating: it ran twice).
The worker that holds it reports its result to the new chief, or, restarted with the same id, gets it back.
`end_trial` of a trial already ended (a worker repeating a call the killed chief had already handled) is
ignored.
"""
from __future__ import annotations

import datetime
import glob
import json
import math
import os
import tempfile

import keras_tuner
from keras_tuner.src.engine import trial as trial_module

from tfnas.graph import Architecture
from tfnas.search.failures import FailurePolicy, evaluate_guarded
from tfnas.search.loop import check_streak
from tfnas.search.strategy import Strategy
from tfnas.space import Evaluator, Result

ARCH_HP = "architecture"
TRIAL_HP = "strategy_trial_id"
COST_PREFIX = "cost_"
FAILED_METRIC = "failed"


def save_json_atomic(path: str, state) -> None:
    """`json.dumps(state)` (keras-tuner's own encoding) to a temporary file beside `path`, then renamed over
    it: a kill leaves the old file or the new one, never part of one."""
    text = json.dumps(state)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: str) -> None:
    """Delete the temporary files `save_json_atomic(path, ...)` calls killed mid-write left behind."""
    for tmp in glob.glob(os.path.join(glob.escape(os.path.dirname(path)), f".{os.path.basename(path)}.*.tmp")):
        os.unlink(tmp)


def architecture_from_hp(hp: keras_tuner.HyperParameters) -> Architecture:
    """The Architecture a StrategyOracle put into a keras-tuner trial."""
    return Architecture.from_json(hp.get(ARCH_HP), source=f"keras-tuner hyperparameter {ARCH_HP!r}")


class StrategyOracle(keras_tuner.Oracle):
    """A keras-tuner Oracle whose proposals come from a tfnas Strategy (ask) and whose results go back
    to it (tell). The strategy's state is saved inside the oracle's state, so `overwrite=False` resumes."""

    def __init__(self, strategy: Strategy, max_trials: int | None = None, policy: FailurePolicy | None = None,
                 **kwargs):
        direction = strategy.objective.direction
        objective = keras_tuner.Objective(strategy.objective.name, direction=direction)
        hps = keras_tuner.HyperParameters()
        hps.Fixed(ARCH_HP, "")
        hps.Fixed(TRIAL_HP, -1)
        super().__init__(objective=objective, max_trials=max_trials, hyperparameters=hps,
                         allow_new_entries=False, tune_new_entries=False, **kwargs)
        self.strategy = strategy
        self.policy = policy or FailurePolicy()
        self.errors: dict[str, str] = {}   # keras-tuner trial id -> error text, filled by EvaluatorTuner
        self._streak = 0
        self._defer_save = False
        self._saved_ongoing: dict[str, str] = {}   # tuner id -> trial id, as the reloaded oracle.json said

    def save(self):
        if not self._defer_save:
            save_json_atomic(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        save_json_atomic(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), trial.get_state())

    def reload(self):
        remove_stale_temps(self._get_oracle_fname())
        for path in glob.glob(os.path.join(glob.escape(self._project_dir), "trial_*", "trial.json")):
            remove_stale_temps(path)
        self._saved_ongoing = {}
        super().reload()
        recorded = set(self.start_order)
        for trial_id in [t for t in self.trials if t not in recorded]:
            del self.trials[trial_id]     # written by a create_trial killed before it saved the oracle
        display = self._display
        for tuner_id, trial_id in self._saved_ongoing.items():   # back to their tuner ids (module doc)
            if trial_id in self._retry_queue:
                self._retry_queue.remove(trial_id)
            trial = self.trials[trial_id]
            trial.status = trial_module.TrialStatus.RUNNING
            self.ongoing_trials[tuner_id] = trial
            # keras-tuner saves before its display notes a new trial's start: its on_trial_end needs both
            display.trial_start.setdefault(trial_id, datetime.datetime.now())
            display.trial_number.setdefault(trial_id, self.start_order.index(trial_id) + 1)
            if display.search_start is None:
                display.search_start = display.trial_start[trial_id]

    def populate_space(self, trial_id):
        trial = self.strategy.ask()
        if trial is None:
            status = trial_module.TrialStatus.STOPPED if self.strategy.done else trial_module.TrialStatus.IDLE
            return {"status": status}
        return {"status": trial_module.TrialStatus.RUNNING,
                "values": {ARCH_HP: trial.arch.to_json(), TRIAL_HP: trial.id}}

    def end_trial(self, trial):
        if trial.trial_id in self.end_order:   # already ended: a repeated call (module doc)
            for tuner_id in [k for k, t in self.ongoing_trials.items() if t.trial_id == trial.trial_id]:
                del self.ongoing_trials[tuner_id]
            self.save()
            return
        self._defer_save = True         # one save below, once the Strategy knows the result (module doc)
        try:
            super().end_trial(trial)
        finally:
            self._defer_save = False
        trial = self.trials[trial.trial_id]
        if trial.status not in (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED,
                                trial_module.TrialStatus.INVALID):
            self.save()
            return
        strategy_id = int(trial.hyperparameters.get(TRIAL_HP))
        if strategy_id not in self.strategy.pending:
            self.save()
            return  # a retried trial already told
        values = {name: float(trial.metrics.get_last_value(name))
                  for name in trial.metrics.metrics if trial.metrics.get_last_value(name) is not None}
        cost = {k[len(COST_PREFIX):]: v for k, v in values.items() if k.startswith(COST_PREFIX)}
        metrics = {k: v for k, v in values.items() if not k.startswith(COST_PREFIX) and k != FAILED_METRIC}
        metrics.setdefault(self.strategy.objective.name, math.nan)
        if trial.status == trial_module.TrialStatus.COMPLETED and not values.get(FAILED_METRIC):
            record = self.strategy.tell(strategy_id, Result(metrics, cost))
        else:
            error = self.errors.pop(trial.trial_id, None) or _last_line(trial.message) or "failed on a worker"
            record = self.strategy.tell_failure(strategy_id, error, Result(metrics, cost))
        self.save()
        self._streak = check_streak(self._streak, record, self.policy)

    def get_state(self):
        state = super().get_state()
        state["strategy"] = self.strategy.state()
        return state

    def set_state(self, state):
        super().set_state(state)
        self._saved_ongoing = {tuner_id: t.trial_id for tuner_id, t in self.ongoing_trials.items()}
        if "strategy" in state:
            self.strategy.restore(state["strategy"])
            for trial in self.ongoing_trials.values():   # keras-tuner gives these back to their tuner ids
                self.strategy.hold(int(trial.hyperparameters.get(TRIAL_HP)))
            for record in self.strategy.expire_pending(self.policy.max_attempts):
                self._streak = check_streak(self._streak, record, self.policy)


class EvaluatorTuner(keras_tuner.Tuner):
    """A keras-tuner Tuner whose trials are scored by a tfnas Evaluator (no hypermodel needed)."""

    def __init__(self, oracle: StrategyOracle, evaluator: Evaluator, **kwargs):
        super().__init__(oracle=oracle, hypermodel=None, **kwargs)
        self.evaluator = evaluator

    def save(self):
        """keras-tuner's save (the oracle's, then this tuner's file), the tuner's file written atomically."""
        if not self._is_worker():
            self.oracle.save()
        save_json_atomic(self._get_tuner_fname(), self.get_state())

    def reload(self):
        remove_stale_temps(self._get_tuner_fname())
        super().reload()

    def run_trial(self, trial, *args, **kwargs):
        oracle = self.oracle
        result, error = evaluate_guarded(self.evaluator, architecture_from_hp(trial.hyperparameters),
                                         oracle.objective.name, getattr(oracle, "policy", FailurePolicy()))
        out = {**{k: float(v) for k, v in result.metrics.items()},
               **{f"{COST_PREFIX}{k}": float(v) for k, v in result.cost.items()}}
        if error is not None:
            if hasattr(oracle, "errors"):
                oracle.errors[trial.trial_id] = error
            out[FAILED_METRIC] = 1.0
        return out


def _last_line(message) -> str:
    lines = [line for line in str(message or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
