"""Tests' helper for kill-and-resume cases: run a watcher thread (one that SIGKILLs a process at its moment) beside
the run under test, and always clean up and join it after."""
import threading
from typing import Callable, Optional


def run_beside(run: Callable, watcher: Callable, cleanup: Optional[Callable] = None, join_s: float = 5.0):
    """`run()` while `watcher()` runs in a daemon thread; then `cleanup()` (also when `run` raises) and the thread
    joined (up to `join_s` seconds, so a watcher still waiting for its moment does not hang the test).  Returns
    run()'s result."""
    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    try:
        return run()
    finally:
        if cleanup is not None:
            cleanup()
        thread.join(join_s)
