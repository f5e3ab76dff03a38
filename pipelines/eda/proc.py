"""Run one EDA tool as a subprocess: own process group, timeout that kills the group, headless and malloc-tuned env.

Every tool call of the flow goes through `run_tool`, so a crash or timeout always becomes a `FlowError` naming the
stage, and the CPU time of the tools can be read with `children_cpu`.
No tool outlives the process that started it, even one killed with SIGKILL: the tool gets PR_SET_PDEATHSIG, and
because the tools start more tools (qflow -> yosys, graywolf -> sh -> TimberWolfSC, which PDEATHSIG does not
reach) a one-line `sh` guard waits on a pipe held only by the parent; when the parent dies the pipe reads EOF and
the guard kills the tool's whole process group.
"""
from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
# Reads one line from stdin (the guard pipe): "ok" = the tool finished, anything else (EOF: the parent died) kills
# the tool's process group. A pid-reuse race needs the group gone and its id reused within the guard's read.
# procps `kill` is used because dash's builtin cannot signal a process group ("kill -KILL -- -PGID" is refused);
# without it the guard is a short Python program doing the same.
_KILL = shutil.which("kill", path="/usr/bin:/bin")
_GUARD = (['/bin/sh', '-c', f'read -r x; [ "$x" = ok ] || exec {_KILL} -s KILL -- "-$1" 2>/dev/null; exit 0', 'guard']
          if _KILL and os.path.exists("/bin/sh") else
          [sys.executable, "-S", "-c", "import os, sys\nif sys.stdin.readline().strip() != 'ok':\n"
           "    try:\n        os.killpg(int(sys.argv[1]), 9)\n    except OSError:\n        pass", "guard"])
try:   # resolved once in the parent, so a forked child only makes the call
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


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


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux prctl); no-op elsewhere.

    Used as `preexec_fn` of every tool and as the initializer of `generate`'s worker processes.
    """
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


def _tool_preexec() -> None:
    os.setsid()          # own process group: a timeout (or the guard) kills the tool and everything it started
    die_with_parent()


def _start_guard(pgid: int):
    """Start the `sh` guard of process group `pgid`; returns the write end the parent keeps open (or None)."""
    r, w = os.pipe()
    try:
        subprocess.Popen(_GUARD + [str(pgid)], stdin=r, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        os.close(w)
        return None
    finally:
        os.close(r)
    return w


def _stop_guard(w, pgid: int) -> None:
    """The tool has exited: kill stragglers of its group, then release the guard without a kill."""
    if w is None:
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.write(w, b"ok\n")
    except OSError:
        pass
    os.close(w)


def run_tool(cmd, cwd, timeout: float, stage: str, log_path: str | None = None, tuned: bool = True) -> float:
    """Run `cmd` in its own process group; kill the group on timeout. Returns seconds; raises FlowError.

    `tuned` runs the tool with `MALLOC_TUNABLES` (same output, less system time); False is the legacy environment.
    """
    t0 = time.monotonic()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_clean_env(tuned), preexec_fn=_tool_preexec)
    except (OSError, subprocess.SubprocessError) as e:
        if log_path:
            log.close()
        raise FlowError(stage, "crash", f"cannot start {cmd[0]}: {e}") from e
    guard = _start_guard(proc.pid)
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
        _stop_guard(guard, proc.pid)
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
