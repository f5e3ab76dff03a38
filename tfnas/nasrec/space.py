"""NASRec-Small / NASRec-Full search spaces: one config table, the Architecture form, sampling and mutation.

Kind "full+ext" (beyond the paper, tfnas/nasrec/ext.py) is NASRec-Full plus what the hand-made DeepFM and
DCN-v2 need (cross / concat / fc_noln ops, node 0's ``dense_fields`` and the head's ``fm`` / ``linear``
attributes, a head edge with roles ``["dense"]``); it is subnet-only.

How a NASRec candidate is an `Architecture` (node ids are ints so that node i IS "output i"):

* node ``0``: ``op="input"`` -- output 0 is the raw input (dense features [B, n_dense] and the embedded
  sparse features [B, n_sparse, 16]).
* nodes ``1..num_blocks``: ``op="nasrec_block"`` with attributes
  ``dense_op`` (one of DENSE_OPS), ``sparse_op`` (one of SPARSE_OPS), ``dense_width`` (output units),
  ``sparse_width`` (output embedding rows), ``merge`` (bool: dense output -> linear -> 8 extra embedding
  rows of dim 16 appended to the sparse output) and ``fm`` (bool: FM term of the sparse output added to
  the dense output).
* node ``"head"``: ``op="head"``; one edge from the last block (roles dense+sparse): logit = linear(dense
  output ++ flattened sparse output).
* edges ``j -> i`` (j < i) carry ``roles``: a sorted list drawn from ``dense`` (input j feeds block i's
  dense input), ``sparse`` (sparse input), ``left`` / ``right`` (the operands of a binary dense op).
  One DiGraph edge per (j, i) pair, so several roles share one edge.

Canonical form (so that equal models have equal keys): ``dense`` edges exist only for ops that read the
dense input (fc, dot: 1..min(i, 4) of them), ``left`` / ``right`` only for binary ops (gating, sum: exactly
one each, possibly the same source); every block has 1..min(i, 4) ``sparse`` edges.

The supernet consumes the same facts as an int32 "choice" array [num_blocks, FIELDS] (`encode` /
`decode`), which can also express training-only paths (several ops active, full warm-up path).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tfnas.graph import Architecture
from tfnas.nasrec import ext
# the config table, BlockSpec, conversions and choice layout live in tfnas/nasrec/blocks.py (re-exported here)
from tfnas.nasrec.blocks import (  # noqa: F401
    BINARY_DENSE_OPS, DENSE_OPS, DENSE_WIDTHS, EMBEDDING_DIM, HEAD, MAX_INPUTS, MERGE_ROWS, ROLES, SPACES,
    SPARSE_OPS, SPARSE_WIDTHS, UNARY_DENSE_OPS, BlockSpec, ChoiceLayout, arch_to_blocks, blocks_to_arch, dot_rows,
    dot_rows_of)
from tfnas.nasrec.ext import EXT_DENSE_OPS, EXT_KIND, PAPER_OPTIONS, ExtOptions
from tfnas.space import SearchSpace


# ------------------------------------------------------------------------------------------ the space
def num_inputs(n_available: int, rng: np.random.Generator) -> int:
    """NASRec's input count: 1 + Binomial(min(n, 4) - 1, 0.5)."""
    return 1 + int(rng.binomial(min(n_available, MAX_INPUTS) - 1, 0.5))


