"""`eda generate` killed with SIGKILL (in synthesis, while a placement tool runs, after a sample, inside a sample
write) leaves no tool running, and the resumed run removes the leftovers and ends with the samples of an
uninterrupted run.

The uninterrupted run is the committed `data/eda_default` (seed 0, osu018, same knob space): its mult4 placements
p0000-p0003 are what `--designs mult4 --placements-per-design 4` makes, compared field by field with
`pipelines.eda.reproduce.compare_samples` (timings and tool versions excluded).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.eda import generate, reproduce, tools
from pipelines.eda.stale import WORK_PREFIX

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "data" / "eda_default"
N = 4

pytestmark = [pytest.mark.eda, pytest.mark.skipif(not tools.tools_available(), reason="EDA tools not installed")]


def _start(out: Path, tmp: Path, path_prefix: str = "") -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(ROOT))
    if path_prefix:
        env["PATH"] = path_prefix + os.pathsep + env["PATH"]
    return subprocess.Popen([sys.executable, "-m", "tfnas.cli", "eda", "generate", "--designs", "mult4",
                             "--placements-per-design", str(N), "--jobs", "2", "--out", str(out), "--no-progress"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _descendants(pid: int) -> set[int]:
    """All live descendants of `pid` (walks /proc/<pid>/task/*/children)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            for k in kids:
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(cond, proc, what: str, timeout: float = 60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = cond()
        if got:
            return got
        if proc.poll() is not None:
            pytest.fail(f"eda generate ended before {what}: {proc.stdout.read()}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def _kill_and_check_orphans(proc: subprocess.Popen) -> None:
    kids = _descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.05)
    left = [(k, Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ")[:80]) for k in kids if _alive(k)]
    for k, _ in left:   # never leave them running, even when the test fails
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes outlived the killed eda generate: {left}"


def _cmdlines(pids) -> list[str]:
    out = []
    for k in pids:
        try:
            out.append(Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return out


def test_grandchildren_of_a_tool_die_with_a_killed_generate(tmp_path):
    """graywolf runs TimberWolfSC through `sh -c`: a grandchild PDEATHSIG cannot reach. A stand-in graywolf that
    starts a long `sh -c 'sleep ...'` must be gone (all of it) right after the generate process is SIGKILLed."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "graywolf").write_text("#!/bin/sh\nsh -c 'sleep 31.4159; true'\n")
    (fake / "graywolf").chmod(0o755)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = _start(tmp_path / "ds", tmp, str(fake))
    try:
        _wait_for(lambda: any("sleep 31.4159" in c for c in _cmdlines(_descendants(p.pid))), p, "the fake graywolf")
        _kill_and_check_orphans(p)
    finally:   # a stand-in started between the snapshot and the kill must not outlive the test either
        p.kill()
        p.wait()
        for d in Path("/proc").glob("[0-9]*"):
            if any("sleep 31.4159" in c for c in _cmdlines([d.name])):
                try:
                    os.kill(int(d.name), signal.SIGKILL)
                except OSError:
                    pass


def _done(out: Path) -> int:
    return sum(generate.is_done(out, f"mult4__osu018__p{i:04d}") for i in range(N))


def test_killed_generate_leaves_no_orphans_and_resumes_to_the_uninterrupted_samples(tmp_path):
    out, tmp = tmp_path / "ds", tmp_path / "tmp"
    tmp.mkdir()
    # 0) killed during synthesis (a qflow/yosys child alive, the cache entry not yet written)
    synth = out / "synth" / "mult4__osu018"
    p = _start(out, tmp)
    _wait_for(lambda: synth.is_dir() and not (synth / "synth.json").exists() and len(_descendants(p.pid)) > 2, p,
              "synthesis")
    _kill_and_check_orphans(p)
    assert not (synth / "synth.json").exists()
    # 1) killed while a tool of the first placement runs (its work folder exists, a tool child is alive)
    p = _start(out, tmp)
    _wait_for(lambda: any(tmp.glob(f"{WORK_PREFIX}*__p*")) and len(_descendants(p.pid)) > 2, p, "a running tool")
    _kill_and_check_orphans(p)
    assert any(tmp.glob(f"{WORK_PREFIX}*")), "the kill left no work folder: the test did not kill mid-placement"
    # 2) resumed, killed after its first finished sample
    p = _start(out, tmp)
    _wait_for(lambda: _done(out) >= 1, p, "a finished sample")
    _kill_and_check_orphans(p)
    assert _done(out) < N
    # 3) the state a kill inside Sample.save leaves (npz renamed into place, json not yet): an incomplete sample
    todo = [i for i in range(N) if not generate.is_done(out, f"mult4__osu018__p{i:04d}")]
    half = generate.sample_dir(out, f"mult4__osu018__p{todo[0]:04d}")
    half.mkdir(parents=True, exist_ok=True)
    (half / "sample.npz").write_bytes(b"half-written")
    (half / ".sample.json.tmp").write_text("{")
    # 4) final resume runs to the end and cleans every leftover
    p = _start(out, tmp)
    log, _ = p.communicate(timeout=120)
    assert p.returncode == 0, log
    assert "stale leftovers removed" in log, log
    assert not list(tmp.glob(f"{WORK_PREFIX}*")), "stale work folders were not cleaned"
    assert not list(out.rglob("*.tmp"))
    for i in range(N):
        pid = f"mult4__osu018__p{i:04d}"
        diffs = reproduce.compare_samples(generate.sample_dir(DEFAULT, pid), generate.sample_dir(out, pid))
        assert not diffs, f"{pid} differs from the uninterrupted run: {diffs[:3]}"
