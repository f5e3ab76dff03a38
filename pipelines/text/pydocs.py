"""A real English corpus that ships with every CPython: the language-reference text in `pydoc_data.topics`.

About 72k words of prose. Turned into PTB form (lower case, numbers → N, punctuation dropped, words
outside the `vocab_size` most frequent → <unk>) and split by document into train / valid / test.
"""
from __future__ import annotations

import collections
import re

import numpy as np

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?")


def python_docs_sentences() -> list[list[str]]:
    """Sentences (lists of PTB-style tokens) of every pydoc topic, in topic-name order."""
    from pydoc_data.topics import topics
    sentences = []
    for name in sorted(topics):
        for chunk in re.split(r"[.!?:;]\s+|\n\s*\n", topics[name]):
            words = ["N" if w[0].isdigit() else w for w in _WORD.findall(chunk.lower())]
            if len(words) >= 3:
                sentences.append(words)
    return sentences


def python_docs_ptb(vocab_size: int = 5000, valid_fraction: float = 0.1, test_fraction: float = 0.1,
                    seed: int = 0) -> dict[str, list[str]]:
    """{split: [sentence line, ...]} in PTB form, split by contiguous blocks of sentences (seeded)."""
    sents = python_docs_sentences()
    counts = collections.Counter(w for s in sents for w in s)
    keep = {w for w, _ in counts.most_common(vocab_size - 1)}
    lines = [" ".join(w if w in keep else "<unk>" for w in s) for s in sents]
    blocks = np.array_split(np.arange(len(lines)), 50)
    order = np.random.default_rng(seed).permutation(len(blocks))
    n_valid, n_test = round(valid_fraction * len(blocks)), round(test_fraction * len(blocks))
    pick = {"valid": order[:n_valid], "test": order[n_valid:n_valid + n_test], "train": order[n_valid + n_test:]}
    return {s: [lines[i] for b in sorted(pick[s]) for i in blocks[b]] for s in ("train", "valid", "test")}
