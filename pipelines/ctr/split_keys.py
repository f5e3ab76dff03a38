"""Split assignment by a column instead of at random: by time (past -> train, future -> test) or by group
(every row of a user in one split).  Used by `split.split_files`; TensorFlow-free.

By time: the cut points are the time column's exact quantiles at the cumulative ratios (8:1:1 -> the 80th
and 90th percentiles), found in a first pass that holds one float64 per row (8 bytes; 10M rows = 80 MB);
the second pass streams.  Rows at a cut point go to the later split, so heavy ties can move a split off its
ratio (the split reports the rows it wrote).  Times are numbers (e.g. Unix seconds) or ISO 8601 dates /
datetimes (naive ones read as UTC).
By group: each distinct value is dealt to a split by a seeded keyed hash (blake2b) in the given ratio, in one
pass with no memory; the ratio then holds over groups, not rows.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import math
from typing import Sequence

import numpy as np


def parse_time(value: str) -> float:
    """Seconds from a number or an ISO 8601 date/datetime string; NaN when it is neither."""
    value = value.strip()
    if not value:
        return math.nan
    try:
        v = float(value)
        return v if math.isfinite(v) else math.nan
    except ValueError:
        pass
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        return math.nan
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t.timestamp()


def parse_times(values: Sequence[str]) -> np.ndarray:
    """`parse_time` over many values (a vectorised fast path when all are plain numbers)."""
    try:
        out = np.array(values, dtype=np.float64)
        if np.isfinite(out).all():
            return out
    except ValueError:
        pass
    return np.array([parse_time(v) for v in values], dtype=np.float64)


class TimeAssigner:
    """Split id 0/1/2 per row from its time and two cut points (train < cut1 <= valid < cut2 <= test)."""

    def __init__(self, times: np.ndarray, ratios: Sequence[int]):
        times = np.sort(np.asarray(times, np.float64))
        n = len(times)
        total = int(sum(ratios))
        idx = [-(-n * int(c) // total) for c in np.cumsum(ratios)[:-1]]   # ceil(n * cumulative fraction)
        self.cuts = np.array([times[i] if i < n else np.inf for i in idx], np.float64)

    def assign_keys(self, times: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.cuts, np.asarray(times, np.float64), side="right").astype(np.int64)

    def describe(self) -> dict:
        cuts = [float(c) if math.isfinite(c) else None for c in self.cuts]
        utc = [_dt.datetime.fromtimestamp(c, _dt.UTC).isoformat() if c is not None else None for c in cuts]
        return {"by": "time", "cuts": cuts, "cuts_utc": utc}


class GroupAssigner:
    """Split id per row from a seeded keyed hash of its group value (same value, same split)."""

    def __init__(self, ratios: Sequence[int], seed: int = 0):
        self.deck = np.repeat(np.arange(len(ratios)), ratios)
        self.key = int(seed).to_bytes(8, "little", signed=True)
        self._cache: dict[str, int] = {}

    def _one(self, value: str) -> int:
        s = self._cache.get(value)
        if s is None:
            h = int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8, key=self.key).digest(), "little")
            s = int(self.deck[h % len(self.deck)])
            if len(self._cache) < 1_000_000:   # bounded memory on huge id spaces
                self._cache[value] = s
        return s

    def assign_keys(self, values: Sequence[str]) -> np.ndarray:
        return np.array([self._one(v) for v in values], dtype=np.int64)

    def describe(self) -> dict:
        return {"by": "group"}
