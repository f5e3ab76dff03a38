"""On-disk format of one placement sample: feature and label maps (`sample.npz`) plus metadata (`sample.json`).

Both files are written to temporary names and renamed, the JSON last, so a directory with `sample.json` is complete.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

FORMAT_VERSION = 1


def _jsonable(obj):
    """Convert numpy scalars/arrays inside meta to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


@dataclass
class Sample:
    """Per-tile feature maps, label maps (and 0-d per-placement labels) of one placement, with its metadata."""
    features: dict = field(default_factory=dict)   # name -> [H, W] (or [L, H, W]) float32
    labels: dict = field(default_factory=dict)     # name -> [H, W], [L, H, W] or 0-d float32
    meta: dict = field(default_factory=dict)

    def save(self, out_dir) -> None:
        """Write out_dir/sample.npz and out_dir/sample.json atomically (temporary file + rename)."""
        os.makedirs(out_dir, exist_ok=True)
        arrays = {}
        for kind, maps in (("feature", self.features), ("label", self.labels)):
            for name, arr in maps.items():
                if "/" in name:
                    raise ValueError(f"map name {name!r} must not contain '/'")
                arrays[f"{kind}/{name}"] = np.asarray(arr, dtype=np.float32)
        npz_tmp = os.path.join(out_dir, ".sample.npz.tmp")
        with open(npz_tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(npz_tmp, os.path.join(out_dir, "sample.npz"))
        doc = {"format_version": FORMAT_VERSION,
               "features": {k: list(np.shape(v)) for k, v in self.features.items()},
               "labels": {k: list(np.shape(v)) for k, v in self.labels.items()},
               "meta": _jsonable(self.meta)}
        json_tmp = os.path.join(out_dir, ".sample.json.tmp")
        with open(json_tmp, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
        os.replace(json_tmp, os.path.join(out_dir, "sample.json"))

    @classmethod
    def load(cls, out_dir) -> Sample:
        """Read a sample directory written by `save`; errors name the file and the missing or malformed part."""
        jpath, npath = os.path.join(out_dir, "sample.json"), os.path.join(out_dir, "sample.npz")
        if not os.path.exists(jpath):
            raise FileNotFoundError(f"{jpath}: no sample.json (sample missing or not finished writing)")
        try:
            with open(jpath) as f:
                doc = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{jpath}:{e.lineno}: malformed JSON: {e.msg}") from None
        for key in ("features", "labels", "meta"):
            if key not in doc:
                raise ValueError(f"{jpath}: missing field {key!r}")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{jpath}: format_version {doc.get('format_version')!r}, expected {FORMAT_VERSION}")
        with np.load(npath) as z:
            stored = set(z.files)
            out = {}
            for kind, names in (("feature", doc["features"]), ("label", doc["labels"])):
                out[kind] = {}
                for name, shape in names.items():
                    key = f"{kind}/{name}"
                    if key not in stored:
                        raise ValueError(f"{npath}: array {key!r} listed in sample.json is missing")
                    arr = z[key]
                    if list(arr.shape) != list(shape):
                        raise ValueError(f"{npath}: array {key!r} has shape {arr.shape}, sample.json says {shape}")
                    out[kind][name] = arr
        return cls(features=out["feature"], labels=out["label"], meta=doc["meta"])
