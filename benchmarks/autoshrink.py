"""AutoShrink benchmark: shrinking vs random edge removal (same number of trained candidates), and
ShrinkCNN (found cell) vs MobileNetV2 (similar MACs): accuracy, params, MACs, TFLite float/int8 latency.

    python benchmarks/autoshrink.py --quick      # small proxies on scikit-learn digits, CPU minutes
Writes <out>/report.json and prints a table; every number is measured in this run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def settings(quick: bool) -> dict:
    """Budgets: --quick fits a loaded 2-core CPU; the full setting is the reference's proxy."""
    if quick:
        return dict(nodes=4, k=3, keep=0.17, proxy_size=8, train_per_class=50, val_per_class=20, proxy_epochs=10,
                    proxy_scales=(0.5, 1.0), proxy_pools=(1, 2), final_size=32, final_epochs=10, width=0.5,
                    depth=(1, 1, 2, 2, 1), head=256, runs=100)
    return dict(nodes=8, k=10, keep=0.01, proxy_size=16, train_per_class=500, val_per_class=100, proxy_epochs=20,
                proxy_scales=(1.0, 2.0, 4.0), proxy_pools=(1, 2, 2), final_size=32, final_epochs=40, width=1.0,
                depth=(1, 3, 4, 6, 4), head=1280, runs=300)


def search_comparison(cfg: dict, out: str, seed: int) -> dict:
    """Run EdgeShrinking, then RandomEdgeRemoval with as many trials; compare their best (by score) cells."""
    from tfnas.autoshrink.cell import describe, full_cnn_cell
    from tfnas.autoshrink.cnn import Macro
    from tfnas.autoshrink.data import load_images, proxy_subset
    from tfnas.autoshrink.shrink import CnnProxyEvaluator, run_shrinking
    from tfnas.autoshrink.train import ProxyTraining
    from tfnas.search.shrinking import EdgeShrinking, RandomEdgeRemoval
    data = proxy_subset(load_images("digits", cfg["proxy_size"], seed=seed), cfg["train_per_class"],
                        cfg["val_per_class"], seed=seed)
    macro = Macro(scales=cfg["proxy_scales"], replicate=(1,) * len(cfg["proxy_scales"]), pools=cfg["proxy_pools"],
                  stem_filters=16)
    ev = CnnProxyEvaluator(data, macro, ProxyTraining(epochs=cfg["proxy_epochs"], batch_size=64, seed=seed))
    cell = full_cnn_cell(cfg["nodes"], seed=seed)
    start = time.perf_counter()
    shrink = run_shrinking(EdgeShrinking(cell, candidates_per_step=cfg["k"], keep_fraction=cfg["keep"], seed=seed),
                           ev, os.path.join(out, "shrinking"))
    t_shrink = time.perf_counter() - start
    start = time.perf_counter()
    rand = run_shrinking(RandomEdgeRemoval(cell, num_trials=len(shrink.history), keep_fraction=cfg["keep"],
                                           seed=seed), ev, os.path.join(out, "random"), plots=False)
    t_rand = time.perf_counter() - start
    full = ev.evaluate(cell)

    def summary(arch, result):
        return {"edges": arch.num_edges(), "score": result.get("score"), "proxy_accuracy": result.get("accuracy"),
                "macs": result.get("macs"), "cell": describe(arch)}

    return {"proxy": data.summary(), "trials_each": len(shrink.history),
            "shrinking": {**summary(shrink.best().trial.arch, shrink.best().result), "trials": len(shrink.history), "seconds": t_shrink,
                          "steps": len(shrink.steps)},
            "random_removal": {**summary(rand.best().trial.arch, rand.best().result), "trials": len(rand.history), "seconds": t_rand},
            "full_cell": summary(cell, full),
            "best_cell_path": os.path.join(out, "shrinking", "best_cell.json")}


