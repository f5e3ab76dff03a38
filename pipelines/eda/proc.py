"""Run one EDA tool as a subprocess: own process group, timeout that kills the group, headless and malloc-tuned env.

Every tool call of the flow goes through `run_tool`, so a crash or timeout always becomes a `FlowError` naming the
stage, and the CPU time of the tools can be read with `children_cpu`.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from pathlib import Path


class FlowError(RuntimeError):
    """A tool crashed, timed out or wrote unparsable output; `reason` is one of
    timeout/crash/missing_output/unparsable."""

    def __init__(self, stage: str, reason: str, detail: str = ""):
        super().__init__(f"{stage}: {reason}" + (f": {detail}" if detail else ""))
        self.stage, self.reason, self.detail = stage, reason, detail


# glibc malloc settings for the tools: never give heap memory back to the kernel during a run (trim threshold
# 256 MiB) and grow the heap 64 MiB at a time. Tcl frees and reallocates large blocks all the time; with glibc's
# defaults each free shrinks the heap (brk) and the next allocation faults fresh zeroed pages back in: 13,000 brk
# calls and ~0.3 s of system time in one place2def.tcl run on mult8. Outputs are byte-identical (checked by
# tests/test_eda_flow.py and `python -m pipelines.eda.reproduce`); only the time changes.
MALLOC_TUNABLES = "glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=67108864"


def _clean_env(tuned: bool = True) -> dict:
    """Environment for a tool: no DISPLAY (headless), plus `MALLOC_TUNABLES` when `tuned`."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)             # headless: qflow then runs graywolf -n
    if tuned:
        old = env.get("GLIBC_TUNABLES", "")
        env["GLIBC_TUNABLES"] = f"{old}:{MALLOC_TUNABLES}" if old else MALLOC_TUNABLES
    return env


def run_tool(cmd, cwd, timeout: float, stage: str, log_path: str | None = None, tuned: bool = True) -> float:
    """Run `cmd` in its own process group; kill the group on timeout. Returns seconds; raises FlowError.

    `tuned` runs the tool with `MALLOC_TUNABLES` (same output, less system time); False is the legacy environment.
    """
    t0 = time.monotonic()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_clean_env(tuned), start_new_session=True)
    except OSError as e:
        if log_path:
            log.close()
        raise FlowError(stage, "crash", f"cannot start {cmd[0]}: {e}") from e
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise FlowError(stage, "timeout", f"{Path(cmd[0]).name} exceeded {timeout:g} s") from None
    finally:
        if log_path:
            log.close()
    if rc != 0:
        raise FlowError(stage, "crash", f"{Path(cmd[0]).name} exited with status {rc}; {_tail(log_path)}")
    return time.monotonic() - t0


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished child processes (the tools)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _tail(path, n=6) -> str:
    if not path or not Path(path).is_file():
        return ""
    lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])
