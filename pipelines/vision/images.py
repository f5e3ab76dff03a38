"""Image data sets as train / val / test splits from a named source, and the class-balanced search proxy."""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from pipelines.vision.splits import class_balanced_subset, stratified_split


@dataclasses.dataclass
class ImageData:
    """uint8 images (N×H×W×3) and int labels for train / val / test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def train(self) -> tuple:
        return self.x_train, self.y_train

    @property
    def val(self) -> tuple:
        return self.x_val, self.y_val

    @property
    def test(self) -> tuple:
        return self.x_test, self.y_test

    def summary(self) -> str:
        return (f"{self.source}: {self.input_shape} images, {self.num_classes} classes, "
                f"train {len(self.y_train)} / val {len(self.y_val)} / test {len(self.y_test)}")


def load_images(source: str = "digits", image_size: int = 16, seed: int = 0,
                val_fraction: float = 0.15, test_fraction: float = 0.2) -> ImageData:
    """`digits` (scikit-learn, real), `cifar10:<dir>` (python pickles) or `folders:<root>` (class folders).

    Sources without their own test split get a stratified split; CIFAR's val comes out of its train part.
    """
    rng = np.random.default_rng(seed)
    kind, _, path = source.partition(":")
    if kind == "digits":
        from pipelines.vision.digits import load_digits_images
        x, y = load_digits_images(image_size)
        tr, va, te = stratified_split(y, [1 - val_fraction - test_fraction, val_fraction, test_fraction], rng)
        return ImageData(x[tr], y[tr], x[va], y[va], x[te], y[te], int(y.max()) + 1, f"digits{image_size}")
    if kind == "cifar10":
        from pipelines.vision.cifar import read_cifar10
        (x, y), (x_test, y_test) = read_cifar10(path)
        if image_size != 32:
            x, x_test = resize_images(x, image_size), resize_images(x_test, image_size)
        tr, va = stratified_split(y, [1 - val_fraction, val_fraction], rng)
        return ImageData(x[tr], y[tr], x[va], y[va], x_test, y_test, 10, f"cifar10:{os.path.basename(path)}")
    if kind == "folders":
        from pipelines.vision.folders import read_image_folders
        x, y, classes = read_image_folders(path, image_size)
        tr, va, te = stratified_split(y, [1 - val_fraction - test_fraction, val_fraction, test_fraction], rng)
        return ImageData(x[tr], y[tr], x[va], y[va], x[te], y[te], len(classes), f"folders:{path}")
    raise ValueError(f"unknown image source {source!r}: use 'digits', 'cifar10:<dir>' or 'folders:<root>'")


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 N×H×W×C images resized (bilinear) to size×size and rounded back to uint8."""
    import tensorflow as tf
    return tf.cast(tf.round(tf.image.resize(x, (size, size))), tf.uint8).numpy()


def proxy_subset(data: ImageData, train_per_class: int = 500, val_per_class: int = 100, seed: int = 0) -> ImageData:
    """The search proxy: class-balanced subsets of train and val (reference: 500 / 100 per class)."""
    rng = np.random.default_rng(seed)
    tr = class_balanced_subset(data.y_train, train_per_class, rng)
    va = class_balanced_subset(data.y_val, val_per_class, rng)
    return dataclasses.replace(data, x_train=data.x_train[tr], y_train=data.y_train[tr], x_val=data.x_val[va],
                               y_val=data.y_val[va], source=f"{data.source} proxy {train_per_class}/{val_per_class}")
