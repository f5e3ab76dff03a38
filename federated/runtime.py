"""TFF's default execution context starts a C++ worker_binary that outlives its Python parent (seen here after both
normal and failed exits, and always after a SIGKILL), so whoever imports TFF through federated/ gets a default context
whose worker dies with this process (federated/remote.py, PR_SET_PDEATHSIG) and its workers killed at exit."""
from __future__ import annotations

import atexit
import os
import signal

WORKER = "worker_binary"
_registered = False


def own_workers(parent: int | None = None) -> list:
    """Pids of TFF worker binaries whose parent is `parent` (default: this process), read from /proc."""
    parent = os.getpid() if parent is None else parent
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and os.path.basename(cmd) == WORKER:
            pids.append(int(entry))
    return pids


def shutdown_workers() -> list:
    """Kill this process's worker binaries (SIGKILL, then reap); returns their pids."""
    pids = own_workers()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    return pids


def import_tff():
    """Import tensorflow_federated (20-50 s the first time) and make sure our workers die with us."""
    global _registered
    import tensorflow_federated as tff

    if not _registered:
        _registered = True
        atexit.register(shutdown_workers)
        from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

        from federated.remote import owned_default_context

        context_stack_impl.context_stack.set_default_context(owned_default_context())
    return tff
