"""Reader for CircuitNet's released routability layout (per-feature folders of `<name>.npy`) into `Sample` directories.

Layout (as written by circuitnet/CircuitNet feature_extraction, under `routability_features[_decompressed]/`):
`macro_region/`, `cell_density/`, `RUDY/{RUDY,RUDY_long,RUDY_short,RUDY_pin,RUDY_pin_long}/`,
`congestion/congestion_{early_global_routing,global_routing}/{overflow,utilization}_based/...`, `DRC/DRC_all/`.
Split CSVs (`train_N28.csv`, `test_N28.csv`, ...) have no header and rows `feature/<name>.npy,label/<name>.npy`.
CircuitNet maps are indexed [x, y]; they are transposed to this project's [row = y, col = x].
"""
from __future__ import annotations

import csv
import os

import numpy as np

from pipelines.eda.sample import Sample

_CG = "congestion/congestion_global_routing"
_CE = "congestion/congestion_early_global_routing"
FEATURE_DIRS = {
    "macro_region": "macro_region",
    "cell_density": "cell_density",
    "rudy": "RUDY/RUDY",
    "rudy_long": "RUDY/RUDY_long",
    "rudy_short": "RUDY/RUDY_short",
    "pin_rudy": "RUDY/RUDY_pin",
    "pin_rudy_long": "RUDY/RUDY_pin_long",
    "congestion_egr_horizontal": f"{_CE}/overflow_based/congestion_eGR_horizontal_overflow",
    "congestion_egr_vertical": f"{_CE}/overflow_based/congestion_eGR_vertical_overflow",
}
LABEL_DIRS = {
    "congestion_gr_horizontal": f"{_CG}/overflow_based/congestion_GR_horizontal_overflow",
    "congestion_gr_vertical": f"{_CG}/overflow_based/congestion_GR_vertical_overflow",
    "util_gr_horizontal": f"{_CG}/utilization_based/congestion_GR_horizontal_util",
    "util_gr_vertical": f"{_CG}/utilization_based/congestion_GR_vertical_util",
    "drc": "DRC/DRC_all",
}
# dataset.make_dataset(targets=...) for CircuitNet samples: DRC hotspots, total DRC count, global-route congestion.
CIRCUITNET_TARGETS = {"hotspot": "hotspot_drc", "n_failed": "n_drc", "utilisation": "congestion"}


def read_split_csv(csv_path: str) -> list:
    """Sample names (file stem) listed in a CircuitNet split CSV; errors name the file and line."""
    names = []
    with open(csv_path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise ValueError(f"{csv_path}:{lineno}: expected 'feature/<name>.npy,label/<name>.npy', got {row}")
            feat, label = (os.path.basename(c.strip()) for c in row)
            if feat != label or not feat.endswith(".npy"):
                raise ValueError(f"{csv_path}:{lineno}: feature and label files differ or are not .npy: {row}")
            names.append(feat[:-4])
    return names


def available_names(root: str) -> list:
    """Sample names present under root (those with a cell_density or macro_region map)."""
    for sub in ("cell_density", "macro_region", "RUDY/RUDY"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            return sorted(f[:-4] for f in os.listdir(d) if f.endswith(".npy"))
    raise FileNotFoundError(f"{root}: no cell_density/, macro_region/ or RUDY/RUDY/ folder (not a CircuitNet root?)")


def _read(root: str, sub: str, name: str):
    path = os.path.join(root, sub, f"{name}.npy")
    if not os.path.exists(path):
        return None
    arr = np.load(path)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D map, got shape {arr.shape}")
    return arr.T.astype(np.float32)


def load_sample(root: str, name: str) -> Sample:
    """One CircuitNet placement as a `Sample`; missing optional maps are recorded in meta, never filled in."""
    feats = {k: a for k, sub in FEATURE_DIRS.items() if (a := _read(root, sub, name)) is not None}
    raw = {k: a for k, sub in LABEL_DIRS.items() if (a := _read(root, sub, name)) is not None}
    if not feats:
        raise FileNotFoundError(f"{root}: no feature map for sample {name!r} "
                                f"(looked for {sorted(FEATURE_DIRS.values())})")
    shapes = {k: a.shape for k, a in {**feats, **raw}.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{root}: maps of sample {name!r} have different shapes {shapes}")
    shape = next(iter(shapes.values()))
    has_egr = "congestion_egr_horizontal" in feats and "congestion_egr_vertical" in feats
    feats["congestion"] = (feats["congestion_egr_horizontal"] + feats["congestion_egr_vertical"]) if has_egr \
        else np.zeros(shape, np.float32)
    if "macro_region" not in feats:
        feats["macro_region"] = np.zeros(shape, np.float32)
    labels = {}
    if "congestion_gr_horizontal" in raw and "congestion_gr_vertical" in raw:
        labels["congestion"] = raw["congestion_gr_horizontal"] + raw["congestion_gr_vertical"]
    if "util_gr_horizontal" in raw and "util_gr_vertical" in raw:
        labels["utilisation_max"] = np.maximum(raw["util_gr_horizontal"], raw["util_gr_vertical"])
    if "drc" in raw:
        labels["drc"] = raw["drc"]
        labels["hotspot_drc"] = (raw["drc"] > 0).astype(np.float32)
        labels["n_drc"] = np.float32(raw["drc"].sum())
    if not labels:
        raise FileNotFoundError(f"{root}: no label map (congestion or DRC) for sample {name!r}")
    meta = {"source": "circuitnet", "design": name.split("-", 1)[-1].rsplit("-u", 1)[0] if "-" in name else name,
            "name": name, "root": os.path.abspath(root), "maps": {
                "congestion_present": has_egr, "congestion_source": "eGR overflow h+v" if has_egr else None,
                "features_found": sorted(feats), "labels_found": sorted(raw), "orientation": "transposed [x,y]->[y,x]"}}
    return Sample(features=feats, labels=labels, meta=meta)


def convert(root: str, out_dir: str, names=None, csv_path: str | None = None) -> list:
    """Write `out_dir/<name>/sample.{npz,json}` for each name (default: the CSV's names, else all); returns dirs."""
    if names is None:
        names = read_split_csv(csv_path) if csv_path else available_names(root)
    out = []
    for name in names:
        target = os.path.join(out_dir, name)
        if not os.path.exists(os.path.join(target, "sample.json")):   # resumable: finished samples are kept
            load_sample(root, name).save(target)
        out.append(target)
    return out
