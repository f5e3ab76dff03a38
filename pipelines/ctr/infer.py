"""Guess an editable table schema from the first rows of a CSV/TSV click log (`tfnas data infer-schema`).

Rules (heuristics; the written schema is meant to be read and edited):
- delimiter: tab for .tsv, else the most frequent of `, \\t ; |` in the header line;
- missing tokens: "?", "NA", "N/A", "null", "NULL", "None", "NaN", "nan", "\\N" wherever they occur, and "-"
  or "none" in a column whose other values are all numbers;
- label: --label, else a column named label/click/clicked/is_click/target/y/converted, else the first
  column whose values are all 0/1 (both present);
- time columns (ISO 8601 dates, or numbers in a column named time/timestamp/ts/date/datetime) are left
  out of the features and reported, for `tfnas data split --by-time`;
- multi-valued: a text column where >= 20% of cells contain one of `| ; , : /` (not the delimiter);
  slots = the 95th percentile of tokens per cell (1..8);
- dense: all values numbers, unless the name is an id (id, user_id, userId, ...: categorical);
- categorical: the rest; a column with one distinct value is left out;
- vocab sizes: 2 x the distinct values seen (+1 for missing), at most `default_vocab_size`; when the
  sample did not reach the end of the file the sizes are lower bounds and say so in the notes.
"""
from __future__ import annotations

import collections
import csv
import os
import re

from pipelines.ctr.compressed import open_text, plain_name
from pipelines.ctr.split_keys import parse_time
from pipelines.ctr.table_schema import DEFAULT_VOCAB, NUMBER, MultiValued, SchemaError, TableSchema

STRONG_MISSING = ("?", "NA", "N/A", "null", "NULL", "None", "NaN", "nan", "\\N")
WEAK_MISSING = ("-", "none")
LABEL_NAMES = ("label", "click", "clicked", "is_click", "target", "y", "converted")
TIME_NAMES = ("time", "timestamp", "ts", "date", "datetime", "event_time")
MULTI_SEPS = ("|", ";", ",", ":", "/")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def sniff_delimiter(path: str, header: str) -> str:
    if plain_name(path).lower().endswith(".tsv"):
        return "\t"
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_sample(path: str, delimiter: str | None, max_rows: int):
    """(delimiter, header, rows as lists of str, reached end of file) from the first `max_rows` rows."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with open_text(path) as f:
            first = f.readline()
            if not first.strip():
                raise ValueError(f"{path}: file is empty (expected a header line)")
            delim = delimiter or sniff_delimiter(path, first)
            header = next(csv.reader([first.rstrip("\r\n")], delimiter=delim))
            rows, complete = [], True
            for row in csv.reader(f, delimiter=delim):
                if len(rows) >= max_rows:
                    complete = False
                    break
                if row:
                    rows.append(row)
    except (OSError, EOFError, UnicodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    if len(set(header)) != len(header):
        dup = sorted(c for c, n in collections.Counter(header).items() if n > 1)
        raise ValueError(f"{path}:1: duplicate column names {dup}")
    return delim, header, rows, complete


def _is_number(v: str) -> bool:
    return bool(NUMBER.fullmatch(v))


def infer_schema(path: str, label: str | None = None, delimiter: str | None = None, max_rows: int = 100_000,
                 default_vocab_size: int = DEFAULT_VOCAB) -> tuple[TableSchema, list[str]]:
    """(schema, notes) for the table at `path`: one note per column saying what it was taken for and why."""
    delim, header, rows, complete = read_sample(path, delimiter, max_rows)
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    columns = {name: [r[i] if i < len(r) else "" for r in rows] for i, name in enumerate(header)}
    missing = set()
    for values in columns.values():
        present = set(values)
        missing |= present & set(STRONG_MISSING)
        weak = present & set(WEAK_MISSING)
        if weak and all(_is_number(v) for v in present - weak - set(STRONG_MISSING) - {""}):
            missing |= weak
    gone = missing | {""}
    label = label or _guess_label(columns, gone, path)
    if label not in columns:
        raise ValueError(f"{path}:1: --label {label!r} is not a column (header: {header})")
    dense, cats, multi, notes, sizes = [], [], [], [f"{label}: label"], {}
    for name, values in columns.items():
        if name == label:
            continue
        vals = [v for v in values if v not in gone]
        distinct = set(vals)
        if len(distinct) <= 1:
            notes.append(f"{name}: left out (constant{' ' + repr(next(iter(distinct))) if distinct else ''})")
            continue
        if _is_time(name, vals):
            notes.append(f"{name}: left out (a time column; split on it with --by-time {name})")
            continue
        numeric = all(_is_number(v) for v in vals)
        if numeric and not _is_id_name(name):
            dense.append(name)
            notes.append(f"{name}: dense (numbers)")
            continue
        sep = None if numeric else _multi_sep(vals, delim)
        if sep is not None:
            counts = sorted(len([t for t in v.split(sep) if t]) for v in vals)
            slots = max(1, min(8, counts[int(0.95 * (len(counts) - 1))]))
            multi.append(MultiValued(name, sep, slots))
            tokens = {t for v in vals for t in v.split(sep) if t}
            sizes[name] = _size(len(tokens), default_vocab_size)
            notes.append(f"{name}: multi-valued, separator {sep!r}, {slots} slots ({len(tokens)} distinct tokens)")
            continue
        cats.append(name)
        sizes[name] = _size(len(distinct), default_vocab_size)
        why = "ids" if numeric else "text"
        notes.append(f"{name}: categorical ({why}, {len(distinct)} distinct)")
    if not complete:
        notes.append(f"vocab sizes are from the first {max_rows} rows only: raise them if the file has more values")
    if missing:
        notes.append(f"missing tokens: {sorted(missing)}")
    schema = TableSchema(label, tuple(dense), tuple(cats), tuple(multi), delimiter=delim,
                         vocab_sizes=sizes, default_vocab_size=default_vocab_size,
                         missing_values=tuple(sorted(missing)))
    if not schema.dense and not schema.sparse_names:
        raise SchemaError(f"{path}: no feature columns found besides the label {label!r}")
    return schema, notes


def _is_id_name(name: str) -> bool:
    """id, user_id, user id, user-id, userId, movieId."""
    return name.lower() == "id" or name.lower().endswith(("_id", " id", "-id")) or name.endswith("Id")


def _guess_label(columns: dict, gone: set, path: str) -> str:
    by_name = {n.lower(): n for n in columns}
    for want in LABEL_NAMES:
        if want in by_name:
            return by_name[want]
    for name, values in columns.items():
        if {v for v in values if v not in gone} == {"0", "1"}:
            return name
    raise ValueError(f"{path}: cannot guess the label column (no column named {'/'.join(LABEL_NAMES)} and no "
                     "0/1 column); pass --label COLUMN")


def _is_time(name: str, vals: list[str]) -> bool:
    sample = vals[:1000]
    if all(_ISO.fullmatch(v.strip()) for v in sample):
        return True
    return name.lower() in TIME_NAMES and all(parse_time(v) == parse_time(v) for v in sample)


def _multi_sep(vals: list[str], delim: str) -> str | None:
    best, best_share = None, 0.2
    for sep in MULTI_SEPS:
        if sep == delim:
            continue
        share = sum(sep in v for v in vals) / len(vals)
        if share >= best_share:
            best, best_share = sep, share
    return best


def _size(distinct: int, cap: int) -> int:
    return int(max(2, min(cap, 2 * distinct + 1)))
