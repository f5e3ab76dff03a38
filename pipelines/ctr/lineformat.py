"""The column layout of a delimited CTR format (Criteo, Avazu, KDD12) and its per-line checks, in plain Python.

TensorFlow-free, so `tfnas data split` checks rows exactly as the tf.data readers do without importing
TensorFlow; `delimited.py` runs the same checks vectorised.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

from pipelines.ctr.compressed import open_text

NUMBER_RE = r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"
LABEL_RE = {"binary": r"[01]", "count": r"[0-9]+"}


@dataclasses.dataclass(frozen=True)
class LineFormat:
    """Column layout of one delimited format: which columns are label, dense and categorical."""

    name: str
    delimiter: str
    n_fields: int
    label_col: int
    dense_cols: tuple[int, ...]
    cat_cols: tuple[int, ...]
    field_names: tuple[str, ...]          # one per column, used in error messages
    label_kind: str = "binary"            # "binary": 0/1; "count": integer, > 0 means click (KDD12)
    header: bool = False                  # first line of every file is a header
    pseudo_dense: int = 0                 # constant-zero dense columns appended (NASRec's Avazu trick)
    # Optional TF transform of the decoded categorical matrix (e.g. KDD12 user-profile join).
    cat_transform: Callable | None = None

    def check_line(self, line: str) -> tuple[int, str] | None:
        """Python twin of the vectorised check: (reason code, message) for a bad line, else None."""
        fields = line.split(self.delimiter)
        if len(fields) != self.n_fields:
            return 1, f"expected {self.n_fields} {self.name} fields, found {len(fields)}"
        label = fields[self.label_col]
        if not re.fullmatch(LABEL_RE[self.label_kind], label):
            want = "0 or 1" if self.label_kind == "binary" else "a non-negative integer"
            return 3, f"field {self.field_names[self.label_col]}: {label!r} is not {want}"
        for c in self.dense_cols:
            v = fields[c]
            if v and not re.fullmatch(NUMBER_RE, v):
                return 2, f"field {self.field_names[c]}: {v!r} is not a number"
        return None


def locate_bad_line(paths: Sequence[str], fmt: LineFormat) -> str | None:
    """Re-scan files in Python and describe the first bad line as `file:line: problem`."""
    for path in paths:
        with open_text(path) as f:
            for lineno, line in enumerate(f, start=1):
                if fmt.header and lineno == 1:
                    continue
                line = line.rstrip("\n").rstrip("\r")
                bad = fmt.check_line(line)
                if bad is not None:
                    return f"{path}:{lineno}: {bad[1]}"
    return None
