"""Export trained models: TF Serving SavedModels that take raw CTR features, and TFLite flatbuffers.

SavedModels land in `saved_models/<name>/<version>/` (TF Serving's layout, integer versions).  The CTR
`serving_default` signature takes one float32 [None] tensor per dense feature and one string [None]
tensor per categorical feature, so a REST body `{"instances": [{"I1": 3, "C1": "68fd1e64"}, ...]}`
maps onto it directly; `rest_request_to_inputs` does that mapping (with missing values) in Python.

TFLite: `to_tflite` converts any Keras model or SavedModel.  A CTR model is converted WITHOUT its
preprocessor (the processed-input network, see `processed_input_model`): string hashing
(`StringToHashBucketFast`) and string ops are not TFLite builtins, so the app hashes on its side.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Iterable

import numpy as np

SERVING_KEY = "serving_default"
SPEC_FILE = os.path.join("assets.extra", "feature_spec.json")


# --------------------------------------------------------------------------------------------- versions
def existing_versions(root, name: str) -> list[int]:
    """Sorted integer version directories under `root/name` (others are ignored, as TF Serving does)."""
    base = os.path.join(os.fspath(root), name)
    if not os.path.isdir(base):
        return []
    return sorted(int(d) for d in os.listdir(base)
                  if d.isdigit() and os.path.isdir(os.path.join(base, d)))


def next_version(root, name: str) -> int:
    """The next free integer version of `name` (1 for a new model)."""
    versions = existing_versions(root, name)
    return versions[-1] + 1 if versions else 1


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
    `preprocessor` (default: `CTRPreprocessor(spec)`) and then `network` inside the graph.  The model is
    written to a temporary directory and renamed, so TF Serving never sees a half-written version.
    """
    import tensorflow as tf

    if preprocessor is None:
        from pipelines.ctr.features import CTRPreprocessor
        preprocessor = CTRPreprocessor(spec)
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"export_saved_model: bad model name {name!r}")
    root = os.fspath(root)
    version = next_version(root, name) if version is None else int(version)
    if version < 1:
        raise ValueError(f"export_saved_model: version must be a positive integer, got {version}")
    final = os.path.join(root, name, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; pick another version or omit it")
    os.makedirs(os.path.join(root, name), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=os.path.join(root, name))
    try:
        module, serve = _serving_module(network, spec, preprocessor)
        tf.saved_model.save(module, tmp, signatures={SERVING_KEY: serve})
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        with open(os.path.join(tmp, SPEC_FILE), "w") as f:
            f.write(spec.to_json() + "\n")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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


# --------------------------------------------------------------------------------------------- TFLite
def processed_input_model(network, spec):
    """A functional Keras model {"dense" f32 [None, nd], "sparse" int64 [None, ns]} -> logits [None, 1].

    This is the TFLite-convertible part of a CTR model (and gives `flops_per_example` symbolic inputs).
    """
    import tensorflow as tf
    inputs = {"dense": tf.keras.Input((spec.num_dense,), dtype=tf.float32, name="dense"),
              "sparse": tf.keras.Input((spec.num_sparse,), dtype=tf.int64, name="sparse")}
    return tf.keras.Model(inputs, network(inputs, training=False), name=f"{network.name}_processed")


def _representative(data) -> Callable[[], Iterable]:
    """Normalise representative data (callable or iterable of arrays / lists / dicts) for the converter."""
    def gen():
        items = data() if callable(data) else data
        for item in items:
            if isinstance(item, dict):  # keyed by the model's signature input names
                yield {k: np.asarray(v) for k, v in item.items()}
            elif isinstance(item, (list, tuple)):
                yield [np.asarray(x) for x in item]
            else:
                yield [np.asarray(item)]
    return gen


def to_tflite(model_or_saved_model_dir, mode: str = "float32", representative_data=None) -> bytes:
    """Convert a Keras model or SavedModel directory to a TFLite flatbuffer.

    mode: "float32" (plain), "float16" (post-training fp16 weights), "int8" (full-integer
    quantization: int8 weights and activations, int8 float-inputs/outputs; needs `representative_data`,
    a callable returning an iterable, or an iterable, of input arrays / lists / dicts keyed by the
    model's input names).  Non-float inputs (e.g. int64 ids) keep their type.
    """
    import tensorflow as tf

    if mode not in ("float32", "float16", "int8"):
        raise ValueError(f"to_tflite: mode must be float32, float16 or int8, got {mode!r}")
    if isinstance(model_or_saved_model_dir, (str, os.PathLike)):
        path = os.fspath(model_or_saved_model_dir)
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path}: no saved_model.pb")
        converter = tf.lite.TFLiteConverter.from_saved_model(path)
    else:
        model = model_or_saved_model_dir
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        if representative_data is None:
            raise ValueError("to_tflite(mode='int8') needs representative_data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(representative_data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def tflite_interpreter(tflite_bytes: bytes, num_threads: int = 1, xnnpack: bool = True):
    """An allocated `tf.lite.Interpreter`; `xnnpack=False` keeps to the builtin kernels.

    Allocation comes first: in TF 2.14 `allocate_tensors()` is what applies the default XNNPACK delegate,
    and a signature runner made before it runs every op on the builtin kernels (2-3x slower here)."""
    import tensorflow as tf
    kind = tf.lite.experimental.OpResolverType
    interp = tf.lite.Interpreter(model_content=tflite_bytes, num_threads=int(num_threads),
                                 experimental_op_resolver_type=kind.AUTO if xnnpack
                                 else kind.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def _interpreter(tflite_bytes: bytes, num_threads: int):
    interp = tflite_interpreter(tflite_bytes, num_threads)
    return interp, interp.get_signature_runner()


def _as_feed(runner, inputs) -> dict:
    """Map inputs (dict by name, list in order, or one array) to the runner's names, quantizing int8."""
    details = runner.get_input_details()
    names = list(details)
    if isinstance(inputs, dict):
        missing = sorted(set(names) - set(inputs))
        if missing:
            raise ValueError(f"tflite inputs missing {missing}; model inputs are {names}")
        feed = {n: np.asarray(inputs[n]) for n in names}
    else:
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(arrays) != len(names):
            raise ValueError(f"tflite model has {len(names)} inputs {names}, got {len(arrays)}")
        feed = dict(zip(names, (np.asarray(a) for a in arrays)))
    return {n: quantize_input(feed[n], d) for n, d in details.items()}


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """`x` in a TFLite input's dtype: float values quantized with its scale / zero point when it is int8."""
    scale, zero = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8) and x.dtype.kind == "f" and scale:
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return x.astype(detail["dtype"])


def tflite_predict(tflite_bytes: bytes, inputs, num_threads: int = 1):
    """Run a TFLite model on a batch; dequantizes int8 outputs. One output -> array, else dict by name."""
    _, runner = _interpreter(tflite_bytes, num_threads)
    out = runner(**_as_feed(runner, inputs))
    details = runner.get_output_details()
    result = {}
    for n, y in out.items():
        scale, zero = details[n]["quantization"]
        result[n] = (y.astype(np.float32) - zero) * scale if scale else y
    return next(iter(result.values())) if len(result) == 1 else result


def tflite_latency(tflite_bytes: bytes, sample, num_threads: int = 1, runs: int = 50,
                   warmup: int = 5) -> dict:
    """Wall-clock latency of one `sample` batch: {"median_ms", "p90_ms", "mean_ms", "runs", "num_threads"}."""
    _, runner = _interpreter(tflite_bytes, num_threads)
    feed = _as_feed(runner, sample)
    for _ in range(warmup):
        runner(**feed)
    times = []
    for _ in range(int(runs)):
        t = time.perf_counter()
        runner(**feed)
        times.append((time.perf_counter() - t) * 1e3)
    times = np.asarray(times)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
            "mean_ms": float(times.mean()), "runs": int(runs), "num_threads": int(num_threads)}


