"""The public line formats (Criteo, Avazu, KDD12): default specs and row layouts, without TensorFlow.

`tfnas data split` validates rows with these layouts; the tf.data readers (`dataset.py`) use the same ones.
"""
from __future__ import annotations

from pipelines.ctr import avazu, criteo, kdd12
from pipelines.ctr.lineformat import LineFormat
from pipelines.ctr.schema import FeatureSpec

LINE_MODULES = {"criteo": criteo, "avazu": avazu, "kdd12": kdd12}


def default_spec(fmt: str, cap: int = 500_000) -> FeatureSpec:
    """The standard FeatureSpec of a public format (NASRec table sizes capped at `cap`)."""
    if fmt not in LINE_MODULES:
        raise ValueError(f"no default spec for format {fmt!r}; use one of {sorted(LINE_MODULES)} "
                         "or declare a TableSchema")
    return LINE_MODULES[fmt].default_spec(cap)


def check_format(fmt: str, spec: FeatureSpec, paths=()) -> LineFormat:
    """The row layout of `fmt` for checking lines (no TF transforms), detected from the first of `paths`."""
    if fmt == "kdd12":
        return kdd12.line_format(spec, list(paths), with_transform=False)
    return LINE_MODULES[fmt].line_format(spec, list(paths))
