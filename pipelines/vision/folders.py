"""Reader for ImageNet-style class folders (`root/<class>/<image>`), resized to a square size."""
from __future__ import annotations

import os

import numpy as np

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp")


def list_image_folders(root: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names (sorted sub-folder names) and (path, label) pairs; errors name the folder."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: image folder root not found")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise ValueError(f"{root}: no class sub-folders (expected root/<class>/<image>)")
    items = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise ValueError(f"{folder}: class folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
        items += [(os.path.join(folder, f), label) for f in files]
    return classes, items


def read_image_folders(root: str, image_size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images as uint8 N×S×S×3 (RGB, bilinear resize), int64 labels, class names."""
    from PIL import Image, UnidentifiedImageError
    classes, items = list_image_folders(root)
    images = np.zeros((len(items), image_size, image_size, 3), np.uint8)
    for i, (path, _) in enumerate(items):
        try:
            with Image.open(path) as img:
                images[i] = np.asarray(img.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{path}: cannot read image ({exc})") from None
    return images, np.array([label for _, label in items], np.int64), classes
