"""Candidates per minute of a keras-tuner distributed search (tfnas.search.distributed) with 1 and 2 local
workers, against the same search run sequentially in one process (no gRPC), so the cost of the gRPC hop is known.

The evaluator sleeps `--eval-s` per candidate (a fixed-cost stand-in that needs no CPU, so 2 workers can overlap
even on a busy 2-core machine); rates are counted from the first evaluation's start to the last one's end (process
start-up and TensorFlow import are reported separately as `startup_s`).

`--nasrec` measures what `tfnas nasrec search --workers N` runs instead: real candidate scores (FLOPs profile,
head fine-tune, validation) on a tiny supernet trained once on planted synthetic data; every worker starts with
a cold FLOPs cache, and a worker's first evaluation starts its clock only once its supernet evaluator is built;
`steady_per_min` leaves out what each process pays once (its first evaluation traces the supernet graph).

    nice -n 10 .venv/bin/python benchmarks/distributed_search.py --quick
    nice -n 10 .venv/bin/python benchmarks/distributed_search.py --nasrec --quick
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


class TimedEvaluator:
    """Wraps an evaluator: logs each evaluation's start/end to `log` (building a lazy evaluator first)."""

    def __init__(self, inner, log):
        self.inner, self.log = inner, log

    def evaluate(self, arch):
        if hasattr(self.inner, "build"):
            self.inner.build()
        start = time.time()
        result = self.inner.evaluate(arch)
        with open(self.log, "a") as f:
            f.write(json.dumps({"start": start, "end": time.time(), "pid": os.getpid()}) + "\n")
        return result


def make_nasrec(log, run_dir):
    """The benchmark's NASRec factory: `tfnas nasrec search --workers`'s own (tfnas.nasrec.workers), timed."""
    from tfnas.nasrec.workers import make_role
    strategy, evaluator = make_role(run_dir)
    return strategy, TimedEvaluator(evaluator, log)


def nasrec_config(root, trials):
    """A tiny NASRec run (the smallest the tests use): 4 initial candidates, then generations of 2."""
    from tfnas.nasrec.config import (DataConfig, FinetuneConfig, NASRecConfig, SearchConfig, SpaceConfig,
                                     SupernetConfig)
    return NASRecConfig(
        run_dir=os.path.join(root, "run"),
        data=DataConfig(dir=os.path.join(root, "data"), synthetic=True, synthetic_rows=3000, synthetic_seed=1),
        space=SpaceConfig(kind="full", num_blocks=1, extra={"dense_widths": [16, 32], "sparse_widths": [16]}),
        supernet=SupernetConfig(steps=12, warmup_steps=4, batch_size=128),
        finetune=FinetuneConfig(steps=8, batch_size=128, eval_batch_size=512, eval_steps=1),
        search=SearchConfig(population_size=4, sample_size=2, children_per_generation=2,
                            generations=max(1, (trials - 4) // 2)))


def _searches(args, tmp):
    """(factory, factory args for a log path) of the chosen mode, after any one-off preparation."""
    if not args.nasrec:
        return make_search, lambda log: {"log": log, "trials": args.trials, "eval_s": args.eval_s}
    from tfnas.nasrec.pipeline import Pipeline
    cfg = nasrec_config(tmp, args.trials)
    Pipeline(cfg, progress=False).stage_train_supernet()
    return make_nasrec, lambda log: {"log": log, "run_dir": os.path.abspath(cfg.run_dir)}


def _rate(log) -> tuple[float, int]:
    with open(log) as f:
        rows = [json.loads(line) for line in f]
    span = max(r["end"] for r in rows) - min(r["start"] for r in rows)
    return len(rows) / span * 60.0, len(rows)


def _steady_rate(log) -> float:
    """Candidates/min once every process has finished its first evaluation (TF tracing, first FLOPs profile):
    evaluations started after that moment over the time from it to the last end."""
    with open(log) as f:
        rows = [json.loads(line) for line in f]
    t0 = max(min(r["end"] for r in rows if r["pid"] == pid) for pid in {r["pid"] for r in rows})
    later = [r for r in rows if r["start"] >= t0]
    span = max(r["end"] for r in later) - t0 if later else 0.0
    return len(later) / span * 60.0 if span > 0 else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--trials", type=int, default=48, help="candidates per search")
    p.add_argument("--eval-s", type=float, default=0.5, help="seconds one evaluation takes")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    p.add_argument("--quick", action="store_true", help="16 candidates of 0.25 s (--nasrec: 14 candidates)")
    p.add_argument("--nasrec", action="store_true",
                   help="real NASRec candidate scores on a tiny supernet instead of a sleep (--eval-s unused)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # before TensorFlow loads, here and in the children
    if args.quick:
        args.trials, args.eval_s = (14, 0.0) if args.nasrec else (16, 0.25)
    if args.trials < 2 or args.eval_s < 0 or any(w < 1 for w in args.workers):
        p.error("--trials must be >= 2, --eval-s >= 0, --workers >= 1")

    from tfnas.search.distributed import launch
    from tfnas.search.loop import run_search

    out = {"mode": "nasrec" if args.nasrec else "sleep", "trials": args.trials}
    if not args.nasrec:
        out["eval_s"] = args.eval_s
    with tempfile.TemporaryDirectory(prefix="tfnas-bench-dsearch-") as tmp:
        factory, factory_args = _searches(args, tmp)
        log = os.path.join(tmp, "seq.jsonl")
        strategy, evaluator = factory(**factory_args(log))
        run_search(strategy, evaluator, progress=False)
        args.trials = len(strategy.history)
        out["trials"] = args.trials
        out["sequential_per_min"], _ = _rate(log)
        if args.nasrec:
            out["sequential_steady_per_min"] = _steady_rate(log)
        for n in args.workers:
            log = os.path.join(tmp, f"w{n}.jsonl")
            t0 = time.time()
            done = launch(f"{HERE}:{factory.__name__}", factory_args(log), os.path.join(tmp, f"w{n}"), workers=n,
                          timeout=1800)
            wall = time.time() - t0
            rate, count = _rate(log)
            with open(log) as f:
                first = min(json.loads(line)["start"] for line in f)
            if count != args.trials or len(done.history) != args.trials:
                raise SystemExit(f"{n} workers: {count} evaluations / {len(done.history)} records, "
                                 f"expected {args.trials}")
            out[f"workers_{n}"] = {"per_min": rate, "wall_s": wall, "startup_s": first - t0}
            if args.nasrec:
                out[f"workers_{n}"]["steady_per_min"] = _steady_rate(log)
    if not args.nasrec:
        out["ideal_per_min_per_worker"] = 60.0 / args.eval_s if args.eval_s else float("inf")
    if "workers_1" in out:
        out["grpc_overhead_s_per_trial"] = 60.0 / out["workers_1"]["per_min"] - 60.0 / out["sequential_per_min"]
        if "workers_2" in out:
            out["ratio_2_vs_1"] = out["workers_2"]["per_min"] / out["workers_1"]["per_min"]
            if args.nasrec:
                out["steady_ratio_2_vs_1"] = out["workers_2"]["steady_per_min"] / out["workers_1"]["steady_per_min"]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
