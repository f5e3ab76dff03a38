"""The feature contract shared by every CTR reader, preprocessor and model.

Readers yield *raw* batches; a preprocessing layer turns them into *processed* batches that every
ranking network consumes.  Keeping both forms explicit lets an exported model take raw features.

raw batch:       {"dense": float32 [B, n_dense] (NaN = missing), "categorical": string [B, n_sparse]
                  ("" = missing)}, plus "label": float32 [B] when labelled.
processed batch: {"dense": float32 [B, n_dense], "sparse": int64 [B, n_sparse] with
                  0 <= sparse[:, j] < vocab_sizes[j]}, plus "label": float32 [B].
"""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """Names and capped table sizes of a CTR data set's features."""

    dense_names: tuple[str, ...]
    sparse_names: tuple[str, ...]
    vocab_sizes: tuple[int, ...]
    label_name: str = "label"
    # how the preprocessor encodes dense values (dense_encoding.py); edges only for "quantile"
    dense_encoding: str = "log1p"
    dense_edges: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "dense_names", tuple(self.dense_names))
        object.__setattr__(self, "sparse_names", tuple(self.sparse_names))
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in self.vocab_sizes))
        if len(self.vocab_sizes) != len(self.sparse_names):
            raise ValueError(
                f"FeatureSpec: {len(self.sparse_names)} sparse features but "
                f"{len(self.vocab_sizes)} vocab sizes")
        object.__setattr__(self, "dense_edges", tuple(tuple(float(v) for v in e) for e in self.dense_edges))
        if self.dense_encoding == "quantile" and len(self.dense_edges) != len(self.dense_names):
            raise ValueError(f"FeatureSpec: quantile encoding needs edges for {len(self.dense_names)} dense "
                             f"features, got {len(self.dense_edges)}")
        bad = [n for n, v in zip(self.sparse_names, self.vocab_sizes) if v < 2]
        if bad:
            raise ValueError(f"FeatureSpec: vocab size must be >= 2 for {bad}")

    @property
    def num_dense(self) -> int:
        return len(self.dense_names)

    @property
    def num_sparse(self) -> int:
        return len(self.sparse_names)

    def with_cap(self, cap: int) -> FeatureSpec:
        """The same features with every table capped at `cap` rows (NASRec caps tables while searching)."""
        return dataclasses.replace(self, vocab_sizes=tuple(min(v, cap) for v in self.vocab_sizes))

    def to_dict(self) -> dict:
        """Plain dict; the dense-encoding keys only when not the default log1p (spec.json files stay as they were)."""
        d = dataclasses.asdict(self)
        if self.dense_encoding == "log1p":
            d.pop("dense_encoding")
            d.pop("dense_edges")
        else:
            d["dense_edges"] = [list(e) for e in self.dense_edges]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def uniform(cls, num_dense: int, num_sparse: int, vocab_size: int,
                dense_prefix: str = "I", sparse_prefix: str = "C") -> FeatureSpec:
        """Features named I1..In / C1..Cm with one table size for all (Criteo's naming)."""
        return cls(tuple(f"{dense_prefix}{i + 1}" for i in range(num_dense)),
                   tuple(f"{sparse_prefix}{i + 1}" for i in range(num_sparse)),
                   (vocab_size,) * num_sparse)


def criteo_spec(vocab_size: int = 500_000) -> FeatureSpec:
    """Criteo Kaggle/Terabyte: 13 integer features, 26 categorical, capped hash tables."""
    return FeatureSpec.uniform(13, 26, vocab_size)


def check_names(names: Sequence[str], what: str) -> None:
    """Raise a clear error if feature names repeat."""
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate {what} feature name {n!r}")
        seen.add(n)


def _write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed into place (never half-written)."""
    import os
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_spec(data_dir, spec: FeatureSpec, info: dict | None = None) -> None:
    """Write `data_dir/spec.json` (and `dataset.json` with format, row counts, ... when `info` is given),
    each atomically."""
    import os
    data_dir = os.fspath(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    _write_atomic(os.path.join(data_dir, "spec.json"), spec.to_json() + "\n")
    if info is not None:
        _write_atomic(os.path.join(data_dir, "dataset.json"), json.dumps(info, indent=1) + "\n")
