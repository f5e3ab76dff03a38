"""Fast streaming reader for delimited CTR logs (Criteo, Avazu, KDD12): lines -> raw batches in tf.data.

Batches of lines are split with tf.strings ops, checked with vectorised regexes (field count, numeric dense
values, label), and decoded; memory stays flat in file size.  Bad lines raise an error naming file/line/field
(found by re-scanning the files in Python) or, under policy "skip", are dropped and counted in a BadRowReport
whose examples name file, line and field (lines then carry a file:line tag through the pipeline).
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from pipelines.ctr.badrows import REASONS, BadRowError, BadRowReport, check_policy
from pipelines.ctr.compressed import compression, open_text
from pipelines.ctr.lineformat import LABEL_RE, NUMBER_RE, LineFormat, locate_bad_line  # noqa: F401 (re-exported)

LINE_TAG = 1 << 40    # a skipped row's tag: file index * LINE_TAG + line number


def check_files(paths: Sequence[str], fmt: LineFormat, bad_rows: str,
                report: BadRowReport | None) -> list[str]:
    """Fail on missing files; empty files (or header-only ones) are an error, or skipped and counted."""
    keep = []
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        if os.path.isdir(path):
            raise ValueError(f"{path}: is a directory, expected a file")
        empty = os.path.getsize(path) == 0
        if not empty and (fmt.header or compression(path)):
            try:
                with open_text(path) as f:
                    if fmt.header:
                        f.readline()
                    empty = f.readline() == ""
            except (OSError, EOFError) as exc:
                raise ValueError(f"{path}: cannot read: {exc}") from None
        if empty:
            if bad_rows == "error":
                raise BadRowError(f"{path}: file is empty" + (" (header only)" if fmt.header else ""))
            if report is not None:
                report.add(REASONS[4], 1, f"empty_file: {path}")
            continue
        keep.append(path)
    return keep


def _columns(mat: tf.Tensor, cols: Sequence[int]) -> tf.Tensor:
    """Columns of a string matrix; a slice when they are contiguous (cheaper than gather)."""
    cols = list(cols)
    if cols == list(range(cols[0], cols[0] + len(cols))):
        return mat[:, cols[0]:cols[0] + len(cols)]
    return tf.gather(mat, cols, axis=1)


def _row_codes(mat: tf.Tensor, lengths: tf.Tensor, fmt: LineFormat) -> tf.Tensor:
    """Reason code per row: 0 good, 1 field count, 3 label, 2 dense not numeric (first failing check wins)."""
    label_s = mat[:, fmt.label_col]
    if fmt.label_kind == "binary":  # two compares are much cheaper than a regex
        label_ok = tf.equal(label_s, "0") | tf.equal(label_s, "1")
    else:
        label_ok = tf.strings.regex_full_match(label_s, LABEL_RE[fmt.label_kind])
    code = tf.zeros_like(lengths)
    if fmt.dense_cols:
        dense_s = _columns(mat, fmt.dense_cols)
        num_ok = tf.strings.regex_full_match(dense_s, NUMBER_RE) | tf.equal(dense_s, "")
        code = tf.where(tf.reduce_all(num_ok, axis=1), code, 2)
    code = tf.where(label_ok, code, 3)
    return tf.where(tf.equal(lengths, fmt.n_fields), code, 1)


def make_parser(fmt: LineFormat, paths: Sequence[str], bad_rows: str,
                report: BadRowReport | None) -> Callable[[tf.Tensor], dict]:
    """A tf.data map function: batch of lines [B] -> raw batch dict (bad lines raise or are dropped)."""
    report = report if report is not None else BadRowReport()
    paths = list(paths)

    def on_bad(codes, lines, tags):
        codes = codes.numpy()
        if bad_rows == "skip":
            lines, tags = lines.numpy(), tags.numpy()
            file_ids, line_nos = tags // LINE_TAG, tags % LINE_TAG
            for i in np.flatnonzero(codes):
                example = None
                if len(report.examples) < report.max_examples:  # file:line, and the field from the Python check
                    text = lines[i].decode("utf-8", "replace").rstrip("\r")
                    problem = fmt.check_line(text)
                    detail = problem[1] if problem is not None else f"{REASONS[int(codes[i])]}: {text[:120]!r}"
                    example = f"{paths[int(file_ids[i])]}:{int(line_nos[i])}: {detail}"
                report.add(REASONS[int(codes[i])], 1, example)
            return np.int64(0)
        where = locate_bad_line(paths, fmt)
        if where is None:  # Python and TF disagree: still show the offending content.
            i = int(np.argmax(codes > 0))
            where = f"{fmt.name} line {lines.numpy()[i][:200]!r}: {REASONS[int(codes[i])]}"
        raise BadRowError(where)

    def parse(lines: tf.Tensor, tags: tf.Tensor | None = None) -> dict:
        """Lines [B]; under "skip", tags [B] = file index in `paths` * LINE_TAG + 1-based line number."""
        if tags is None:
            tags = tf.zeros_like(lines, tf.int64)
        toks = tf.strings.split(lines, sep=fmt.delimiter)
        lengths = toks.row_lengths()
        # Fast path: every row has the right field count, so the flat values reshape into a matrix.
        mat = tf.cond(tf.reduce_all(tf.equal(lengths, fmt.n_fields)),
                      lambda: tf.reshape(toks.values, [-1, fmt.n_fields]),
                      lambda: toks.to_tensor("", shape=[None, fmt.n_fields]))
        codes = _row_codes(mat, lengths, fmt)
        bad = tf.reduce_any(codes > 0)
        flag = tf.cond(bad, lambda: tf.py_function(on_bad, [codes, lines, tags], tf.int64),
                       lambda: tf.constant(0, tf.int64))
        with tf.control_dependencies([flag]):
            good = tf.equal(codes, 0)
        mat = tf.boolean_mask(mat, good)
        label_s = mat[:, fmt.label_col]
        label = tf.strings.to_number(label_s, tf.float32)
        if fmt.label_kind == "count":
            label = tf.cast(label > 0, tf.float32)
        batch = tf.shape(mat)[0]
        dense_parts = []
        if fmt.dense_cols:
            dense_s = _columns(mat, fmt.dense_cols)
            dense_s = tf.where(tf.equal(dense_s, ""), "nan", dense_s)
            dense_parts.append(tf.strings.to_number(dense_s, tf.float32))
        if fmt.pseudo_dense:
            dense_parts.append(tf.zeros([batch, fmt.pseudo_dense], tf.float32))
        dense = (tf.concat(dense_parts, axis=1) if dense_parts else tf.zeros([batch, 0], tf.float32))
        cats = _columns(mat, fmt.cat_cols)
        if fmt.cat_transform is not None:
            cats = fmt.cat_transform(cats)
        return {"dense": dense, "categorical": cats, "label": label}

    return parse


def line_dataset(paths: Sequence[str], fmt: LineFormat, batch_size: int, *, shuffle: bool = False,
                 repeat: bool = False, bad_rows: str = "error", report: BadRowReport | None = None,
                 seed: int = 0, preprocess: Callable | None = None) -> tf.data.Dataset:
    """Stream raw (or, with `preprocess`, processed) batches from delimited files."""
    check_policy(bad_rows)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = check_files([os.fspath(p) for p in paths], fmt, bad_rows, report)
    parse = make_parser(fmt, paths, bad_rows, report)
    # gzip/bz2 found by magic bytes; TF streams gzip itself, bz2 is not a TF codec (named as unsupported here;
    # `tfnas data split` reads it).
    kinds = [compression(p) for p in paths]
    for p, k in zip(paths, kinds):
        if k not in (None, "gzip"):
            raise ValueError(f"{p}: {k}-compressed input is not supported by the reader; decompress it, "
                             f"or split it with `tfnas data split` (reads gzip and bz2)")
    codecs = ["GZIP" if k == "gzip" else "" for k in kinds]
    files = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64),
                                                tf.constant(paths, tf.string, shape=[len(paths)]),
                                                tf.constant(codecs, tf.string, shape=[len(paths)])))
    if shuffle and len(paths) > 1:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    skip = 1 if fmt.header else 0
    tagged = bad_rows == "skip"   # skipped rows are reported as file:line, so lines carry where they came from

    def file_lines(i, p, c):
        text = tf.data.TextLineDataset(p, compression_type=c, buffer_size=1 << 20).skip(skip)
        return text.enumerate(start=i * LINE_TAG + skip + 1) if tagged else text

    lines = files.flat_map(file_lines)
    if shuffle:  # before repeat, so epochs stay whole
        lines = lines.shuffle(max(16 * batch_size, 10_000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        lines = lines.repeat()

    ds = lines.batch(batch_size).map(lambda *batch: parse(batch[-1], batch[0] if tagged else None),
                                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if tagged:  # a batch whose every row was skipped is dropped: data with no usable row gives no batch at all
        ds = ds.filter(lambda raw: tf.shape(raw["label"])[0] > 0)
    if preprocess is not None:
        ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
