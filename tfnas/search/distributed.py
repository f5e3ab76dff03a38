"""keras-tuner's chief/worker mode for any Strategy: one chief process serves the `StrategyOracle` over
keras-tuner's own gRPC service, N worker processes run `EvaluatorTuner` trials against it (each reaches only
the oracle methods keras-tuner forwards: create/update/end trial, get space, best trials).

Configured by keras-tuner's environment variables: ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT`` and
``KERASTUNER_TUNER_ID`` (``chief`` for the chief, any other id for a worker).  `launch` starts a chief and N
local workers for a quick try and supervises them: a worker that dies is restarted with the SAME tuner id, so
keras-tuner hands it back its unfinished trial (not lost, not duplicated); a chief that dies is restarted
and resumes from its saved oracle state (workers wait for it: keras-tuner's client calls wait_for_ready).
Children of a `launch` that is itself killed exit within a second (they watch their parent), so a re-run
never finds the old chief still serving and writing the project it resumes.

A worker survives a chief that dies under it: keras-tuner's client would raise out of the call in flight
(and a failed `update_trial` inside a trial marks the trial FAILED), so each of its calls is repeated while the
chief is UNAVAILABLE, for up to `retry_s` (every call is safe to repeat: a repeated create_trial returns the
tuner's ongoing trial, a repeated end_trial is ignored, see `tfnas.search.oracle`), and the channel reconnects
within a second instead of gRPC's default backoff (up to 2 minutes).

Processes build their search from a factory ``"module:function"`` or ``"path/file.py:function"`` called with
the JSON `factory_args`, returning ``(strategy, evaluator)``; the chief's strategy decides, the workers' is
unused.  Where keras-tuner is silent we chose: the chief polls for the end every `poll_s` (keras-tuner's own
server loop sleeps 20 s) and exits once the strategy is done and no trial is ongoing even if no worker asked
since a restart (they may all have been told to stop by the chief before it); a worker told IDLE (strategy
waiting for a generation) waits `idle_s` before it asks again instead of spinning.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

ENV_IP, ENV_PORT, ENV_ID = "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"
ENV_SUPERVISOR = "TFNAS_SEARCH_SUPERVISOR_PID"   # set by Cluster: its children exit when it is gone
CLUSTER_FILE = "cluster.json"


def load_factory(ref: str):
    """The callable named by ``"module:function"`` or ``"path/file.py:function"``."""
    if ref.count(":") != 1:
        raise ValueError(f"factory {ref!r} must be 'module:function' or 'path/file.py:function'")
    where, name = ref.split(":")
    if where.endswith(".py"):
        if not os.path.isfile(where):
            raise ValueError(f"factory {ref!r}: no file {where}")
        sys.path.insert(0, os.path.dirname(os.path.abspath(where)))
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(where))[0], where)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    if not callable(getattr(module, name, None)):
        raise ValueError(f"factory {ref!r}: {where} has no function {name!r}")
    return getattr(module, name)


RPC_METHODS = ("get_space", "update_space", "create_trial", "update_trial", "end_trial", "get_trial",
               "get_best_trials")
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 1000)]


def make_tuner(strategy, evaluator, directory: str, project: str, idle_s: float = 0.05, retry_s: float = 600):
    """The EvaluatorTuner of this process (chief: the real oracle; worker: keras-tuner's gRPC client, made
    to outlive a chief restart and not to spin on IDLE)."""
    from tfnas.search.oracle import EvaluatorTuner, StrategyOracle

    total = getattr(strategy, "total_trials", None) or getattr(strategy, "num_trials", None)
    tuner = EvaluatorTuner(StrategyOracle(strategy, max_trials=total), evaluator, directory=directory,
                           project_name=project, overwrite=False)
    if not hasattr(tuner.oracle, "strategy"):
        harden_client(tuner.oracle, idle_s, retry_s)
    return tuner


def harden_client(client, idle_s: float, retry_s: float) -> None:
    """Patch a keras-tuner OracleClient in place: fast reconnects, each call repeated while the chief is
    UNAVAILABLE (up to `retry_s`), a pause of `idle_s` after an IDLE answer (see the module docstring)."""
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.engine.trial import TrialStatus

    channel = grpc.insecure_channel(f"{os.environ[ENV_IP]}:{os.environ[ENV_PORT]}", options=CHANNEL_OPTIONS)
    client.stub = protos.get_service_grpc().OracleStub(channel)

    def retried(name, call):
        def method(*args, **kwargs):
            end = time.monotonic() + retry_s
            while True:
                try:
                    out = call(*args, **kwargs)
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > end:
                        raise
                    time.sleep(0.2)
                    continue
                if name == "create_trial" and out.status == TrialStatus.IDLE:
                    time.sleep(idle_s)
                return out
        return method

    for name in RPC_METHODS:
        setattr(client, name, retried(name, getattr(client, name)))


def serve_chief(tuner, poll_s: float = 0.2) -> None:
    """Serve `tuner.oracle` with keras-tuner's OracleServicer until every trial has ended and every worker
    has been told to stop (keras-tuner's `start_server`, with a short poll)."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    tuner.save()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(tuner.oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"{os.environ[ENV_IP]}:{os.environ[ENV_PORT]}"
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"chief: cannot listen on {address}")
    server.start()
    oracle = tuner.oracle
    try:
        while not ((servicer.stop_triggered or oracle.strategy.done) and exit_chief(oracle)):
            time.sleep(poll_s)
    finally:
        server.stop(grace=1.0)


