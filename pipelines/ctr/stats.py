"""One streaming pass of summary statistics over CTR files: rows, CTR, missing rate, approximate distinct
values per field (k-minimum-values sketch) and the first rows, for `tfnas data inspect`.

TensorFlow-free: text files are read by the row reader `tfnas data split` uses (`split._Reader`: the same
row checks, bad-row policy and file:line messages), Parquet tables by the table reader's pyarrow chunks; the
rows are decoded here as the tf.data readers decode them (missing tokens -> missing, multi-valued columns
-> slots).  A raw KDD12 training.txt's Gender/Age are joined from userid_profile.txt only when training, so
they are listed as not in the file.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

from pipelines.ctr.badrows import BadRowReport, check_policy
from pipelines.ctr.schema import FeatureSpec
from pipelines.ctr.split import _Reader, apply_bad_row_policy
from pipelines.ctr.table_schema import split_row

_SPACE = float(2 ** 62)


class KMV:
    """k-minimum-values distinct counter over 62-bit hashes: exact below k distinct, ~1/sqrt(k) error above."""

    def __init__(self, k: int = 4096):
        self.k = k
        self.mins = np.empty(0, np.int64)

    def add(self, hashes: np.ndarray) -> None:
        self.mins = np.unique(np.concatenate([self.mins, np.asarray(hashes, np.int64)]))[: self.k]

    def estimate(self) -> float:
        if len(self.mins) < self.k:
            return float(len(self.mins))
        return (self.k - 1) * _SPACE / float(self.mins[-1] + 1)


def _mix(bits: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 -> non-negative 62-bit int64 (hash of dense values)."""
    z = bits.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(2)).astype(np.int64)


def _hash_strings(values) -> np.ndarray:
    """Stable 62-bit hashes of distinct strings (blake2b; the same in every process)."""
    return np.array([int.from_bytes(hashlib.blake2b(v.encode("utf-8", "replace"), digest_size=8).digest(),
                                    "little") >> 2 for v in values], np.int64)


def _number(v: str) -> float:
    return float(v) if v != "" else np.nan


class _TextDecoder:
    """Kept text lines -> (label [n], dense [n, d] NaN = missing, categorical [n, s] "" = missing)."""

    def __init__(self, fmt: str, spec: FeatureSpec, table_schema, line_format, layout):
        self.fmt, self.delim = fmt, layout.delim
        if fmt == "table":
            names = split_row(layout.header.rstrip("\r\n"), layout.delim)
            index = table_schema.header_index(names, "header")
            self.missing = frozenset(table_schema.missing_values) | {""}
            self.label_col = index[table_schema.label]
            self.dense_cols = [index[c] for c in table_schema.dense]
            self.cat_cols = [index[c] for c in table_schema.categorical]
            self.multi = [(index[m.name], m) for m in table_schema.multi_valued]
            self.pseudo = 0
        else:
            self.missing = frozenset({""})
            self.label_col = line_format.label_col
            self.dense_cols, self.cat_cols = list(line_format.dense_cols), list(line_format.cat_cols)
            self.multi, self.pseudo = [], line_format.pseudo_dense
        self.n_sparse = len(self.cat_cols) + sum(m.slots for _, m in self.multi)
        self.width = 1 + max([self.label_col, *self.dense_cols, *self.cat_cols, *(c for c, _ in self.multi)])

    def __call__(self, lines):
        n = len(lines)
        label = np.zeros(n, np.float32)
        dense = np.zeros((n, len(self.dense_cols) + self.pseudo), np.float32)
        cats = np.full((n, self.n_sparse), "", dtype=object)
        miss = self.missing
        for i, line in enumerate(lines):
            text = line.rstrip("\r\n")
            f = split_row(text, self.delim) if self.fmt == "table" else text.split(self.delim)
            if len(f) < self.width:      # too few fields: trailing values empty, as the readers read them
                f += [""] * (self.width - len(f))
            label[i] = 1.0 if float(f[self.label_col]) > 0 else 0.0
            for j, c in enumerate(self.dense_cols):
                v = f[c]
                dense[i, j] = np.nan if v in miss else float(v)
            for j, c in enumerate(self.cat_cols):
                v = f[c]
                cats[i, j] = "" if v in miss else v
            j = len(self.cat_cols)
            for c, m in self.multi:
                v = f[c]
                for k, t in enumerate(m.tokens("" if v in miss else v, miss)):
                    cats[i, j + k] = t
                j += m.slots
        return label, dense, cats


def _text_batches(path, fmt, spec, table_schema, line_format, bad_rows, report):
    reader = _Reader(fmt, table_schema, line_format, None, None)
    decode = None
    for layout, lines, start, (keep, _, _, problems) in reader.read(path, bad_rows, report):
        apply_bad_row_policy(problems, path, start, bad_rows, report)
        decode = decode or _TextDecoder(fmt, spec, table_schema, line_format, layout)
        yield decode([line for line, k in zip(lines, keep) if k])


def _parquet_batches(path, table_schema, bad_rows, report):
    from pipelines.ctr.table import _chunks, _decode
    for df, line_nos in _chunks(path, table_schema, 1 << 16, bad_rows, report):
        yield _decode(df, line_nos, path, table_schema, bad_rows, report)