def model_comparison(cfg: dict, cell_path: str, out: str, seed: int) -> dict:
    """Train ShrinkCNN (found cell) and MobileNetV2 (closest MACs) with one budget; export and measure both."""
    import tensorflow as tf
    from tfnas.autoshrink.cnn import SHRINK_CNN, build_cnn
    from tfnas.autoshrink.data import load_images
    from tfnas.autoshrink.deploy import (FinalTraining, export_and_measure, mobilenet_alpha_for_macs, mobilenet_v2,
                                         train_final)
    from tfnas.graph import Architecture
    from tfnas.metrics import macs_per_example
    data = load_images("digits", cfg["final_size"], seed=seed)
    budget = FinalTraining(epochs=cfg["final_epochs"], batch_size=64, seed=seed)
    macro = dataclasses.replace(SHRINK_CNN, channel_scale=SHRINK_CNN.channel_scale * cfg["width"],
                                replicate=cfg["depth"], head_filters=cfg["head"])
    tf.keras.backend.clear_session()
    shrink = build_cnn(Architecture.load(cell_path), data.input_shape, data.num_classes, macro, name="shrinkcnn")
    shrink_macs = macs_per_example(shrink)
    alpha, _ = mobilenet_alpha_for_macs(data.input_shape, data.num_classes, shrink_macs)
    results = {"data": data.summary(), "training": budget.to_dict()}
    for name, make in [("shrinkcnn", lambda: build_cnn(Architecture.load(cell_path), data.input_shape,
                                                       data.num_classes, macro, name="shrinkcnn")),
                       (f"mobilenet_v2_{alpha:g}", lambda: mobilenet_v2(data.input_shape, data.num_classes, alpha))]:
        tf.keras.backend.clear_session()
        model = make()
        start = time.perf_counter()
        trained = train_final(model, data, budget)
        rep = export_and_measure(model, data, os.path.join(out, name), name, runs=cfg["runs"])
        rep["train"] = {**trained, "seconds": time.perf_counter() - start}
        results[name] = rep
    return results


def table(report: dict) -> str:
    s = report["search"]
    lines = [f"## Search ({s['proxy']}; {s['trials_each']} trained candidates each)",
             "| method | edges | proxy acc | MACs | score |", "|---|---|---|---|---|"]
    for key in ("shrinking", "random_removal", "full_cell"):
        r = s[key]
        lines.append(f"| {key} | {r['edges']} | {r['proxy_accuracy']:.3f} | {r['macs']:,.0f} | {r['score']:.4f} |")
    m = report["models"]
    lines += ["", f"## Models ({m['data']}; {m['training']['epochs']} epochs max)",
              "| model | params | MACs | keras acc | f32 acc | f16 acc | int8 acc | f32 ms (1t/2t) | int8 ms (1t/2t) "
              "| int8 speed-up (1t) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in m.items():
        if not isinstance(r, dict) or "keras" not in r:
            continue
        f32, f16, i8 = r["float32"], r["float16"], r["int8"]
        lines.append(f"| {name} | {r['params']:,} | {r['macs']:,} | {r['keras']['test_accuracy']:.3f} | "
                     f"{f32['test_accuracy']:.3f} | {f16['test_accuracy']:.3f} | {i8['test_accuracy']:.3f} | "
                     f"{f32['latency_ms']['1']:.3f}/{f32['latency_ms']['2']:.3f} | "
                     f"{i8['latency_ms']['1']:.3f}/{i8['latency_ms']['2']:.3f} | "
                     f"{f32['latency_ms']['1'] / i8['latency_ms']['1']:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small proxies (CPU minutes)")
    p.add_argument("--out", default="runs/benchmarks/autoshrink")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = settings(args.quick)
    out = os.path.join(args.out, "quick" if args.quick else "full")
    os.makedirs(out, exist_ok=True)
    report = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
              "load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    report["search"] = search_comparison(cfg, out, args.seed)
    report["models"] = model_comparison(cfg, report["search"]["best_cell_path"], out, args.seed)
    report["load_average_at_end"] = os.getloadavg()
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(table(report))
    print(f"\nreport: {os.path.join(out, 'report.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
