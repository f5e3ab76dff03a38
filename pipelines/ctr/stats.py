"""One streaming pass of summary statistics over CTR files: rows, CTR, missing rate, approximate distinct
values per field (k-minimum-values sketch) and the first rows, for `tfnas data inspect`."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipelines.ctr.badrows import BadRowReport
from pipelines.ctr.dataset import make_dataset
from pipelines.ctr.schema import FeatureSpec

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


def inspect_files(paths, fmt: str, spec: FeatureSpec, *, max_rows: int | None = None, head: int = 5,
                  batch_size: int = 4096, bad_rows: str = "error", table_schema=None, k: int = 4096) -> dict:
    """Stream the files once and summarise them (see module docstring)."""
    report = BadRowReport()
    ds = make_dataset(paths, fmt, spec, batch_size, processed=False, bad_rows=bad_rows, report=report,
                      table_schema=table_schema)
    ds = ds.map(lambda b: dict(b, hash=tf.strings.to_hash_bucket_fast(b["categorical"], 2 ** 62)))
    rows = 0
    clicks = 0.0
    miss_d = np.zeros(spec.num_dense)
    miss_c = np.zeros(spec.num_sparse)
    sums = np.zeros(spec.num_dense)
    lo = np.full(spec.num_dense, np.inf)
    hi = np.full(spec.num_dense, -np.inf)
    kmv_d = [KMV(k) for _ in range(spec.num_dense)]
    kmv_c = [KMV(k) for _ in range(spec.num_sparse)]
    first = []
    for b in ds:
        label, dense = b["label"].numpy(), b["dense"].numpy()
        cats, hashes = b["categorical"].numpy(), b["hash"].numpy()
        if max_rows is not None and rows + len(label) > max_rows:
            keep = max_rows - rows
            label, dense, cats, hashes = label[:keep], dense[:keep], cats[:keep], hashes[:keep]
        if len(first) < head:
            for i in range(min(head - len(first), len(label))):
                first.append({"label": float(label[i]),
                              "dense": [None if np.isnan(v) else float(v) for v in dense[i]],
                              "categorical": [c.decode("utf-8", "replace") for c in cats[i]]})
        rows += len(label)
        clicks += float(label.sum())
        nan = np.isnan(dense)
        miss_d += nan.sum(0)
        filled = np.where(nan, 0.0, dense)
        sums += filled.sum(0)
        lo = np.minimum(lo, np.where(nan, np.inf, dense).min(0, initial=np.inf))
        hi = np.maximum(hi, np.where(nan, -np.inf, dense).max(0, initial=-np.inf))
        empty = cats == b""
        miss_c += empty.sum(0)
        for j in range(spec.num_dense):
            kmv_d[j].add(_mix(dense[~nan[:, j], j].astype(np.float64).view(np.uint64)))
        for j in range(spec.num_sparse):
            kmv_c[j].add(hashes[~empty[:, j], j])
        if max_rows is not None and rows >= max_rows:
            break
    n = max(rows, 1)
    fields = []
    for j, name in enumerate(spec.dense_names):
        present = rows - miss_d[j]
        fields.append({"field": name, "kind": "dense", "missing": miss_d[j] / n,
                       "distinct": kmv_d[j].estimate(),
                       "min": float(lo[j]) if present else None, "max": float(hi[j]) if present else None,
                       "mean": float(sums[j] / present) if present else None})
    for j, name in enumerate(spec.sparse_names):
        fields.append({"field": name, "kind": "categorical", "missing": miss_c[j] / n,
                       "distinct": kmv_c[j].estimate(), "table": spec.vocab_sizes[j]})
    return {"rows": rows, "ctr": clicks / n if rows else None, "fields": fields, "head": first,
            "bad_rows": report.to_dict(), "bad_rows_summary": report.summary()}


def format_report(stats: dict) -> str:
    """A plain-text table of `inspect_files` output."""
    ctr = "n/a" if stats["ctr"] is None else f"{stats['ctr']:.4f}"
    lines = [f"rows: {stats['rows']}   CTR: {ctr}   {stats['bad_rows_summary']}", "",
             f"{'field':<18}{'kind':<13}{'missing':>9}{'distinct~':>12}  extra"]
    for f in stats["fields"]:
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
