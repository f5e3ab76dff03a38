"""A NASRec candidate's canonical key: the settings that change the function it builds, and nothing else.

Two candidates that differ only in settings with no effect (a block whose output nothing reads, a
`merge` flag on a block whose sparse output nothing reads, an `fm` flag on a block whose dense output
nothing reads, the sparse op of a block that only feeds dense outputs without FM) build the same Keras
function (unused layers are not part of the functional model), so top-k keeps one of them.

Liveness runs backwards from the head (which reads the last block's dense and sparse outputs):
a block's dense computation is live when its dense output is read, or its sparse output is read and it
merges; its sparse computation is live when its sparse output is read, or its dense output is read and
it adds the FM term.  A Dot-Product's (or concat's) sparse input is read by its dense computation.

Space `full+ext` (tfnas/nasrec/ext.py): a head reading only the dense output leaves the last sparse output
unread; `dense_fields` counts only when output 0's rows are read (by a live block or the head's FM term);
the `dense_width` of cross / concat (which keep their input width) never counts.  An ext architecture whose
options are the paper's keys like the `full` architecture with the same blocks (the same function).
"""
from __future__ import annotations

from tfnas.graph import Architecture
from tfnas.nasrec.ext import SPARSE_READING_DENSE_OPS, WIDTH_FREE_OPS, options_of
from tfnas.nasrec.space import UNARY_DENSE_OPS, arch_to_blocks


def liveness(blocks, head_sparse: bool = True, reads=None) -> list[tuple[bool, bool, bool, bool]]:
    """(dense computation live, sparse computation live, dense output read, sparse output read) per block
    (index 0 = block 1); `head_sparse` False: the head reads only the last dense output.  `reads`, when a
    dict, gets "dense0" / "sparse0": whether output 0's dense / sparse parts are read."""
    n = len(blocks)
    read_dense, read_sparse = [False] * (n + 1), [False] * (n + 1)
    read_dense[n], read_sparse[n] = True, bool(head_sparse)
    out = [(False, False, False, False)] * n
    for i in range(n, 0, -1):
        blk = blocks[i - 1]
        dense_live = read_dense[i] or (read_sparse[i] and blk.merge)
        sparse_live = read_sparse[i] or (read_dense[i] and blk.fm)
        if dense_live:
            if blk.dense_op in UNARY_DENSE_OPS:
                for j in blk.dense_in:
                    read_dense[j] = True
            else:
                read_dense[blk.left] = read_dense[blk.right] = True
        if sparse_live or (dense_live and blk.dense_op in SPARSE_READING_DENSE_OPS):
            for j in blk.sparse_in:
                read_sparse[j] = True
        out[i - 1] = (dense_live, sparse_live, read_dense[i], read_sparse[i])
    if isinstance(reads, dict):
        reads.update(dense0=read_dense[0], sparse0=read_sparse[0])
    return out


def canonical_key(arch: Architecture) -> str:
    """A string equal for two architectures exactly when their live settings (module doc) are equal."""
    blocks = arch_to_blocks(arch)
    opts, reads = options_of(arch), {}
    parts = []
    for i, (blk, (dense_live, sparse_live, dense_read, sparse_read)) in enumerate(
            zip(blocks, liveness(blocks, opts.head_sparse, reads)), start=1):
        reads_sparse = sparse_live or (dense_live and blk.dense_op in SPARSE_READING_DENSE_OPS)
        dense = ((blk.dense_op, None if blk.dense_op in WIDTH_FREE_OPS else blk.dense_width,
                  blk.dense_in if blk.dense_op in UNARY_DENSE_OPS else (blk.left, blk.right))
                 if dense_live else None)
        sparse = (blk.sparse_op, blk.sparse_width) if sparse_live else None
        parts.append((i, dense, sparse, blk.sparse_in if reads_sparse else None,
                      bool(blk.merge) if sparse_read else None,     # merged rows join the sparse output
                      bool(blk.fm) if dense_read else None))        # the FM term joins the dense output
    meta = arch.meta.get("dot_rows") if any(b.dense_op == "dot" for b in blocks) else None
    fields = opts.dense_fields and (reads["sparse0"] or opts.head_fm)
    extra = (opts.head_sparse, opts.head_fm, opts.head_linear, fields)
    return repr((parts, meta)) if extra == (True, False, False, False) else repr((parts, meta, extra))
