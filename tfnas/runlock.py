"""One writer per run folder: `RunLock(folder)` holds `folder/.lock` (holder pid, host, start time).

A second writer is refused with an error naming the holder; a lock whose holder is dead (same host, pid
gone) is taken over.  A lock from another host is never taken over automatically (we cannot see its pid):
the error says which file to remove.  Creation is atomic (O_CREAT|O_EXCL), so two starters cannot both win.
Folders the lock had to create are removed again on release if they are still empty, so a command that fails
its own checks (a usage error) leaves no empty run folder behind.
"""
from __future__ import annotations

import json
import os
import socket
import time

LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """The run folder is held by another live process."""


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0; another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(folder: str) -> dict | None:
    """The lock's content ({pid, host, since, command}), or None when unlocked or unreadable."""
    try:
        with open(os.path.join(folder, LOCK_NAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class RunLock:
    """Context manager: `with RunLock(out_dir, "data split"): ...` (re-entrant in one process)."""

    _held: dict[str, int] = {}

    def __init__(self, folder: str, command: str = ""):
        self.folder = os.path.abspath(os.fspath(folder))
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.command = command
        self._mine = False
        self._created: list[str] = []   # folders this lock made, deepest first

    def acquire(self) -> RunLock:
        if self._held.get(self.path):
            self._held[self.path] += 1
            return self
        self._make_folder()
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": self.command}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_dead()
                continue
            except FileNotFoundError:   # an empty folder another releaser just removed
                self._make_folder()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self._held[self.path] = 1
            self._mine = True
            return self
        raise RunLockedError(f"{self.path}: could not take the run lock")

    def _make_folder(self) -> None:
        """Create the run folder (and missing parents), remembering which ones this lock created."""
        missing, path = [], self.folder
        while not os.path.isdir(path) and os.path.dirname(path) != path:
            missing.append(path)
            path = os.path.dirname(path)
        os.makedirs(self.folder, exist_ok=True)
        self._created = self._created or missing

    def _remove_created_if_empty(self) -> None:
        for path in self._created:
            try:
                os.rmdir(path)   # only succeeds on an empty folder: anything the command wrote stays
            except OSError:
                break
        self._created = []

    def _take_over_if_dead(self) -> None:
        holder = read_holder(self.folder)
        if holder is None:  # being written right now, or garbage: give the writer a moment
            time.sleep(0.05)
            holder = read_holder(self.folder)
            if holder is None:
                raise RunLockedError(f"{self.path}: lock file is unreadable; remove it if no run is using "
                                     f"{self.folder}")
        pid, host = int(holder.get("pid", -1)), holder.get("host")
        if host == socket.gethostname() and pid > 0 and not process_alive(pid):
            try:  # stale: the holder died without releasing
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            return
        raise RunLockedError(f"{self.folder}: run folder is in use by pid {pid} on {host} "
                             f"({holder.get('command') or 'a tfnas command'}); wait for it to finish, or remove "
                             f"{self.path} if that process is gone")

    def release(self) -> None:
        count = self._held.get(self.path, 0)
        if count > 1:
            self._held[self.path] = count - 1
            return
        self._held.pop(self.path, None)
        if self._mine:
            holder = read_holder(self.folder)
            if holder is not None and holder.get("pid") == os.getpid():
                os.unlink(self.path)
                self._remove_created_if_empty()
            self._mine = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
