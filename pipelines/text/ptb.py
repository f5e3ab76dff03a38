"""Reader for the Penn Treebank language-model format (`ptb.train.txt` / `ptb.valid.txt` / `ptb.test.txt`).

One sentence per line, tokens separated by spaces, rare words already `<unk>`; like the reference's
`data.Corpus`, every line ends with an `<eos>` token and the vocabulary is built from all three splits
in order of first appearance.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

SPLITS = ("train", "valid", "test")
EOS = "<eos>"


@dataclasses.dataclass
class Corpus:
    """Vocabulary plus the token-id arrays of the three splits."""

    vocab: list[str]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)


def split_path(directory: str, split: str, prefix: str = "ptb.") -> str:
    """`<dir>/ptb.<split>.txt`, or `<dir>/<split>.txt` (the reference repository's naming) if that exists."""
    path = os.path.join(directory, f"{prefix}{split}.txt")
    alt = os.path.join(directory, f"{split}.txt")
    return alt if not os.path.exists(path) and os.path.exists(alt) else path


def read_tokens(path: str) -> list[str]:
    """Tokens of one PTB file, `<eos>` after each non-empty line; errors name the file and line."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: PTB text file not found")
    tokens = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            words = line.split()
            if not words:
                continue
            if EOS in words:
                raise ValueError(f"{path}:{lineno}: the reserved token {EOS!r} appears in the text")
            tokens += words + [EOS]
    if not tokens:
        raise ValueError(f"{path}: no tokens (empty file)")
    return tokens


def read_ptb(directory: str, prefix: str = "ptb.") -> Corpus:
    """Read the three splits and map them to ids with one shared vocabulary."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: PTB directory not found")
    split_tokens = {s: read_tokens(split_path(directory, s, prefix)) for s in SPLITS}
    index: dict[str, int] = {}
    for s in SPLITS:
        for tok in split_tokens[s]:
            index.setdefault(tok, len(index))
    ids = {s: np.array([index[t] for t in split_tokens[s]], dtype=np.int32) for s in SPLITS}
    return Corpus(list(index), ids["train"], ids["valid"], ids["test"])


def write_ptb(directory: str, lines_by_split: dict[str, list[str]], prefix: str = "ptb.") -> None:
    """Write `{split: [sentence, ...]}` as PTB files (for fixtures and the built-in corpus)."""
    os.makedirs(directory, exist_ok=True)
    for s in SPLITS:
        with open(os.path.join(directory, f"{prefix}{s}.txt"), "w", encoding="utf-8") as f:
            f.writelines(f" {line}\n" for line in lines_by_split[s])
