"""Reader for a user's own click table (CSV, TSV or Parquet) with a declared schema, so any click log runs
through every model here.

The schema names a label column (number; > 0 means click), dense columns (numbers, empty = missing) and
categorical columns (strings or ids).  A multi-valued column (e.g. "tags" = "a|b|c") maps onto the processed
contract as `slots` fixed sparse fields `tags_1..tags_k`: the first k tokens in order (sorted first if
`sort` is set, so order does not matter), missing slots are "" (bucket 0), extra tokens are dropped.
Files (plain, gzip or bz2, detected by magic bytes) stream in chunks through pandas (CSV/TSV) or pyarrow
(Parquet); memory is flat in file size.  The schema's missing_values tokens ("?", "NA", ...) read as missing
in every feature column.  The schema itself lives in `table_schema.py` (TensorFlow-free).
Bad rows: a non-numeric label/dense value or a row with too many fields is an error naming file, line and
field (or skipped and counted); a CSV row with too few fields is read with the missing trailing values
empty (pandas pads them), and line numbers assume no quoted newlines.
"""
from __future__ import annotations

import os
import re
import warnings
from typing import Iterator, Sequence

import numpy as np

from pipelines.ctr.badrows import REASONS, BadRowError, BadRowReport, check_policy
from pipelines.ctr.compressed import compression, open_text
from pipelines.ctr.schema import FeatureSpec
from pipelines.ctr.table_schema import NUMBER as _NUMBER
from pipelines.ctr.table_schema import MultiValued, SchemaError, TableSchema, split_row  # noqa: F401 (re-exported)

_PANDAS_CODEC = {None: None, "gzip": "gzip", "bz2": "bz2"}


def _header(path: str, sep: str) -> list[str]:
    """The header fields of a (possibly gzip/bz2) CSV/TSV file."""
    try:
        with open_text(path) as f:
            return split_row(f.readline().rstrip("\r\n"), sep)
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None


def _check_columns(path: str, schema: TableSchema) -> None:
    """Fail early, naming the file, if a declared column is not in the file."""
    if schema.format_of(path) == "parquet":
        import pyarrow.parquet as pq
        names = pq.ParquetFile(path).schema_arrow.names
        where = path
    else:
        names = _header(path, schema.delimiter_of(path))
        where = f"{path}:1"
    schema.check_header(names, where)


def _chunks(path: str, schema: TableSchema, chunk_rows: int, bad_rows: str,
            report: BadRowReport) -> Iterator[tuple[object, np.ndarray]]:
    """(pandas DataFrame of str columns, the file line number of each of its rows) per chunk of a file;
    Parquet rows are numbered from 1.  Lines pandas skipped (too many fields, under "skip") are counted."""
    import pandas as pd
    fmt = schema.format_of(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq
        pf = pq.ParquetFile(path)
        missing = [c for c in schema.columns if c not in pf.schema_arrow.names]
        if missing:
            raise ValueError(f"{path}: columns {missing} not in table (has {pf.schema_arrow.names})")
        row = 1
        for rb in pf.iter_batches(batch_size=chunk_rows, columns=list(schema.columns)):
            df = rb.to_pandas().astype(object).where(lambda d: d.notna(), "").astype(str)
            yield df, np.arange(row, row + len(df))
            row += len(df)
        return
    sep = schema.delimiter_of(path)
    header = _header(path, sep)
    codec = compression(path)
    if codec not in _PANDAS_CODEC:
        raise ValueError(f"{path}: {codec}-compressed input is not supported; decompress it or use gzip/bz2")
    schema.check_header(header, f"{path}:1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, chunksize=chunk_rows,
                             compression=_PANDAS_CODEC[codec], encoding_errors="replace",
                             skip_blank_lines=False, on_bad_lines="warn" if bad_rows == "skip" else "error", engine="c")
        line = 2
        try:
            for df in reader:
                skipped = _skipped_lines(caught, path, report)
                caught.clear()
                numbers = np.arange(line, line + len(df) + len(skipped))
                numbers = numbers[~np.isin(numbers, skipped)][:len(df)]
                yield df, numbers
                line = int(numbers[-1]) + 1 if len(df) else line + len(skipped)
        except pd.errors.ParserError as e:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if not m:
                raise BadRowError(f"{path}: {e}") from e
            bad_line = int(m.group(2))
            if bad_line > line:  # rows of this chunk before the bad line may hold an earlier error
                head = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False,
                                   compression=_PANDAS_CODEC[codec], encoding_errors="replace",
                                   skiprows=range(1, line - 1), nrows=bad_line - line)
                yield head, np.arange(line, line + len(head))
            raise BadRowError(f"{path}:{bad_line}: expected {m.group(1)} fields, found {m.group(3)}") from e
        _skipped_lines(caught, path, report)


def _skipped_lines(caught, path: str, report: BadRowReport) -> list[int]:
    """Count the rows pandas skipped (too many fields), as `file:line: expected N fields, saw M`; their lines."""
    lines = []
    for w in caught:
        for m in re.finditer(r"Skipping line (\d+): ([^\n]*)", str(w.message)):
            report.add("field_count", 1, f"{path}:{m.group(1)}: {m.group(2).strip()}")
            lines.append(int(m.group(1)))
    return sorted(lines)


