"""Seeded, streaming train/valid/test split (8:1:1 by default) of CTR files: label-stratified at random,
or by a time column (past -> train, future -> test) or a group column (a user's rows stay together).

Stratified: one pass, O(1) memory: within each label class, every block of sum(ratios) consecutive rows of
that class is dealt to the splits by a seeded random permutation, so each class is split exactly in the given
ratio (to within one block) without holding the file.  NASRec uses StratifiedKFold(10) over all labels in
memory (nasrec/tools/autoctr_split_data_*.py); this gives the same per-class proportions at any file size.
By time / by group: see `split_keys.py`.  Rows are checked the way the readers check them (the table
schema's field count, label and dense numbers; the public formats' layouts) before they are written.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable, Iterable, Sequence

import numpy as np

from pipelines.ctr.badrows import REASONS, BadRowError, BadRowReport, check_policy
from pipelines.ctr.compressed import open_text, plain_name
from pipelines.ctr.split_keys import GroupAssigner, TimeAssigner, parse_times
from pipelines.ctr.table_schema import RowChecker, split_row

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


@dataclasses.dataclass
class _Layout:
    """How one input is read: delimiter, label column, header line (or None), label kind, row check, key."""

    delim: str
    label_col: int
    header: str | None
    is_count: bool
    check: Callable | None        # fields or line -> (reason code, message) | None
    check_fields: bool            # `check` takes split fields (table) rather than the raw line
    key_col: int | None = None
    key_name: str = ""


def _layout(fmt: str, first: str, path: str, table_schema, line_format, key: str | None) -> _Layout:
    """The layout of an input from its first line (header detection as the readers do it)."""
    text = first.rstrip("\r\n")
    if fmt == "table":
        delim = table_schema.delimiter_of(path)
        names = split_row(text, delim)
        checker = RowChecker(table_schema, names, f"{path}:1")
        out = _Layout(delim, checker.index[table_schema.label], first, True, checker.check, True)
    elif fmt == "avazu" and text.startswith("id,"):
        names = text.split(",")
        out = _Layout(",", 1, first, False, _line_check(line_format, True), False)
    elif fmt == "kdd12" and len(text.split("\t")) == 12:
        names = list(line_format.field_names) if line_format is not None else []
        out = _Layout("\t", 0, None, True, _line_check(line_format, False), False)
    else:
        names = list(line_format.field_names) if line_format is not None else []
        out = _Layout("\t", 0, None, False, _line_check(line_format, False), False)
    if key is not None:
        if key not in names:
            what = f"header {names}" if out.header is not None else f"the {fmt} fields {names}"
            raise ValueError(f"{path}:1: split column {key!r} is not in {what}")
        out.key_col, out.key_name = names.index(key), key
    return out


def _line_check(line_format, header: bool):
    if line_format is None or line_format.header != header:
        return None
    return line_format.check_line


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
                line_format=None, bad_rows: str = "error", report: BadRowReport | None = None,
                by_time: str | None = None, by_group: str | None = None) -> dict:
    """Split delimited text files (plain, gzip or bz2) into out_dir/{train,valid,test}.<ext>.

    Returns rows/positives per split and how it split.  Lines are copied verbatim (a header, if the format
    has one, is repeated in every output).  Every row is checked (table: the schema's checks; else
    `line_format`'s checks when given, else the label only); a bad row stops the run naming
    file:line:field, or under bad_rows="skip" is dropped and counted in `report`.  by_time / by_group name
    a column (a header name, or a public format's field name such as C3) to split on instead of at random.
    Outputs go to temporary names renamed into place at the end, so a failed or killed split leaves no
    half-written files, and an input is never overwritten.  Reading 0 usable rows is an error.  Parquet
    tables are not handled here.
    """
    check_policy(bad_rows)
    report = report if report is not None else BadRowReport()
    inputs = [os.fspath(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if fmt == "table" and table_schema is None:
        raise ValueError("split: --format table needs a table schema")
    if fmt == "table" and table_schema.file_format == "parquet":
        raise ValueError("split: parquet tables are not supported; split the CSV/TSV export instead")
    if by_time and by_group:
        raise ValueError("split: give --by-time or --by-group, not both")
    ratios = parse_ratios(ratios)
    for path in inputs:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        if os.path.isdir(path):
            raise ValueError(f"{path}: is a directory, expected a file")
    ext = os.path.splitext(plain_name(inputs[0]))[1] or ".txt"
    _check_targets(inputs, out_dir, ext)
    key = by_time or by_group
    reader = _Reader(fmt, table_schema, line_format, key, "time" if by_time else "group" if by_group else None)
    if by_time:
        assigner = TimeAssigner(_all_times(inputs, reader), ratios)
    elif by_group:
        assigner = GroupAssigner(ratios, seed)
    else:
        assigner = StratifiedAssigner(ratios, seed)
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
            for layout, lines, start, parsed in reader.read(path, bad_rows, report):
                if layout.header is not None and not header_written:
                    for o in outs:
                        o.write(layout.header if layout.header.endswith("\n") else layout.header + "\n")
                    header_written = True
                _write(lines, start, parsed, path, layout, assigner, outs, rows, pos, bad_rows, report, bar)
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
    how = ({"by": "label", "seed": int(seed)} if key is None else
           {**assigner.describe(), "column": key, **({"seed": int(seed)} if by_group else {})})
    return {"rows": dict(zip(SPLITS, rows.tolist())), "positives": dict(zip(SPLITS, pos.tolist())),
            "seed": int(seed), "ratios": list(ratios), "split_by": how, "bad_rows": report.to_dict()}


class _Reader:
    """Reads inputs chunk by chunk: (layout, lines, first line number, parsed) with parsed = (keep mask,
    labels, keys, problems [(index, reason code, message)])."""

    def __init__(self, fmt, table_schema, line_format, key, key_kind):
        self.fmt, self.table_schema, self.line_format = fmt, table_schema, line_format
        self.key, self.key_kind = key, key_kind

    def read(self, path, bad_rows, report):
        try:
            with open_text(path) as f:
                first = f.readline()
                if first == "":
                    if bad_rows == "error":
                        raise BadRowError(f"{path}: file is empty")
                    report.add("empty_file", 1, f"empty_file: {path}")
                    return
                layout = _layout(self.fmt, first, path, self.table_schema, self.line_format, self.key)
                chunk, start = ([], 2) if layout.header is not None else ([first], 1)
                for line in f:
                    chunk.append(line)
                    if len(chunk) >= CHUNK:
                        yield layout, chunk, start, self._parse(chunk, layout)
                        start += len(chunk)
                        chunk = []
                if chunk or layout.header is not None:
                    yield layout, chunk, start, self._parse(chunk, layout)
        except (OSError, EOFError, UnicodeError) as exc:
            raise ValueError(f"{path}: cannot read: {exc}") from None

    def _parse(self, lines, layout: _Layout):
        n = len(lines)
        keep = np.ones(n, bool)
        labels = np.zeros(n, np.int64)
        keys: list[str] = [""] * n
        problems = []
        need_all = layout.check_fields or layout.key_col is not None
        for i, line in enumerate(lines):
            text = line.rstrip("\r\n")
            fields = split_row(text, layout.delim) if need_all else text.split(layout.delim, layout.label_col + 1)
            if layout.check is not None:
                problem = layout.check(fields if layout.check_fields else text)
                if problem is not None:
                    problems.append((i, problem[0], problem[1]))
                    keep[i] = False
                    continue
            value = fields[layout.label_col] if len(fields) > layout.label_col else ""
            if layout.check_fields:      # table: checked as a non-negative number
                labels[i] = 1 if float(value) > 0 else 0
            elif not NUMBER.fullmatch(value):
                problems.append((i, 3, f"field label: {value!r} is not a number"))
                keep[i] = False
                continue
            else:
                v = int(float(value))
                if not layout.is_count and v not in (0, 1):
                    problems.append((i, 3, f"field label: {value!r} is not 0 or 1"))
                    keep[i] = False
                    continue
                labels[i] = 1 if v > 0 else 0
            if layout.key_col is not None:
                keys[i] = fields[layout.key_col] if layout.key_col < len(fields) else ""
        parsed_keys = keys
        if self.key_kind == "time":
            times = parse_times(keys)
            for i in np.flatnonzero(keep & np.isnan(times)):
                problems.append((int(i), 5, f"field {layout.key_name}: {keys[i]!r} is not a number or an "
                                            f"ISO 8601 time"))
                keep[i] = False
            parsed_keys = times
            problems.sort()
        return keep, labels, parsed_keys, problems


def _all_times(inputs, reader: _Reader) -> np.ndarray:
    """First pass of a split by time: the time of every usable row (bad rows are reported in the second)."""
    parts = []
    for path in inputs:
        for _, _, _, (keep, _, times, _) in reader.read(path, "skip", BadRowReport()):
            parts.append(times[keep])
    times = np.concatenate(parts) if parts else np.zeros(0)
    if not len(times):
        raise BadRowError(f"{', '.join(inputs)}: 0 usable rows with a time in column {reader.key!r}")
    return times


def apply_bad_row_policy(problems, path, start, bad_rows, report) -> None:
    """The chunk's bad rows (`(index, reason code, message)`, from `_Reader.read`) as `path:line: message`: raised
    under policy "error", counted with the example under "skip"."""
    for i, code, message in problems:
        where = f"{path}:{start + i}: {message}"
        if bad_rows == "error":
            raise BadRowError(where)
        report.add(REASONS[code], 1, where)


def _write(lines, start, parsed, path, layout, assigner, outs, rows, pos, bad_rows, report, bar) -> None:
    """Apply the bad-row policy to one parsed chunk, assign its rows a split and write them."""
    keep, labels, keys, problems = parsed
    apply_bad_row_policy(problems, path, start, bad_rows, report)
    idx = np.flatnonzero(keep)
    labels = labels[idx]
    if not len(idx):
        split = np.zeros(0, np.int64)
    elif layout.key_col is None:
        split = assigner.assign(labels)
    elif isinstance(keys, np.ndarray):
        split = assigner.assign_keys(keys[idx])
    else:
        split = assigner.assign_keys([keys[i] for i in idx])
    kept = [lines[i] for i in idx]
    for s in range(len(SPLITS)):
        sel = split == s
        outs[s].writelines(line if line.endswith("\n") else line + "\n" for line, k in zip(kept, sel) if k)
        rows[s] += int(sel.sum())
        pos[s] += int(labels[sel].sum())
    if bar is not None:
        bar.update(len(lines))
