"""A test helper: one process imports TensorFlow once, then forks a child per `tfnas` command, so tests that run
many CLI commands (or kill and resume them) pay TensorFlow's start-up once. Children write stdout/stderr to a log."""
import json
import os
import subprocess
import sys

SERVER = r"""
import json, os, sys
from tfnas.cli import quiet_tensorflow
quiet_tensorflow()
import tensorflow  # noqa: F401  (imported before the forks; no op runs in this process)
print("ready", flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "run":
        job = json.loads(arg)
        pid = os.fork()
        if pid == 0:
            log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(log, 1)
            os.dup2(log, 2)
            from tfnas.cli import main
            try:
                rc = main(job["argv"])
            except BaseException:
                rc = 99
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(rc or 0))
        print(pid, flush=True)
    elif cmd == "wait":
        _, status = os.waitpid(int(arg), 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
"""


class ForkServer:
    """`start(argv, log)` -> child pid; `wait(pid)` -> exit code (negative signal number if killed);
    `run(argv, log)` = both; `close()` ends the server."""

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        assert self.proc.stdout.readline().strip() == "ready"

    def _ask(self, line: str) -> int:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def start(self, argv, log: str) -> int:
        return self._ask(f"run {json.dumps({'argv': list(argv), 'log': str(log)})}")

    def wait(self, pid: int) -> int:
        return self._ask(f"wait {pid}")

    def run(self, argv, log: str) -> int:
        return self.wait(self.start(argv, log))

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
