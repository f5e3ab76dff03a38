"""The CTR raw-feature serving signature on top of the core writer (`serving.write_saved_model`).

`serving_default` takes one float32 [None] tensor per dense feature and one string [None] tensor per
categorical feature, so a REST body `{"instances": [{"I1": 3, "C1": "68fd1e64"}, ...]}` maps onto it
directly (`rest_request_to_inputs` does that mapping, with missing values, in Python).  A column name that is
not a valid signature name (`capital-gain`, `device type`) gets a sanitised input name (`capital_gain`,
`device_type`); the mapping is stored as assets.extra/signature_inputs.json, printed once at export, and
`rest_request_to_inputs` accepts either name.  The gRPC side (`predict_request.py`: PredictRequest, warm-up
file) shares `request_arrays` with the REST helper.  TFLite: a CTR
model is converted WITHOUT its preprocessor (`processed_input_model`): string hashing
(`StringToHashBucketFast`) is not a TFLite builtin, so the app hashes on its side.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile

import numpy as np

from tfnas.export.reload import predict_in_subprocess
from tfnas.export.serving import SERVING_KEY, write_saved_model

SPEC_FILE = os.path.join("assets.extra", "feature_spec.json")
NAMES_FILE = os.path.join("assets.extra", "signature_inputs.json")
_VALID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def signature_names(spec) -> dict[str, str]:
    """{feature name: serving input name}: the name itself when valid, else non-alphanumerics -> '_' (and a
    leading 'f_' when it does not start with a letter), made unique with _2, _3, ..."""
    from pipelines.ctr.schema import check_names
    features = list(spec.dense_names) + list(spec.sparse_names)
    check_names(features, "serving input")
    taken = {n for n in features if _VALID.fullmatch(n)}
    out = {}
    for n in features:
        if _VALID.fullmatch(n):
            out[n] = n
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", n)
        base = base if base[:1].isalpha() else f"f_{base}"
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        out[n] = name
    return out


def describe_renames(spec) -> str | None:
    """One line listing the columns whose serving input name differs, or None when none do."""
    renamed = {k: v for k, v in signature_names(spec).items() if k != v}
    if not renamed:
        return None
    return "serving input names (column -> input): " + ", ".join(f"{k!r} -> {v!r}" for k, v in renamed.items())


# --------------------------------------------------------------------------------------------- SavedModel
def serving_input_signature(spec) -> dict:
    """{input name: TensorSpec [None]}: float32 per dense feature, string per categorical feature (input names
    from `signature_names`)."""
    import tensorflow as tf
    names = signature_names(spec)
    sig = {names[n]: tf.TensorSpec([None], tf.float32, name=names[n]) for n in spec.dense_names}
    sig.update({names[n]: tf.TensorSpec([None], tf.string, name=names[n]) for n in spec.sparse_names})
    return sig


def _serving_module(network, spec, preprocessor):
    """A tf.Module holding preprocessor + network with a raw-feature `serve` tf.function."""
    import tensorflow as tf

    module = tf.Module()
    module.network = network
    module.preprocessor = preprocessor
    names = signature_names(spec)

    @tf.function(input_signature=[serving_input_signature(spec)])
    def serve(inputs):
        some = inputs[names[(spec.dense_names + spec.sparse_names)[0]]]
        batch = tf.shape(some)[0]
        dense = (tf.stack([inputs[names[n]] for n in spec.dense_names], axis=1) if spec.num_dense
                 else tf.zeros([batch, 0], tf.float32))
        cat = (tf.stack([inputs[names[n]] for n in spec.sparse_names], axis=1) if spec.num_sparse
               else tf.zeros([batch, 0], tf.string))
        processed = preprocessor({"dense": dense, "categorical": cat})
        logit = tf.reshape(network({"dense": processed["dense"], "sparse": processed["sparse"]},
                                   training=False), [-1, 1])
        return {"probability": tf.sigmoid(logit), "logit": logit}

    module.serve = serve
    return module, serve


def export_saved_model(network, spec, name: str, version: int | None = None, root="saved_models",
                       preprocessor=None, warmup_rows=None) -> str:
    """Write `root/name/version/` (next free integer version by default) and return its path.

    The `serving_default` signature takes RAW features by name (dense float32 [None], NaN = missing;
    categorical string [None], "" = missing) and returns {"probability", "logit"} [None, 1].  It runs
    `preprocessor` (default: `CTRPreprocessor(spec)`) and then `network` inside the graph.  The
    FeatureSpec is stored as assets.extra/feature_spec.json, the {column: input name} map as
    assets.extra/signature_inputs.json, and a TF Serving warm-up file (one PredictRequest of `warmup_rows`,
    default two all-missing rows) as assets.extra/tf_serving_warmup_requests; renamed columns are printed once.
    Atomic and never overwriting: the version is staged in a hidden `.V.tmp-<pid>-` folder and renamed in.
    """
    from tfnas.export.predict_request import (WARMUP_FILE, default_warmup_rows, predict_request,
                                              signature_of_specs, warmup_bytes)
    from tfnas.export.serving import check_name, next_version, remove_stale_temps

    if preprocessor is None:
        from pipelines.ctr.features import CTRPreprocessor
        preprocessor = CTRPreprocessor(spec)
    root = os.fspath(root)
    check_name(name)
    version = next_version(root, name) if version is None else int(version)
    final = os.path.join(root, name, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; pick another version or omit it")
    request = predict_request(default_warmup_rows() if warmup_rows is None else warmup_rows, spec, name,
                              signature=signature_of_specs(serving_input_signature(spec)))
    module, serve = _serving_module(network, spec, preprocessor)
    names = json.dumps(signature_names(spec), indent=1) + "\n"
    os.makedirs(os.path.join(root, name), exist_ok=True)
    remove_stale_temps(os.path.join(root, name))
    stage = tempfile.mkdtemp(prefix=f".{version}.tmp-{os.getpid()}-stage-", dir=os.path.join(root, name))
    try:   # the core writer fills stage/name/version; the binary warm-up file goes in before the final rename
        staged = write_saved_model(module, {SERVING_KEY: serve}, name, version, stage,
                                   extra_files={"feature_spec.json": spec.to_json() + "\n",
                                                "signature_inputs.json": names})
        with open(os.path.join(staged, WARMUP_FILE), "wb") as f:
            f.write(warmup_bytes([request]))
        if os.path.exists(final):
            raise FileExistsError(f"{final} already exists; pick another version or omit it")
        try:
            os.rename(staged, final)
        except OSError as exc:
            raise FileExistsError(f"{final}: could not claim the version ({exc})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    renamed = describe_renames(spec)
    if renamed:
        print(f"{final}: {renamed}", flush=True)
    return final


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


def request_arrays(request_json: dict, spec) -> dict:
    """The one mapping from a TF Serving predict body to `serving_default` inputs {input name: np.ndarray [N]}
    (float32 for dense, bytes objects for categorical); `rest_request_to_inputs` and the gRPC
    `predict_request.predict_request` both use it.

    Row form `{"instances": [{"I1": 3, "C1": "68fd1e64", ...}, ...]}` and columnar form
    `{"inputs": {"I1": [3, ...], "C1": ["68fd1e64", ...]}}` are accepted.  A missing key or a null
    becomes a missing value (NaN for dense, "" for categorical); integers given for categorical features
    are turned into their decimal string.  Unknown keys raise a ValueError naming them.
    """
    if not isinstance(request_json, dict):
        raise ValueError("REST body must be a JSON object with 'instances' or 'inputs'")
    sig_names = signature_names(spec)
    alias = {v: k for k, v in sig_names.items()}   # an input name stands for its column
    names = set(spec.dense_names) | set(spec.sparse_names) | set(alias)
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
        rows = [{alias.get(k, k): v for k, v in row.items()} for row in rows]
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
        cols = {alias.get(k, k): v for k, v in cols.items()}
        columns = {n: cols.get(n, [None] * size) for n in names}
        label = "inputs[{name}][{i}]"
    else:
        raise ValueError("REST body needs 'instances' (row form) or 'inputs' (columnar form)")

    out = {}
    for n in spec.dense_names:
        vals = [_dense_value(v, label.format(i=i, name=n) + f" {n}") for i, v in enumerate(columns[n])]
        out[sig_names[n]] = np.asarray(vals, np.float32).reshape(size)
    for n in spec.sparse_names:
        vals = [_cat_value(v, label.format(i=i, name=n) + f" {n}").encode() for i, v in enumerate(columns[n])]
        out[sig_names[n]] = np.asarray(vals, object).reshape(size)
    return out


def rest_request_to_inputs(request_json: dict, spec) -> dict:
    """Turn a TF Serving REST predict body into the `serving_default` inputs {name: tf.Tensor [N]}
    (the mapping of `request_arrays`)."""
    import tensorflow as tf
    return {k: tf.constant(v, dtype=tf.string if v.dtype == object else tf.float32)
            for k, v in request_arrays(request_json, spec).items()}


def raw_batch_to_inputs(raw: dict, spec) -> dict:
    """Split a raw batch {"dense" [B, nd], "categorical" [B, ns]} into the signature's named inputs."""
    import tensorflow as tf
    names = signature_names(spec)
    out = {names[n]: tf.convert_to_tensor(raw["dense"])[:, j] for j, n in enumerate(spec.dense_names)}
    out.update({names[n]: tf.convert_to_tensor(raw["categorical"])[:, j]
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
