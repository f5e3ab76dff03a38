"""A run folder's metadata (`run.json`): what kind of run it is and where its model is, so `tfnas export
--run DIR` and `--resume` work for every kind of run (CTR, NASRec, AutoShrink, map models) from the
folder alone.

`run.json` is written atomically by whoever creates the run (the trainer, a pipeline stage) and holds:
  kind       str   "ctr" | "nasrec" | "image_classifier" | "map" | "language_model" | ...
  model      str   path of the trained Keras model relative to the run folder (e.g. "model.keras")
  task       str   the Task that trained it (e.g. "ranking", "classification", "tile_bce")
  ...              any further JSON fields the kind needs (input layout, normalisation, data dir)
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

RUN_INFO = "run.json"


def write_json_atomic(path: str, data: Any) -> None:
    """Write JSON to a temporary file in the same folder, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_run_info(run_dir: str, kind: str, model: str | None = None, task: str | None = None,
                   **fields: Any) -> dict:
    """Write (or update) `run_dir/run.json`; fields already there and not given are kept."""
    path = os.path.join(run_dir, RUN_INFO)
    info = read_run_info(run_dir) if os.path.exists(path) else {}
    info.update({k: v for k, v in fields.items() if v is not None})
    info["kind"] = kind
    if model is not None:
        info["model"] = model
    if task is not None:
        info["task"] = task
    write_json_atomic(path, info)
    return info


def read_run_info(run_dir: str) -> dict:
    """The run's metadata; a clear error naming the file if it is missing or malformed."""
    path = os.path.join(run_dir, RUN_INFO)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no run metadata (is {run_dir!r} a tfnas run folder?)")
    try:
        with open(path) as f:
            info = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: malformed run metadata: {exc.msg}") from None
    if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
        raise ValueError(f"{path}: field 'kind': missing or not a string")
    return info
