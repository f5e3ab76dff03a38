"""The NASRec config table, `BlockSpec` (one block's choices), the Architecture <-> BlockSpec conversions and
the supernet's choice-array layout (`ChoiceLayout`); the Architecture form is described in
tfnas/nasrec/space.py, which re-exports every name here.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from tfnas.graph import Architecture
from tfnas.nasrec import ext
from tfnas.nasrec.ext import EXT_DENSE_OPS, EXT_KIND, ExtOptions

# ------------------------------------------------------------------------------------------ config table
DENSE_OPS = ("fc", "dot", "gating", "sum")       # supernet order; index = position in the choice array
SPARSE_OPS = ("efc", "attn")
UNARY_DENSE_OPS = ("fc", "dot", "concat", "fc_noln")   # read the (concatenated) dense input
BINARY_DENSE_OPS = ("gating", "sum", "cross")           # read one left and one right earlier output
ROLES = ("dense", "sparse", "left", "right")

SPACES = {
    # facebookresearch/NasRec ops_config_lib: "autoctr" (NASRec-Small) and "xlarge" (NASRec-Full).
    "small": {"dense_ops": ("fc", "dot"), "sparse_ops": ("efc",)},
    "full": {"dense_ops": ("fc", "dot", "gating", "sum"), "sparse_ops": ("efc", "attn")},
    # beyond the paper: `full` + what DeepFM / DCN-v2 need (tfnas/nasrec/ext.py); subnet-only
    EXT_KIND: {"dense_ops": ("fc", "dot", "gating", "sum") + EXT_DENSE_OPS, "sparse_ops": ("efc", "attn")},
}
DENSE_WIDTHS = (16, 32, 64, 128, 256, 512, 768, 1024)
SPARSE_WIDTHS = (16, 32, 48, 64)
EMBEDDING_DIM = 16
MERGE_ROWS = 8               # dense->sparse merge adds 8 rows of EMBEDDING_DIM (reference: 8 splits x 16)
MAX_INPUTS = 4               # at most 4 earlier outputs per dense / sparse input
HEAD = "head"


def dot_rows(width: int) -> int:
    """Operator balancing: sparse rows a Dot-Product of dense width `width` interacts, round(sqrt(2 width)),
    so that its k (k + 1) / 2 pairwise dots are about `width` values."""
    return int(round(math.sqrt(2 * width)))


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One block's choices: ops, widths, flags and which earlier outputs feed each input."""

    dense_op: str
    sparse_op: str
    dense_width: int
    sparse_width: int
    merge: bool
    fm: bool
    dense_in: tuple = ()     # sorted earlier output ids (unary dense ops only)
    sparse_in: tuple = ()    # sorted earlier output ids
    left: int | None = None  # binary dense ops only
    right: int | None = None

    @property
    def out_rows(self) -> int:
        """Embedding rows of this block's sparse output (op rows plus the merged rows)."""
        return self.sparse_width + (MERGE_ROWS if self.merge else 0)


# ------------------------------------------------------------------------------------------ choice layout
@dataclasses.dataclass(frozen=True)
class ChoiceLayout:
    """Column layout of the supernet's int32 choice array [num_blocks, fields] (one row per block).

    Row b: dense_in mask over outputs 0..N-1, sparse_in mask, left, right, active dense ops (one flag per
    DENSE_OPS entry), active sparse ops, dense width, sparse width (actual values), merge, fm.
    """

    num_blocks: int

    @property
    def dense_in(self) -> slice:
        return slice(0, self.num_blocks)

    @property
    def sparse_in(self) -> slice:
        return slice(self.num_blocks, 2 * self.num_blocks)

    @property
    def left(self) -> int:
        return 2 * self.num_blocks

    @property
    def right(self) -> int:
        return 2 * self.num_blocks + 1

    @property
    def dense_ops(self) -> slice:
        s = 2 * self.num_blocks + 2
        return slice(s, s + len(DENSE_OPS))

    @property
    def sparse_ops(self) -> slice:
        s = 2 * self.num_blocks + 2 + len(DENSE_OPS)
        return slice(s, s + len(SPARSE_OPS))

    @property
    def dense_width(self) -> int:
        return 2 * self.num_blocks + 2 + len(DENSE_OPS) + len(SPARSE_OPS)

    @property
    def sparse_width(self) -> int:
        return self.dense_width + 1

    @property
    def merge(self) -> int:
        return self.dense_width + 2

    @property
    def fm(self) -> int:
        return self.dense_width + 3

    @property
    def fields(self) -> int:
        return self.dense_width + 4

    def encode_blocks(self, blocks: Sequence[BlockSpec]) -> np.ndarray:
        """BlockSpecs -> choice array (unused inputs encoded as zeros)."""
        if len(blocks) != self.num_blocks:
            raise ValueError(f"expected {self.num_blocks} blocks, got {len(blocks)}")
        c = np.zeros((self.num_blocks, self.fields), np.int32)
        for b, blk in enumerate(blocks):
            for j in blk.dense_in:
                c[b, self.dense_in.start + j] = 1
            for j in blk.sparse_in:
                c[b, self.sparse_in.start + j] = 1
            c[b, self.left] = blk.left or 0
            c[b, self.right] = blk.right or 0
            c[b, self.dense_ops.start + DENSE_OPS.index(blk.dense_op)] = 1
            c[b, self.sparse_ops.start + SPARSE_OPS.index(blk.sparse_op)] = 1
            c[b, self.dense_width] = blk.dense_width
            c[b, self.sparse_width] = blk.sparse_width
            c[b, self.merge] = int(blk.merge)
            c[b, self.fm] = int(blk.fm)
        return c

    def decode_blocks(self, choice: np.ndarray) -> list[BlockSpec]:
        """Choice array with exactly one active op per block -> canonical BlockSpecs."""
        choice = np.asarray(choice)
        if choice.shape != (self.num_blocks, self.fields):
            raise ValueError(f"choice shape {choice.shape} != {(self.num_blocks, self.fields)}")
        blocks = []
        for b in range(self.num_blocks):
            row = choice[b]
            d_ops = [DENSE_OPS[k] for k in np.flatnonzero(row[self.dense_ops])]
            s_ops = [SPARSE_OPS[k] for k in np.flatnonzero(row[self.sparse_ops])]
            if len(d_ops) != 1 or len(s_ops) != 1:
                raise ValueError(f"block {b + 1}: a candidate has one dense and one sparse op, "
                                 f"choice has {d_ops} / {s_ops}")
            unary = d_ops[0] in UNARY_DENSE_OPS
            dense_in = tuple(int(j) for j in np.flatnonzero(row[self.dense_in][:b + 1])) if unary else ()
            blocks.append(BlockSpec(
                d_ops[0], s_ops[0], int(row[self.dense_width]), int(row[self.sparse_width]),
                bool(row[self.merge]), bool(row[self.fm]), dense_in,
                tuple(int(j) for j in np.flatnonzero(row[self.sparse_in][:b + 1])),
                None if unary else int(row[self.left]), None if unary else int(row[self.right])))
        return blocks


