"""GEMNet on the digits proxy: WL encoder fit on the 30-node space, scoring rate of 100k sampled cells, a
bootstrap search with a short-training evaluator, then the found cell, a random cell of the same space and
MobileNetV2 at the found net's MACs (32x32 input: its minimum) and ShrinkCNN (AutoShrink's cell in its
macro network) trained by the same recipe; params, MACs, accuracy.

    python benchmarks/nasgem_gemnet.py --quick      # 6 searched cells, 1-epoch proxy, 3-epoch finals
Writes <out>/report.json; the search state is checkpointed (rerun to resume). Every number is measured here.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
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


def train_reference(model, size, run_dir, epochs, seed):
    """A reference network on digits at `size` x `size` through the core train(), GEMNet's recipe
    (Adam 1e-3, batch 64, the same 80/20 split, best validation epoch kept)."""
    from pipelines.vision.dataset import image_dataset
    from tfnas.metrics import count_params, macs_per_example
    from tfnas.train.optimizers import make_optimizer
    from tfnas.train.task import ClassificationTask
    from tfnas.train.trainer import train
    (xt, yt), (xv, yv) = digits_split(0, size=size)
    out = train(model, ClassificationTask(num_classes=10), image_dataset(xt, yt, 64, shuffle=True, seed=seed),
                image_dataset(xv, yv, 256), epochs=epochs, optimizer=make_optimizer("adam", 1e-3),
                run_dir=run_dir, kind="nasgem_gemnet", monitor="val_accuracy", mode="max")
    return {"val_accuracy": float((out["best"] or {}).get("val_accuracy", float("nan"))),
            "params": count_params(model), "macs": macs_per_example(model), "input_size": size,
            "epochs": out["epochs_run"], "seconds": out["seconds"]}


def mobilenet_v2_at_macs(target_macs, run_dir, epochs, seed):
    """MobileNetV2 from scratch on 32x32 digits (its minimum input), the width multiplier whose MACs are
    closest to `target_macs`; BatchNorm momentum 0.9 as in AutoShrink's deploy (Keras' 0.999 leaves the
    moving statistics at their initial values after a few hundred steps: inference at chance)."""
    from tfnas.autoshrink.deploy import mobilenet_alpha_for_macs, mobilenet_v2
    from tfnas.train import seeding
    alpha, _ = mobilenet_alpha_for_macs((32, 32, 3), 10, target_macs)
    with seeding.seeded(seed):
        result = train_reference(mobilenet_v2((32, 32, 3), 10, alpha), 32, run_dir, epochs, seed)
    return {"alpha": alpha, **result}


def shrinkcnn_cell(path, out, quick):
    """AutoShrink's cell: `path` (a search's best_cell.json) or a small edge-shrinking search run here through
    the CLI (resumable: rerun continues it)."""
    from tfnas.graph import Architecture
    if path is None:
        path = os.path.join(out, "shrink_search", "best_cell.json")
        if not os.path.exists(path):
            size = ["--nodes", "5", "--candidates", "3", "--epochs", "5", "--train-per-class", "100"] if quick else \
                ["--nodes", "6", "--candidates", "5", "--epochs", "10", "--train-per-class", "200"]
            cmd = [sys.executable, "-m", "tfnas", "autoshrink", "search-cnn", "--out", os.path.dirname(path),
                   "--image-size", "16", "--no-progress", *size]
            print("AutoShrink search:", " ".join(cmd[2:]), flush=True)
            subprocess.run(cmd, check=True)
    return Architecture.load(path), path


SHRINKCNN_WIDTHS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def _shrinkcnn_model(cell, width):
    from tfnas.autoshrink.cnn import build_cnn, small_shrink_cnn
    return build_cnn(cell, (16, 16, 3), 10, small_shrink_cnn(width, (1, 1, 1, 1, 1)), name="shrinkcnn")


def shrinkcnn_width_for_macs(cell, target_macs):
    """The width multiplier of SHRINKCNN_WIDTHS whose ShrinkCNN MACs are closest (log scale) to `target_macs`."""
    from tfnas.metrics import macs_per_example
    gaps = {w: abs(np.log(macs_per_example(_shrinkcnn_model(cell, w))) - np.log(target_macs))
            for w in SHRINKCNN_WIDTHS}
    return min(gaps, key=gaps.get)


def shrinkcnn(cell, run_dir, epochs, seed, width):
    """ShrinkCNN of AutoShrink's macro at CPU size (5 stages of one cell, head 256, stem stride 1) on 16x16."""
    from tfnas.train import seeding
    with seeding.seeded(seed):
        model = _shrinkcnn_model(cell, width)
        return {"width": width, "cell_nodes": len(cell), "cell_edges": cell.num_edges(),
                **train_reference(model, 16, run_dir, epochs, seed)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="runs/bench_nasgem_gemnet")
    ap.add_argument("--shrinkcnn-cell", default=None,
                    help="AutoShrink best_cell.json for the ShrinkCNN row (default: a small search run here)")
    ap.add_argument("--shrinkcnn-width", type=float, default=None,
                    help="ShrinkCNN width multiplier (default: the one closest to the found net's MACs)")
    ap.add_argument("--final-epochs", type=int, default=None, help="epochs of every final (default 3 quick, 20)")
    ap.add_argument("--score", type=int, default=100_000, help="cells sampled and scored by the predictor")
    args = ap.parse_args(argv)
    trials, proxy_epochs, final_epochs = (6, 1, 3) if args.quick else (30, 3, 20)
    final_epochs = args.final_epochs or final_epochs
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
    found_macs = report["finals"]["gemnet_found"]["macs"]
    report["finals"]["mobilenet_v2"] = mobilenet_v2_at_macs(found_macs, os.path.join(args.out, "mobilenet_v2"),
                                                            final_epochs, 0)
    print("mobilenet_v2", json.dumps(report["finals"]["mobilenet_v2"]), flush=True)
    cell, cell_path = shrinkcnn_cell(args.shrinkcnn_cell, args.out, args.quick)
    width = args.shrinkcnn_width or shrinkcnn_width_for_macs(cell, found_macs)
    report["finals"]["shrinkcnn"] = {"cell": cell_path, **shrinkcnn(cell, os.path.join(args.out, "shrinkcnn"),
                                                                       final_epochs, 0, width)}
    print("shrinkcnn", json.dumps(report["finals"]["shrinkcnn"]), flush=True)
    print(f"{'model':14s} {'val acc':>8s} {'params':>9s} {'MACs':>11s}")
    for name, r in report["finals"].items():
        print(f"{name:14s} {100 * r['val_accuracy']:7.2f}% {r['params']:9,d} {r['macs']:11,.0f}")
    write_json_atomic(os.path.join(args.out, "report.json"), report)


if __name__ == "__main__":
    main()
