"""NAS-Bench-101 reader for the official `nasbench_only108.tfrecord` in TF2 (no `nasbench` package needed).

Each record is a UTF-8 JSON list `[module_hash, epochs, adjacency, ops, metrics]`: `adjacency` is the
row-major n*n string of 0/1, `ops` the comma-joined node ops, `metrics` a base64 `ModelMetrics` proto.
The shipped `model_metrics_pb2.py` fails under protobuf 4, so the message class is built here from a
`FileDescriptorProto` with the same fields and numbers. Repeats of one module (three trainings) are
averaged; the final `EvaluationData` entry (end of training) gives the accuracies.
Full file (~499 MB): https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord; pass its path.
"""
from __future__ import annotations

import base64
import json
import math
import os
from functools import lru_cache

_FIELDS_EVAL = (("current_epoch", 1, "double"), ("training_time", 2, "double"), ("train_accuracy", 3, "double"),
                ("validation_accuracy", 4, "double"), ("test_accuracy", 5, "double"),
                ("checkpoint_path", 6, "string"))


@lru_cache(maxsize=1)
def model_metrics_class():
    """Return `(ModelMetrics, EvaluationData)` message classes built from a descriptor (protobuf >= 4)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="tfnas_nasbench101_model_metrics.proto",
                                             package="tfnas_nasbench", syntax="proto2")
    T = descriptor_pb2.FieldDescriptorProto
    kinds = {"double": T.TYPE_DOUBLE, "string": T.TYPE_STRING, "int32": T.TYPE_INT32}
    ev = fdp.message_type.add(name="EvaluationData")
    for name, number, kind in _FIELDS_EVAL:
        ev.field.add(name=name, number=number, type=kinds[kind], label=T.LABEL_OPTIONAL)
    mm = fdp.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=T.TYPE_MESSAGE, label=T.LABEL_REPEATED,
                 type_name=".tfnas_nasbench.EvaluationData")
    mm.field.add(name="trainable_parameters", number=2, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    fd = pool.Add(fdp)
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:  # protobuf < 4.21
        factory = message_factory.MessageFactory(pool)
        return (factory.GetPrototype(fd.message_types_by_name["ModelMetrics"]),
                factory.GetPrototype(fd.message_types_by_name["EvaluationData"]))
    return get(fd.message_types_by_name["ModelMetrics"]), get(fd.message_types_by_name["EvaluationData"])


def _parse_matrix(text: str, where: str) -> list[list[int]]:
    n = int(round(math.sqrt(len(text))))
    if n * n != len(text) or set(text) - {"0", "1"}:
        raise ValueError(f"{where}: adjacency {text!r} is not a square 0/1 matrix string")
    return [[int(text[i * n + j]) for j in range(n)] for i in range(n)]


def read_nb101(path: str | os.PathLike, epochs: int = 108, limit: int | None = None) -> dict[str, dict]:
    """{module_hash: {matrix, ops, params, train/valid/test accuracy (mean of repeats), training_time, repeats}}."""
    import tensorflow as tf

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: NAS-Bench-101 tfrecord not found (nasbench_only108.tfrecord)")
    ModelMetrics, _ = model_metrics_class()
    out: dict[str, dict] = {}
    for i, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        where = f"{path}: record {i}"
        try:
            module_hash, ep, adjacency, ops, b64 = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: not a JSON list [hash, epochs, adjacency, ops, metrics] ({exc})") from None
        if int(ep) != int(epochs):
            continue
        metrics = ModelMetrics.FromString(base64.b64decode(b64))
        if not metrics.evaluation_data:
            raise ValueError(f"{where}: ModelMetrics has no evaluation_data")
        final = metrics.evaluation_data[-1]
        matrix = _parse_matrix(adjacency, where)
        op_list = ops.split(",")
        if len(op_list) != len(matrix):
            raise ValueError(f"{where}: {len(op_list)} ops for a {len(matrix)}-node matrix")
        row = out.setdefault(module_hash, {"matrix": matrix, "ops": op_list,
                                           "params": int(metrics.trainable_parameters), "runs": []})
        row["runs"].append((final.train_accuracy, final.validation_accuracy, final.test_accuracy,
                            final.training_time))
        if limit is not None and len(out) >= limit:
            break
    for row in out.values():
        runs = row.pop("runs")
        k = len(runs)
        row.update(train_accuracy=sum(r[0] for r in runs) / k, validation_accuracy=sum(r[1] for r in runs) / k,
                   test_accuracy=sum(r[2] for r in runs) / k, training_time=sum(r[3] for r in runs) / k, repeats=k)
    return out


def write_nb101_records(path: str | os.PathLike, records) -> None:
    """Write records `(hash, epochs, matrix, ops, params, [(train, valid, test, time), ...])` in the official format."""
    import tensorflow as tf

    ModelMetrics, _ = model_metrics_class()
    tmp = f"{path}.tmp"
    with tf.io.TFRecordWriter(tmp) as writer:
        for module_hash, ep, matrix, ops, params, evals in records:
            m = ModelMetrics(trainable_parameters=int(params), total_time=1.0)
            for epoch_i, (tr, va, te, t) in enumerate(evals):
                m.evaluation_data.add(current_epoch=float(epoch_i + 1), training_time=t, train_accuracy=tr,
                                      validation_accuracy=va, test_accuracy=te)
            adjacency = "".join(str(int(x)) for r in matrix for x in r)
            doc = [module_hash, int(ep), adjacency, ",".join(ops), base64.b64encode(m.SerializeToString()).decode()]
            writer.write(json.dumps(doc).encode("utf-8"))
    os.replace(tmp, path)
