"""tf.data input over sample directories: maps resized to a fixed resolution, features normalised with train-only stats.

Yields (features [H, W, C], {"hotspot": [H, W, 1], "n_failed": scalar, "utilisation": [H, W, 1]}).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from pipelines.eda.sample import Sample

DEFAULT_CHANNELS = ("cell_density", "pin_density", "rudy", "pin_rudy", "macro_region", "congestion")
# target name -> label key in the Sample (qflow samples); circuitnet.CIRCUITNET_TARGETS maps CircuitNet samples.
DEFAULT_TARGETS = {"hotspot": "hotspot_stage2", "n_failed": "n_failed_stage2", "utilisation": "utilisation_max"}
_LAYER_RE = re.compile(r"^(.+)\[(\d+)\]$")


def list_samples(root: str) -> list:
    """Sorted complete sample directories (holding sample.json) directly under root or root/samples."""
    base = os.path.join(root, "samples") if os.path.isdir(os.path.join(root, "samples")) else root
    return sorted(os.path.join(base, d) for d in os.listdir(base)
                  if os.path.exists(os.path.join(base, d, "sample.json")))


def _map(maps: dict, name: str, where: str, kind: str) -> np.ndarray:
    """A 2-D map by name; `name[i]` picks layer i of an [L, H, W] map."""
    m = _LAYER_RE.match(name)
    key, layer = (m.group(1), int(m.group(2))) if m else (name, None)
    if key not in maps:
        raise KeyError(f"{where}: sample has no {kind} {key!r}; it has {sorted(maps)}")
    arr = np.asarray(maps[key], dtype=np.float32)
    if layer is not None:
        if arr.ndim != 3 or layer >= arr.shape[0]:
            raise KeyError(f"{where}: {kind} {key!r} has shape {arr.shape}, no layer {layer}")
        arr = arr[layer]
    if arr.ndim != 2:
        raise ValueError(f"{where}: {kind} {name!r} has shape {arr.shape}; pick a layer with '{key}[i]'")
    return arr


def _check(sample_dir: str, channels, targets) -> None:
    """Fail early, naming the sample, when a channel or target is missing (reads sample.json only)."""
    path = os.path.join(sample_dir, "sample.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such sample")
    with open(path) as f:
        doc = json.load(f)
    wanted = [("feature", c, doc["features"]) for c in channels] + \
        [("label", targets[k], doc["labels"]) for k in ("hotspot", "utilisation", "n_failed")]
    for kind, name, shapes in wanted:
        m = _LAYER_RE.match(name)
        key, layer = (m.group(1), int(m.group(2))) if m else (name, None)
        if key not in shapes:
            raise KeyError(f"{sample_dir}: sample has no {kind} {key!r}; it has {sorted(shapes)}")
        shape = shapes[key]
        if layer is not None and (len(shape) != 3 or layer >= shape[0]):
            raise KeyError(f"{sample_dir}: {kind} {key!r} has shape {shape}, no layer {layer}")
        want_ndim = 0 if kind == "label" and name == targets["n_failed"] else 2
        if len(shape) - (layer is not None) != want_ndim:
            raise ValueError(f"{sample_dir}: {kind} {name!r} has shape {shape}, expected {want_ndim} dimensions")


def _load(sample_dir: str, channels, targets) -> tuple:
    s = Sample.load(sample_dir)
    feats = np.stack([_map(s.features, c, sample_dir, "feature") for c in channels], axis=-1)
    hot = _map(s.labels, targets["hotspot"], sample_dir, "label")[..., None]
    util = _map(s.labels, targets["utilisation"], sample_dir, "label")[..., None]
    n_failed = np.asarray(s.labels.get(targets["n_failed"], np.nan), dtype=np.float32)
    if n_failed.ndim != 0 or not np.isfinite(n_failed):
        raise KeyError(f"{sample_dir}: label {targets['n_failed']!r} missing or not a finite scalar")
    return feats, hot, util, n_failed


def _raw_dataset(sample_dirs, channels, targets, size):
    """Unnormalised dataset of resized (features, targets) in the order of sample_dirs."""
    import tensorflow as tf
    dirs, channels, targets = [str(d) for d in sample_dirs], tuple(channels), dict(DEFAULT_TARGETS, **(targets or {}))
    if not dirs:
        raise ValueError("no sample directories given")
    for d in dirs:
        _check(d, channels, targets)

    def gen():
        for d in dirs:
            yield _load(d, channels, targets)

    sig = (tf.TensorSpec([None, None, len(channels)], tf.float32), tf.TensorSpec([None, None, 1], tf.float32),
           tf.TensorSpec([None, None, 1], tf.float32), tf.TensorSpec([], tf.float32))

    def resize(feats, hot, util, n_failed):
        feats = tf.image.resize(feats, size, method="bilinear")
        util = tf.image.resize(util, size, method="bilinear")
        # a resized tile is a hotspot if any source tile under it is one
        hot = tf.cast(tf.image.resize(hot, size, method="area") > 0, tf.float32)
        return feats, {"hotspot": hot, "n_failed": n_failed, "utilisation": util}

    return tf.data.Dataset.from_generator(gen, output_signature=sig).map(resize)


class FeatureStats:
    """Per-channel mean/std of the resized feature maps of the training split, saved as JSON for test/serving."""

    def __init__(self, channels, mean, std, size, n_samples: int):
        self.channels, self.size, self.n_samples = list(channels), list(size), int(n_samples)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]

    @classmethod
    def fit(cls, train_dirs, channels=DEFAULT_CHANNELS, size=(64, 64), targets=None) -> FeatureStats:
        """Compute the statistics from the training sample directories only."""
        total, total_sq, count, n = np.zeros(len(channels)), np.zeros(len(channels)), 0, 0
        for feats, _ in _raw_dataset(train_dirs, channels, targets, size).as_numpy_iterator():
            f = feats.reshape(-1, len(channels)).astype(np.float64)
            total, total_sq, count, n = total + f.sum(0), total_sq + (f ** 2).sum(0), count + f.shape[0], n + 1
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
        return cls(channels, mean, np.where(std > 1e-8, std, 1.0), size, n)

    def to_dict(self) -> dict:
        """JSON-ready form (channels, mean, std, size, n_samples)."""
        return {"channels": self.channels, "mean": self.mean, "std": self.std, "size": self.size,
                "n_samples": self.n_samples}

    def save(self, path: str) -> None:
        """Write the statistics as JSON (temporary file + rename)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> FeatureStats:
        """Read statistics saved by `save`; errors name the file and missing fields."""
        with open(path) as f:
            doc = json.load(f)
        missing = {"channels", "mean", "std", "size", "n_samples"} - set(doc)
        if missing:
            raise ValueError(f"{path}: missing fields {sorted(missing)}")
        return cls(doc["channels"], doc["mean"], doc["std"], doc["size"], doc["n_samples"])


