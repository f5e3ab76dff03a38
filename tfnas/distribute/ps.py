"""ParameterServerStrategy on localhost: 1 coordinator (this process), N workers and K parameter servers
(`python -m tfnas.distribute.ps <TF_CONFIG-json>` each, a bare `tf.distribute.Server`), the CTR network's
embedding tables sharded across the PS (a table of V rows becomes K shards of ~V/K rows, one per PS) by
`MinSizePartitioner(min_shard_bytes, max_shards=K)`: a variable is split only into
shards of at least `min_shard_bytes` (we chose 256 KiB by default, so dense layers stay whole and only tables
split).  Training is Keras `fit` on a `DatasetCreator` (each worker builds its input), the RankingModel
compiled with one optimizer (Adagrad: row-wise, a step touches only the batch's rows).  pipelines'
FieldEmbedding reads its table with tf.nn.embedding_lookup, which a sharded table (ShardedVariable) takes.
`shard_bytes(model)` measures where table memory went.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tfnas.distribute.cluster import _die_with_parent, free_ports

MIN_SHARD_BYTES = 256 << 10


def start_cluster(workers: int = 2, ps: int = 2, log_dir: str | None = None) -> tuple[dict, list]:
    """Start `workers` worker and `ps` PS servers on free localhost ports; (cluster spec dict, processes)."""
    ports = free_ports(workers + ps + 1)
    spec = {"worker": [f"127.0.0.1:{p}" for p in ports[:workers]],
            "ps": [f"127.0.0.1:{p}" for p in ports[workers:workers + ps]],
            "chief": [f"127.0.0.1:{ports[-1]}"]}
    procs = []
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for job in ("worker", "ps"):
        for i in range(len(spec[job])):
            out = open(os.path.join(log_dir, f"{job}-{i}.log"), "w") if log_dir else subprocess.DEVNULL
            cfg = json.dumps({"cluster": spec, "task": {"type": job, "index": i}})
            procs.append(subprocess.Popen([sys.executable, "-m", "tfnas.distribute.ps", cfg], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, preexec_fn=_die_with_parent))
            if log_dir:
                out.close()
    return spec, procs


def stop_cluster(procs) -> None:
    """Kill and reap every server process (they serve forever otherwise)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def strategy(spec: dict, ps: int, min_shard_bytes: int = MIN_SHARD_BYTES):
    """The coordinator's ParameterServerStrategy over `spec` (TF_CONFIG of the chief set for the resolver)."""
    import tensorflow as tf
    os.environ["TF_CONFIG"] = json.dumps({"cluster": spec, "task": {"type": "chief", "index": 0}})
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
        min_shard_bytes=min_shard_bytes, max_shards=ps)
    return tf.distribute.experimental.ParameterServerStrategy(resolver, variable_partitioner=partitioner)


def shard_bytes(model) -> dict:
    """{"per_ps": {device: bytes}, "tables": {name: [(device, rows, bytes), ...]}} of a model under PSS (Keras
    lists a sharded variable's parts one by one, "<name>/part_<i>:0": they are grouped back by name)."""
    import re
    per_ps, tables = {}, {}
    for v in model.variables:
        for s in getattr(v, "variables", [v]):
            nbytes = int(s.shape.num_elements()) * s.dtype.size
            per_ps[s.device] = per_ps.get(s.device, 0) + nbytes
            name = re.sub(r"(/part_\d+)?:\d+$", "", s.name)
            if "/part_" in s.name or "embedding" in name:
                tables.setdefault(name, []).append((s.device, int(s.shape[0]), nbytes))
    return {"per_ps": dict(sorted(per_ps.items())), "tables": tables}


def serve(cfg_json: str) -> None:
    """Body of a worker/PS process: a `tf.distribute.Server` that serves until killed."""
    import tensorflow as tf
    cfg = json.loads(cfg_json)
    server = tf.distribute.Server(tf.train.ClusterSpec(cfg["cluster"]), job_name=cfg["task"]["type"],
                                  task_index=cfg["task"]["index"], protocol="grpc", start=True)
    server.join()


def wait_ready(spec: dict, timeout: float = 300.0) -> None:
    """Wait until every worker and PS port accepts connections (a server process needs a TensorFlow import
    first: 5-20 s on 2 loaded cores)."""
    import socket
    end = time.monotonic() + timeout
    for address in spec["worker"] + spec["ps"]:
        host, port = address.rsplit(":", 1)
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise TimeoutError(f"parameter-server cluster: {address} not listening after {timeout} s")
                time.sleep(0.2)


def train_ctr(data: str, steps: int, batch_size: int, model: str = "dlrm", hparams: dict | None = None,
              strategy_=None, learning_rate: float = 0.05, seed: int = 0) -> dict:
    """Train a CTR baseline 2 x `steps` steps on `data`'s train split under `strategy_` (None: this process
    alone): the first epoch of `steps` warms up (tracing, connecting), the second is timed.  Returns
    {"seconds_per_step", "loss" (last epoch's), "shards" (`shard_bytes`), "model"}."""
    import tensorflow as tf

    from pipelines.ctr.baselines import build_baseline
    from pipelines.ctr.dataset import load_spec, make_split_dataset
    from pipelines.ctr.train import example_batch
    from tfnas.distribute.ranking import DistributedRankingModel
    from tfnas.train.optimizers import make_optimizer
    from tfnas.train.seeding import seeded

    strat = strategy_ or tf.distribute.get_strategy()
    spec = load_spec(data)

    def dataset_fn(context=None):
        return make_split_dataset(data, "train", batch_size, shuffle=True, repeat=True, seed=seed)

    with strat.scope(), seeded(seed):
        network = build_baseline(model, spec, **(hparams or {}))
        network(example_batch(spec))
        net = DistributedRankingModel(network)
        net.compile(optimizer=make_optimizer("keras_adagrad", learning_rate))
    data_in = tf.keras.utils.experimental.DatasetCreator(dataset_fn) if strategy_ is not None else dataset_fn()
    marks = {}

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks[epoch] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            marks[f"end{epoch}"] = time.perf_counter()

    hist = net.fit(data_in, epochs=2, steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
    return {"seconds_per_step": (marks["end1"] - marks[1]) / steps, "loss": float(hist.history["loss"][-1]),
            "shards": shard_bytes(net), "model": net}


if __name__ == "__main__":
    serve(sys.argv[1])
