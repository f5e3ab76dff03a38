"""One entry point from CTR files of any supported format to raw or processed tf.data batches.

The data folder layout (what `tfnas data split` writes, and what a hand-made folder needs) is in `folder.py`.
"""
from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf

from pipelines.ctr.badrows import BadRowReport, check_policy
from pipelines.ctr.delimited import line_dataset
from pipelines.ctr.features import CTRPreprocessor
from pipelines.ctr.formats import LINE_MODULES as _LINE_MODULES
from pipelines.ctr.formats import default_spec  # noqa: F401 (re-exported)
from pipelines.ctr.folder import FORMATS, SPLITS, load_info, load_spec, split_paths  # noqa: F401 (re-exported)
from pipelines.ctr.schema import FeatureSpec, save_spec  # noqa: F401 (re-exported)



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
    if info.get("format") == "cache":                         # `tfnas data cache` output (cache.py)
        from pipelines.ctr.cache import cache_dataset
        kw.pop("bad_rows", None), kw.pop("report", None)      # rows were checked when the cache was written
        return cache_dataset(data_dir, split, spec, batch_size, **kw)
    if fmt == "table" and "table_schema" not in kw:
        from pipelines.ctr.table import TableSchema
        kw["table_schema"] = TableSchema.from_dict(info.get("table_schema"),
                                                   where=f"{os.path.join(os.fspath(data_dir), 'dataset.json')}: "
                                                         f"table_schema")
    paths = split_paths(data_dir)[split]
    if not paths:
        raise FileNotFoundError(f"{data_dir}: no files for split {split!r}")
    return make_dataset(paths, fmt, spec, batch_size, **kw)
