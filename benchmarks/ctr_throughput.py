"""Training throughput of each CTR baseline fed by the Criteo reader (files on disk) vs cached in-memory tensors.

Target: reader/cached >= 0.90, i.e. the input pipeline never starves training.  Both sides run the same
compiled model (RankingModel, adam+adagrad) for the same number of steps; the cached side is
`tf.data.Dataset.from_tensor_slices(<the same processed rows>).batch(B).cache().repeat()`.  Each side
runs one fit of 1 + rounds epochs (the first untimed); the order is cached, reader, cached, and the median
epoch time of each side is reported, to damp noise on a shared machine.  A third side reads the binary cache
that `tfnas data cache` writes (parsed + hashed .npy shards, shuffled and repeated like the reader), measured
between the reader and the second cached round: its ratio is what `--data CACHE` training gets.
Run: `python benchmarks/ctr_throughput.py --quick` (synthetic data written to a temp dir unless --data).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _epoch_times(model, ds, steps: int, rounds: int) -> list[float]:
    """Seconds of each of `rounds` timed epochs of `steps` steps; one untimed warm-up epoch first.

    One fit call keeps one iterator, as real training does (no shuffle-buffer refill per round).
    """
    import tensorflow as tf

    times, start = [], []
    timer = tf.keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: start.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(time.perf_counter() - start[-1]))
    model.fit(ds, steps_per_epoch=steps, epochs=rounds + 1, verbose=0, callbacks=[timer])
    return times[1:]


def measure(name: str, data: str, batch: int, steps: int, rounds: int, cache: str | None = None) -> dict:
    """Examples/s of baseline `name` on the reader and on cached tensors (median over `rounds`)."""
    import numpy as np
    import tensorflow as tf

    from pipelines.ctr.baselines import build_baseline
    from pipelines.ctr.dataset import load_spec, make_split_dataset
    from pipelines.ctr.ranking import RankingModel
    from tfnas.train.optimizers import make_optimizer_pair

    spec = load_spec(data)
    reader = make_split_dataset(data, "train", batch, shuffle=True, repeat=True).prefetch(tf.data.AUTOTUNE)
    rows = [b for b in make_split_dataset(data, "train", batch).take(steps)]
    tensors = {k: np.concatenate([b[k].numpy() for b in rows]) for k in ("dense", "sparse", "label")}
    cached = (tf.data.Dataset.from_tensor_slices(tensors).batch(batch, drop_remainder=True).cache()
              .repeat().prefetch(tf.data.AUTOTUNE))
    tf.keras.utils.set_random_seed(0)
    opt, sparse_opt = make_optimizer_pair("adam+adagrad", 1e-3, 0.2)
    model = RankingModel(build_baseline(name, spec), sparse_optimizer=sparse_opt)
    model.compile(optimizer=opt)
    t_cached = _epoch_times(model, cached, steps, rounds)
    t_reader = _epoch_times(model, reader, steps, rounds)
    t_cache = []
    if cache:
        from_cache = make_split_dataset(cache, "train", batch, shuffle=True, repeat=True).prefetch(tf.data.AUTOTUNE)
        t_cache = _epoch_times(model, from_cache, steps, rounds)
    t_cached += _epoch_times(model, cached, steps, rounds)   # cached again: drift on a shared machine
    ex = steps * batch
    c, r = ex / float(np.median(t_cached)), ex / float(np.median(t_reader))
    out = {"model": name, "cached": c, "reader": r, "ratio": r / c}
    if t_cache:
        out.update(cache=ex / float(np.median(t_cache)), cache_ratio=ex / float(np.median(t_cache)) / c)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 steps x 3 rounds on 60k synthetic rows")
    parser.add_argument("--data", default=None, help="Criteo-format data dir (default: synthetic, temp)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--models", default="dlrm,deepfm,dcnv2,autoint,mlp")
    parser.add_argument("--no-cache", action="store_true", help="skip the `tfnas data cache` side")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    steps = args.steps or (40 if args.quick else 150)
    rounds = args.rounds or (3 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="ctr-throughput-") as tmp:
        data = args.data
        if data is None:
            from pipelines.ctr.synthetic import write_synthetic
            data = os.path.join(tmp, "synth")
            write_synthetic(data, 60_000 if args.quick else 400_000, seed=0)
        cache = None
        if not args.no_cache:
            from pipelines.ctr.cache import write_cache
            cache, t0 = os.path.join(tmp, "cache"), time.perf_counter()
            write_cache(data, cache)
            print(f"  tfnas data cache: {time.perf_counter() - t0:.1f}s", flush=True)
        results = []
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            results.append(measure(name, data, args.batch_size, steps, rounds, cache))
            r = results[-1]
            print(f"  {name}: cached {r['cached']:,.0f} ex/s, reader {r['reader']:,.0f} ex/s"
                  + (f", data cache {r['cache']:,.0f} ex/s" if "cache" in r else ""), flush=True)
    print(f"\nbatch {args.batch_size}, {steps} steps x {rounds} rounds (median epoch), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<9} {'cached ex/s':>12} {'reader ex/s':>12} {'ratio':>6} {'cache ex/s':>11} {'ratio':>6}")
    for r in results:
        flag = "" if min(r["ratio"], r.get("cache_ratio", 1.0)) >= 0.90 else "  < 0.90 target"
        extra = f" {r['cache']:>11,.0f} {r['cache_ratio']:>6.2f}" if "cache" in r else ""
        print(f"{r['model']:<9} {r['cached']:>12,.0f} {r['reader']:>12,.0f} {r['ratio']:>6.2f}{extra}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
