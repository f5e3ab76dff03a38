"""Candidates per minute of a keras-tuner distributed search (tfnas.search.distributed) with 1 and 2 local
workers, against the same search run sequentially in one process (no gRPC), so the cost of the gRPC hop is known.

The evaluator sleeps `--eval-s` per candidate (a fixed-cost stand-in that needs no CPU, so 2 workers can overlap
even on a busy 2-core machine); rates are counted from the first evaluation's start to the last one's end (process
start-up and TensorFlow import are reported separately as `startup_s`).

    nice -n 10 .venv/bin/python benchmarks/distributed_search.py --quick
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))


class SleepEvaluator:
    """Sleeps `eval_s`, then scores with the toy chain evaluator; logs start/end times to `log`."""

    def __init__(self, log, eval_s):
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from core_toy import ChainEvaluator
        self.inner, self.log, self.eval_s = ChainEvaluator(), log, eval_s

    def evaluate(self, arch):
        start = time.time()
        time.sleep(self.eval_s)
        result = self.inner.evaluate(arch)
        with open(self.log, "a") as f:
            f.write(json.dumps({"start": start, "end": time.time()}) + "\n")
        return result


def make_search(log, trials=16, eval_s=0.25, seed=0):
    """The benchmark's factory: random search over the toy chain space (proposals independent of results)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from core_toy import ChainSpace

    from tfnas.search.random import RandomSearch
    from tfnas.space import Objective
    return RandomSearch(ChainSpace(), Objective("loss", "min"), trials, seed), SleepEvaluator(log, eval_s)


def _rate(log) -> tuple[float, int]:
    with open(log) as f:
        rows = [json.loads(line) for line in f]
    span = max(r["end"] for r in rows) - min(r["start"] for r in rows)
    return len(rows) / span * 60.0, len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--trials", type=int, default=48, help="candidates per search")
    p.add_argument("--eval-s", type=float, default=0.5, help="seconds one evaluation takes")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    p.add_argument("--quick", action="store_true", help="16 candidates of 0.25 s")
    args = p.parse_args(argv)
    if args.quick:
        args.trials, args.eval_s = 16, 0.25
    if args.trials < 2 or args.eval_s < 0 or any(w < 1 for w in args.workers):
        p.error("--trials must be >= 2, --eval-s >= 0, --workers >= 1")

    from tfnas.search.distributed import launch
    from tfnas.search.loop import run_search

    out = {"trials": args.trials, "eval_s": args.eval_s}
    with tempfile.TemporaryDirectory(prefix="tfnas-bench-dsearch-") as tmp:
        log = os.path.join(tmp, "seq.jsonl")
        strategy, evaluator = make_search(log, args.trials, args.eval_s)
        run_search(strategy, evaluator)
        out["sequential_per_min"], _ = _rate(log)
        for n in args.workers:
            log = os.path.join(tmp, f"w{n}.jsonl")
            t0 = time.time()
            done = launch(f"{HERE}:make_search", {"log": log, "trials": args.trials, "eval_s": args.eval_s},
                          os.path.join(tmp, f"w{n}"), workers=n, timeout=1800)
            wall = time.time() - t0
            rate, count = _rate(log)
            with open(log) as f:
                first = min(json.loads(line)["start"] for line in f)
            if count != args.trials or len(done.history) != args.trials:
                raise SystemExit(f"{n} workers: {count} evaluations / {len(done.history)} records, "
                                 f"expected {args.trials}")
            out[f"workers_{n}"] = {"per_min": rate, "wall_s": wall, "startup_s": first - t0}
    ideal = 60.0 / args.eval_s if args.eval_s else float("inf")
    out["ideal_per_min_per_worker"] = ideal
    if "workers_1" in out:
        out["grpc_overhead_s_per_trial"] = 60.0 / out["workers_1"]["per_min"] - 60.0 / out["sequential_per_min"]
        if "workers_2" in out:
            out["ratio_2_vs_1"] = out["workers_2"]["per_min"] / out["workers_1"]["per_min"]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