def inspect_files(paths, fmt: str, spec: FeatureSpec, *, max_rows: int | None = None, head: int = 5,
                  bad_rows: str = "error", table_schema=None, k: int = 4096) -> dict:
    """Stream the files once and summarise them (see module docstring)."""
    check_policy(bad_rows)
    report = BadRowReport()
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: no such file")
        if os.path.isdir(p):
            raise ValueError(f"{p}: is a directory, expected a file")
    if fmt == "table" and table_schema is None:
        raise ValueError("inspect: --format table needs --schema FILE (see `tfnas data infer-schema`) or --label")
    line_format = None
    if fmt != "table":
        from pipelines.ctr.formats import check_format
        line_format = check_format(fmt, spec, [p for p in paths if os.path.getsize(p)])
    n_cat = spec.num_sparse if line_format is None else len(line_format.cat_cols)
    rows, clicks = 0, 0.0
    miss_d, miss_c = np.zeros(spec.num_dense), np.zeros(n_cat)
    sums = np.zeros(spec.num_dense)
    lo, hi = np.full(spec.num_dense, np.inf), np.full(spec.num_dense, -np.inf)
    kmv_d = [KMV(k) for _ in range(spec.num_dense)]
    kmv_c = [KMV(k) for _ in range(n_cat)]
    first = []

    def batches():
        for path in paths:
            if fmt == "table" and table_schema.format_of(path) == "parquet":
                yield from _parquet_batches(path, table_schema, bad_rows, report)
            else:
                yield from _text_batches(path, fmt, spec, table_schema, line_format, bad_rows, report)

    for label, dense, cats in batches():
        if max_rows is not None and rows + len(label) > max_rows:
            keep = max_rows - rows
            label, dense, cats = label[:keep], dense[:keep], cats[:keep]
        for i in range(min(head - len(first), len(label))):
            first.append({"label": float(label[i]), "dense": [None if np.isnan(v) else float(v) for v in dense[i]],
                          "categorical": [str(c) for c in cats[i]]})
        rows += len(label)
        clicks += float(label.sum())
        nan = np.isnan(dense)
        miss_d += nan.sum(0)
        sums += np.where(nan, 0.0, dense.astype(np.float64)).sum(0)
        lo = np.minimum(lo, np.where(nan, np.inf, dense).min(0, initial=np.inf))
        hi = np.maximum(hi, np.where(nan, -np.inf, dense).max(0, initial=-np.inf))
        empty = cats == ""
        miss_c += empty.sum(0)
        for j in range(spec.num_dense):
            kmv_d[j].add(_mix(dense[~nan[:, j], j].astype(np.float64).view(np.uint64)))
        for j in range(n_cat):
            kmv_c[j].add(_hash_strings(set(cats[~empty[:, j], j].tolist())))
        if max_rows is not None and rows >= max_rows:
            break
    n = max(rows, 1)
    fields = []
    for j, name in enumerate(spec.dense_names):
        present = rows - miss_d[j]
        fields.append({"field": name, "kind": "dense", "missing": miss_d[j] / n, "distinct": kmv_d[j].estimate(),
                       "min": float(lo[j]) if present else None, "max": float(hi[j]) if present else None,
                       "mean": float(sums[j] / present) if present else None})
    for j, name in enumerate(spec.sparse_names):
        if j >= n_cat:   # raw KDD12 Gender/Age: joined from userid_profile.txt when read for training
            fields.append({"field": name, "kind": "categorical", "missing": None, "distinct": None,
                           "table": spec.vocab_sizes[j], "note": "joined from userid_profile.txt, not in the file"})
            continue
        fields.append({"field": name, "kind": "categorical", "missing": miss_c[j] / n,
                       "distinct": kmv_c[j].estimate(), "table": spec.vocab_sizes[j]})
    return {"rows": rows, "ctr": clicks / n if rows else None, "fields": fields, "head": first,
            "bad_rows": report.to_dict(), "bad_rows_summary": report.summary()}


def format_report(stats: dict) -> str:
    """A plain-text table of `inspect_files` output, then up to 5 skipped-row examples (file:line)."""
    ctr = "n/a" if stats["ctr"] is None else f"{stats['ctr']:.4f}"
    lines = [f"rows: {stats['rows']}   CTR: {ctr}   {stats['bad_rows_summary']}"]
    lines += [f"  skipped: {e}" for e in stats["bad_rows"]["examples"]]
    lines += ["", f"{'field':<18}{'kind':<13}{'missing':>9}{'distinct~':>12}  extra"]
    for f in stats["fields"]:
        if f["distinct"] is None:
            lines.append(f"{f['field']:<18}{f['kind']:<13}{'-':>9}{'-':>12}  {f['note']}")
            continue
        if f["kind"] == "dense":
            extra = ("min/mean/max = n/a" if f["min"] is None
                     else f"min/mean/max = {f['min']:.4g} / {f['mean']:.4g} / {f['max']:.4g}")
        else:
            extra = f"table {f['table']}"
        lines.append(f"{f['field']:<18}{f['kind']:<13}{f['missing']:>9.3f}{f['distinct']:>12.0f}  {extra}")
    lines += ["", "first rows:"]
    for r in stats["head"]:
        dense = ",".join("" if v is None else f"{v:g}" for v in r["dense"])
        lines.append(f"  label={r['label']:g} dense=[{dense}] cat={r['categorical'][:8]}"
                     + (" ..." if len(r["categorical"]) > 8 else ""))
    return "\n".join(lines)
