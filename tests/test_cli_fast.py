"""`tfnas --help` and usage or input errors answer in under a second, without importing TensorFlow (issue 15
item 3: `autoshrink export --model missing.keras` took 15.6 s to say the file is missing)."""
import os
import resource
import subprocess
import sys

import pytest

CODE = ("import sys\nfrom tfnas.cli import main\ntry:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n"
        "    rc = e.code\nprint('TF-IMPORTED' if 'tensorflow' in sys.modules else 'TF-NOT-IMPORTED', rc)")


def _run(args, cwd):
    """The command's result and its CPU seconds (user + system): wall time on a shared 2-core CI machine
    measures the other jobs; the CPU time is what the command itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.parametrize("args,message", [
    (["--help"], None),
    (["autoshrink", "search-cnn", "--help"], None),
    (["autoshrink", "export", "--model", "missing.keras"], "--model missing.keras: model file not found"),
    (["autoshrink", "train", "--cell", "nope.json"], "--cell nope.json: file not found"),
    (["autoshrink", "train", "--depth", "1,2"], "--depth needs 5 stage sizes"),
    (["autoshrink", "search-cnn", "--keep-fraction", "1.5", "--out", "r"], "--keep-fraction must be in [0, 1)"),
    (["autoshrink", "search-cnn", "--data", "cifar10:nowhere", "--out", "r"], "folder 'nowhere' not found"),
    (["autoshrink", "search-rnn", "--text", "ptb:nowhere", "--out", "r"], "folder 'nowhere' not found"),
    (["autoshrink", "export", "--model", "m.keras", "--modes", "int4"], "--model m.keras: not a Keras .keras file"),
    (["autoshrink", "search-cnn", "--nodes", "x"], "invalid int value"),
    (["routenas", "search", "--data", "nope", "--out", "r"], "nope: no such dataset folder"),
    (["routability", "train", "--model", "routenet", "--data", "nope", "--out", "r"], "nope: no such dataset folder"),
    (["eda", "show", "nope"], "nope/sample.json: no sample.json"),
    (["nasrec", "run", "--config", "nope.json"], "nope.json"),
    (["flnet", "run", "--config", "nope.json", "--out", "r"], "nope.json: cannot read the config"),
    (["ctr", "train", "--model", "deepfm", "--data", "nope", "--logdir", "r"], "nope"),
    (["export", "--run", "nope", "--name", "x"], "nope"),
    (["nasgem", "search", "--space", "nope"], "invalid choice"),
])
def test_answers_fast_without_tensorflow(tmp_path, args, message):
    (tmp_path / "m.keras").write_text("not a zip")
    out, seconds = _run(args, tmp_path)
    assert "TF-NOT-IMPORTED" in out.stdout, (out.stdout, out.stderr)
    if message is None:
        assert out.stdout.split()[-1] in ("0", "None") and "usage:" in out.stdout
    else:
        assert message in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert out.stdout.split()[-1] in ("1", "2")
    assert seconds < 1.0, f"{args}: {seconds:.2f} CPU s"


_FLOOD = """
import argparse, sys
from tfnas import cli
def build():
    parser = argparse.ArgumentParser()
    parser.set_defaults(func=lambda args: [print("x" * 100) for _ in range(100000)], command=None)
    return parser
cli.build_parser = build
sys.exit(cli.main([]))
"""


def test_closed_stdout_pipe_stops_quietly():
    """`tfnas ... | head` must not print a BrokenPipeError traceback when head exits."""
    proc = subprocess.Popen([sys.executable, "-c", _FLOOD], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"xxx")
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert err.decode() == ""
    assert proc.returncode == 141
