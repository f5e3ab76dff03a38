"""Load placement samples (`sample.json` + `sample.npz`, see pipelines/eda/sample.py) into arrays on a fixed grid.

Choices: each feature map is clipped at its own 0.99 quantile (as the reference does), then resized to the grid
with bilinear resampling (tf.image.resize, features) or nearest neighbour (hotspot labels, kept 0/1). The default
grid is 32x32 (multiple of 4 for RouteNet; today's maps are 4x5 to 19x18 tiles, so this upsamples).
Normalisation: per-channel mean/std over the training split only (`Normalizer.fit`).
Suite (the leave-one-suite-out group): meta "suite" if present, else the family for circuitgraph suites
(iscas85, epfl, banyan: `eda generate --suite` writes the suite as family), else "circuitnet" for CircuitNet
samples, else "generated". CircuitNet samples (pipelines/eda/circuitnet.py) have no pin-density map and DRC labels,
so `dataset_format` picks CIRCUITNET_CHANNELS and the DRC hotspot / DRC count as the two tasks' labels.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

CHANNELS = ("cell_density", "pin_density", "rudy", "pin_rudy", "macro_region", "congestion")
HOTSPOT, N_FAILED = "hotspot_stage2", "n_failed_stage2"
CIRCUITNET_CHANNELS = ("cell_density", "rudy", "pin_rudy", "macro_region", "congestion")
FORMATS = {"eda": (CHANNELS, HOTSPOT, N_FAILED),
           "circuitnet": (CIRCUITNET_CHANNELS, "hotspot_drc", "n_drc")}
CIRCUITGRAPH_SUITES = ("iscas85", "epfl", "banyan")


def suite_of(meta: dict) -> str:
    """The design's suite (leave-one-suite-out group); see the module docstring for the rule."""
    if meta.get("suite"):
        return str(meta["suite"])
    if meta.get("family") in CIRCUITGRAPH_SUITES:
        return str(meta["family"])
    return "circuitnet" if meta.get("source") == "circuitnet" else "generated"


def dataset_format(sample_dir: str) -> str:
    """'circuitnet' when the sample came from the CircuitNet reader, else 'eda' (this project's flow)."""
    path = os.path.join(sample_dir, "sample.json")
    try:
        with open(path) as f:
            meta = json.load(f).get("meta", {})
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: malformed sample metadata: {exc.msg}") from None
    return "circuitnet" if meta.get("source") == "circuitnet" else "eda"


def sample_dirs(dataset_dir: str) -> list:
    """Sorted sample directories (those holding a sample.json) under dataset_dir/samples."""
    root = os.path.join(dataset_dir, "samples")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no samples folder")
    return sorted(os.path.join(root, d) for d in os.listdir(root)
                  if os.path.exists(os.path.join(root, d, "sample.json")))


def load_sample(sample_dir: str, grid=(32, 32), channels=CHANNELS, hotspot: str = HOTSPOT,
                n_failed: str = N_FAILED) -> tuple:
    """(features [H,W,C], hotspot [H,W,1], n_failed, meta) of one sample; bad input raises naming the file."""
    jpath, npath = os.path.join(sample_dir, "sample.json"), os.path.join(sample_dir, "sample.npz")
    if not os.path.exists(jpath):
        raise FileNotFoundError(f"{jpath}: no such sample file")
    with open(jpath) as f:
        try:
            meta = json.load(f).get("meta", {})
        except json.JSONDecodeError as exc:
            raise ValueError(f"{jpath}:{exc.lineno}: malformed sample metadata: {exc.msg}") from None
    if not os.path.exists(npath):
        raise FileNotFoundError(f"{npath}: no such sample file")
    with np.load(npath) as z:
        arrays = {k: z[k] for k in z.files}
    maps, shape = [], None
    for name in [f"feature/{c}" for c in channels] + [f"label/{hotspot}"]:
        if name not in arrays:
            raise ValueError(f"{npath}: missing map {name!r}")
        a = np.asarray(arrays[name], dtype=np.float32)
        if a.ndim != 2 or (shape is not None and a.shape != shape):
            raise ValueError(f"{npath}: map {name!r} has shape {a.shape}, expected {shape or '2-D'}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{npath}: map {name!r} has NaN or infinite values")
        shape = a.shape
        maps.append(a)
    key = f"label/{n_failed}"
    if key not in arrays or np.ndim(arrays[key]) != 0 or not np.isfinite(arrays[key]):
        raise ValueError(f"{npath}: label {n_failed!r} missing or not a finite scalar")
    feats = np.stack([np.minimum(m, np.quantile(m, 0.99)) for m in maps[:-1]], axis=-1)
    feats = tf.image.resize(feats, grid, method="bilinear").numpy()
    hot = tf.image.resize((maps[-1] > 0.5).astype(np.float32)[..., None], grid, method="nearest").numpy()
    return feats.astype(np.float32), hot.astype(np.float32), float(arrays[key]), meta


