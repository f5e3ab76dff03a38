"""Data-side helpers of CTR training: an example batch to build a network's variables, predictions over a
split, and the format a data directory was written in.  The training run itself (`tfnas ctr train`)
lives in tfnas/train/ctr.py on the core `train()`; pipelines never import tfnas.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipelines.ctr.dataset import load_info, make_split_dataset
from pipelines.ctr.schema import FeatureSpec


def example_batch(spec: FeatureSpec, batch: int = 2) -> dict:
    """A processed all-zeros batch, used to create a network's variables before restoring them."""
    return {"dense": tf.zeros([batch, spec.num_dense], tf.float32),
            "sparse": tf.zeros([batch, spec.num_sparse], tf.int64)}


def predict_split(network, data_dir: str, split: str = "test", batch_size: int = 4096,
                  max_rows: int | None = None, spec: FeatureSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, click probabilities) of a network over one split of a data directory (processed with `spec`,
    the run's, when given: it carries the dense encoding; default the folder's spec.json)."""
    ds = make_split_dataset(data_dir, split, batch_size, spec=spec)
    predict = tf.function(lambda b: tf.sigmoid(network({"dense": b["dense"], "sparse": b["sparse"]},
                                                       training=False)))
    labels, probs, seen = [], [], 0
    for batch in ds:
        labels.append(batch["label"].numpy())
        probs.append(predict(batch).numpy().reshape(-1))
        seen += len(labels[-1])
        if max_rows is not None and seen >= max_rows:
            break
    y, p = np.concatenate(labels), np.concatenate(probs)
    return (y[:max_rows], p[:max_rows]) if max_rows is not None else (y, p)


def data_format(data_dir: str) -> str:
    """The file format recorded in dataset.json (criteo when absent)."""
    return load_info(data_dir).get("format", "criteo")
