"""KDD Cup 2012 track 2 reader, in NASRec's prepared layout or the raw `training.txt`.

NASRec (facebookresearch/NasRec, nasrec/tools/autoctr_split_data_kdd.py) joins training.txt with
userid_profile.txt (gender, age; "0","0" for unknown users), binarises Click (> 0 -> 1), keeps Impression,
Depth and Position as the 3 dense features (log(1 + x) in nasrec/utils/data_pipes.py) and DisplayURL, AdID,
AdvertiserID, QueryID, KeywordID, TitleID, DescriptionID, UserID, Gender, Age as 10 categorical features,
written as a tab-separated file: label, 3 dense, 10 categorical.  Both layouts are read here:
- prepared (14 fields): exactly NASRec's file;
- raw training.txt (12 fields: Click, Impression, DisplayURL, AdID, AdvertiserID, Depth, Position, QueryID,
  KeywordID, TitleID, DescriptionID, UserID); if `userid_profile.txt` sits next to it, Gender and Age are
  joined in TF lookup tables (unknown users -> "0", as NASRec), otherwise they are missing ("").
NASRec re-encodes ids as hex of (id mod 2^31-1); we hash the id strings directly, which keeps the same
distinct values (up to that modulus), so the two layouts give the same features up to bucket positions.
"""
from __future__ import annotations

import os

from pipelines.ctr.lineformat import LineFormat
from pipelines.ctr.schema import FeatureSpec

DENSE_NAMES = ("Impression", "Depth", "Position")
SPARSE_NAMES = ("DisplayURL", "AdID", "AdvertiserID", "QueryID", "KeywordID", "TitleID", "DescriptionID",
                "UserID", "Gender", "Age")
# NASRec config.py NUM_EMBEDDINGS_KDD, in SPARSE_NAMES order.
TABLE_SIZES = (26274, 641708, 14848, 22122011, 1188090, 3735797, 2934102, 20004011, 4, 8)
RAW_COLUMNS = ("Click", "Impression", "DisplayURL", "AdID", "AdvertiserID", "Depth", "Position", "QueryID",
               "KeywordID", "TitleID", "DescriptionID", "UserID")
PROFILE_FILE = "userid_profile.txt"


def default_spec(cap: int = 500_000) -> FeatureSpec:
    """KDD12's 3 dense and 10 categorical features with NASRec's table sizes capped at `cap`."""
    return FeatureSpec(DENSE_NAMES, SPARSE_NAMES, tuple(min(v, cap) for v in TABLE_SIZES))


def _n_fields(path: str) -> int | None:
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    from pipelines.ctr.compressed import open_text
    with open_text(path) as f:   # gzip/bz2 too
        return len(f.readline().rstrip("\r\n").split("\t"))


def _profile_join(profile_path: str):
    """TF transform appending Gender and Age looked up by UserID (last raw categorical column)."""
    import tensorflow as tf
    tables = []
    for value_index in (1, 2):
        init = tf.lookup.TextFileInitializer(profile_path, tf.string, 0, tf.string, value_index,
                                             delimiter="\t")
        tables.append(tf.lookup.StaticHashTable(init, default_value="0"))

    def transform(cats):
        user = cats[:, -1]
        return tf.concat([cats] + [t.lookup(user)[:, None] for t in tables], axis=1)

    return transform


def _blank_profile(cats):
    import tensorflow as tf
    blank = tf.fill([tf.shape(cats)[0], 2], "")
    return tf.concat([cats, blank], axis=1)


def line_format(spec: FeatureSpec, paths=(), with_transform: bool = True) -> LineFormat:
    """NASRec's prepared 14-field layout, or raw training.txt (12 fields) detected from the first file.

    with_transform=False leaves out the user-profile join (a TF lookup table), for row checks only."""
    if spec.num_dense != 3 or spec.num_sparse != 10:
        raise ValueError(f"kdd12: spec must have 3 dense and 10 sparse features, "
                         f"got {spec.num_dense} and {spec.num_sparse}")
    counts = [c for c in (_n_fields(p) for p in paths) if c is not None]
    if counts and counts[0] == len(RAW_COLUMNS):
        profile = os.path.join(os.path.dirname(os.path.abspath(paths[0])), PROFILE_FILE)
        join = (None if not with_transform else
                _profile_join(profile) if os.path.exists(profile) else _blank_profile)
        return LineFormat(name="kdd12", delimiter="\t", n_fields=len(RAW_COLUMNS), label_col=0,
                          dense_cols=(1, 5, 6), cat_cols=(2, 3, 4, 7, 8, 9, 10, 11), field_names=RAW_COLUMNS,
                          label_kind="count", cat_transform=join)
    names = ("label",) + DENSE_NAMES + SPARSE_NAMES
    return LineFormat(name="kdd12", delimiter="\t", n_fields=len(names), label_col=0, dense_cols=(1, 2, 3),
                      cat_cols=tuple(range(4, len(names))), field_names=names)