def load_samples(dirs, grid=(32, 32), channels=None, bad_samples: str = "error", fmt: str | None = None) -> dict:
    """Stack samples into arrays x, y, n_failed plus designs/families/suites/ids; bad_samples="error"|"skip"
    (counted). `fmt` ('eda' | 'circuitnet', default: detected from the first sample) picks channels and labels."""
    if bad_samples not in ("error", "skip"):
        raise ValueError(f"bad_samples must be 'error' or 'skip', got {bad_samples!r}")
    dirs = list(dirs)
    if fmt is None:
        fmt = dataset_format(dirs[0]) if dirs and os.path.exists(os.path.join(dirs[0], "sample.json")) else "eda"
    if fmt not in FORMATS:
        raise ValueError(f"unknown sample format {fmt!r}; use one of {sorted(FORMATS)}")
    default_channels, hot_key, count_key = FORMATS[fmt]
    channels = tuple(channels or default_channels)
    xs, ys, ns, metas, skipped = [], [], [], [], []
    for d in dirs:
        try:
            x, y, n, meta = load_sample(d, grid, channels, hot_key, count_key)
        except (ValueError, FileNotFoundError) as e:
            if bad_samples == "error":
                raise
            skipped.append(str(e))
            continue
        xs.append(x), ys.append(y), ns.append(n), metas.append(meta)
    if not xs:
        raise ValueError(f"no usable samples among {len(dirs)} ({len(skipped)} skipped)")
    return {"x": np.stack(xs), "y": np.stack(ys), "n_failed": np.asarray(ns, np.float32),
            "design": [m.get("design") for m in metas], "family": [m.get("family") for m in metas],
            "suite": [suite_of(m) for m in metas], "technology": [m.get("technology") for m in metas],
            "id": [m.get("placement_id") or m.get("name") for m in metas], "skipped": skipped,
            "channels": list(channels), "format": fmt, "grid": list(grid),
            "units": [_unit_of(metas[0], c) for c in channels]}


def _unit_of(meta: dict, channel: str) -> str:
    """A feature map's unit from sample.json's `maps.units` (longest matching prefix), else 'a.u.'."""
    units = (meta.get("maps") or {}).get("units") or {}
    best = max((k for k in units if channel.startswith(k)), key=len, default=None)
    return units[best] if best else "a.u."


class Normalizer:
    """Per-channel standardisation with statistics of the training split only."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)

    @classmethod
    def fit(cls, x_train) -> Normalizer:
        x = np.asarray(x_train, np.float32)
        return cls(x.mean(axis=(0, 1, 2)), np.maximum(x.std(axis=(0, 1, 2)), 1e-6))

    def __call__(self, x):
        return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

    def get_config(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> Normalizer:
        return cls(config["mean"], config["std"])


def resolve_sample_dirs(data_dir: str, cache_dir: str) -> list:
    """Sample directories of `data_dir`: a dataset folder (samples/), or a CircuitNet root (cell_density/, RUDY/,
    ...) converted once by pipelines/eda/circuitnet.py into `cache_dir` (the input folder is never written)."""
    if os.path.isdir(os.path.join(data_dir, "samples")):
        return sample_dirs(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"{data_dir}: no such dataset folder")
    from pipelines.eda import circuitnet
    try:
        names = circuitnet.available_names(data_dir)
    except FileNotFoundError:
        raise FileNotFoundError(f"{data_dir}: neither a dataset folder (samples/) nor a CircuitNet root "
                                "(cell_density/, macro_region/ or RUDY/RUDY/)") from None
    if not names:
        raise ValueError(f"{data_dir}: CircuitNet root without any .npy sample")
    return circuitnet.convert(data_dir, cache_dir, names)
