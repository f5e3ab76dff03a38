"""One command for a GPU day: NASRec supernet training examples/s, a CTR baseline's training examples/s and the
exported SavedModel's inference rows/s, on whatever device TensorFlow sees (GPU if any, else CPU, slowly).

Synthetic processed batches (13 dense, 26 categorical features, tables capped at --max-rows); the first step of
each part (tracing) is not timed.  The `gpu` extra installs the CUDA wheels TF 2.14 needs.

    nice -n 10 .venv/bin/python benchmarks/gpu.py                      # a few minutes on a GPU
    nice -n 10 .venv/bin/python benchmarks/gpu.py --tiny               # seconds of work, for tests
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITEO_CARDINALITIES = [1461, 584, 10131227, 2202609, 306, 25, 12518, 634, 4, 93146, 5684, 8351593, 3195, 28,
                        14993, 5461307, 11, 5653, 2174, 5, 7046548, 19, 16, 286182, 106, 142573]


def _timed(step, steps: int) -> float:
    """Seconds for `steps` calls of `step()` after one untimed (tracing) call."""
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        out = step()
    if isinstance(out, dict):
        [v.numpy() for v in out.values() if hasattr(v, "numpy")]   # wait for the device
    return time.perf_counter() - t0


def run(batch: int, steps: int, max_rows: int, blocks: int, infer_batch: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import numpy as np
    import tensorflow as tf

    from pipelines.ctr.baselines import build_baseline
    from pipelines.ctr.schema import FeatureSpec
    from tfnas.export.ctr import export_saved_model, raw_batch_to_inputs
    from tfnas.nasrec.supernet import NASRecSupernet
    from tfnas.nasrec.training import make_optimizer as supernet_optimizer
    from tfnas.train.optimizers import make_optimizer
    from tfnas.train.seeding import seeded
    from tfnas.train.task import RankingTask

    vocab = [min(v, max_rows) for v in CRITEO_CARDINALITIES]
    spec = FeatureSpec([f"I{i + 1}" for i in range(13)], [f"C{i + 1}" for i in range(26)], vocab)
    rng = np.random.default_rng(0)
    n = 4 * batch
    xs = {"dense": rng.normal(size=(n, 13)).astype("f"),
          "sparse": np.stack([rng.integers(0, v, n) for v in vocab], 1).astype("int64")}
    ys = rng.integers(0, 2, (n, 1)).astype("f")
    ds = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(batch, drop_remainder=True).cache().repeat().prefetch(2)
    gpus = tf.config.list_physical_devices("GPU")
    out = {"device": "GPU: " + ", ".join(d.name for d in gpus) if gpus else "CPU", "batch": batch, "steps": steps,
           "table_rows": int(sum(vocab))}
    with seeded(0):
        sn = NASRecSupernet(spec, kind="small", num_blocks=blocks, warmup_steps=0, seed=0)
        sn.compile(optimizer=supernet_optimizer(0.12, max(steps, 10)))
        sn({k: v[:2] for k, v in xs.items()})
        it, train = iter(ds), sn.make_train_function()
        out["supernet_train_examples_per_s"] = steps * batch / _timed(lambda: train(it), steps)

        net = build_baseline("dlrm", spec, embedding_dim=16, bottom=[64, 16], top=[64])
        RankingTask().compile(net, make_optimizer("keras_adagrad", 0.05))
        it2, train2 = iter(ds), net.make_train_function()
        out["baseline_train_examples_per_s"] = steps * batch / _timed(lambda: train2(it2), steps)

    raw = {"dense": np.where(rng.random((infer_batch, 13)) < 0.1, np.nan, rng.integers(0, 50, (infer_batch, 13)))
           .astype(np.float32),
           "categorical": rng.integers(0, 10_000, (infer_batch, 26)).astype(str).astype(object)}
    with tempfile.TemporaryDirectory(prefix="tfnas-bench-gpu-") as tmp:
        path = export_saved_model(net, spec, "bench", root=tmp)
        serve = tf.saved_model.load(path).signatures["serving_default"]
        inputs = raw_batch_to_inputs({"dense": tf.constant(raw["dense"]),
                                      "categorical": tf.constant(raw["categorical"], tf.string)}, spec)
        out["inference_rows_per_s"] = steps * infer_batch / _timed(lambda: serve(**inputs), steps)
    out["infer_batch"] = infer_batch
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch", type=int, default=2048, help="training batch")
    p.add_argument("--steps", type=int, default=50, help="timed steps per part")
    p.add_argument("--max-rows", type=int, default=500_000, help="rows per embedding table at most")
    p.add_argument("--blocks", type=int, default=7, help="supernet blocks")
    p.add_argument("--infer-batch", type=int, default=1024, help="rows per inference call")
    p.add_argument("--tiny", action="store_true", help="batch 16, 2 steps, 100-row tables, 2 blocks")
    args = p.parse_args(argv)
    if args.tiny:
        args.batch, args.steps, args.max_rows, args.blocks, args.infer_batch = 16, 2, 100, 2, 16
    if min(args.batch, args.steps, args.max_rows, args.blocks, args.infer_batch) < 1:
        p.error("--batch, --steps, --max-rows, --blocks and --infer-batch must be >= 1")
    print(json.dumps(run(args.batch, args.steps, args.max_rows, args.blocks, args.infer_batch), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