def run_role(factory: str, factory_args: dict, directory: str, project: str) -> None:
    """Body of one chief or worker process (the role comes from KERASTUNER_TUNER_ID)."""
    for var in (ENV_IP, ENV_PORT, ENV_ID):
        if var not in os.environ:
            raise ValueError(f"distributed search: environment variable {var} is not set")
    if os.environ.get(ENV_SUPERVISOR):
        watch_supervisor(int(os.environ[ENV_SUPERVISOR]))
    strategy, evaluator = load_factory(factory)(**factory_args)
    tuner_id = os.environ[ENV_ID]
    if "chief" in tuner_id:
        serve_chief(make_tuner(strategy, evaluator, directory, project))
    else:   # a worker keeps its own tuner folder: it never reads the chief's files while they are written
        tuner = make_tuner(strategy, evaluator, os.path.join(directory, f"worker-{tuner_id}"), project)
        tuner.search()


def watch_supervisor(pid: int, poll_s: float = 1.0) -> None:
    """Exit this process (status 3) once its supervising `launch` process `pid` is gone (its parent changed): a
    killed launcher must not leave a chief writing the project that its re-run's new chief resumes."""
    import threading

    def watch():
        while os.getppid() == pid:
            time.sleep(poll_s)
        os._exit(3)
    if os.getppid() != pid:
        os._exit(3)
    threading.Thread(target=watch, daemon=True, name="supervisor-watch").start()


def load_result(factory: str, factory_args: dict, directory: str, project: str):
    """The chief's strategy, restored from its saved oracle state (directory/project/oracle.json)."""
    strategy, _ = load_factory(factory)(**factory_args)
    path = os.path.join(directory, project, "oracle.json")
    with open(path) as f:
        state = json.load(f)
    if "strategy" not in state:
        raise ValueError(f"{path}: no strategy state (not a StrategyOracle project?)")
    return strategy.restore(state["strategy"])


def free_port() -> int:
    """A TCP port free on localhost now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json_atomic(path: str, data) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class Cluster:
    """A chief and N local worker processes of one search, supervised (see the module docstring)."""

    def __init__(self, factory: str, factory_args: dict, directory: str, project: str = "search",
                 workers: int = 2, port: int | None = None, max_restarts: int = 3, env: dict | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        load_factory(factory)   # a bad reference fails here, not in N children
        self.factory, self.factory_args = factory, dict(factory_args)
        self.directory, self.project = os.path.abspath(directory), project
        self.port = port or free_port()
        self.ids = ["chief"] + [f"worker{i}" for i in range(workers)]
        self.max_restarts, self.env = max_restarts, dict(env or {})
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts = {i: 0 for i in self.ids}
        os.makedirs(self.directory, exist_ok=True)

    def _start(self, tuner_id: str) -> None:
        env = {**os.environ, **self.env, ENV_IP: "127.0.0.1", ENV_PORT: str(self.port), ENV_ID: tuner_id,
               ENV_SUPERVISOR: str(os.getpid())}
        code = ("import json, sys; from tfnas.search.distributed import run_role; "
                "run_role(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4])")
        log = open(os.path.join(self.directory, f"{tuner_id}.log"), "a")
        self.procs[tuner_id] = subprocess.Popen(
            [sys.executable, "-c", code, self.factory, json.dumps(self.factory_args), self.directory, self.project],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _write_json_atomic(os.path.join(self.directory, CLUSTER_FILE),
                           {"port": self.port, "pids": {k: p.pid for k, p in self.procs.items()},
                            "restarts": self.restarts})

    def run(self, timeout: float = 3600, poll_s: float = 0.2):
        """Start everyone, restart the dead, return the chief's strategy once it exited cleanly (the chief
        exits only when every trial has ended, so workers still running then are stopped)."""
        for tuner_id in self.ids:
            self._start(tuner_id)
        deadline = time.monotonic() + timeout
        try:
            while True:
                codes = {k: p.poll() for k, p in self.procs.items()}
                if codes["chief"] == 0:   # every trial has ended: a worker still starting has nothing to do
                    break
                for tuner_id, code in codes.items():
                    if code not in (None, 0):
                        if self.restarts[tuner_id] >= self.max_restarts:
                            raise RuntimeError(f"{tuner_id} exited with {code} {self.restarts[tuner_id] + 1} "
                                               f"times; see {os.path.join(self.directory, tuner_id + '.log')}")
                        self.restarts[tuner_id] += 1
                        self._start(tuner_id)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"distributed search did not finish within {timeout} s")
                time.sleep(poll_s)
        finally:
            self.stop()
        return load_result(self.factory, self.factory_args, self.directory, self.project)

    def stop(self) -> None:
        """Terminate (then kill) every child still running."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def launch(factory: str, factory_args: dict, directory: str, workers: int = 2, project: str = "search",
           timeout: float = 3600, **kwargs):
    """Run a search with a chief and `workers` local workers; returns the finished strategy."""
    return Cluster(factory, factory_args, directory, project, workers, **kwargs).run(timeout)
