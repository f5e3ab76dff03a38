"""Export a run folder from its own metadata: `run.json` (`tfnas/runs.py`) names the kind and the model.

Each kind has a loader `(run_dir, info) -> RunModel`: how to write its SavedModel, how to check the
reload, which Keras model goes to TFLite and with what calibration data.  Built in: any kind whose
run.json names a Keras `model` file (image classifiers, map models, ...) and "ctr".  Method kinds
register theirs (`register_loader`; the CLI registers "nasrec"), so the core imports no method.

Folders from before run.json are still read (`run_info`): a CTR run.json without `kind` (it holds
`config` + `spec`), an AutoShrink `train --out` folder (model.keras + train.json), and a NASRec run dir
(config.json with supernet/retrain sections).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import numpy as np

from tfnas.runs import RUN_INFO, read_run_info


@dataclasses.dataclass
class RunModel:
    """A run's trained model, ready to export."""

    kind: str
    save: Callable[[str, int | None, str], str]        # (name, version, root) -> SavedModel path
    check: Callable[[str], float]                      # SavedModel path -> reload max |served - keras|
    tflite_model: object                               # the Keras model converted to TFLite
    representative: Callable | None = None             # int8 calibration data (see tflite._representative)
    summary: str = ""


LOADERS: dict[str, Callable[[str, dict], RunModel]] = {}


def register_loader(kind: str, loader: Callable[[str, dict], RunModel]) -> None:
    """Make `export_run` handle runs of `kind` with `loader(run_dir, info)`."""
    LOADERS[kind] = loader


def run_info(run_dir: str) -> dict:
    """The run's metadata: run.json with a kind, or what older folders hold instead (see the module doc)."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    path = os.path.join(run_dir, RUN_INFO)
    if os.path.exists(path):
        try:
            return read_run_info(run_dir)
        except ValueError:
            with open(path) as f:
                legacy = json.load(f)   # read_run_info already proved it parses
            if isinstance(legacy, dict) and "config" in legacy and "spec" in legacy:
                return {"kind": "ctr", "legacy": True}
            raise
    if os.path.exists(os.path.join(run_dir, "model.keras")) and os.path.exists(os.path.join(run_dir, "train.json")):
        return {"kind": "image_classifier", "model": "model.keras", "task": "classification", "legacy": True}
    cfg = os.path.join(run_dir, "config.json")
    if os.path.exists(cfg):
        with open(cfg) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{cfg}:{exc.lineno}: malformed config: {exc.msg}") from None
        if isinstance(data, dict) and "supernet" in data and "retrain" in data:
            return {"kind": "nasrec", "legacy": True}
    raise FileNotFoundError(f"{path}: no run metadata and no older run files (is {run_dir!r} a tfnas run folder?)")


def load_run_model(run_dir: str) -> RunModel:
    """The RunModel of a run folder, by its kind (a kind-specific loader, else the Keras-model loader)."""
    info = run_info(run_dir)
    kind = info["kind"]
    if kind in LOADERS:
        return LOADERS[kind](run_dir, info)
    if "model" in info:
        return keras_run_model(run_dir, info)
    raise ValueError(f"{os.path.join(run_dir, RUN_INFO)}: kind {kind!r} has no export loader and no 'model' field; "
                     f"known kinds {sorted(LOADERS)}")


def export_run(run_dir: str, name: str, version: int | None = None, root: str = "saved_models",
               check: bool = True) -> dict:
    """SavedModel of a run's model at `root/name/version/`; {"path", "kind", "reload_max_abs_diff"}."""
    rm = load_run_model(run_dir)
    path = rm.save(name, version, root)
    return {"path": path, "kind": rm.kind, "summary": rm.summary,
            "reload_max_abs_diff": rm.check(path) if check else None}


# --------------------------------------------------------------------------------------------- Keras models
def _calibration(run_dir: str, info: dict, model) -> dict:
    """{input name: array [N, ...]} for checks and int8 calibration: run.json's `calibration` .npz (keys =
    input names, or one array for a single-input model), else seeded uniform inputs in `input_range`."""
    from tfnas.export.reload import sample_inputs
    names = [t.name.split(":")[0] for t in model.inputs]
    if info.get("calibration"):
        path = os.path.join(run_dir, info["calibration"])
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        if len(names) == 1 and len(arrays) == 1:
            return {names[0]: next(iter(arrays.values()))}
        missing = sorted(set(names) - set(arrays))
        if missing:
            raise ValueError(f"{path}: calibration arrays {sorted(arrays)} lack model inputs {missing}")
        return {n: arrays[n] for n in names}
    low, high = info.get("input_range", (0.0, 1.0))
    return sample_inputs(model, batch=int(info.get("calibration_size", 32)), seed=0, low=low, high=high)


def keras_run_model(run_dir: str, info: dict) -> RunModel:
    """Any run whose run.json names a saved Keras model (`model`, relative to the run folder)."""
    import tensorflow as tf

    import tfnas.builders.layers  # noqa: F401  (registers the builders' custom layers, e.g. MixedDepthwiseConv2D)
    from tfnas.export.reload import check_model_reload
    from tfnas.export.serving import export_model
    rel = info["model"]
    if os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
        raise ValueError(f"{os.path.join(run_dir, RUN_INFO)}: field 'model': {rel!r} must stay inside the run")
    path = os.path.join(run_dir, rel)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: model named by {os.path.join(run_dir, RUN_INFO)} not found")
    model = tf.keras.models.load_model(path, compile=False)
    data = _calibration(run_dir, info, model)
    count = len(next(iter(data.values())))
    check_rows = {k: v[:8] for k, v in data.items()}

    def representative():
        for i in range(count):
            yield {k: v[i:i + 1] for k, v in data.items()}

    shapes = ", ".join(f"{t.name.split(':')[0]} {tuple(t.shape)}" for t in model.inputs)
    return RunModel(kind=info["kind"], save=lambda n, v, r: export_model(model, n, v, r),
                    check=lambda p: check_model_reload(model, p, check_rows), tflite_model=model,
                    representative=representative,
                    summary=f"{info['kind']} model {rel}: inputs {shapes} -> {list(model.output_names)}")


# --------------------------------------------------------------------------------------------- CTR
def ctr_run_model(run_dir: str, info: dict, calibration_batches: int = 20) -> RunModel:
    """A `tfnas ctr train --logdir` run: raw-feature signature, reload checked on raw test rows."""
    from pipelines.ctr.dataset import make_split_dataset, split_paths
    from tfnas.train.ctr import load_run
    from tfnas.export.ctr import check_reload, export_saved_model, processed_input_model
    network, spec, run = load_run(run_dir)
    data_dir = run["config"]["data"]

    def check(path):
        paths = split_paths(data_dir)
        split = next(s for s in ("test", "valid", "train") if paths.get(s))
        raw = next(iter(make_split_dataset(data_dir, split, 256, spec=spec, processed=False)))
        return check_reload(network, spec, path, raw)

    def representative():
        for b in make_split_dataset(data_dir, "train", 1, spec=spec).take(calibration_batches):
            yield {"dense": b["dense"].numpy(), "sparse": b["sparse"].numpy()}

    return RunModel(kind="ctr", save=lambda n, v, r: export_saved_model(network, spec, n, v, r),
                    check=check, tflite_model=processed_input_model(network, spec), representative=representative,
                    summary=f"ctr {run['config']['model']}: {spec.num_dense + spec.num_sparse} raw inputs "
                            f"({spec.num_dense} float32, {spec.num_sparse} string)")


register_loader("ctr", ctr_run_model)
