"""The fresh-process reload check: load an exported SavedModel in a new Python (no project code, no Python
classes) and compare its `serving_default` outputs with the in-memory Keras model's."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

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

    inputs: {name: array}; string inputs may be str or bytes arrays.  Returns {output name: np.ndarray}.
    """
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


def sample_inputs(model, batch: int = 4, seed: int = 0, low: float = 0.0, high: float = 1.0) -> dict:
    """{input name: array} of seeded random inputs for a Keras model (floats uniform in [low, high),
    integers in [0, 10)); open non-batch dimensions are refused (give real inputs instead)."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        shape = [batch, *t.shape[1:]]
        if any(d is None for d in shape):
            raise ValueError(f"input {t.name!r} has an open dimension {tuple(t.shape)}; pass inputs explicitly")
        dt = t.dtype.as_numpy_dtype
        out[t.name.split(":")[0]] = (rng.uniform(low, high, shape).astype(dt) if np.issubdtype(dt, np.floating)
                                     else rng.integers(0, 10, shape).astype(dt))
    return out


def keras_outputs(model, inputs: dict) -> dict:
    """{output name: np.ndarray} of `model(inputs, training=False)`, named as the serving signature names them."""
    from tfnas.export.serving import output_names
    names = [t.name.split(":")[0] for t in model.inputs]
    out = model(inputs if len(names) > 1 else inputs[names[0]], training=False)
    if isinstance(out, dict):
        return {k: np.asarray(v) for k, v in out.items()}
    outs = out if isinstance(out, (list, tuple)) else [out]
    return {n: np.asarray(v) for n, v in zip(output_names(model), outs)}


def check_model_reload(model, path, inputs: dict | None = None) -> float:
    """Max |served - keras| over every output of the SavedModel at `path`, reloaded in a fresh process.

    inputs: {input name: array}; default `sample_inputs(model)`.  Raises if the outputs differ in names
    or shapes (a mismatch there is not a small number).
    """
    inputs = sample_inputs(model) if inputs is None else inputs
    ref = keras_outputs(model, inputs)
    served = predict_in_subprocess(path, inputs)
    if set(served) != set(ref):
        raise RuntimeError(f"{path}: served outputs {sorted(served)} differ from the model's {sorted(ref)}")
    diff = 0.0
    for k, v in ref.items():
        if served[k].shape != v.shape:
            raise RuntimeError(f"{path}: output {k!r} has shape {served[k].shape}, the model gives {v.shape}")
        diff = max(diff, float(np.max(np.abs(served[k].astype(np.float64) - v.astype(np.float64)))))
    return diff
