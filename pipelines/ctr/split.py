"""Seeded, streaming, label-stratified train/valid/test split (8:1:1 by default) of CTR files.

One pass, O(1) memory: within each label class, every block of sum(ratios) consecutive rows of that class
is dealt to the splits by a seeded random permutation, so each class is split exactly in the given ratio
(to within one block) without holding the file.  NASRec uses StratifiedKFold(10) over all labels in
memory (nasrec/tools/autoctr_split_data_*.py); this gives the same per-class proportions at any file size.
"""
from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

import numpy as np

SPLITS = ("train", "valid", "test")
CHUNK = 1 << 16


def parse_ratios(text: str | Sequence[int]) -> tuple[int, ...]:
    """'8:1:1' -> (8, 1, 1); positive integers, one per split."""
    parts = text.split(":") if isinstance(text, str) else list(text)
    ratios = tuple(int(p) for p in parts)
    if len(ratios) != len(SPLITS) or min(ratios) < 0 or sum(ratios) == 0:
        raise ValueError(f"ratios must be 3 non-negative integers like 8:1:1, got {text!r}")
    return ratios


class StratifiedAssigner:
    """Streams labels in, hands back split ids (0 train, 1 valid, 2 test) in exact per-class ratios."""

    def __init__(self, ratios: Sequence[int] = (8, 1, 1), seed: int = 0):
        self.ratios = parse_ratios(ratios)
        self.seed = int(seed)
        self._deck = np.repeat(np.arange(len(self.ratios)), self.ratios)
        self._count = {}     # class -> rows seen
        self._rng = {}       # class -> Generator
        self._perm = {}      # class -> (block index, permutation of the deck)

    def _perms(self, cls: int, first: int, last: int) -> np.ndarray:
        """Permutations for blocks first..last of class `cls` (drawn in block order, so streaming-stable)."""
        rng = self._rng.setdefault(cls, np.random.default_rng([self.seed, cls, 0x5B1D]))
        out = []
        held = self._perm.get(cls)
        start = first
        if held is not None and held[0] == first:
            out.append(held[1])
            start = first + 1
        if last >= start:
            new = np.argsort(rng.random((last - start + 1, len(self._deck))), axis=1)
            out.extend(new)
        self._perm[cls] = (last, out[-1])
        return np.stack(out)

    def assign(self, labels: Iterable[int]) -> np.ndarray:
        """Split ids for the next rows, given their binary labels."""
        labels = np.asarray(labels, dtype=np.int64)
        out = np.empty(len(labels), dtype=np.int64)
        k = len(self._deck)
        for cls in np.unique(labels):
            idx = np.flatnonzero(labels == cls)
            n0 = self._count.get(int(cls), 0)
            ranks = n0 + np.arange(len(idx))
            blocks, pos = ranks // k, ranks % k
            perms = self._perms(int(cls), int(blocks[0]), int(blocks[-1]))
            out[idx] = self._deck[perms[blocks - blocks[0], pos]]
            self._count[int(cls)] = n0 + len(idx)
        return out


def _label_reader(fmt: str, first_line: str, table_schema=None):
    """(delimiter, label column, has header, label-is-count) for a line format."""
    if fmt == "avazu" and first_line.startswith("id,"):
        return ",", 1, True, False
    if fmt == "kdd12" and len(first_line.split("\t")) == 12:
        return "\t", 0, False, True
    if fmt == "table":
        header = first_line.split(table_schema.delimiter)
        if table_schema.label not in header:
            raise ValueError(f"label column {table_schema.label!r} not in header {header}")
        return table_schema.delimiter, header.index(table_schema.label), True, True
    return "\t", 0, False, False


def split_files(inputs: Sequence[str], out_dir: str, fmt: str = "criteo", seed: int = 0,
                ratios: Sequence[int] | str = (8, 1, 1), table_schema=None, progress: bool = False) -> dict:
    """Split delimited text files into out_dir/{train,valid,test}.<ext>; returns rows/positives per split.

    Lines are copied verbatim (a header, if the format has one, is repeated in every output).  A label
    that is not a number raises an error naming file and line.  Parquet tables are not handled here.
    """
    inputs = [os.fspath(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if fmt == "table" and table_schema is not None and table_schema.file_format == "parquet":
        raise ValueError("split: parquet tables are not supported; split the CSV/TSV export instead")
    assigner = StratifiedAssigner(ratios, seed)
    ext = os.path.splitext(inputs[0])[1] or ".txt"
    os.makedirs(out_dir, exist_ok=True)
    outs = [open(os.path.join(out_dir, f"{s}{ext}"), "w", encoding="utf-8", newline="") for s in SPLITS]
    rows = np.zeros(3, np.int64)
    pos = np.zeros(3, np.int64)
    header_written = False
    number = re.compile(r"[0-9]+(\.0*)?")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(unit=" rows", desc="split")
    try:
        for path in inputs:
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path}: no such file")
            with open(path, "r", encoding="utf-8", errors="replace", newline="") as f:
                first = f.readline()
                if first == "":
                    raise ValueError(f"{path}: file is empty")
                delim, col, header, is_count = _label_reader(fmt, first.rstrip("\r\n"), table_schema)
                if header:
                    if not header_written:
                        for o in outs:
                            o.write(first)
                        header_written = True
                    chunk: list[str] = []
                else:
                    chunk = [first]
                # Data starts on line 2 after a header, else line 1 (already in `chunk`).
                _process(f, path, chunk, delim, col, is_count, number, assigner, outs, rows, pos,
                         1 if header else 0, bar)
    finally:
        for o in outs:
            o.close()
        if bar is not None:
            bar.close()
    return {"rows": dict(zip(SPLITS, rows.tolist())), "positives": dict(zip(SPLITS, pos.tolist())),
            "seed": int(seed), "ratios": list(assigner.ratios)}


def _process(f, path, chunk, delim, col, is_count, number, assigner, outs, rows, pos, lineno, bar):
    """Read the rest of `f` in chunks, assign each line a split, write it; returns the last line number."""
    start = lineno + 1

    def flush(lines, start_line):
        labels = np.empty(len(lines), np.int64)
        for i, line in enumerate(lines):
            fields = line.rstrip("\r\n").split(delim, col + 1)
            value = fields[col] if len(fields) > col else ""
            if not number.fullmatch(value):
                raise ValueError(f"{path}:{start_line + i}: field label: {value!r} is not a number")
            v = int(float(value))
            if not is_count and v not in (0, 1):
                raise ValueError(f"{path}:{start_line + i}: field label: {value!r} is not 0 or 1")
            labels[i] = 1 if v > 0 else 0
        split = assigner.assign(labels)
        for s in range(len(SPLITS)):
            sel = split == s
            outs[s].writelines(line if line.endswith("\n") else line + "\n"
                               for line, keep in zip(lines, sel) if keep)
            rows[s] += int(sel.sum())
            pos[s] += int(labels[sel].sum())
        if bar is not None:
            bar.update(len(lines))

    for line in f:
        chunk.append(line)
        if len(chunk) >= CHUNK:
            flush(chunk, start)
            start += len(chunk)
            chunk = []
    if chunk:
        flush(chunk, start)
        start += len(chunk)
    return start - 1
