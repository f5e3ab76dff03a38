"""Criteo reader throughput (rows/s) and peak memory at two file sizes, pinned to 2 CPU cores.

Target: >= 100k rows/s with memory flat in file size.  Each measurement runs in a fresh subprocess so its
peak RSS is its own.  `--quick`: 100k- and 400k-row files; default: 1M and 4M rows.
Run: `python benchmarks/ctr_reader_throughput.py --quick`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(path: str, batch: int, processed: bool, cores: int) -> dict:
    """Stream `path` once in this process; rows/s and RSS before/after (called in a subprocess)."""
    import resource

    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    import tensorflow as tf
    tf.config.threading.set_inter_op_parallelism_threads(cores)
    tf.config.threading.set_intra_op_parallelism_threads(cores)
    sys.path.insert(0, ROOT)
    from pipelines.ctr.dataset import make_dataset
    from pipelines.ctr.synthetic import synthetic_spec

    opts = tf.data.Options()
    opts.threading.private_threadpool_size = cores
    ds = make_dataset(path, "criteo", synthetic_spec(), batch, processed=processed).with_options(opts)
    for _ in ds.take(2):  # warm up (tracing), not timed
        pass
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows, t0, c0 = 0, time.perf_counter(), os.times()
    for b in ds:
        rows += int(b["label"].shape[0])
    dt, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # rows per CPU-second does not depend on what else the machine is running; x cores = what an idle
    # machine with that many cores would reach if the parallel map keeps them busy.
    return {"rows": rows, "seconds": dt, "rows_per_s": rows / dt, "cpu_seconds": cpu,
            "rows_per_cpu_s": rows / max(cpu, 1e-9), "rss_start_mb": rss0, "rss_peak_mb": rss1}


def make_files(tmp: str, small_rows: int, factor: int) -> tuple[str, str]:
    """A synthetic Criteo-format file and one `factor` times larger (the same rows repeated)."""
    sys.path.insert(0, ROOT)
    from pipelines.ctr.synthetic import write_synthetic
    write_synthetic(os.path.join(tmp, "gen"), int(small_rows / 0.8) + 1, seed=0)
    small = os.path.join(tmp, "gen", "train.txt")
    big = os.path.join(tmp, "big.txt")
    with open(big, "wb") as out:
        for _ in range(factor):
            with open(small, "rb") as f:
                shutil.copyfileobj(f, out)
    return small, big


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="100k and 400k rows instead of 1M and 4M")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--batches", default="512,2048")
    ap.add_argument("--_measure", nargs=4, metavar=("PATH", "BATCH", "PROCESSED", "CORES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._measure:
        path, batch, processed, cores = args._measure
        print(json.dumps(measure(path, int(batch), processed == "1", int(cores))))
        return 0
    small_rows = 100_000 if args.quick else 1_000_000
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        files = make_files(tmp, small_rows, 4)
        print(f"generated test files in {time.time() - t0:.0f}s", flush=True)
        for path in files:
            mb = os.path.getsize(path) / 2 ** 20
            for batch in (int(b) for b in args.batches.split(",")):
                for processed in (False, True):
                    cmd = [sys.executable, os.path.abspath(__file__), "--_measure", path, str(batch),
                           "1" if processed else "0", str(args.cores)]
                    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
                    if out.returncode != 0:
                        print(out.stderr[-2000:], file=sys.stderr)
                        return 1
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    r.update(file_mb=mb, batch=batch, processed=processed)
                    results.append(r)
                    print(json.dumps(r), flush=True)
    print()
    print(f"Criteo reader on {args.cores} cores (load average at end: {os.getloadavg()[0]:.1f})")
    print(f"{'file MB':>8}{'rows':>10}{'batch':>7}{'output':>11}{'rows/s':>10}{'rows/CPU-s':>12}"
          f"{'RSS start MB':>14}{'RSS peak MB':>13}")
    for r in results:
        print(f"{r['file_mb']:>8.0f}{r['rows']:>10}{r['batch']:>7}{'processed' if r['processed'] else 'raw':>11}"
              f"{r['rows_per_s']:>10.0f}{r['rows_per_cpu_s']:>12.0f}{r['rss_start_mb']:>14.0f}"
              f"{r['rss_peak_mb']:>13.0f}")
    best = max(results, key=lambda r: r["rows_per_s"])
    print(f"\nbest wall-clock rows/s: {best['rows_per_s']:.0f} (target >= 100000 on {args.cores} idle cores); "
          f"its rows per CPU-second: {best['rows_per_cpu_s']:.0f}")
    by_size = {}
    for r in results:
        by_size.setdefault(r["file_mb"], []).append(r["rss_peak_mb"] - r["rss_start_mb"])
    growth = ", ".join(f"{mb:.0f} MB file: +{max(v):.0f} MB" for mb, v in sorted(by_size.items()))
    print(f"peak RSS growth while streaming: {growth}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
