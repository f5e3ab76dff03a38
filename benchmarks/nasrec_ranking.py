"""How well does the supernet rank subnets?  Kendall tau between the supernet-proxy logloss and the
from-scratch logloss of the same random subnets, for the three path samplers, with and without the
last-layer fine-tuning (NASRec Table/Fig. on sampling strategies and fine-tuning).

Every supernet, every proxy score and every from-scratch result is checkpointed under --out, so a
killed run resumes.

    .venv/bin/python benchmarks/nasrec_ranking.py --quick
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLERS = ("single_path", "any_path", "single_op_any_connection")


def _cached(path: str, compute):
    """JSON cache: return the stored value at `path`, or compute, store and return it."""
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    value = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.replace(path + ".tmp", path)
    return value


def from_scratch(pipe, archs, out_dir: str, steps: int) -> list[float]:
    """Val logloss of each subnet trained from scratch for `steps` steps (resumable per subnet)."""
    from tfnas.nasrec.retrain import Retrainer
    from tfnas.nasrec.subnet import build_subnet

    rc = dataclasses.replace(pipe.cfg.retrain, steps_per_epoch=steps, epochs=1)
    rt = Retrainer(out_dir, rc, lambda: pipe.data.dataset("train", rc.batch_size, train=True, seed=rc.seed), steps,
                   {"val": pipe.data.dataset("val", rc.eval_batch_size)}, progress=False)
    spec = pipe.data.spec
    return [rt.train(f"subnet_{i}", lambda a=a: build_subnet(a, spec))["val_logloss"]
            for i, a in enumerate(archs)]


def proxy_scores(pipe, archs, finetune, path: str) -> list[float]:
    """Supernet-proxy val logloss of each subnet (one evaluator, so one trace, for all of them)."""
    def compute():
        ev = pipe.evaluator(finetune)
        ev.cost_fn = None
        return [ev.score(a)["logloss"] for a in archs]
    return _cached(path, compute)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/nasrec_demo.json")
    ap.add_argument("--quick", action="store_true", help="fewer supernet / from-scratch steps")
    ap.add_argument("--subnets", type=int, default=20)
    ap.add_argument("--scratch-steps", type=int, default=None)
    ap.add_argument("--supernet-steps", type=int, default=None, help="override the config's supernet steps")
    ap.add_argument("--supernet-lr", type=float, default=None, help="override the config's supernet learning rate")
    ap.add_argument("--warmup-steps", type=int, default=None, help="override the sampler's warm-up steps")
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="runs/bench_nasrec_ranking")
    args = ap.parse_args(argv)
    if args.subnets < 2:
        ap.error("--subnets must be >= 2")

    import numpy as np
    from tfnas import metrics as tfm
    from tfnas.nasrec.config import NASRecConfig
    from tfnas.nasrec.pipeline import Pipeline

    base = NASRecConfig.load(args.config)
    root = args.out + ("_quick" if args.quick else "")
    scratch_steps = args.scratch_steps or (300 if args.quick else 1500)
    if args.supernet_steps:
        base.supernet.steps = args.supernet_steps
        base.supernet.warmup_steps = min(base.supernet.warmup_steps, args.supernet_steps // 4)
    elif not args.quick:
        base.supernet.steps *= 3
    if args.supernet_lr is not None:
        base.supernet.learning_rate = args.supernet_lr
    if args.warmup_steps is not None:
        base.supernet.warmup_steps = args.warmup_steps
    # each supernet setting gets its own folder; the from-scratch results are shared
    sc = base.supernet
    tag = f"_steps{sc.steps}_lr{sc.learning_rate:g}_warmup{sc.warmup_steps}"
    t0 = time.perf_counter()
    rows = {}
    archs = None
    for sampler in args.samplers:
        cfg = copy.deepcopy(base)
        cfg.supernet.sampler = sampler
        cfg.run_dir = os.path.join(root, sampler + tag)
        pipe = Pipeline(cfg, progress=False)
        if archs is None:
            rng = np.random.default_rng(args.seed)
            archs = [pipe.space.sample(rng) for _ in range(args.subnets)]
            truth = from_scratch(pipe, archs, os.path.join(root, "scratch"), scratch_steps)
            print(f"[ranking] {len(archs)} subnets trained from scratch ({scratch_steps} steps): "
                  f"val logloss {min(truth):.5f} .. {max(truth):.5f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
        pipe.stage_train_supernet()
        for ft_on in (True, False):
            ft = dataclasses.replace(cfg.finetune, enabled=ft_on)
            proxy = proxy_scores(pipe, archs, ft, os.path.join(cfg.run_dir, f"proxy_ft{int(ft_on)}.json"))
            tau = tfm.kendall_tau(proxy, truth)
            rows[(sampler, ft_on)] = tau
            print(f"[ranking] {sampler:<26} fine-tune={'on ' if ft_on else 'off'}  Kendall tau = {tau:+.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nKendall tau, supernet-proxy vs from-scratch val logloss over {len(archs)} random subnets "
          f"(supernet {sc.steps} steps, lr {sc.learning_rate}, warm-up {sc.warmup_steps}; "
          f"from scratch {scratch_steps} steps)")
    print(f"{'sampler':<28}{'fine-tune':>12}{'no fine-tune':>14}")
    for sampler in args.samplers:
        print(f"{sampler:<28}{rows[(sampler, True)]:>12.3f}{rows[(sampler, False)]:>14.3f}")
    with open(os.path.join(root, f"summary{tag}.json"), "w") as f:
        json.dump({"subnets": len(archs), "scratch_steps": scratch_steps, "supernet": dataclasses.asdict(sc),
                   "tau": {f"{s}/ft{int(ft)}": v for (s, ft), v in rows.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
