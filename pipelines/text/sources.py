"""Text corpora by name: the built-in `pydocs` corpus (Python's own reference text) or a PTB-format folder."""
from __future__ import annotations

from pipelines.text.ptb import read_ptb


def load_text(source: str = "pydocs"):
    """A `pipelines.text.ptb.Corpus`: `pydocs` (Python's own reference text, real English) or `ptb:<dir>`."""
    kind, _, path = source.partition(":")
    if kind == "ptb":
        return read_ptb(path)
    if kind == "pydocs":
        import tempfile
        from pipelines.text.pydocs import python_docs_ptb
        from pipelines.text.ptb import write_ptb
        with tempfile.TemporaryDirectory() as tmp:
            write_ptb(tmp, python_docs_ptb())
            return read_ptb(tmp)
    raise ValueError(f"unknown text source {source!r}: use 'pydocs' or 'ptb:<dir>'")
