"""Criteo Kaggle / Terabyte reader: label, 13 integer, 26 hex categorical fields, tab separated, empty = missing.

NASRec (facebookresearch/NasRec, nasrec/torchrec/criteo.py and nasrec/utils/data_pipes.py) reads the same
layout, takes log(1 + max(x, 0)) of the 13 integers and folds the 26 ids into per-field tables; the table
sizes below are the per-field cardinalities listed in its nasrec/utils/config.py, capped for search.
"""
from __future__ import annotations

from pipelines.ctr.lineformat import LineFormat
from pipelines.ctr.schema import FeatureSpec

NUM_DENSE = 13
NUM_SPARSE = 26
DENSE_NAMES = tuple(f"I{i + 1}" for i in range(NUM_DENSE))
SPARSE_NAMES = tuple(f"C{i + 1}" for i in range(NUM_SPARSE))
# Distinct values per categorical field of Criteo Kaggle (NASRec config.py, NUM_EMBEDDINGS_CRITEO).
CARDINALITIES = (1461, 584, 10131227, 2202609, 306, 25, 12518, 634, 4, 93146, 5684, 8351593, 3195, 28,
                 14993, 5461307, 11, 5653, 2174, 5, 7046548, 19, 16, 286182, 106, 142573)


def default_spec(cap: int = 500_000) -> FeatureSpec:
    """Criteo's features with NASRec's per-field table sizes, each capped at `cap` (NASRec searches at 0.5M)."""
    return FeatureSpec(DENSE_NAMES, SPARSE_NAMES, tuple(min(c + 1, cap) for c in CARDINALITIES))


def tsv_format(name: str, n_dense: int, n_sparse: int, dense_names=None, sparse_names=None,
               label_kind: str = "binary") -> LineFormat:
    """Criteo-like TSV layout: label, n_dense numbers, n_sparse categorical strings."""
    dense_names = tuple(dense_names or (f"I{i + 1}" for i in range(n_dense)))
    sparse_names = tuple(sparse_names or (f"C{i + 1}" for i in range(n_sparse)))
    return LineFormat(
        name=name, delimiter="\t", n_fields=1 + n_dense + n_sparse, label_col=0,
        dense_cols=tuple(range(1, 1 + n_dense)), cat_cols=tuple(range(1 + n_dense, 1 + n_dense + n_sparse)),
        field_names=("label",) + dense_names + sparse_names, label_kind=label_kind)


def line_format(spec: FeatureSpec, paths=None) -> LineFormat:
    """The Criteo layout; also any Criteo-like TSV whose counts match `spec` (e.g. the synthetic data)."""
    return tsv_format("criteo", spec.num_dense, spec.num_sparse, spec.dense_names, spec.sparse_names)
