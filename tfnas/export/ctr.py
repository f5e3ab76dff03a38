"""The CTR raw-feature serving signature on top of the core writer (`serving.write_saved_model`).

`serving_default` takes one float32 [None] tensor per dense feature and one string [None] tensor per
categorical feature, so a REST body `{"instances": [{"I1": 3, "C1": "68fd1e64"}, ...]}` maps onto it
directly (`rest_request_to_inputs` does that mapping, with missing values, in Python).  TFLite: a CTR
model is converted WITHOUT its preprocessor (`processed_input_model`): string hashing
(`StringToHashBucketFast`) is not a TFLite builtin, so the app hashes on its side.
"""
from __future__ import annotations

import math
import os

import numpy as np

from tfnas.export.reload import predict_in_subprocess
from tfnas.export.serving import SERVING_KEY, write_saved_model

SPEC_FILE = os.path.join("assets.extra", "feature_spec.json")


# --------------------------------------------------------------------------------------------- SavedModel
def serving_input_signature(spec) -> dict:
    """{feature name: TensorSpec [None]}: float32 per dense feature, string per categorical feature."""
    import tensorflow as tf
    from pipelines.ctr.schema import check_names
    check_names(list(spec.dense_names) + list(spec.sparse_names), "serving input")
    sig = {n: tf.TensorSpec([None], tf.float32, name=n) for n in spec.dense_names}
    sig.update({n: tf.TensorSpec([None], tf.string, name=n) for n in spec.sparse_names})
    return sig


def _serving_module(network, spec, preprocessor):
    """A tf.Module holding preprocessor + network with a raw-feature `serve` tf.function."""
    import tensorflow as tf

    module = tf.Module()
    module.network = network
    module.preprocessor = preprocessor

    @tf.function(input_signature=[serving_input_signature(spec)])
    def serve(inputs):
        some = inputs[(spec.dense_names + spec.sparse_names)[0]]
        batch = tf.shape(some)[0]
        dense = (tf.stack([inputs[n] for n in spec.dense_names], axis=1) if spec.num_dense
                 else tf.zeros([batch, 0], tf.float32))
        cat = (tf.stack([inputs[n] for n in spec.sparse_names], axis=1) if spec.num_sparse
               else tf.zeros([batch, 0], tf.string))
        processed = preprocessor({"dense": dense, "categorical": cat})
        logit = tf.reshape(network({"dense": processed["dense"], "sparse": processed["sparse"]},
                                   training=False), [-1, 1])
        return {"probability": tf.sigmoid(logit), "logit": logit}

    module.serve = serve
    return module, serve


def export_saved_model(network, spec, name: str, version: int | None = None, root="saved_models",
                       preprocessor=None) -> str:
    """Write `root/name/version/` (next free integer version by default) and return its path.

    The `serving_default` signature takes RAW features by name (dense float32 [None], NaN = missing;
    categorical string [None], "" = missing) and returns {"probability", "logit"} [None, 1].  It runs
    `preprocessor` (default: `CTRPreprocessor(spec)`) and then `network` inside the graph.  The
    FeatureSpec is stored as assets.extra/feature_spec.json.  Atomic and never overwriting (core writer).
    """
    if preprocessor is None:
        from pipelines.ctr.features import CTRPreprocessor
        preprocessor = CTRPreprocessor(spec)
    module, serve = _serving_module(network, spec, preprocessor)
    return write_saved_model(module, {SERVING_KEY: serve}, name, version, root,
                             extra_files={"feature_spec.json": spec.to_json() + "\n"})


def load_exported_spec(path):
    """The FeatureSpec stored next to an exported SavedModel (assets.extra/feature_spec.json)."""
    from pipelines.ctr.schema import FeatureSpec
    with open(os.path.join(os.fspath(path), SPEC_FILE)) as f:
        return FeatureSpec.from_json(f.read())


# --------------------------------------------------------------------------------------------- REST
def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _dense_value(value, where: str) -> float:
    if _missing(value) or value == "":
        return float("nan")
    if isinstance(value, bool):
        raise ValueError(f"{where}: dense value must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: dense value must be a number, got {value!r}") from None


def _cat_value(value, where: str) -> str:
    if _missing(value):
        return ""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{where}: categorical value must be a string (or integer id), got {value!r}")


