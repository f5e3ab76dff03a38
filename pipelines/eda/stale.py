"""Leftovers of a killed `eda generate`: tool work folders of dead runs, half-written samples, temporary files.

A run names each placement's work folder `TMP/tfnas_eda_<owner pid>_<placement id>_<random>`, so the next run can
tell a dead run's folder (owner pid gone) from one in use by a live run on another dataset, and remove only those.
Folders of the older naming (`TMP/eda_<placement id>_<random>`, no owner) are removed once untouched for
`LEGACY_AGE_S`, far longer than one placement may run (place + route timeouts, 600 s by default).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

WORK_PREFIX = "tfnas_eda_"   # TMP/tfnas_eda_<owner pid>_<placement id>_<random>: one per running placement
LEGACY_GLOB = "eda_*__p[0-9][0-9][0-9][0-9]_*"
LEGACY_AGE_S = 2 * 3600


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: Path, tmp: str | None = None) -> int:
    """Remove what a killed run left: work folders of dead owners in `tmp`, half-written samples and temp files in
    `out`. Returns how many were removed. Work folders of live processes (another dataset's run) are kept."""
    removed = 0
    tmp_dir = Path(tmp or tempfile.gettempdir())
    for d in tmp_dir.glob(f"{WORK_PREFIX}*"):
        owner = d.name[len(WORK_PREFIX):].split("_", 1)[0]
        if d.is_dir() and owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    for d in tmp_dir.glob(LEGACY_GLOB):
        if d.is_dir() and time.time() - d.stat().st_mtime > LEGACY_AGE_S:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    for d in (out / "samples").glob("*") if (out / "samples").is_dir() else ():
        if d.is_dir() and not (d / "sample.json").is_file():   # killed inside Sample.save (json is written last)
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    for sub in ("failures", "samples"):
        for f in (out / sub).glob(".*.tmp") if (out / sub).is_dir() else ():
            f.unlink(missing_ok=True)
            removed += 1
    return removed
