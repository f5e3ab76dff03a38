"""Bad-row policy ("error" or "skip") and the report that counts skipped rows by reason.

Readers validate every line with cheap vectorised checks; a bad line either stops the run with an error that
names file, line and field, or (policy "skip") is dropped and counted here.
"""
from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter

POLICIES = ("error", "skip")

# Reason codes produced by the vectorised validity checks (0 = good row).
REASONS = {1: "field_count", 2: "not_a_number", 3: "bad_label", 4: "empty_file", 5: "bad_value"}


class BadRowError(ValueError):
    """A malformed input row; the message names file, line and field."""


def check_policy(policy: str) -> str:
    """Validate a bad-row policy name."""
    if policy not in POLICIES:
        raise ValueError(f"bad_rows must be one of {POLICIES}, got {policy!r}")
    return policy


class BadRowReport:
    """Thread-safe counts of skipped rows by reason, plus a few examples to show the user."""

    max_examples = 5

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self.examples: list[str] = []

    def add(self, reason: str, n: int = 1, example: str | None = None) -> None:
        """Count `n` skipped rows (or files, for "empty_file") for `reason`."""
        if n <= 0:
            return
        with self._lock:
            self.counts[reason] += int(n)
            if example is not None and len(self.examples) < self.max_examples:
                self.examples.append(example)

    def add_codes(self, codes, lines=None) -> None:
        """Count the reason codes of one batch (numpy ints, 0 = good), keeping a sample of the bad lines."""
        for i, code in enumerate(codes):
            code = int(code)
            if code:
                example = None
                if lines is not None:
                    raw = lines[i]
                    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                    example = f"{REASONS[code]}: {text[:120]!r}"
                self.add(REASONS[code], 1, example)

    @property
    def total(self) -> int:
        """Rows skipped (empty files excluded)."""
        return sum(v for k, v in self.counts.items() if k != "empty_file")

    def to_dict(self) -> dict:
        return {"skipped_rows": self.total, "by_reason": dict(self.counts), "examples": list(self.examples)}

    def summary(self) -> str:
        """One line for a run's report, e.g. `bad rows skipped: 3 (field_count=2, not_a_number=1)`."""
        if not self.counts:
            return "bad rows skipped: 0"
        parts = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return f"bad rows skipped: {self.total} ({parts})"

    def __repr__(self) -> str:
        return f"BadRowReport({dict(self.counts)})"


def bad_row_message(exc: BaseException) -> str | None:
    """The BadRowError text inside a TensorFlow error raised while iterating a reader, or None."""
    if isinstance(exc, BadRowError):
        return str(exc)
    m = re.search(r"BadRowError: (.+)", str(exc))
    return m.group(1).strip() if m else None


@contextlib.contextmanager
def clear_errors():
    """Re-raise a bad row surfacing from tf.data (as a TF InvalidArgumentError) as a plain BadRowError,
    e.g. `with clear_errors(): model.fit(ds)`."""
    try:
        yield
    except BadRowError:
        raise
    except Exception as exc:  # TF wraps py_function errors in its own types
        msg = bad_row_message(exc)
        if msg is None:
            raise
        raise BadRowError(msg) from None
