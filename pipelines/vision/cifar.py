"""Reader for the official CIFAR-10 python format (`data_batch_1..5`, `test_batch` pickles)."""
from __future__ import annotations

import os
import pickle

import numpy as np

# The only globals the official files (pickled by Python 2 numpy) and `write_cifar_batch` refer to: numpy's
# array reconstruction, and `_codecs.encode` (how protocol-2 pickles from Python 3 spell bytes).
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Admits only builtin containers/scalars/bytes and numpy arrays: a hostile file cannot name a callable."""

    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"


def read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickle → (uint8 images N×32×32×3, int64 labels N); errors name the file and the field."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: CIFAR-10 batch file not found")
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, RecursionError, OverflowError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python pickle ({exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict, got {type(batch).__name__}")
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    for field in ("data", "labels"):
        if field not in batch:
            raise ValueError(f"{path}: missing field {field!r} (has {sorted(batch)})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: field 'data' must be N×3072 uint8, got shape {data.shape}")
    if len(labels) != len(data):
        raise ValueError(f"{path}: field 'labels' has {len(labels)} entries for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: field 'labels' must be in 0..9, got {labels.min()}..{labels.max()}")
    images = data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def read_cifar10(directory: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x_train, y_train), (x_test, y_test) from a `cifar-10-batches-py` directory."""
    train = [read_cifar_batch(os.path.join(directory, name)) for name in TRAIN_FILES]
    x_test, y_test = read_cifar_batch(os.path.join(directory, TEST_FILE))
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), (x_test, y_test)


def write_cifar_batch(path: str, images: np.ndarray, labels) -> None:
    """Write images (N×32×32×3 uint8) and labels in the official pickle layout (for tests and fixtures)."""
    data = np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": [int(v) for v in labels], b"batch_label": b"tfnas"}, f)
