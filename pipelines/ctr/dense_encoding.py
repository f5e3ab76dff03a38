"""Dense-feature encodings beyond NASRec's log1p: a quantile transform fitted on the training split.

"quantile": each dense value becomes its empirical CDF on the training split, piecewise-linear between
`bins + 1` quantile edges (0 at or below the lowest edge, 1 at or above the highest), so a heavy-tailed weight
or a zero-inflated amount lands in [0, 1] spread by rank.  The edges live in the FeatureSpec, so run.json, the
exported SavedModel (feature_spec.json and the serving graph) and a reload all use the same ones.  We chose
a sample of up to `max_rows` training rows (first rows of the train split; NaN counts as 0, like log1p's
missing value) and de-duplicated edges; a column with one distinct value encodes to 0.
"""
from __future__ import annotations

import dataclasses

import numpy as np

DENSE_ENCODINGS = ("log1p", "quantile")
DEFAULT_BINS = 32
DEFAULT_SAMPLE_ROWS = 100_000


def check_encoding(encoding: str, bins: int = DEFAULT_BINS) -> None:
    """Raise a clear ValueError for an unknown encoding or a bin count below 2."""
    if encoding not in DENSE_ENCODINGS:
        raise ValueError(f"dense encoding {encoding!r}: expected one of {', '.join(DENSE_ENCODINGS)}")
    if int(bins) < 2:
        raise ValueError(f"dense encoding bins must be >= 2, got {bins}")


def fit_edges(dense: np.ndarray, bins: int = DEFAULT_BINS) -> tuple[tuple[float, ...], ...]:
    """Per column, the sorted distinct quantiles at 0, 1/bins, ..., 1 of `dense` [rows, n] (NaN -> 0)."""
    check_encoding("quantile", bins)
    dense = np.nan_to_num(np.asarray(dense, np.float64), nan=0.0)
    if dense.ndim != 2 or dense.shape[0] == 0:
        raise ValueError(f"fit_edges: need a non-empty [rows, n] matrix, got shape {dense.shape}")
    qs = np.quantile(dense, np.linspace(0.0, 1.0, int(bins) + 1), axis=0)        # [bins + 1, n]
    return tuple(tuple(float(v) for v in np.unique(qs[:, j].astype(np.float32))) for j in range(dense.shape[1]))


def quantile_transform(dense, edges):
    """TF: raw dense [B, n] (NaN = missing) -> piecewise-linear empirical CDF [B, n] in [0, 1] (module doc)."""
    import tensorflow as tf
    dense = tf.cast(dense, tf.float32)
    dense = tf.where(tf.math.is_nan(dense), tf.zeros_like(dense), dense)
    columns = []
    for j, col_edges in enumerate(edges):
        x = dense[:, j]
        if len(col_edges) < 2:
            columns.append(tf.zeros_like(x))
            continue
        e = tf.constant(col_edges, tf.float32)
        k = len(col_edges)
        i = tf.clip_by_value(tf.searchsorted(e[None, :], x[None, :], side="right")[0], 1, k - 1)
        lo, hi = tf.gather(e, i - 1), tf.gather(e, i)
        frac = tf.clip_by_value((x - lo) / (hi - lo), 0.0, 1.0)
        columns.append((tf.cast(i - 1, tf.float32) + frac) / float(k - 1))
    return tf.stack(columns, axis=1)


def fit_spec(data_dir: str, spec, encoding: str, bins: int = DEFAULT_BINS, max_rows: int = DEFAULT_SAMPLE_ROWS,
             **read_kw):
    """`spec` with `encoding` and, for "quantile", edges fitted on the train split of `data_dir`.

    read_kw go to make_split_dataset (bad_rows, report).  log1p returns `spec` unchanged.
    """
    check_encoding(encoding, bins)
    if encoding == "log1p" or not spec.num_dense:
        return dataclasses.replace(spec, dense_encoding=encoding, dense_edges=())
    from pipelines.ctr.dataset import make_split_dataset
    chunks, seen = [], 0
    for batch in make_split_dataset(data_dir, "train", 8192, spec=spec, processed=False, **read_kw):
        chunks.append(batch["dense"].numpy())
        seen += len(chunks[-1])
        if seen >= max_rows:
            break
    if not chunks:
        raise ValueError(f"{data_dir}: the train split has no rows to fit quantile edges on")
    edges = fit_edges(np.concatenate(chunks)[:max_rows], bins)
    return dataclasses.replace(spec, dense_encoding=encoding, dense_edges=edges)
