"""The `full+ext` space: NASRec-Full plus what the hand-made DeepFM and DCN-v2 baselines need (beyond the paper).

Named "full+ext" because it is the paper's NASRec-Full (`full`) extended: every `full` op and setting is
still there, so the search can still find any NASRec-Full candidate, and `small` / `full` stay exactly the
paper's spaces (same sampling draws, same choice layout, same functions).  What it adds, read off
pipelines/ctr/baselines/{deepfm,dcn}.py:

* dense op ``cross`` (binary; left = x0, right = x): DCN-v2's cross layer x0 * (W x + b) + x (tfrs
  ``Cross`` with full rank); a narrower operand is zero-padded to the wider, as ``sum`` does.
* dense op ``concat`` (unary; 0..4 dense inputs): the dense inputs and the flattened sparse input side by
  side, no weights -- how DeepFM / DCN-v2 / an MLP feed embeddings to dense layers.
* dense op ``fc_noln``: Linear(units) + ReLU, the baselines' MLP layer (``fc`` has a LayerNorm).
* input option ``dense_fields`` (node 0 attribute): output 0's sparse rows become [x_i v_i rows of the
  dense features; embedding rows] (DeepFM's dense fields, no bias).
* head options: the head edge's roles ``["dense"]`` reads only the last dense output (the baselines' logit
  layer; the paper's head reads ``["dense", "sparse"]``); head attribute ``fm`` adds DeepFM's FM logit
  0.5 * sum_k((sum_i v_ik)^2 - sum_i v_ik^2) over output 0's rows; head attribute ``linear`` adds the
  first-order logit w . dense + sum_f w_f[id_f] (no bias of its own: the head's bias covers it).

``cross`` and ``concat`` keep their input width, so their ``dense_width`` has no effect (the canonical key
drops it and mutation leaves it alone).  These ops are subnet-only: the weight-sharing supernet refuses the
kind (its dense outputs are padded to the largest dense width, which a concat of all embeddings exceeds).
"""
from __future__ import annotations

import dataclasses

import numpy as np

EXT_KIND = "full+ext"
EXT_DENSE_OPS = ("cross", "concat", "fc_noln")
WIDTH_FREE_OPS = ("cross", "concat")        # output width follows the inputs; dense_width has no effect
OPTIONAL_DENSE_IN_OPS = ("concat",)          # may read no dense input (only the flattened sparse one)
SPARSE_READING_DENSE_OPS = ("dot", "concat")  # dense ops that read the block's sparse input
INPUT_ATTRS = ("dense_fields",)
HEAD_ATTRS = ("fm", "linear")
HEAD_ROLES = (["dense", "sparse"], ["dense"])


@dataclasses.dataclass(frozen=True)
class ExtOptions:
    """The architecture-level settings of `full+ext` (defaults = the paper's input and head)."""

    dense_fields: bool = False   # output 0's sparse rows start with the dense features' x_i v_i rows
    head_sparse: bool = True     # the head reads the last block's flattened sparse output too
    head_fm: bool = False        # + FM logit of output 0's rows
    head_linear: bool = False    # + first-order logit of the raw features

    def as_tuple(self) -> tuple:
        return dataclasses.astuple(self)


PAPER_OPTIONS = ExtOptions()


def options_of(arch) -> ExtOptions:
    """The ExtOptions an Architecture carries (absent attributes = the paper's input and head)."""
    g = arch.graph
    n = arch.meta.get("num_blocks")
    roles = g.edges[n, "head"].get("roles") if n is not None and g.has_edge(n, "head") else None
    return ExtOptions(bool(g.nodes[0].get("dense_fields", False)), roles != ["dense"],
                      bool(g.nodes["head"].get("fm", False)), bool(g.nodes["head"].get("linear", False)))


def node_attrs(options: ExtOptions) -> tuple[dict, dict, list]:
    """(node 0 attributes, head attributes, head edge roles) that write `options` into an Architecture."""
    return ({"dense_fields": bool(options.dense_fields)},
            {"fm": bool(options.head_fm), "linear": bool(options.head_linear)},
            ["dense", "sparse"] if options.head_sparse else ["dense"])


def check_options(g, num_blocks: int, ext: bool, name: str) -> None:
    """Raise ValueError naming the node / field when node 0, the head or the head edge is outside the space.

    `full+ext` needs every option written out (one form per function); the paper's spaces refuse them."""
    roles = g.edges[num_blocks, "head"].get("roles")
    for node, attrs in ((0, INPUT_ATTRS), ("head", HEAD_ATTRS)):
        a = g.nodes[node]
        extra = set(a) - {"op"} - (set(attrs) if ext else set())
        if extra:
            why = "unknown" if ext or extra - set(attrs) else f"only in space kind {EXT_KIND!r}"
            raise ValueError(f"node {node!r}: attribute(s) {sorted(extra)} {why} ({name})")
        if ext:
            for field in attrs:
                if not isinstance(a.get(field), bool):
                    raise ValueError(f"node {node!r}: field {field!r} must be a bool, got {a.get(field)!r} "
                                     f"({name})")
    allowed = HEAD_ROLES if ext else HEAD_ROLES[:1]
    if roles not in allowed:
        raise ValueError(f"edge {num_blocks}->'head': roles must be one of {list(allowed)} in {name}, got {roles!r}")


def sample_options(rng: np.random.Generator) -> ExtOptions:
    """Uniform over the four flags (drawn after the blocks, so block draws match the paper's order)."""
    return ExtOptions(*(bool(rng.integers(2)) for _ in range(4)))


def mutate_options(options: ExtOptions, rng: np.random.Generator) -> ExtOptions:
    """Flip one of the four flags."""
    field = dataclasses.fields(ExtOptions)[int(rng.integers(4))].name
    return dataclasses.replace(options, **{field: not getattr(options, field)})
