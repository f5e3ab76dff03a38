"""Stage lines of a long command: `[  12.3s] message` on stderr, elapsed since the command started, where a
progress bar has no natural total (loading, converting, a fresh-process check)."""
from __future__ import annotations

import sys
import time


class Stages:
    """Prints `[  12.3s] message` lines (elapsed since start) to stderr; `quiet` prints nothing."""

    def __init__(self, quiet: bool = False, stream=None):
        self.start = time.perf_counter()
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", file=self.stream, flush=True)
