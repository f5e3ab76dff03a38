"""Avazu CTR reader: the Kaggle CSV with header (id, click, hour, C1, banner_pos, site_*, app_*, device_*,
C14-C21), or the tab-separated file NASRec's split tool writes from it.

NASRec (facebookresearch/NasRec, nasrec/tools/autoctr_split_data_avazu.py, nasrec/utils/data_pipes.py) keeps
all 23 non-label columns (id and hour included) as categorical features, adds one constant pseudo-dense
feature (its model expects a dense input; the transform feeds zeros), and folds ids into capped tables
(sizes from its config.py; "ID is trivial" gets 10,000 rows).  We follow that layout.
"""
from __future__ import annotations

from pipelines.ctr.lineformat import LineFormat
from pipelines.ctr.schema import FeatureSpec

COLUMNS = ("id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id",
           "app_domain", "app_category", "device_id", "device_ip", "device_model", "device_type",
           "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21")
SPARSE_NAMES = tuple(c for c in COLUMNS if c != "click")
DENSE_NAMES = ("pseudo_dense",)
# NASRec config.py NUM_EMBEDDINGS_AVAZU, in SPARSE_NAMES order.
TABLE_SIZES = (10000, 241, 8, 8, 4738, 7746, 27, 8553, 560, 37, 2686409, 6729487, 8252, 6, 5, 2627, 9, 10,
               436, 5, 69, 173, 61)


def default_spec(cap: int = 500_000) -> FeatureSpec:
    """Avazu's 23 categorical fields (NASRec table sizes capped at `cap`) plus one pseudo-dense zero."""
    return FeatureSpec(DENSE_NAMES, SPARSE_NAMES, tuple(min(v, cap) for v in TABLE_SIZES))


def _first_line(path: str) -> str:
    from pipelines.ctr.compressed import open_text
    with open_text(path) as f:   # gzip/bz2 too
        return f.readline().rstrip("\r\n")


def line_format(spec: FeatureSpec, paths=()) -> LineFormat:
    """Raw Kaggle CSV if the first file starts with Avazu's header, else NASRec's prepared TSV
    (label, pseudo dense, 23 categorical)."""
    if spec.num_sparse != len(SPARSE_NAMES) or spec.num_dense != 1:
        raise ValueError(f"avazu: spec must have 1 dense and {len(SPARSE_NAMES)} sparse features, "
                         f"got {spec.num_dense} and {spec.num_sparse}")
    first = next((_first_line(p) for p in paths if _open_nonempty(p)), None)
    if first is not None and first.startswith("id,"):
        for p in paths:
            if not _open_nonempty(p):
                continue
            header = tuple(_first_line(p).split(","))
            if header != COLUMNS:
                missing = [c for c in COLUMNS if c not in header]
                raise ValueError(f"{p}:1: Avazu header mismatch; expected {len(COLUMNS)} columns "
                                 f"{','.join(COLUMNS)}; missing {missing}, got {len(header)} columns")
        return LineFormat(name="avazu", delimiter=",", n_fields=len(COLUMNS), label_col=1, dense_cols=(),
                          cat_cols=tuple(i for i, c in enumerate(COLUMNS) if c != "click"),
                          field_names=COLUMNS, header=True, pseudo_dense=1)
    names = ("label", "pseudo_dense") + SPARSE_NAMES
    return LineFormat(name="avazu", delimiter="\t", n_fields=len(names), label_col=0, dense_cols=(1,),
                      cat_cols=tuple(range(2, len(names))), field_names=names)


def _open_nonempty(path: str) -> bool:
    import os
    return os.path.exists(path) and os.path.getsize(path) > 0
