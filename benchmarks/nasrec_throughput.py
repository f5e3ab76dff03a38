"""NASRec supernet training throughput (examples/s) and peak memory, NASRec-Small and -Full.

Each setting runs in its own subprocess (clean peak RSS): 7 blocks, batch 512, the single-operator
any-connection sampler after warm-up, Adagrad + clipping, on synthetic processed batches; embedding
tables either capped at 0.5M rows (search setting) or Criteo-size (26 tables, 33.76M rows, the
reference's per-field cardinalities).  The first step (tracing) is timed apart from the measured steps.
Then candidate evaluations per minute: the search's `SupernetEvaluator` scoring sampled subnets (head
fine-tuned for --finetune-steps batches, then --eval-batches validation batches).

    python benchmarks/nasrec_throughput.py --quick        # few steps per setting
    python benchmarks/nasrec_throughput.py --steps 50
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

# Criteo Kaggle per-field cardinalities used by facebookresearch/NasRec (sum 33,762,601 rows)
CRITEO_CARDINALITIES = [1461, 584, 10131227, 2202609, 306, 25, 12518, 634, 4, 93146, 5684, 8351593, 3195, 28,
                        14993, 5461307, 11, 5653, 2174, 5, 7046548, 19, 16, 286182, 106, 142573]
REFERENCE_RATE = {"full": 54.0, "small": 120.0}   # examples/s of the PyTorch reference on this CPU (task brief)


def candidate_rate(sn, ds, finetune_steps: int, eval_batches: int, candidates: int) -> float:
    """Candidate evaluations per minute: fix a sampled subnet, fine-tune the head, score on val batches
    (the search's `SupernetEvaluator`; the first, tracing, evaluation is not timed)."""
    import numpy as np
    from tfnas.nasrec.config import FinetuneConfig
    from tfnas.nasrec.evaluate import SupernetEvaluator

    ft = FinetuneConfig(steps=finetune_steps, eval_steps=eval_batches)
    ev = SupernetEvaluator(sn, ds, ds, ft)
    rng = np.random.default_rng(1)
    ev.score(sn.space.sample(rng))
    t0 = time.time()
    for _ in range(candidates):
        ev.score(sn.space.sample(rng))
    return candidates * 60.0 / (time.time() - t0)


def run_setting(kind: str, tables: str, steps: int, batch: int, blocks: int, finetune_steps: int = 100,
                eval_batches: int = 4, candidates: int = 3) -> dict:
    """Train `steps` sampled steps in this process, then score `candidates` subnets; return rates, trace
    time and peak RSS."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    from pipelines.ctr.schema import FeatureSpec
    from tfnas.nasrec.supernet import NASRecSupernet
    from tfnas.nasrec.training import make_optimizer

    vocab = [min(v, 500_000) for v in CRITEO_CARDINALITIES] if tables == "capped" else CRITEO_CARDINALITIES
    spec = FeatureSpec([f"I{i + 1}" for i in range(13)], [f"C{i + 1}" for i in range(26)], vocab)
    t0 = time.time()
    sn = NASRecSupernet(spec, kind=kind, num_blocks=blocks, warmup_steps=0, seed=0)
    sn.compile(optimizer=make_optimizer(0.12, max(steps, 10)))
    rng = np.random.default_rng(0)
    n_batches = 4
    xs = {"dense": rng.normal(size=(n_batches * batch, 13)).astype("f"),
          "sparse": np.stack([rng.integers(0, v, n_batches * batch) for v in vocab], 1).astype("int64")}
    ys = rng.integers(0, 2, n_batches * batch).astype("f")
    ds = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(batch, drop_remainder=True).cache().repeat()
    ds = ds.prefetch(2)
    sn({k: v[:2] for k, v in xs.items()})
    build_s = time.time() - t0
    it = iter(ds)
    train = sn.make_train_function()
    t0 = time.time()
    train(it)
    first_s = time.time() - t0
    train(it)                      # one more warm step before timing
    t0, c0 = time.time(), time.process_time()
    for _ in range(steps):
        logs = train(it)
    float(logs["loss"])
    dt, cpu = time.time() - t0, time.process_time() - c0
    rate = steps * batch / dt
    cores = len(os.sched_getaffinity(0))
    per_min = candidate_rate(sn, ds, finetune_steps, eval_batches, candidates) if candidates else float("nan")
    return {"kind": kind, "tables": tables, "rows": int(sum(vocab)), "batch": batch, "steps": steps,
            "examples_per_s": round(rate, 1), "x_reference": round(rate / REFERENCE_RATE[kind], 2),
            # CPU-bound rate: examples per CPU-second x cores; robust when other jobs share the machine
            "cpu_s_per_step": round(cpu / steps, 3), "cpu_bound_examples_per_s": round(steps * batch / cpu * cores, 1),
            "candidates_per_min": round(per_min, 2), "finetune_steps": finetune_steps,
            "first_step_s": round(first_s, 1), "build_s": round(build_s, 1),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 measured steps per setting")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--finetune-steps", type=int, default=100, help="head fine-tuning steps per candidate")
    ap.add_argument("--eval-batches", type=int, default=4, help="validation batches per candidate")
    ap.add_argument("--candidates", type=int, default=3, help="timed candidate evaluations (0: skip)")
    ap.add_argument("--kinds", nargs="+", default=["small", "full"], choices=["small", "full"])
    ap.add_argument("--tables", nargs="+", default=["capped", "criteo"], choices=["capped", "criteo"])
    ap.add_argument("--one", nargs=2, metavar=("KIND", "TABLES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    steps = 10 if args.quick else args.steps
    if args.one:
        print(json.dumps(run_setting(args.one[0], args.one[1], steps, args.batch, args.blocks,
                                     args.finetune_steps, args.eval_batches, args.candidates)))
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"load average {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores; steps {steps}")
    print(f"{'space':6} {'tables':7} {'rows':>11} {'ex/s':>8} {'x ref':>6} {'CPU-bound ex/s':>14} {'x ref':>6} "
          f"{'cand/min':>8} {'1st step s':>10} {'peak GiB':>8}")
    for kind in args.kinds:
        for tables in args.tables:
            cmd = [sys.executable, os.path.abspath(__file__), "--one", kind, tables, "--steps", str(steps),
                   "--batch", str(args.batch), "--blocks", str(args.blocks), "--finetune-steps",
                   str(args.finetune_steps), "--eval-batches", str(args.eval_batches),
                   "--candidates", str(args.candidates)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{kind} {tables}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            cb = r["cpu_bound_examples_per_s"]
            print(f"{kind:6} {tables:7} {r['rows']:>11,} {r['examples_per_s']:>8.1f} {r['x_reference']:>6.2f} "
                  f"{cb:>14.1f} {cb / REFERENCE_RATE[kind]:>6.2f} {r['candidates_per_min']:>8.2f} "
                  f"{r['first_step_s']:>10.1f} {r['peak_rss_gib']:>8.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