def rest_request_to_inputs(request_json: dict, spec) -> dict:
    """Turn a TF Serving REST predict body into the `serving_default` inputs {name: tf.Tensor [N]}.

    Row form `{"instances": [{"I1": 3, "C1": "68fd1e64", ...}, ...]}` and columnar form
    `{"inputs": {"I1": [3, ...], "C1": ["68fd1e64", ...]}}` are accepted.  A missing key or a null
    becomes a missing value (NaN for dense, "" for categorical); integers given for categorical features
    are turned into their decimal string.  Unknown keys raise a ValueError naming them.
    """
    import tensorflow as tf

    if not isinstance(request_json, dict):
        raise ValueError("REST body must be a JSON object with 'instances' or 'inputs'")
    names = set(spec.dense_names) | set(spec.sparse_names)
    if "instances" in request_json:
        rows = request_json["instances"]
        if not isinstance(rows, list):
            raise ValueError("'instances' must be a list of objects")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValueError(f"instances[{i}]: expected an object of named features, got {row!r}")
            unknown = sorted(set(row) - names)
            if unknown:
                raise ValueError(f"instances[{i}]: unknown feature(s) {unknown}")
        columns = {n: [row.get(n) for row in rows] for n in names}
        size = len(rows)
        label = "instances[{i}]"
    elif "inputs" in request_json:
        cols = request_json["inputs"]
        if not isinstance(cols, dict):
            raise ValueError("'inputs' must be an object {feature: [values]}")
        unknown = sorted(set(cols) - names)
        if unknown:
            raise ValueError(f"inputs: unknown feature(s) {unknown}")
        lengths = {n: len(v) for n, v in cols.items() if isinstance(v, list)}
        if len(lengths) != len(cols):
            bad = sorted(n for n, v in cols.items() if not isinstance(v, list))
            raise ValueError(f"inputs: feature(s) {bad} must be lists")
        if len(set(lengths.values())) > 1:
            raise ValueError(f"inputs: columns differ in length {lengths}")
        size = next(iter(lengths.values()), 0)
        columns = {n: cols.get(n, [None] * size) for n in names}
        label = "inputs[{name}][{i}]"
    else:
        raise ValueError("REST body needs 'instances' (row form) or 'inputs' (columnar form)")

    out = {}
    for n in spec.dense_names:
        vals = [_dense_value(v, label.format(i=i, name=n) + f" {n}") for i, v in enumerate(columns[n])]
        out[n] = tf.constant(np.asarray(vals, np.float32).reshape(size))
    for n in spec.sparse_names:
        vals = [_cat_value(v, label.format(i=i, name=n) + f" {n}") for i, v in enumerate(columns[n])]
        out[n] = tf.constant(np.asarray(vals, object).reshape(size), dtype=tf.string)
    return out


def raw_batch_to_inputs(raw: dict, spec) -> dict:
    """Split a raw batch {"dense" [B, nd], "categorical" [B, ns]} into the signature's named inputs."""
    import tensorflow as tf
    out = {n: tf.convert_to_tensor(raw["dense"])[:, j] for j, n in enumerate(spec.dense_names)}
    out.update({n: tf.convert_to_tensor(raw["categorical"])[:, j]
                for j, n in enumerate(spec.sparse_names)})
    return out


def processed_input_model(network, spec):
    """A functional Keras model {"dense" f32 [None, nd], "sparse" int64 [None, ns]} -> logits [None, 1].

    This is the TFLite-convertible part of a CTR model (and gives `flops_per_example` symbolic inputs).
    """
    import tensorflow as tf
    inputs = {"dense": tf.keras.Input((spec.num_dense,), dtype=tf.float32, name="dense"),
              "sparse": tf.keras.Input((spec.num_sparse,), dtype=tf.int64, name="sparse")}
    return tf.keras.Model(inputs, network(inputs, training=False), name=f"{network.name}_processed")


def check_reload(network, spec, path, raw: dict) -> float:
    """Max |p_served - p_keras| of the SavedModel at `path`, reloaded in a fresh process, on a raw batch.

    raw: {"dense" [B, nd], "categorical" [B, ns]} as the readers yield with processed=False.
    """
    import tensorflow as tf
    from pipelines.ctr.features import CTRPreprocessor

    processed = CTRPreprocessor(spec)({"dense": raw["dense"], "categorical": raw["categorical"]})
    keras_prob = tf.sigmoid(network(processed, training=False)).numpy()
    served = predict_in_subprocess(path, raw_batch_to_inputs(raw, spec))["probability"]
    return float(np.max(np.abs(served - keras_prob)))