def _numbers(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN for "", ok mask) for a column of strings."""
    ok = np.array([s == "" or bool(_NUMBER.fullmatch(s)) for s in col], bool)
    vals = np.array([float(s) if (s != "" and k) else np.nan for s, k in zip(col, ok)], np.float32)
    return vals, ok


def _multi(col: np.ndarray, mv: MultiValued, missing: frozenset) -> np.ndarray:
    out = np.full((len(col), mv.slots), "", dtype=object)
    for i, s in enumerate(col):
        for k, t in enumerate(mv.tokens(s, missing)):
            out[i, k] = t
    return out


def _decode(df, line_nos: np.ndarray, path: str, schema: TableSchema, bad_rows: str, report: BadRowReport):
    """Validate and decode one chunk (rows at file lines `line_nos`): (label [n], dense [n, d],
    categorical [n, s]) numpy arrays."""
    short = df[list(schema.columns)].isna().any(axis=1).values  # Parquet nulls in the label etc. only
    df = df.fillna("")
    missing = frozenset(schema.missing_values)
    if missing:  # missing tokens ("?", "NA", ...) become "" in feature columns (the label keeps its value)
        features = [c for c in schema.columns if c != schema.label]
        df = df.copy()
        df[features] = df[features].where(~df[features].isin(missing), "")
    label, label_ok = _numbers(df[schema.label].values)
    label_ok &= (df[schema.label].values != "") & (np.nan_to_num(label, nan=-1) >= 0)
    dense_cols, bad_dense = [], np.zeros(len(df), bool)
    first_bad_dense = {}
    for c in schema.dense:
        vals, ok = _numbers(df[c].values)
        dense_cols.append(vals)
        for i in np.flatnonzero(~ok & ~bad_dense):
            first_bad_dense[i] = c
        bad_dense |= ~ok
    good = ~short & label_ok & ~bad_dense
    if not good.all():

        def problem(i: int) -> str:
            if short[i]:
                return f"{path}:{line_nos[i]}: too few fields (expected columns {list(schema.columns)})"
            if not label_ok[i]:
                return (f"{path}:{line_nos[i]}: field {schema.label}: {df[schema.label].values[i]!r} is not a "
                        f"non-negative number")
            c = first_bad_dense[i]
            return f"{path}:{line_nos[i]}: field {c}: {df[c].values[i]!r} is not a number"

        bad = np.flatnonzero(~good)
        if bad_rows == "error":
            raise BadRowError(problem(int(bad[0])))
        reasons = np.where(short, 1, np.where(~label_ok, 3, 2))   # REASONS codes, first failing check wins
        for i in bad:
            full = len(report.examples) >= report.max_examples
            report.add(REASONS[int(reasons[i])], 1, None if full else problem(int(i)))
    label = (label[good] > 0).astype(np.float32)
    n = int(good.sum())
    dense = np.stack(dense_cols, 1)[good] if dense_cols else np.zeros((n, 0), np.float32)
    parts = [df[c].values[good].astype(object)[:, None] for c in schema.categorical]
    parts += [_multi(df[m.name].values[good], m, missing) for m in schema.multi_valued]
    cats = np.concatenate(parts, 1) if parts else np.zeros((n, 0), object)
    return label, dense, cats


def table_dataset(paths: Sequence[str], schema: TableSchema, spec: FeatureSpec, batch_size: int, *,
                  shuffle: bool = False, repeat: bool = False, bad_rows: str = "error",
                  report: BadRowReport | None = None, seed: int = 0, preprocess=None):
    """Stream raw (or, with `preprocess`, processed) batches from table files."""
    import tensorflow as tf   # here, so the chunk reader and row decoder serve `tfnas data inspect` without TF
    check_policy(bad_rows)
    report = report if report is not None else BadRowReport()
    if spec.num_dense != len(schema.dense) or spec.num_sparse != len(schema.sparse_names):
        raise ValueError(f"spec ({spec.num_dense} dense, {spec.num_sparse} sparse) does not match the table "
                         f"schema ({len(schema.dense)} dense, {len(schema.sparse_names)} sparse)")
    paths = [os.fspath(p) for p in paths]
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: no such file")
        if os.path.getsize(p):
            _check_columns(p, schema)
    chunk_rows = max(16 * batch_size, 4096)
    epoch = [0]

    def gen():
        rng = np.random.default_rng([seed, epoch[0]])
        epoch[0] += 1
        order = rng.permutation(len(paths)) if shuffle else range(len(paths))
        buf = None
        for k in order:
            path = paths[k]
            if os.path.getsize(path) == 0:
                if bad_rows == "error":
                    raise BadRowError(f"{path}: file is empty")
                report.add("empty_file", 1, f"empty_file: {path}")
                continue
            for df, line_nos in _chunks(path, schema, chunk_rows, bad_rows, report):
                part = _decode(df, line_nos, path, schema, bad_rows, report)
                if shuffle:
                    perm = rng.permutation(len(part[0]))
                    part = tuple(a[perm] for a in part)
                buf = part if buf is None else tuple(np.concatenate([a, b]) for a, b in zip(buf, part))
                while len(buf[0]) >= batch_size:
                    yield tuple(a[:batch_size] for a in buf)
                    buf = tuple(a[batch_size:] for a in buf)
        if buf is not None and len(buf[0]):
            yield buf

    sig = (tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, spec.num_dense], tf.float32),
           tf.TensorSpec([None, spec.num_sparse], tf.string))
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(lambda y, d, c: {"label": y, "dense": d, "categorical": c})
    if preprocess is not None:
        ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