class NASRecSpace(SearchSpace):
    """NASRec-Small, NASRec-Full or full+ext (subnet-only, tfnas/nasrec/ext.py) with `num_blocks` blocks
    (reference: 7).

    `balance_dot=False` is the ablation without operator balancing: every Dot-Product interacts the rows of
    the widest one, dot_rows(max dense width), so its cost no longer follows its dense width."""

    def __init__(self, kind: str = "full", num_blocks: int = 7,
                 dense_widths: Sequence[int] = DENSE_WIDTHS, sparse_widths: Sequence[int] = SPARSE_WIDTHS,
                 balance_dot: bool = True):
        if kind not in SPACES:
            raise ValueError(f"NASRecSpace kind must be one of {sorted(SPACES)}, got {kind!r}")
        if num_blocks < 1:
            raise ValueError(f"NASRecSpace num_blocks must be >= 1, got {num_blocks}")
        self.kind, self.num_blocks = kind, int(num_blocks)
        self.dense_ops = SPACES[kind]["dense_ops"]
        self.sparse_ops = SPACES[kind]["sparse_ops"]
        self.dense_widths = tuple(sorted(int(w) for w in dense_widths))
        self.sparse_widths = tuple(sorted(int(w) for w in sparse_widths))
        self.balance_dot = bool(balance_dot)
        self.fixed_dot_rows = None if self.balance_dot else dot_rows(max(self.dense_widths))
        self.layout = ChoiceLayout(self.num_blocks)
        self.ext = kind == EXT_KIND   # input / head options and subnet-only ops (tfnas/nasrec/ext.py)
        self.name = f"nasrec-{kind}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "num_blocks": self.num_blocks, "dense_widths": list(self.dense_widths),
                "sparse_widths": list(self.sparse_widths), "balance_dot": self.balance_dot}

    # ---------------------------------------------------------------- conversions
    def blocks(self, arch: Architecture) -> list[BlockSpec]:
        """The arch's BlockSpecs, after checking it is in this space."""
        self.check(arch)
        return arch_to_blocks(arch)

    def from_blocks(self, blocks: Sequence[BlockSpec], options: ExtOptions | None = None) -> Architecture:
        """The Architecture of `blocks` (and, in `full+ext`, of the input / head `options`)."""
        if not self.ext and options not in (None, PAPER_OPTIONS):
            raise ValueError(f"{self.name}: input / head options {options} need space kind {EXT_KIND!r}")
        return blocks_to_arch(blocks, self.kind, self.fixed_dot_rows,
                              (options or PAPER_OPTIONS) if self.ext else None)

    def options(self, arch: Architecture) -> ExtOptions:
        """The input / head settings of `arch` (the paper's in `small` / `full`)."""
        return ext.options_of(arch)

    def encode(self, arch: Architecture) -> np.ndarray:
        """Architecture -> supernet choice array [num_blocks, fields]."""
        if self.ext:
            raise ValueError(f"space.kind {self.kind!r} is subnet-only: its ops {list(EXT_DENSE_OPS)} and input / "
                             "head options have no column in the supernet's choice array")
        return self.layout.encode_blocks(self.blocks(arch))

    def decode(self, choice: np.ndarray) -> Architecture:
        """Single-op choice array -> canonical Architecture (inputs unused by the chosen ops dropped)."""
        if self.ext:
            raise ValueError(f"space.kind {self.kind!r} is subnet-only: it has no supernet choice array")
        arch = self.from_blocks(self.layout.decode_blocks(choice))
        self.check(arch)
        return arch

    # ---------------------------------------------------------------- sampling
    def _sample_inputs(self, n: int, rng: np.random.Generator) -> tuple:
        return tuple(sorted(int(j) for j in rng.choice(n, num_inputs(n, rng), replace=False)))

    def _sample_block(self, b: int, rng: np.random.Generator) -> BlockSpec:
        n = b + 1
        dense_op = self.dense_ops[rng.integers(len(self.dense_ops))]
        sparse_op = self.sparse_ops[rng.integers(len(self.sparse_ops))]
        dw = self.dense_widths[rng.integers(len(self.dense_widths))]
        sw = self.sparse_widths[rng.integers(len(self.sparse_widths))]
        merge, fm = bool(rng.integers(2)), bool(rng.integers(2))
        dense_in = self._sample_inputs(n, rng)
        sparse_in = self._sample_inputs(n, rng)
        left, right = int(rng.integers(n)), int(rng.integers(n))
        if dense_op in UNARY_DENSE_OPS:
            left = right = None
        else:
            dense_in = ()
        return BlockSpec(dense_op, sparse_op, dw, sw, merge, fm, dense_in, sparse_in, left, right)

    def sample(self, rng: np.random.Generator) -> Architecture:
        """Single-operator any-connection prior: uniform ops/widths/flags, 1+Binomial inputs (and in `full+ext`,
        uniform input / head options, drawn after the blocks)."""
        blocks = [self._sample_block(b, rng) for b in range(self.num_blocks)]
        return self.from_blocks(blocks, ext.sample_options(rng) if self.ext else None)

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """One random change: an op, a width, a flag, or one connection of one block (in `full+ext`, or one
        input / head option: 1 chance in num_blocks + 1)."""
        blocks = self.blocks(arch)
        options = self.options(arch) if self.ext else None
        if self.ext and int(rng.integers(self.num_blocks + 1)) == self.num_blocks:
            return self.from_blocks(blocks, ext.mutate_options(options, rng))
        for _ in range(100):
            b = int(rng.integers(self.num_blocks))
            new = self._mutate_block(blocks[b], b, rng)
            if new is not None and new != blocks[b]:
                out = list(blocks)
                out[b] = new
                return self.from_blocks(out, options)
        raise RuntimeError("NASRecSpace.mutate: found no change in 100 tries")  # pragma: no cover

    def _mutate_block(self, blk: BlockSpec, b: int, rng: np.random.Generator) -> BlockSpec | None:
        n = b + 1
        what = ["dense_op", "sparse_op", "dense_width", "sparse_width", "merge", "fm", "connection"]
        kind = what[rng.integers(len(what))]
        rep = dataclasses.replace
        if kind == "dense_op":
            ops = [o for o in self.dense_ops if o != blk.dense_op]
            if not ops:
                return None
            op = ops[rng.integers(len(ops))]
            if (op in UNARY_DENSE_OPS) == (blk.dense_op in UNARY_DENSE_OPS):
                # a concat may have read no dense input; the op it becomes needs one
                if op in UNARY_DENSE_OPS and not blk.dense_in:
                    return rep(blk, dense_op=op, dense_in=self._sample_inputs(n, rng))
                return rep(blk, dense_op=op)
            if op in UNARY_DENSE_OPS:   # binary -> unary: the op now reads a dense input
                return rep(blk, dense_op=op, dense_in=self._sample_inputs(n, rng), left=None, right=None)
            return rep(blk, dense_op=op, dense_in=(), left=int(rng.integers(n)), right=int(rng.integers(n)))
        if kind == "sparse_op":
            ops = [o for o in self.sparse_ops if o != blk.sparse_op]
            return rep(blk, sparse_op=ops[rng.integers(len(ops))]) if ops else None
        if kind in ("dense_width", "sparse_width"):
            if kind == "dense_width" and blk.dense_op in ext.WIDTH_FREE_OPS:
                return None   # cross / concat keep their input width: dense_width has no effect
            choices = [w for w in getattr(self, kind + "s") if w != getattr(blk, kind)]
            if not choices:  # a space with a single width has nothing to mutate here
                return None
            return rep(blk, **{kind: int(choices[rng.integers(len(choices))])})
        if kind in ("merge", "fm"):
            return rep(blk, **{kind: not getattr(blk, kind)})
        # one connection: add, drop or swap one source of one role
        roles = ["sparse"] + (["dense"] if blk.dense_op in UNARY_DENSE_OPS else ["left", "right"])
        role = roles[rng.integers(len(roles))]
        if role in ("left", "right"):
            others = [j for j in range(n) if j != getattr(blk, role)]
            return rep(blk, **{role: int(others[rng.integers(len(others))])}) if others else None
        cur = set(getattr(blk, role + "_in"))
        free = [j for j in range(n) if j not in cur]
        least = 0 if role == "dense" and blk.dense_op in ext.OPTIONAL_DENSE_IN_OPS else 1
        moves = (["add"] if free and len(cur) < min(n, MAX_INPUTS) else []) + \
                (["drop"] if len(cur) > least else []) + (["swap"] if free and cur else [])
        if not moves:
            return None
        move = moves[rng.integers(len(moves))]
        if move in ("drop", "swap"):
            cur.discard(sorted(cur)[rng.integers(len(cur))])
        if move in ("add", "swap"):
            cur.add(free[rng.integers(len(free))])
        return rep(blk, **{role + "_in": tuple(sorted(cur))})

    # ---------------------------------------------------------------- membership
    def check(self, arch: Architecture) -> None:
        """Raise ValueError naming the node / edge / field that puts `arch` outside this space."""
        arch.validate()
        g = arch.graph
        want = set(range(self.num_blocks + 1)) | {HEAD}
        if set(g.nodes) != want:
            raise ValueError(f"{self.name}: nodes must be 0..{self.num_blocks} and {HEAD!r}; "
                             f"extra {sorted(map(str, set(g.nodes) - want))}, "
                             f"missing {sorted(map(str, want - set(g.nodes)))}")
        if g.nodes[0].get("op") != "input":
            raise ValueError(f"node 0: op must be 'input', got {g.nodes[0].get('op')!r}")
        if g.nodes[HEAD].get("op") != "head":
            raise ValueError(f"node {HEAD!r}: op must be 'head', got {g.nodes[HEAD].get('op')!r}")
        if arch.meta.get("dot_rows") != self.fixed_dot_rows:
            want = "none (operator balancing on)" if self.balance_dot else self.fixed_dot_rows
            raise ValueError(f"{self.name}: meta 'dot_rows' = {arch.meta.get('dot_rows')!r}, this space "
                             f"wants {want}")
        head_in = list(g.predecessors(HEAD))
        if head_in != [self.num_blocks]:
            raise ValueError(f"node {HEAD!r}: must have exactly one input, block {self.num_blocks}; "
                             f"has {head_in}")
        ext.check_options(g, self.num_blocks, self.ext, self.name)
        for u, v, a in g.edges(data=True):
            if v != HEAD and not (isinstance(u, int) and isinstance(v, int) and u < v):
                raise ValueError(f"edge {u!r}->{v!r}: edges must go from an earlier output to a block")
            roles = a.get("roles")
            if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
                raise ValueError(f"edge {u!r}->{v!r}: 'roles' must be a non-empty list from {ROLES}, "
                                 f"got {roles!r}")
        for i in range(1, self.num_blocks + 1):
            self._check_block(g, i)

    def _check_block(self, g, i: int) -> None:
        a = g.nodes[i]
        where = f"node {i}"
        if a.get("op") != "nasrec_block":
            raise ValueError(f"{where}: op must be 'nasrec_block', got {a.get('op')!r}")
        for field, allowed in (("dense_op", self.dense_ops), ("sparse_op", self.sparse_ops),
                               ("dense_width", self.dense_widths), ("sparse_width", self.sparse_widths),
                               ("merge", (True, False)), ("fm", (True, False))):
            value = a.get(field)
            if field in ("merge", "fm") and not isinstance(value, bool):
                raise ValueError(f"{where}: field {field!r} must be a bool, got {value!r}")
            if isinstance(value, bool) and field not in ("merge", "fm") or value not in allowed:
                raise ValueError(f"{where}: field {field!r} = {value!r} not in {self.name} "
                                 f"choices {list(allowed)}")
        extra = set(a) - {"op", "dense_op", "sparse_op", "dense_width", "sparse_width", "merge", "fm"}
        if extra:
            raise ValueError(f"{where}: unknown attribute(s) {sorted(extra)}")
        count = {r: 0 for r in ROLES}
        for j in g.predecessors(i):
            for r in g.edges[j, i]["roles"]:
                count[r] += 1
        limit = min(i, MAX_INPUTS)
        unary = a["dense_op"] in UNARY_DENSE_OPS
        least = 0 if a["dense_op"] in ext.OPTIONAL_DENSE_IN_OPS else 1
        rules = {"sparse": (1, limit), "dense": (least, limit) if unary else (0, 0),
                 "left": (0, 0) if unary else (1, 1), "right": (0, 0) if unary else (1, 1)}
        for r, (lo, hi) in rules.items():
            if not lo <= count[r] <= hi:
                raise ValueError(f"{where} (dense_op {a['dense_op']!r}): has {count[r]} {r!r} inputs, "
                                 f"needs {lo}..{hi}")
