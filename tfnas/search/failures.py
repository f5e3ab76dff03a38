"""Failure policy shared by both search runners: a candidate that raises, returns a NaN/inf objective or runs
past a time limit becomes a FAILED record (with its error text) instead of stopping the search.

The time limit runs the evaluation in a daemon worker thread and stops waiting at the deadline. What it
guarantees: the search never waits longer than `timeout_s` for one candidate. What it cannot do: kill the
evaluation (a running TF op cannot be interrupted from Python), so an abandoned evaluation keeps its thread,
CPU and memory until it returns on its own (its result is dropped) or the process exits; the evaluator must
tolerate one late call running beside the next. Thread-local state (a `tf.distribute` scope, `tf.device`)
does not reach the worker. Without a limit the evaluation runs in the caller's thread, exactly as before.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
import traceback

from tfnas.graph import Architecture
from tfnas.space import Evaluator, Result


@dataclasses.dataclass(frozen=True)
class FailurePolicy:
    """timeout_s: per-candidate limit (None: none); max_consecutive_failures: stop after that many FAILED
    records in a row (None: never); max_attempts: times a trial may be handed out before a resume records it
    FAILED instead of re-issuing it (a trial still pending at a kill may be what killed the process)."""

    timeout_s: float | None = None
    max_consecutive_failures: int | None = 10
    max_attempts: int = 2

    def __post_init__(self):
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 or None, got {self.timeout_s}")
        if self.max_consecutive_failures is not None and self.max_consecutive_failures < 1:
            raise ValueError(f"max_consecutive_failures must be >= 1 or None, got {self.max_consecutive_failures}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")


class SearchFailed(RuntimeError):
    """Too many candidates failed in a row; the message names the last one."""


def error_text(exc: BaseException) -> str:
    """'Type: message (file:line in function)' of the innermost frame, one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")


def evaluate_guarded(evaluator: Evaluator, arch: Architecture, objective: str,
                     policy: FailurePolicy) -> tuple[Result, str | None]:
    """(result, error): error is None on success; on failure the result keeps what the evaluator returned
    (costs such as FLOPs) or, if it returned nothing, the objective as NaN; `eval_seconds` is always set."""
    start = time.perf_counter()
    box: dict = {}

    def work():
        try:
            box["result"] = evaluator.evaluate(arch)
        except Exception as exc:  # noqa: BLE001 - any evaluator error is the candidate's failure
            box["error"] = error_text(exc)

    if policy.timeout_s is None:
        work()
    else:
        thread = threading.Thread(target=work, name="tfnas-evaluate", daemon=True)
        thread.start()
        thread.join(policy.timeout_s)
        if thread.is_alive():
            box = {"error": f"TimeoutError: evaluation ran past the {policy.timeout_s:g}s limit (abandoned)"}
    seconds = time.perf_counter() - start
    result = box.get("result")
    if result is None:
        return Result({objective: math.nan}, {"eval_seconds": seconds}), box.get("error", "evaluator returned None")
    cost = dict(result.cost)
    cost.setdefault("eval_seconds", seconds)
    result = type(result)(result.metrics, cost)
    value = result.metrics.get(objective)
    if value is None:
        return Result({**result.metrics, objective: math.nan}, cost), f"result has no objective {objective!r}"
    if not math.isfinite(float(value)):
        return result, f"objective {objective!r} is {float(value)}"
    return result, None