# ------------------------------------------------------------------------------------------ arch <-> blocks
def blocks_to_arch(blocks: Sequence[BlockSpec], kind: str = "full",
                   fixed_dot_rows: int | None = None, options: ExtOptions | None = None) -> Architecture:
    """Build the canonical Architecture of a list of BlockSpecs (block i+1 = blocks[i]).

    `fixed_dot_rows` (operator balancing off) is recorded in the meta as ``dot_rows``: every Dot-Product then
    interacts that many rows whatever its width; without it, block widths decide (`dot_rows`).
    `options` (space `full+ext` only) writes the input / head settings onto node 0, the head and its edge."""
    in_attrs, head_attrs, head_roles = ext.node_attrs(options) if options is not None else ({}, {}, None)
    nodes = [(0, {"op": "input", **in_attrs})]
    edges: dict[tuple, set] = {}
    for i, blk in enumerate(blocks, start=1):
        nodes.append((i, {"op": "nasrec_block", "dense_op": blk.dense_op, "sparse_op": blk.sparse_op,
                          "dense_width": int(blk.dense_width), "sparse_width": int(blk.sparse_width),
                          "merge": bool(blk.merge), "fm": bool(blk.fm)}))
        for role, srcs in (("dense", blk.dense_in), ("sparse", blk.sparse_in),
                           ("left", () if blk.left is None else (blk.left,)),
                           ("right", () if blk.right is None else (blk.right,))):
            for j in srcs:
                edges.setdefault((int(j), i), set()).add(role)
    nodes.append((HEAD, {"op": "head", **head_attrs}))
    edges[(len(blocks), HEAD)] = set(head_roles or ("dense", "sparse"))
    meta = {"space": f"nasrec-{kind}", "num_blocks": len(blocks)}
    if fixed_dot_rows is not None:
        meta["dot_rows"] = int(fixed_dot_rows)
    return Architecture(nodes, [(u, v, {"roles": sorted(r)}) for (u, v), r in edges.items()], meta=meta)


def dot_rows_of(arch: Architecture, width: int) -> int:
    """Rows the Dot-Product of dense width `width` interacts in `arch` (balanced unless its meta fixes them)."""
    fixed = arch.meta.get("dot_rows")
    return dot_rows(width) if fixed is None else int(fixed)


def arch_to_blocks(arch: Architecture) -> list[BlockSpec]:
    """Read BlockSpecs back from an Architecture (structure only; `NASRecSpace.check` validates)."""
    g = arch.graph
    blocks = []
    i = 1
    while i in g:
        a = g.nodes[i]
        ins: dict[str, list] = {r: [] for r in ROLES}
        for j in g.predecessors(i):
            for role in g.edges[j, i].get("roles", ()):
                if role not in ins:
                    raise ValueError(f"edge {j}->{i}: unknown role {role!r} (roles are {ROLES})")
                ins[role].append(j)
        try:
            blocks.append(BlockSpec(
                a["dense_op"], a["sparse_op"], a["dense_width"], a["sparse_width"], a["merge"], a["fm"],
                tuple(sorted(ins["dense"])), tuple(sorted(ins["sparse"])),
                ins["left"][0] if len(ins["left"]) == 1 else None,
                ins["right"][0] if len(ins["right"]) == 1 else None))
        except KeyError as e:
            raise ValueError(f"node {i}: missing attribute {e.args[0]!r}") from None
        i += 1
    return blocks
