"""tf.data input pipeline for uint8 image arrays: scaled to [0, 1] floats, batched, optionally shuffled."""
from __future__ import annotations

import numpy as np


def image_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0):
    """tf.data of (float32 images in [0, 1], int labels), batched and prefetched."""
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, b))
    return ds.prefetch(tf.data.AUTOTUNE)
