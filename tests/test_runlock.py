"""Run-folder lock: one writer, clear refusal naming the holder, takeover of a dead holder's lock."""
import json
import os
import socket
import subprocess
import sys

import pytest

from tfnas.runlock import RunLock, RunLockedError, read_holder


def test_lock_records_holder_and_releases(tmp_path):
    with RunLock(tmp_path / "r", "test") as lock:
        holder = read_holder(lock.folder)
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with RunLock(tmp_path / "r"):  # re-entrant in one process
            pass
        assert os.path.exists(lock.path)
    assert not os.path.exists(tmp_path / "r" / ".lock")


def test_lock_refused_while_live_holder(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".lock").write_text(json.dumps({"pid": child.pid, "host": socket.gethostname(),
                                                    "command": "tfnas ctr train"}))
        with pytest.raises(RunLockedError, match=rf"in use by pid {child.pid} .*tfnas ctr train"):
            RunLock(tmp_path).acquire()
    finally:
        child.kill()
        child.wait()
    with RunLock(tmp_path):  # holder dead now: taken over
        assert read_holder(str(tmp_path))["pid"] == os.getpid()


def test_other_host_lock_not_taken_over(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere.invalid"}))
    with pytest.raises(RunLockedError, match="elsewhere.invalid"):
        RunLock(tmp_path).acquire()


def test_unreadable_lock_refused(tmp_path):
    (tmp_path / ".lock").write_text("{not json")
    with pytest.raises(RunLockedError, match="unreadable"):
        RunLock(tmp_path).acquire()


def test_cli_split_refused_while_locked(tmp_path, capsys):
    from tfnas.cli import main
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        out = tmp_path / "o"
        out.mkdir()
        (out / ".lock").write_text(json.dumps({"pid": child.pid, "host": socket.gethostname()}))
        src = tmp_path / "in.txt"
        src.write_text("0\t1\n")
        assert main(["data", "split", str(src), "--out", str(out), "--no-progress"]) == 1
        assert f"in use by pid {child.pid}" in capsys.readouterr().err
        assert sorted(os.listdir(out)) == [".lock"]
    finally:
        child.kill()
        child.wait()


def test_cli_long_commands_take_the_lock(tmp_path, monkeypatch):
    """`tfnas ctr train --logdir R` holds R/.lock while it runs (checked from inside the handler)."""
    import argparse

    from tfnas import cli
    seen = {}

    def handler(args):
        seen["holder"] = read_holder(str(tmp_path / "R"))
        return 0

    args = argparse.Namespace(command="ctr", ctr_command="train", logdir=str(tmp_path / "R"), func=handler)
    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    assert cli.main([]) == 0
    assert seen["holder"]["pid"] == os.getpid() and seen["holder"]["command"] == "tfnas ctr train"
    assert not os.path.exists(tmp_path / "R" / ".lock")


def test_cli_error_lines_without_traceback(tmp_path, capsys, monkeypatch):
    import argparse

    from tfnas import cli

    def boom(exc):
        def handler(args):
            raise exc
        return handler

    for exc, want in [(TypeError("unhashable type: 'list'"), "TypeError: unhashable type: 'list' (rerun with --debug"),
                      (RecursionError("maximum recursion depth"), "input nested too deeply"),
                      (ValueError("a.txt:3: field I1: 'x' is not a number"), "a.txt:3: field I1: 'x' is not a number"),
                      (FileNotFoundError(2, "No such file or directory", "x.txt"), "x.txt: No such file or directory")]:
        args = argparse.Namespace(command="data", data_command="inspect", func=boom(exc), debug=False)
        monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, argv=None, a=args: a)
        monkeypatch.delenv("TFNAS_DEBUG", raising=False)
        assert cli.main([]) == 1
        err = capsys.readouterr().err
        assert err == f"tfnas: error: {want}" + err[len("tfnas: error: ") + len(want):] and "Traceback" not in err
        args.debug = True
        with pytest.raises(type(exc)):
            cli.main([])


def test_failed_command_leaves_no_folder_the_lock_created(tmp_path, capsys):
    """A usage error caught by the command's own checks (inside the lock) leaves no empty --out behind; a folder
    that existed before, or one the command wrote into, stays."""
    from tfnas.cli import main
    out = tmp_path / "new" / "run"
    assert main(["autoshrink", "search-cnn", "--keep-fraction", "1.5", "--out", str(out)]) == 1
    assert "--keep-fraction" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    assert main(["autoshrink", "search-cnn", "--keep-fraction", "1.5", "--out", str(tmp_path / "old")]) == 1
    assert (tmp_path / "old").is_dir() and os.listdir(tmp_path / "old") == []

    with RunLock(tmp_path / "made" / "run"):
        (tmp_path / "made" / "run" / "result.json").write_text("{}")
    assert os.listdir(tmp_path / "made" / "run") == ["result.json"]
    with RunLock(tmp_path / "empty" / "run"):
        pass
    assert not (tmp_path / "empty").exists()
