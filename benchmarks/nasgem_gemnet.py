"""GEMNet on the digits proxy: WL encoder fit on the 30-node space, scoring rate of 100k sampled cells, a
bootstrap search with a short-training evaluator, then the found cell, a random cell of the same space and
MobileNetV2 (alpha 0.35, 32x32 input: its minimum) trained by the same recipe; params, MACs, accuracy.

    python benchmarks/nasgem_gemnet.py --quick      # 6 searched cells, 1-epoch proxy, 3-epoch finals
Writes <out>/report.json; the search state is checkpointed (rerun to resume). Every number is measured here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tfnas.nasgem.embedding import fit_wl_encoder  # noqa: E402
from tfnas.nasgem.encoder import GraphFeaturizer  # noqa: E402
from tfnas.nasgem.gemnet import GEMNetSpace, score_sampled  # noqa: E402
from tfnas.nasgem.gemnet_train import DigitsShortTraining, digits_split, train_gemnet  # noqa: E402
from tfnas.nasgem.predictor import EnsemblePredictor  # noqa: E402
from tfnas.nasgem.search import BootstrapSearch  # noqa: E402
from tfnas.runs import write_json_atomic  # noqa: E402
from tfnas.search.loop import run_search  # noqa: E402
from tfnas.space import Objective  # noqa: E402


def mobilenet_v2(run_dir, epochs, seed):
    """MobileNetV2 (alpha 0.35, random init) on 32x32 digits through the core train()."""
    import tensorflow as tf

    from pipelines.vision.dataset import image_dataset
    from tfnas.metrics import count_params, macs_per_example
    from tfnas.train import seeding
    from tfnas.train.optimizers import make_optimizer
    from tfnas.train.task import ClassificationTask
    from tfnas.train.trainer import train
    (xt, yt), (xv, yv) = digits_split(0, size=32)
    with seeding.seeded(seed):
        base = tf.keras.applications.MobileNetV2((32, 32, 3), alpha=0.35, include_top=False, weights=None,
                                                 pooling="avg")
        model = tf.keras.Sequential([base, tf.keras.layers.Dense(10, name="logits")])
        model.build((None, 32, 32, 3))
        out = train(model, ClassificationTask(num_classes=10), image_dataset(xt, yt, 64, shuffle=True, seed=seed),
                    image_dataset(xv, yv, 256), epochs=epochs, optimizer=make_optimizer("adam", 1e-3),
                    run_dir=run_dir, kind="nasgem_gemnet", monitor="val_accuracy", mode="max")
    return {"val_accuracy": float((out["best"] or {}).get("val_accuracy", float("nan"))),
            "params": count_params(model), "macs": macs_per_example(model), "seconds": out["seconds"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="runs/bench_nasgem_gemnet")
    ap.add_argument("--score", type=int, default=100_000, help="cells sampled and scored by the predictor")
    args = ap.parse_args(argv)
    trials, proxy_epochs, final_epochs = (6, 1, 3) if args.quick else (30, 3, 20)
    os.makedirs(args.out, exist_ok=True)
    space = GEMNetSpace(max_nodes=30)
    fz = GraphFeaturizer(space.labels(), space.max_nodes)
    report = {"trials": trials, "proxy_epochs": proxy_epochs, "final_epochs": final_epochs}
    emb = fit_wl_encoder(space, fz, n_cells=300 if args.quick else 1000, n_pairs=3000 if args.quick else 10000,
                         epochs=5 if args.quick else 10, seed=0, heldout_cells=200, heldout_pairs=1000)
    report["wl_encoder_fit"] = {k: v for k, v in emb.report.items() if k != "loss"}
    print("WL encoder fit (30-node space):", json.dumps(report["wl_encoder_fit"]["heldout"]), flush=True)

    strategy = BootstrapSearch(space, Objective("accuracy", "max"), emb, trials, num_init=max(4, trials // 3),
                               pool_size=1000, batch=2, seed=0)
    t = time.perf_counter()
    run_search(strategy, DigitsShortTraining(os.path.join(args.out, "proxy"), proxy_epochs, 8),
               os.path.join(args.out, "search_state.json"), progress=False)
    report["search_seconds"] = time.perf_counter() - t
    done = [r for r in strategy.history if not r.failed]
    report["searched"] = [{"nodes": len(r.trial.arch), "accuracy": r.result.get("accuracy"),
                           "macs": r.result.get("macs")} for r in done]
    best = strategy.best().trial.arch

    pred = EnsemblePredictor(8, seed=0).fit(emb.encode([r.trial.arch for r in done]),
                                            [r.result.get("accuracy") for r in done])
    t = time.perf_counter()
    top = score_sampled(space, emb, pred, np.random.default_rng(1), args.score, top=5)
    report["scoring"] = {"cells": args.score, "seconds": time.perf_counter() - t,
                         "cells_per_s": args.score / (time.perf_counter() - t),
                         "top_predicted": [round(m, 4) for _, m, _ in top]}
    print("scoring:", json.dumps(report["scoring"]), flush=True)

    finals = {"gemnet_found": best, "random_cell": space.sample(np.random.default_rng(123))}
    report["finals"] = {}
    for name, arch in finals.items():
        r = train_gemnet(arch, os.path.join(args.out, name), final_epochs, 16, seed=0)
        report["finals"][name] = r
        print(name, json.dumps(r), flush=True)
    report["finals"]["mobilenet_v2_0.35"] = mobilenet_v2(os.path.join(args.out, "mobilenet_v2"), final_epochs, 0)
    print("mobilenet_v2_0.35", json.dumps(report["finals"]["mobilenet_v2_0.35"]), flush=True)
    write_json_atomic(os.path.join(args.out, "report.json"), report)


if __name__ == "__main__":
    main()
