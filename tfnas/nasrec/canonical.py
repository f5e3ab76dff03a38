"""A NASRec candidate's canonical key: the settings that change the function it builds, and nothing else.

Two candidates that differ only in settings with no effect (a block whose output nothing reads, a
`merge` flag on a block whose sparse output nothing reads, an `fm` flag on a block whose dense output
nothing reads, the sparse op of a block that only feeds dense outputs without FM) build the same Keras
function (unused layers are not part of the functional model), so top-k keeps one of them.

Liveness runs backwards from the head (which reads the last block's dense and sparse outputs):
a block's dense computation is live when its dense output is read, or its sparse output is read and it
merges; its sparse computation is live when its sparse output is read, or its dense output is read and
it adds the FM term.  A Dot-Product's sparse input is read by its dense computation.
"""
from __future__ import annotations

from tfnas.graph import Architecture
from tfnas.nasrec.space import UNARY_DENSE_OPS, arch_to_blocks


def liveness(blocks) -> list[tuple[bool, bool, bool, bool]]:
    """(dense computation live, sparse computation live, dense output read, sparse output read) per block
    (index 0 = block 1)."""
    n = len(blocks)
    read_dense, read_sparse = [False] * (n + 1), [False] * (n + 1)
    read_dense[n] = read_sparse[n] = True
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
        if sparse_live or (dense_live and blk.dense_op == "dot"):
            for j in blk.sparse_in:
                read_sparse[j] = True
        out[i - 1] = (dense_live, sparse_live, read_dense[i], read_sparse[i])
    return out


def canonical_key(arch: Architecture) -> str:
    """A string equal for two architectures exactly when their live settings (module doc) are equal."""
    blocks = arch_to_blocks(arch)
    parts = []
    for i, (blk, (dense_live, sparse_live, dense_read, sparse_read)) in enumerate(zip(blocks, liveness(blocks)),
                                                                                 start=1):
        reads_sparse = sparse_live or (dense_live and blk.dense_op == "dot")
        dense = ((blk.dense_op, blk.dense_width,
                  blk.dense_in if blk.dense_op in UNARY_DENSE_OPS else (blk.left, blk.right))
                 if dense_live else None)
        sparse = (blk.sparse_op, blk.sparse_width) if sparse_live else None
        parts.append((i, dense, sparse, blk.sparse_in if reads_sparse else None,
                      bool(blk.merge) if sparse_read else None,     # merged rows join the sparse output
                      bool(blk.fm) if dense_read else None))        # the FM term joins the dense output
    meta = arch.meta.get("dot_rows") if any(b.dense_op == "dot" for b in blocks) else None
    return repr((parts, meta))
