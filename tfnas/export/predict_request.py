"""TF Serving gRPC client side for exported CTR models: a `PredictRequest` built from raw rows (the same
mapping as the REST body helper, `ctr.request_arrays`), checked against the SavedModel's `serving_default`
signature (names, dtypes, shapes), and the warm-up file TF Serving replays on load
(`assets.extra/tf_serving_warmup_requests`: a TFRecord of `PredictionLog` records).

No server is needed to check a request: `predict_request_in_subprocess` feeds its tensor protos through the
reloaded signature in a fresh Python that imports only TensorFlow and the serving protos.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

from tfnas.export.serving import EXTRA_DIR, SERVING_KEY

WARMUP_FILE = os.path.join(EXTRA_DIR, "tf_serving_warmup_requests")


# --------------------------------------------------------------------------------------------- signatures
def signature_of_saved_model(path, key: str = SERVING_KEY) -> dict[str, tuple[str, tuple | None]]:
    """{input name: (dtype name, shape with None for open dims, or None for unknown rank)} of signature `key`,
    read from `path`/saved_model.pb the way TF Serving sees it (no graph is loaded)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(os.fspath(path), "saved_model.pb")
    if not os.path.isfile(pb):
        raise FileNotFoundError(f"{pb}: no saved_model.pb (is {path} an exported version folder?)")
    sm = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        sm.ParseFromString(f.read())
    sigs = sm.meta_graphs[0].signature_def
    if key not in sigs:
        raise ValueError(f"{pb}: no signature {key!r} (it has {sorted(sigs)})")
    out = {}
    for name, info in sigs[key].inputs.items():
        shape = None if info.tensor_shape.unknown_rank else tuple(
            None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
        out[name] = (tf.dtypes.as_dtype(info.dtype).name, shape)
    return out


def signature_of_specs(specs: dict) -> dict[str, tuple[str, tuple | None]]:
    """The same description from {name: tf.TensorSpec} (e.g. `ctr.serving_input_signature(spec)`)."""
    return {k: (v.dtype.name, None if v.shape.rank is None else tuple(v.shape.as_list())) for k, v in specs.items()}


def _proto_dtype_shape(proto) -> tuple[str, tuple]:
    import tensorflow as tf
    return tf.dtypes.as_dtype(proto.dtype).name, tuple(int(d.size) for d in proto.tensor_shape.dim)


def check_request(request, signature: dict, where: str = "PredictRequest") -> None:
    """Raise a ValueError naming the input when `request`'s tensors do not fit `signature`
    (missing or unknown input, wrong dtype, wrong rank or fixed dimension, inputs of different batch size)."""
    given, wanted = set(request.inputs), set(signature)
    if wanted - given:
        raise ValueError(f"{where}: missing input(s) {sorted(wanted - given)} (the signature takes {sorted(wanted)})")
    if given - wanted:
        raise ValueError(f"{where}: unknown input(s) {sorted(given - wanted)} (the signature takes {sorted(wanted)})")
    batch = {}
    for name in sorted(given):
        dtype, shape = _proto_dtype_shape(request.inputs[name])
        want_dtype, want_shape = signature[name]
        if dtype != want_dtype:
            raise ValueError(f"{where}: input {name!r} has dtype {dtype}, the signature wants {want_dtype}")
        if want_shape is not None:
            if len(shape) != len(want_shape):
                raise ValueError(f"{where}: input {name!r} has shape {list(shape)}, the signature wants rank "
                                 f"{len(want_shape)} {[d if d is not None else -1 for d in want_shape]}")
            for axis, (d, w) in enumerate(zip(shape, want_shape)):
                if w is not None and d != w:
                    raise ValueError(f"{where}: input {name!r} has size {d} on axis {axis}, the signature wants {w}")
        if shape:
            batch[name] = shape[0]
    if len(set(batch.values())) > 1:
        raise ValueError(f"{where}: inputs differ in batch size {batch}")


# --------------------------------------------------------------------------------------------- requests
def predict_request(rows, spec, model_name: str, signature: dict | None = None, version: int | None = None,
                    signature_name: str = SERVING_KEY):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for an exported CTR model.

    rows: a list of {feature: value} (raw rows) or a REST body (`{"instances": ...}` / `{"inputs": ...}`),
    mapped by `ctr.request_arrays` exactly as the REST helper maps it.  signature: from
    `signature_of_saved_model(path)` (or `signature_of_specs`); when given, the request is checked against it.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from tfnas.export.ctr import request_arrays

    body = rows if isinstance(rows, dict) else {"instances": list(rows)}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, values in request_arrays(body, spec).items():
        dtype = tf.string if values.dtype == object else tf.float32
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=dtype, shape=values.shape))
    if signature is not None:
        check_request(request, signature)
    return request


def request_to_arrays(request) -> dict[str, np.ndarray]:
    """{input name: np.ndarray} decoded from a PredictRequest's tensor protos (what the server does)."""
    import tensorflow as tf
    return {k: tf.make_ndarray(v) for k, v in request.inputs.items()}


# --------------------------------------------------------------------------------------------- warm-up file
def warmup_bytes(requests) -> bytes:
    """The warm-up file's content: one TFRecord per request, each a `PredictionLog` with a `predict_log`."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    with tempfile.TemporaryDirectory(prefix="tfnas-warmup-") as tmp:
        path = os.path.join(tmp, "warmup")
        with tf.io.TFRecordWriter(path) as writer:
            for request in requests:
                log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
        with open(path, "rb") as f:
            return f.read()


def read_warmup(path) -> list:
    """The PredictRequests of a warm-up file (`path`: the file, or an exported version folder)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, WARMUP_FILE)
    out = []
    for i, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: record {i} is a {log.WhichOneof('log_type')!r}, not a predict_log")
        out.append(log.predict_log.request)
    return out


def default_warmup_rows(rows: int = 2) -> list[dict]:
    """Warm-up rows when the caller has none: every feature missing (NaN / ""), the path every model serves."""
    return [{} for _ in range(rows)]


# --------------------------------------------------------------------------------------------- fresh process
_SUBPROCESS = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf
from tensorflow_serving.apis import predict_pb2
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
outs = {}
for i, name in enumerate(sys.argv[3:]):
    req = predict_pb2.PredictRequest()
    with open(name, "rb") as f:
        req.ParseFromString(f.read())
    res = fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in req.inputs.items()})
    outs.update({f"{i}/{k}": v.numpy() for k, v in res.items()})
np.savez(sys.argv[2], **outs)
"""


def predict_request_in_subprocess(path, requests, timeout: float = 600) -> list[dict]:
    """Run each PredictRequest through `path`'s `serving_default` in a fresh Python (TensorFlow and the serving
    protos only; the request travels serialized, as over gRPC).  Returns one {output: np.ndarray} per request."""
    with tempfile.TemporaryDirectory(prefix="tfnas-predict-request-") as tmp:
        files = []
        for i, request in enumerate(requests):
            files.append(os.path.join(tmp, f"req{i}.pb"))
            with open(files[-1], "wb") as f:
                f.write(request.SerializeToString())
        out_path = os.path.join(tmp, "out.npz")
        proc = subprocess.run([sys.executable, "-c", _SUBPROCESS, os.fspath(path), out_path, *files],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"subprocess predict of {path} failed:\n{proc.stderr[-2000:]}")
        result = [{} for _ in files]
        with np.load(out_path) as out:
            for key in out.files:
                i, name = key.split("/", 1)
                result[int(i)][name] = out[key]
        return result
