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

from pipelines.ctr.badrows import REASONS, BadRowError, BadRowReport, check_policy
from pipelines.ctr.compressed import open_text, plain_name

SPLITS = ("train", "valid", "test")
CHUNK = 1 << 16
NUMBER = re.compile(r"[0-9]+(\.0*)?")


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


def _check_targets(inputs: Sequence[str], out_dir: str, ext: str) -> None:
    """Refuse, before anything is opened for writing, a run whose outputs would replace one of its inputs."""
    targets = [os.path.join(out_dir, f"{s}{ext}") for s in SPLITS]
    targets += [os.path.join(out_dir, n) for n in ("spec.json", "dataset.json")]
    for path in inputs:
        real = os.path.realpath(path)
        for t in targets:
            if os.path.realpath(t) == real or (os.path.exists(t) and os.path.samefile(t, path)):
                raise ValueError(f"{path}: input would be overwritten by the split output {t}; "
                                 f"choose another --out (or rename the input)")


def clean_stale(out_dir: str) -> list[str]:
    """Remove temporary outputs left by a split that was killed (`.{split}*.tmp-<pid>`); returns them."""
    gone = []
    if os.path.isdir(out_dir):
        for name in os.listdir(out_dir):
            if name.startswith(tuple(f".{s}" for s in SPLITS)) and ".tmp-" in name:
                os.unlink(os.path.join(out_dir, name))
                gone.append(name)
    return gone


def split_files(inputs: Sequence[str], out_dir: str, fmt: str = "criteo", seed: int = 0,
                ratios: Sequence[int] | str = (8, 1, 1), table_schema=None, progress: bool = False,
                line_format=None, bad_rows: str = "error", report: BadRowReport | None = None) -> dict:
    """Split delimited text files (plain, gzip or bz2) into out_dir/{train,valid,test}.<ext>.

    Returns rows/positives per split.  Lines are copied verbatim (a header, if the format has one, is
    repeated in every output).  Every row is checked (with `line_format`'s checks when given, else the
    label only); a bad row stops the run naming file:line:field, or under bad_rows="skip" is dropped and
    counted in `report`.  Outputs go to temporary names renamed into place at the end, so a failed or
    killed split leaves no half-written files, and an input is never overwritten.  Reading 0 usable rows
    is an error.  Parquet tables are not handled here.
    """
    check_policy(bad_rows)
    report = report if report is not None else BadRowReport()
    inputs = [os.fspath(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if fmt == "table" and table_schema is not None and table_schema.file_format == "parquet":
        raise ValueError("split: parquet tables are not supported; split the CSV/TSV export instead")
    assigner = StratifiedAssigner(ratios, seed)
    for path in inputs:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        if os.path.isdir(path):
            raise ValueError(f"{path}: is a directory, expected a file")
    ext = os.path.splitext(plain_name(inputs[0]))[1] or ".txt"
    _check_targets(inputs, out_dir, ext)
    os.makedirs(out_dir, exist_ok=True)
    clean_stale(out_dir)
    finals = [os.path.join(out_dir, f"{s}{ext}") for s in SPLITS]
    temps = [os.path.join(out_dir, f".{s}{ext}.tmp-{os.getpid()}") for s in SPLITS]
    outs = [open(t, "w", encoding="utf-8", newline="") for t in temps]
    rows = np.zeros(3, np.int64)
    pos = np.zeros(3, np.int64)
    header_written = False
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(unit=" rows", desc="split")
    ok = False
    try:
        for path in inputs:
            try:
                with open_text(path) as f:
                    header_written = _split_one(f, path, fmt, table_schema, line_format, bad_rows, report,
                                                assigner, outs, rows, pos, header_written, bar)
            except (OSError, EOFError, UnicodeError) as exc:
                raise ValueError(f"{path}: cannot read: {exc}") from None
        if int(rows.sum()) == 0:
            raise BadRowError(f"{', '.join(inputs)}: 0 usable rows ({report.summary()})")
        for o in outs:
            o.flush()
            os.fsync(o.fileno())
            o.close()
        for t, final in zip(temps, finals):
            os.replace(t, final)
        ok = True
    finally:
        for o in outs:
            o.close()
        if not ok:
            for t in temps:
                if os.path.exists(t):
                    os.unlink(t)
        if bar is not None:
            bar.close()
    return {"rows": dict(zip(SPLITS, rows.tolist())), "positives": dict(zip(SPLITS, pos.tolist())),
            "seed": int(seed), "ratios": list(assigner.ratios), "bad_rows": report.to_dict()}


def _split_one(f, path, fmt, table_schema, line_format, bad_rows, report, assigner, outs, rows, pos,
               header_written, bar) -> bool:
    """Split one open input; returns whether the header has been written."""
    first = f.readline()
    if first == "":
        if bad_rows == "error":
            raise BadRowError(f"{path}: file is empty")
        report.add("empty_file", 1, f"empty_file: {path}")
        return header_written
    delim, col, header, is_count = _label_reader(fmt, first.rstrip("\r\n"), table_schema)
    if header:
        if not header_written:
            for o in outs:
                o.write(first)
            header_written = True
        chunk: list[str] = []
    else:
        chunk = [first]
    check = line_format.check_line if line_format is not None and line_format.header == header else None
    # Data starts on line 2 after a header, else line 1 (already in `chunk`).
    _process(f, path, chunk, delim, col, is_count, assigner, outs, rows, pos, 1 if header else 0, bar,
             check, bad_rows, report)
    return header_written


def _process(f, path, chunk, delim, col, is_count, assigner, outs, rows, pos, lineno, bar, check, bad_rows,
             report):
    """Read the rest of `f` in chunks, check and assign each line a split, write it."""
    start = lineno + 1

    def bad(line_no, line, message, reason):
        where = f"{path}:{line_no}: {message}"
        if bad_rows == "error":
            raise BadRowError(where)
        report.add(reason, 1, where)

    def flush(lines, start_line):
        labels = np.empty(len(lines), np.int64)
        keep = np.ones(len(lines), bool)
        for i, line in enumerate(lines):
            text = line.rstrip("\r\n")
            if check is not None:
                problem = check(text)
                if problem is not None:
                    bad(start_line + i, text, problem[1], REASONS[problem[0]])
                    keep[i] = False
                    continue
            fields = text.split(delim, col + 1)
            value = fields[col] if len(fields) > col else ""
            if not NUMBER.fullmatch(value):
                bad(start_line + i, text, f"field label: {value!r} is not a number", REASONS[3])
                keep[i] = False
                continue
            v = int(float(value))
            if not is_count and v not in (0, 1):
                bad(start_line + i, text, f"field label: {value!r} is not 0 or 1", REASONS[3])
                keep[i] = False
                continue
            labels[i] = 1 if v > 0 else 0
        lines = [ln for ln, k in zip(lines, keep) if k]
        labels = labels[keep]
        split = assigner.assign(labels) if len(labels) else np.zeros(0, np.int64)
        for s in range(len(SPLITS)):
            sel = split == s
            outs[s].writelines(line if line.endswith("\n") else line + "\n"
                               for line, k in zip(lines, sel) if k)
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
