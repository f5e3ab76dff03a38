"""TFLite latency measured like TFLite's `benchmark_model` (input set once, only `invoke()` timed), with
the XNNPACK delegate (the TF 2.14 Python interpreter's default, float32 and signed int8) or without it,
and a check of which ops XNNPACK took, so float32 and int8 are compared on the same kernels.

Why not `tfnas.export.tflite.tflite_latency`: it times whole signature-runner calls, whose per-call Python work
is as large as a whole invoke of a 0.4M-MAC model.
"""
from __future__ import annotations

import collections
import time

import numpy as np

from tfnas.export.tflite import quantize_input
from tfnas.export.tflite import tflite_interpreter as interpreter  # noqa: F401  (the one interpreter factory)


def set_input(interp, sample) -> None:
    """Set input 0 to `sample` (float, quantized to the input's int8 scale when needed) or to zeros."""
    d = interp.get_input_details()[0]
    if sample is None:
        x = np.zeros(d["shape"], d["dtype"])
    else:
        x = np.asarray(sample)
        if tuple(x.shape) != tuple(d["shape"]):
            raise ValueError(f"latency sample has shape {x.shape}, the model input {d['name']!r} wants "
                             f"{tuple(d['shape'])}")
        x = quantize_input(x, d)
    interp.set_tensor(d["index"], x)


def invoke_latency(tflite_bytes: bytes, sample=None, num_threads: int = 1, runs: int = 100, warmup: int = 10,
                   xnnpack: bool = True) -> dict:
    """Per-invoke wall time in ms: {"median_ms", "p10_ms", "p90_ms", "mean_ms", "runs", "num_threads", "xnnpack"}.

    `sample` is one input batch (float, quantized for int8 inputs), or None for zeros of the input's shape.
    """
    interp = interpreter(tflite_bytes, num_threads, xnnpack)
    set_input(interp, sample)
    for _ in range(int(warmup)):
        interp.invoke()
    times = np.empty(int(runs))
    for i in range(int(runs)):
        start = time.perf_counter()
        interp.invoke()
        times[i] = time.perf_counter() - start
    times *= 1e3
    return {"median_ms": float(np.median(times)), "p10_ms": float(np.percentile(times, 10)),
            "p90_ms": float(np.percentile(times, 90)), "mean_ms": float(times.mean()), "runs": int(runs),
            "num_threads": int(num_threads), "xnnpack": bool(xnnpack)}


def delegation(tflite_bytes: bytes) -> dict:
    """Ops of the model and whether the default XNNPACK delegate took all of them.

    Returns {"ops": {op: count}, "partitions": number of delegate nodes, "fully_delegated": bool,
    "outside": ops found outside the delegate}. An op runs outside when it produces a model output or
    an input of a delegate partition (an activation, not a weight): everything inside is XNNPACK's.
    """
    interp = interpreter(tflite_bytes, 1, xnnpack=True)
    nodes = interp._get_ops_details()
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    original = [n for n in nodes if n["op_name"] != "DELEGATE"]
    produced_by = {int(t): n for n in original for t in n["outputs"]}
    delegate_outputs = {int(t) for n in delegates for t in n["outputs"]}
    delegate_inputs = {int(t) for n in delegates for t in n["inputs"]}
    model_outputs = {int(d["index"]) for d in interp.get_output_details()}
    outside = {id(produced_by[t]): produced_by[t] for t in delegate_inputs | (model_outputs - delegate_outputs)
               if t in produced_by}
    ops = collections.Counter(n["op_name"] for n in original)
    return {"ops": dict(sorted(ops.items())), "partitions": len(delegates),
            "fully_delegated": bool(delegates) and not outside and model_outputs <= delegate_outputs,
            "outside": sorted(n["op_name"] for n in outside.values())}


def latency_grid(tflite_bytes: bytes, sample=None, threads=(1, 2), runs: int = 100) -> dict:
    """Median ms for each thread count, with XNNPACK and with the builtin kernels, plus `delegation`."""
    out = {"xnnpack_ms": {}, "builtin_ms": {}, "delegation": delegation(tflite_bytes)}
    for t in threads:
        out["xnnpack_ms"][str(t)] = invoke_latency(tflite_bytes, sample, t, runs, xnnpack=True)["median_ms"]
        out["builtin_ms"][str(t)] = invoke_latency(tflite_bytes, sample, t, runs, xnnpack=False)["median_ms"]
    return out


def at_input_size(model, size: int):
    """The same functional Keras model (same weights) built for `size`×`size` inputs.

    Valid for fully convolutional classifiers that end in global pooling (ShrinkCNN, MobileNetV2): their
    weights do not depend on the input size. Used to time the trained architecture at a mobile resolution.
    """
    import tensorflow as tf
    config = model.get_config()
    first = config["layers"][0]
    if first["class_name"] != "InputLayer":
        raise ValueError(f"at_input_size: {model.name} does not start with an InputLayer")
    shape = list(first["config"]["batch_input_shape"])
    if len(shape) != 4:
        raise ValueError(f"at_input_size: {model.name} input {shape} is not an image batch (N, H, W, C)")
    first["config"]["batch_input_shape"] = [shape[0], int(size), int(size), shape[3]]
    resized = tf.keras.Model.from_config(config)
    resized.set_weights(model.get_weights())
    return resized
