"""Feature processing shared by every CTR data set: raw batch -> processed batch (see `schema.py`).

Follows NASRec's `VanillaTransform*` (facebookresearch/NasRec, nasrec/utils/data_pipes.py): dense values become
log(1 + max(x, 0)); categorical ids are folded into a capped table with slot 0 kept for "missing"
(NASRec: `x.fmod(num_embeddings - 1) + 1`, missing -> 0).  A spec with dense_encoding "quantile" maps dense
values through its training-split quantile edges instead (dense_encoding.py).  We hash strings instead of
parsing hex so any format (hex, decimal, free text) works, and salt the hash with the field so that equal
strings in different fields land in unrelated buckets.
"""
from __future__ import annotations

import hashlib

import tensorflow as tf

from pipelines.ctr.dense_encoding import quantile_transform
from pipelines.ctr.schema import FeatureSpec

# Fingerprint64 is folded into this many buckets first, then reduced per field to its own table size.
_WIDE_BUCKETS = 2 ** 62
MISSING_BUCKET = 0


def field_salt(name: str) -> int:
    """A stable 62-bit salt per field name (blake2b), XOR-ed into the string fingerprint."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little") & (
        _WIDE_BUCKETS - 1)


def hash_categorical(strings: tf.Tensor, vocab_sizes, salts) -> tf.Tensor:
    """Hash a string matrix [B, n] into int64 ids with column j in [0, vocab_sizes[j]); "" -> MISSING_BUCKET.

    Non-empty strings land in 1..vocab_sizes[j]-1, like NASRec's fmod(n - 1) + 1 folding.  `salts` are
    per-column 62-bit ints XOR-ed into Fingerprint64 (cheaper than joining a prefix string, same effect:
    equal strings in different fields get unrelated buckets).
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    wide = tf.strings.to_hash_bucket_fast(strings, _WIDE_BUCKETS)
    wide = tf.bitwise.bitwise_xor(wide, tf.constant([int(s) for s in salts], tf.int64))
    sizes = tf.constant([int(v) - 1 for v in vocab_sizes], tf.int64)
    ids = tf.math.floormod(wide, sizes) + 1
    return tf.where(tf.equal(strings, ""), tf.constant(MISSING_BUCKET, tf.int64), ids)


def transform_dense(dense: tf.Tensor) -> tf.Tensor:
    """NaN -> 0, negatives clamped to 0, then log(1 + x) (NASRec's dense transform)."""
    dense = tf.cast(dense, tf.float32)
    dense = tf.where(tf.math.is_nan(dense), tf.zeros_like(dense), dense)
    return tf.math.log1p(tf.maximum(dense, 0.0))


def encode_dense(dense: tf.Tensor, spec: FeatureSpec) -> tf.Tensor:
    """Raw dense [B, n] -> processed, by the spec's dense encoding (log1p, or its quantile edges)."""
    if spec.dense_encoding == "quantile":
        return quantile_transform(dense, spec.dense_edges)
    return transform_dense(dense)


class CTRPreprocessor(tf.keras.layers.Layer):
    """Keras layer turning a raw CTR batch {"dense", "categorical"[, "label"]} into a processed one
    {"dense", "sparse"[, "label"]}; stateless, so it can sit in front of an exported model."""

    def __init__(self, spec: FeatureSpec | dict, **kw):
        super().__init__(**kw)
        self.spec = spec if isinstance(spec, FeatureSpec) else FeatureSpec.from_dict(spec)
        self._salts = tuple(field_salt(name) for name in self.spec.sparse_names)

    def call(self, raw: dict) -> dict:
        out = {}
        if self.spec.num_dense:
            out["dense"] = encode_dense(raw["dense"], self.spec)
        else:
            batch = tf.shape(raw["categorical"])[0]
            out["dense"] = tf.zeros([batch, 0], tf.float32)
        if self.spec.num_sparse:
            out["sparse"] = hash_categorical(raw["categorical"], self.spec.vocab_sizes, self._salts)
        else:
            batch = tf.shape(raw["dense"])[0]
            out["sparse"] = tf.zeros([batch, 0], tf.int64)
        if "label" in raw:
            out["label"] = tf.cast(raw["label"], tf.float32)
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config["spec"] = self.spec.to_dict()
        return config

    @classmethod
    def from_config(cls, config: dict) -> CTRPreprocessor:
        config = dict(config)
        spec = FeatureSpec.from_dict(config.pop("spec"))
        return cls(spec, **config)
