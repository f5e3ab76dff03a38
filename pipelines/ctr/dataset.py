"""One entry point from CTR files of any supported format to raw or processed tf.data batches.

A data directory written by `tfnas data synth` / `tfnas data split` holds train/valid/test files, `spec.json`
(a FeatureSpec) and `dataset.json` (format and row counts); NASRec's `shard-*/{train,val,test}.txt` layout
is also understood.
"""
from __future__ import annotations

import glob
import json
import os
from typing import Sequence

import tensorflow as tf

from pipelines.ctr import avazu, criteo, kdd12
from pipelines.ctr.badrows import BadRowReport, check_policy
from pipelines.ctr.delimited import line_dataset
from pipelines.ctr.features import CTRPreprocessor
from pipelines.ctr.schema import FeatureSpec, save_spec  # noqa: F401 (re-exported)

FORMATS = ("criteo", "avazu", "kdd12", "table")
SPLITS = ("train", "valid", "test")
_LINE_MODULES = {"criteo": criteo, "avazu": avazu, "kdd12": kdd12}
_EXTS = ("txt", "tsv", "csv", "parquet")


def default_spec(fmt: str, cap: int = 500_000) -> FeatureSpec:
    """The standard FeatureSpec of a public format (NASRec table sizes capped at `cap`)."""
    if fmt not in _LINE_MODULES:
        raise ValueError(f"no default spec for format {fmt!r}; use one of {sorted(_LINE_MODULES)} "
                         "or declare a TableSchema")
    return _LINE_MODULES[fmt].default_spec(cap)


def load_spec(data_dir) -> FeatureSpec:
    """Read `data_dir/spec.json` (written by the synth and split tools)."""
    path = os.path.join(os.fspath(data_dir), "spec.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no spec.json; create the directory with `tfnas data synth` "
                                "or `tfnas data split`")
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


def make_dataset(paths, fmt: str, spec: FeatureSpec, batch_size: int, *, shuffle: bool = False,
                 repeat: bool = False, processed: bool = True, bad_rows: str = "error",
                 report: BadRowReport | None = None, seed: int = 0, table_schema=None) -> tf.data.Dataset:
    """Stream batches of {"label", "dense", "categorical"} (raw) or {"label", "dense", "sparse"} (processed).

    fmt: "criteo" | "avazu" | "kdd12" | "table" (the latter needs `table_schema`, a table.TableSchema).
    bad_rows: "error" stops at the first bad row naming file/line/field; "skip" drops and counts it in `report`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    check_policy(bad_rows)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths: Sequence[str] = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("make_dataset: no input files")
    preprocess = CTRPreprocessor(spec) if processed else None
    if fmt == "table":
        from pipelines.ctr.table import table_dataset
        if table_schema is None:
            raise ValueError("format 'table' needs table_schema (pipelines.ctr.table.TableSchema)")
        return table_dataset(paths, table_schema, spec, batch_size, shuffle=shuffle, repeat=repeat,
                             bad_rows=bad_rows, report=report, seed=seed, preprocess=preprocess)
    line_fmt = _LINE_MODULES[fmt].line_format(spec, paths)
    return line_dataset(paths, line_fmt, batch_size, shuffle=shuffle, repeat=repeat, bad_rows=bad_rows,
                        report=report, seed=seed, preprocess=preprocess)


def make_split_dataset(data_dir, split: str, batch_size: int, **kw) -> tf.data.Dataset:
    """`make_dataset` over one split of a data directory, with its saved spec and format."""
    info = load_info(data_dir)
    fmt = kw.pop("fmt", info.get("format", "criteo"))
    spec = kw.pop("spec", None) or load_spec(data_dir)
    if fmt == "table" and "table_schema" not in kw:
        from pipelines.ctr.table import TableSchema
        kw["table_schema"] = TableSchema.from_dict(info["table_schema"])
    paths = split_paths(data_dir)[split]
    if not paths:
        raise FileNotFoundError(f"{data_dir}: no files for split {split!r}")
    return make_dataset(paths, fmt, spec, batch_size, **kw)
