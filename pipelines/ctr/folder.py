"""The CTR data folder layout: what `tfnas data split` / `synth` write and what a hand-made folder needs.

    DIR/train.<ext>  DIR/valid.<ext>  DIR/test.<ext>   the rows (also `train-*.<ext>`, `train/*.<ext>`,
                                                      `valid` may be `val`, NASRec's `shard-*/train.txt`)
    DIR/dataset.json  {"format": "criteo" | "avazu" | "kdd12" | "table", "table_schema": {...} (table only),
                       ...}  (split also records rows/positives per split, seed, ratios, how it split)
    DIR/spec.json     the FeatureSpec: {"dense_names", "sparse_names", "vocab_sizes", "label_name"}
<ext> is txt, tsv, csv, parquet, or txt.gz / tsv.gz / csv.gz.  Table files keep their header line.  For a
folder you made yourself, `tfnas data index DIR --schema S.json` (or `--format criteo`) checks the files and
writes the two JSON files.  TensorFlow-free.
"""
from __future__ import annotations

import glob
import json
import os

from pipelines.ctr.schema import FeatureSpec

FORMATS = ("criteo", "avazu", "kdd12", "table")
SPLITS = ("train", "valid", "test")
_EXTS = ("txt", "tsv", "csv", "parquet", "txt.gz", "tsv.gz", "csv.gz")


def load_spec(data_dir) -> FeatureSpec:
    """Read `data_dir/spec.json` (written by the synth and split tools)."""
    path = os.path.join(os.fspath(data_dir), "spec.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no spec.json; create the directory with `tfnas data split` "
                                "(or `tfnas data synth`), or describe your own files with `tfnas data index`")
    with open(path) as f:
        return FeatureSpec.from_json(f.read())


def load_info(data_dir) -> dict:
    """Read `data_dir/dataset.json` (format, rows per split, ...); {} when absent."""
    path = os.path.join(os.fspath(data_dir), "dataset.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def split_paths(data_dir) -> dict[str, list[str]]:
    """{"train": [...], "valid": [...], "test": [...]} for `split.ext`, `split-*.ext`, `split/*` or NASRec
    `shard-*/{train,val,test}.txt` files under `data_dir`."""
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"{data_dir}: not a directory")
    if load_info(data_dir).get("format") == "cache":        # `tfnas data cache` output: its label shards
        from pipelines.ctr.cache import cache_split_files
        return {s: cache_split_files(data_dir).get(s, []) for s in SPLITS}
    out = {}
    for split in SPLITS:
        names = (split, "val") if split == "valid" else (split,)
        found: list[str] = []
        for name in names:
            for ext in _EXTS:
                found += glob.glob(os.path.join(data_dir, f"{name}.{ext}"))
                found += glob.glob(os.path.join(data_dir, f"{name}-*.{ext}"))
                found += glob.glob(os.path.join(data_dir, name, f"*.{ext}"))
                found += glob.glob(os.path.join(data_dir, "shard-*", f"{name}.{ext}"))
        out[split] = sorted(set(found))
    if not any(out.values()):
        raise FileNotFoundError(f"{data_dir}: no train/valid/test files found")
    return out
