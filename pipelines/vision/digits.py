"""Small real images that ship with scikit-learn (8×8 handwritten digits), upsampled to RGB S×S.

The CSV that scikit-learn ships is read directly (no `import sklearn`), so this works even where
scikit-learn's optional imports are broken; the content is exactly `sklearn.datasets.load_digits()`.
"""
from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np


def digits_csv_path() -> str:
    """Path of `sklearn/datasets/data/digits.csv.gz` in the installed scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed: its digits data set is the built-in image source")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: scikit-learn's digits data file is missing")
    return path


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images N×8×8 with grey levels 0..16, labels N) from the shipped CSV (64 pixels + label per row)."""
    path = digits_csv_path()
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 columns (64 pixels + label), got shape {table.shape}")
    return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)


def load_digits_images(size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """1,797 digits as uint8 N×size×size×3 (nearest-neighbour upsampling of the 0..16 grey levels) and labels."""
    if size % 8:
        raise ValueError(f"digits image size must be a multiple of 8, got {size}")
    images, labels = load_digits_arrays()
    grey = (images * (255.0 / 16.0)).round().astype(np.uint8)
    k = size // 8
    up = grey.repeat(k, axis=1).repeat(k, axis=2)
    return np.repeat(up[..., None], 3, axis=-1), labels
