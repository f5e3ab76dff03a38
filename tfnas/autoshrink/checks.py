"""Argument and input-file checks of the AutoShrink commands, run before TensorFlow is imported.

Each check raises ValueError / FileNotFoundError with the option (or file) it is about, so a mistyped
path answers in well under a second instead of after TensorFlow's start-up.
"""
from __future__ import annotations

import os


def positive(name: str, value, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def image_source(source: str, option: str = "--data") -> None:
    """'digits', 'cifar10:<dir>' (with its data_batch_1..5 and test_batch) or 'folders:<root>' (a folder)."""
    kind, _, path = source.partition(":")
    if kind == "digits" and not path:
        return
    if kind == "cifar10":
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{option} {source}: folder {path!r} not found")
        missing = [n for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
                   if not os.path.isfile(os.path.join(path, n))]
        if missing:
            raise FileNotFoundError(f"{option} {source}: {path} lacks the CIFAR-10 batch files {missing} "
                                    f"(the 'python version' of the official archive)")
        return
    if kind == "folders":
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{option} {source}: folder {path!r} not found")
        return
    raise ValueError(f"{option}: unknown image source {source!r}; use 'digits', 'cifar10:<dir>' or 'folders:<root>'")


def text_source(source: str) -> None:
    """'pydocs' or 'ptb:<dir>' with ptb.{train,valid,test}.txt (or {train,valid,test}.txt)."""
    kind, _, path = source.partition(":")
    if kind == "pydocs" and not path:
        return
    if kind == "ptb":
        if not os.path.isdir(path):
            raise FileNotFoundError(f"--text {source}: folder {path!r} not found")
        missing = [f"ptb.{n}.txt" for n in ("train", "valid", "test")
                   if not any(os.path.isfile(os.path.join(path, f)) for f in (f"ptb.{n}.txt", f"{n}.txt"))]
        if missing:
            raise FileNotFoundError(f"--text {source}: {path} lacks {missing}")
        return
    raise ValueError(f"--text: unknown text source {source!r}; use 'pydocs' or 'ptb:<dir>'")


def cell_file(path: str | None):
    """Load and check a cell JSON (an Architecture; tfnas.graph needs no TensorFlow); None passes."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--cell {path}: file not found")
    from tfnas.autoshrink.cell import check_cell
    from tfnas.graph import Architecture
    arch = Architecture.load(path)
    try:
        check_cell(arch)
    except ValueError as exc:
        raise ValueError(f"{path}: not an AutoShrink cell: {exc}") from None
    return arch


def model_file(path: str) -> None:
    """A Keras model file that exists (a .keras zip or an .h5 file) or a SavedModel folder."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"--model {path}: folder holds no saved_model.pb")
        return
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model {path}: model file not found")
    if path.endswith(".keras"):
        import zipfile
        if not zipfile.is_zipfile(path):
            raise ValueError(f"--model {path}: not a Keras .keras file (it is no zip archive)")


def search_args(args) -> None:
    """The settings common to search-cnn and search-rnn."""
    if args.nodes < 2:
        raise ValueError(f"--nodes must be >= 2, got {args.nodes}")
    positive("--candidates", args.candidates)
    if not 0 <= args.keep_fraction < 1:
        raise ValueError(f"--keep-fraction must be in [0, 1), got {args.keep_fraction}")
    positive("--max-trials", args.max_trials)
    for name in ("epochs", "batch_size", "lr"):
        positive(f"--{name.replace('_', '-')}", getattr(args, name))
