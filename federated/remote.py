"""Multi-process TFF: n local C++ `worker_binary` processes (gRPC on localhost ports), each behind TFF's remote
executor, joined by TFF's mergeable-computation context, which splits the CLIENTS-placed arguments of a round
across the workers, runs each part on its own worker process and merges the aggregates (the sample-weighted mean).

TFF 0.87 has no public constructor for this over already-running workers, so the contexts are assembled from its
own parts (AsyncExecutionContext, ResourceManagingExecutorFactory, RemoteExecutor, the native compiler), as
`local_cpp_executor_factory` does for its single worker. Every worker started here gets PR_SET_PDEATHSIG(SIGKILL),
so it dies with this process even when that is SIGKILLed (TFF's own worker outlives a killed parent);
`owned_default_context()` is the single-worker default context built the same way (federated.runtime installs it).
`LocalWorkers.close()` (or leaving the `with` block) kills and reaps its workers and puts back the previous context.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time

START_TIMEOUT_S = 60.0
_GRPC_OPTIONS = [("grpc.max_message_length", 2 ** 31 - 1), ("grpc.max_receive_message_length", 2 ** 31 - 1),
                 ("grpc.max_send_message_length", 2 ** 31 - 1)]


def _binary() -> str:
    import tensorflow_federated as tff

    path = os.path.join(os.path.dirname(tff.__file__), "data", "worker_binary")
    if not os.path.isfile(path):
        raise RuntimeError(f"TFF worker binary not found at {path}")
    return path


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_worker():
    """(process, ready gRPC stub) of a new worker_binary on a free localhost port, killed if this process dies."""
    import grpc
    import portpicker
    from tensorflow_federated.python.core.impl.executors import remote_executor_grpc_stub

    port = portpicker.pick_unused_port()
    proc = subprocess.Popen([_binary(), f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    stub = remote_executor_grpc_stub.RemoteExecutorGrpcStub(grpc.insecure_channel(f"localhost:{port}", _GRPC_OPTIONS))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not stub.is_ready:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"TFF worker on port {port} did not start (exit code {proc.poll()})")
        time.sleep(0.05)
    return proc, stub


def _context(stub_fn, sync: bool):
    from tensorflow_federated.python.core.backends.native import compiler
    from tensorflow_federated.python.core.environments.tensorflow_frontend import tensorflow_computation as tfc
    from tensorflow_federated.python.core.impl.execution_contexts import (async_execution_context,
                                                                          sync_execution_context)
    from tensorflow_federated.python.core.impl.executor_stacks import python_executor_stacks

    cls = sync_execution_context.SyncExecutionContext if sync else async_execution_context.AsyncExecutionContext
    return cls(executor_fn=python_executor_stacks.ResourceManagingExecutorFactory(executor_stack_fn=_stack_fn(stub_fn)),
               compiler_fn=compiler.desugar_and_transform_to_native, transform_args=tfc.transform_args,
               transform_result=tfc.transform_result)


class _OwnedWorker:
    """One worker, (re)started on demand: after shutdown_workers() the next computation starts a fresh one."""

    def __init__(self):
        self.proc, self.stub = None, None

    def get_stub(self):
        if self.proc is None or self.proc.poll() is not None:
            self.proc, self.stub = start_worker()
        return self.stub


def owned_default_context():
    """A synchronous single-worker execution context whose worker dies with this process."""
    return _context(_OwnedWorker().get_stub, sync=True)


class LocalWorkers:
    """`n` worker_binary processes on localhost as the default TFF execution context while open."""

    def __init__(self, n: int = 2):
        if n < 2:
            raise ValueError(f"a multi-process context needs at least 2 workers, got {n}")
        self.n, self.processes, self._previous = n, [], None

    def __enter__(self) -> LocalWorkers:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        from tensorflow_federated.python.core.backends.native import execution_contexts as native
        from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

        from federated.runtime import import_tff

        import_tff()  # registers the exit-time cleanup of this process's workers
        contexts = []
        try:
            for _ in range(self.n):
                proc, stub = start_worker()
                self.processes.append(proc)
                contexts.append(_context(lambda stub=stub: stub, sync=False))
        except BaseException:
            self.close()
            raise
        self._previous = context_stack_impl.context_stack.current
        native.set_mergeable_comp_execution_context(contexts)

    def pids(self) -> list:
        return [p.pid for p in self.processes]

    def close(self) -> None:
        """Kill and reap the workers; restore the execution context that was current before `open()`."""
        if self._previous is not None:
            from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

            context_stack_impl.context_stack.set_default_context(self._previous)
            self._previous = None
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.processes = []


def _stack_fn(stub_fn):
    from tensorflow_federated.python.core.impl.executors import remote_executor
    from tensorflow_federated.python.core.impl.types import placements

    def stack_fn(cardinalities):
        cardinalities.setdefault(placements.CLIENTS, 0)
        ex = remote_executor.RemoteExecutor(stub_fn())
        ex.set_cardinalities(cardinalities)
        return ex

    return stack_fn