def make_dataset(sample_dirs, stats: FeatureStats, channels=None, size=None, targets=None,
                 batch_size: int | None = None, shuffle: bool = False, seed: int = 0, cache: bool = True):
    """tf.data.Dataset of (normalised features [H,W,C], targets dict); channels default to those of `stats`."""
    import tensorflow as tf
    channels = list(channels or stats.channels)
    missing = [c for c in channels if c not in stats.channels]
    if missing:
        raise KeyError(f"channels {missing} have no training statistics (stats hold {stats.channels})")
    idx = [stats.channels.index(c) for c in channels]
    size = tuple(size or stats.size)
    mean = tf.constant([stats.mean[i] for i in idx], tf.float32)
    std = tf.constant([stats.std[i] for i in idx], tf.float32)
    ds = _raw_dataset(sample_dirs, channels, targets, size).map(lambda f, t: ((f - mean) / std, t))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(sample_dirs), seed=seed, reshuffle_each_iteration=True)
    if batch_size:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_train_test(train_dirs, test_dirs, stats_path: str, channels=DEFAULT_CHANNELS, size=(64, 64), targets=None,
                    batch_size: int = 8, seed: int = 0):
    """Fit stats on train_dirs only, save them to stats_path, and return (train_ds, test_ds, stats)."""
    stats = FeatureStats.fit(train_dirs, channels, size, targets)
    stats.save(stats_path)
    train = make_dataset(train_dirs, stats, targets=targets, batch_size=batch_size, shuffle=True, seed=seed)
    test = make_dataset(test_dirs, stats, targets=targets, batch_size=batch_size) if test_dirs else None
    return train, test, stats
