"""Metrics every method reports: logloss, ROC-AUC (global and per map), Kendall's tau, params, FLOPs."""
from __future__ import annotations

from typing import Any

import numpy as np

EPS = 1e-7


def logloss(labels, probabilities) -> float:
    """Mean binary cross-entropy of probabilities (clipped to [eps, 1-eps])."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1), EPS, 1 - EPS)
    if y.shape != p.shape:
        raise ValueError(f"logloss: {y.shape[0]} labels but {p.shape[0]} predictions")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(labels, scores) -> float:
    """ROC-AUC (ties counted half) via ranks; NaN when only one class is present."""
    y = np.asarray(labels).reshape(-1).astype(bool)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"auc: {y.shape[0]} labels but {s.shape[0]} scores")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def per_map_auc(label_maps, score_maps) -> float:
    """Mean ROC-AUC over maps (first axis), skipping maps with a single class (routing hotspots)."""
    values = [auc(y, s) for y, s in zip(label_maps, score_maps)]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def kendall_tau(x, y) -> float:
    """Kendall's tau-b rank correlation (handles ties)."""
    from scipy.stats import kendalltau
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"kendall_tau: lengths differ ({x.shape} vs {y.shape})")
    return float(kendalltau(x, y)[0])


def count_params(model, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters of a built Keras model."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _example_signature(model, input_signature: Any | None):
    import tensorflow as tf
    if input_signature is None:
        if not getattr(model, "inputs", None):
            raise ValueError("flops_per_example: the model has no symbolic inputs; pass input_signature")
        input_signature = model.input
    return tf.nest.map_structure(
        lambda t: tf.TensorSpec([1] + list(t.shape[1:]), t.dtype), input_signature)


def flops_per_example(model, input_signature: Any | None = None) -> int:
    """FLOPs of one forward pass on one example (a multiply-add counts 2), from TF's graph profiler.

    The model is traced at batch 1 and its variables frozen to constants, so embedding lookups cost
    nothing and every MatMul/Conv/elementwise op is counted by its registered FLOPs statistics.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = _example_signature(model, input_signature)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        options = (tf.compat.v1.profiler.ProfileOptionBuilder(
            tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build())
        profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                                cmd="op", options=options)
    return int(profile.total_float_ops)


def macs_per_example(model, input_signature: Any | None = None) -> int:
    """Multiply-accumulates of one example: FLOPs / 2."""
    return flops_per_example(model, input_signature) // 2