def describe_export(path) -> dict[str, Any]:
    """Signature summary of an exported SavedModel (input names/dtypes, output names) for reports."""
    import tensorflow as tf
    fn = tf.saved_model.load(os.fspath(path)).signatures[SERVING_KEY]
    inputs = fn.structured_input_signature[1]
    return {"inputs": {k: v.dtype.name for k, v in sorted(inputs.items())},
            "outputs": sorted(fn.structured_outputs)}



_SUBPROCESS_PREDICT = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf
data = np.load(sys.argv[2])
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = fn(**{k: tf.constant(data[k]) for k in data.files})
np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
"""


def predict_in_subprocess(path, inputs: dict, timeout: float = 600) -> dict:
    """Load the SavedModel at `path` in a fresh Python process and run `serving_default` on `inputs`.

    inputs: {name: array}; string inputs may be str or bytes arrays.  Proves the export stands alone
    (no project code, no Python classes needed).  Returns {output name: np.ndarray}.
    """
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="tfnas-export-check-") as tmp:
        feed = {}
        for k, v in inputs.items():
            v = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            feed[k] = v.astype(bytes) if v.dtype.kind in ("U", "O") else v
        np.savez(os.path.join(tmp, "in.npz"), **feed)
        out_path = os.path.join(tmp, "out.npz")
        proc = subprocess.run([sys.executable, "-c", _SUBPROCESS_PREDICT, os.fspath(path),
                               os.path.join(tmp, "in.npz"), out_path],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"subprocess reload of {path} failed:\n{proc.stderr[-2000:]}")
        with np.load(out_path) as out:
            return {k: out[k] for k in out.files}

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


__all__ = ["check_reload", "existing_versions", "next_version", "serving_input_signature", "export_saved_model",
           "load_exported_spec", "rest_request_to_inputs", "raw_batch_to_inputs", "processed_input_model",
           "to_tflite", "tflite_predict", "tflite_latency", "describe_export", "predict_in_subprocess"]
