"""Open a text input that may be gzip- or bz2-compressed, detected by magic bytes (not the file name).

Compressed inputs are streamed (never unpacked to disk); xz/zstd/zip are named as unsupported instead of
being misread as one long line of garbage.
"""
from __future__ import annotations

import bz2
import gzip
import io
import os

MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip"}
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


def compression(path: str) -> str | None:
    """'gzip', 'bz2', 'xz', 'zstd', 'zip' from the first bytes of `path`, else None (plain text)."""
    with open(path, "rb") as f:
        head = f.read(6)
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def open_text(path: str, newline: str | None = "\n"):
    """A text stream (utf-8, bad bytes replaced; lines end at "\\n" only, like tf.data) over `path`,
    decompressing gzip/bz2 on the fly."""
    path = os.fspath(path)
    kind = compression(path)
    if kind == "gzip":
        raw = gzip.open(path, "rb")
    elif kind == "bz2":
        raw = bz2.open(path, "rb")
    elif kind is not None:
        raise ValueError(f"{path}: {kind}-compressed input is not supported; decompress it or use gzip/bz2")
    else:
        return open(path, encoding="utf-8", errors="replace", newline=newline)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=newline)


def plain_name(path: str) -> str:
    """`train.txt.gz` -> `train.txt` (the name the decompressed text would have)."""
    base, ext = os.path.splitext(path)
    return base if ext.lower() in COMPRESSED_SUFFIXES else path
