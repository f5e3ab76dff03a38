"""TFLite for any Keras model or SavedModel: float32, float16 (fp16 weights) and full-integer int8 with a
representative data set; the one interpreter factory (XNNPACK on/off), int8 input quantization, predict
and whole-call latency."""
from __future__ import annotations

import os
import time
from typing import Callable, Iterable

import numpy as np

MODES = ("float32", "float16", "int8")


def _representative(data) -> Callable[[], Iterable]:
    """Normalise representative data (callable or iterable of arrays / lists / dicts) for the converter.

    Each item is one input batch: an array (single-input model), a list in input order, or a dict keyed by
    the model's signature input names.  A tf.data.Dataset works as an iterable of such items.
    """
    def gen():
        items = data() if callable(data) else data
        for item in items:
            if isinstance(item, dict):
                yield {k: np.asarray(v) for k, v in item.items()}
            elif isinstance(item, (list, tuple)):
                yield [np.asarray(x) for x in item]
            else:
                yield [np.asarray(item)]
    return gen


def to_tflite(model_or_saved_model_dir, mode: str = "float32", representative_data=None) -> bytes:
    """Convert a Keras model or SavedModel directory to a TFLite flatbuffer.

    mode: "float32" (plain), "float16" (post-training fp16 weights), "int8" (full-integer quantization:
    int8 weights and activations, int8 float-inputs/outputs; needs `representative_data`, see
    `_representative`).  Non-float inputs (e.g. int64 ids) keep their type.
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"to_tflite: mode must be float32, float16 or int8, got {mode!r}")
    if isinstance(model_or_saved_model_dir, (str, os.PathLike)):
        path = os.fspath(model_or_saved_model_dir)
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path}: no saved_model.pb")
        converter = tf.lite.TFLiteConverter.from_saved_model(path)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model_or_saved_model_dir)
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


def write_tflite(model, path: str, mode: str = "float32", representative_data=None) -> str:
    """`to_tflite` written atomically (tmp + rename) to `path`; returns `path`."""
    blob = to_tflite(model, mode, representative_data)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    return path


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


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """`x` in a TFLite input's dtype: float values quantized with its scale / zero point when it is int8."""
    scale, zero = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8) and x.dtype.kind == "f" and scale:
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return x.astype(detail["dtype"])


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
    """Wall-clock latency of one `sample` batch through the signature runner (Python call included):
    {"median_ms", "p90_ms", "mean_ms", "runs", "num_threads"}; `latency.invoke_latency` times invoke only."""
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
