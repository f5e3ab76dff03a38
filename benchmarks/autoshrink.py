"""AutoShrink benchmark: shrinking vs random edge removal (same number of trained candidates, several
seeds, mean ± std), and ShrinkCNN (found cell) vs MobileNetV2 (similar MACs): accuracy, params, MACs,
TFLite float32 / int8 latency with and without XNNPACK, at the training size and at a mobile size, plus
single-kernel float32 vs int8 timings that explain the int8 speed-up on this CPU.

    python benchmarks/autoshrink.py --quick                 # small proxies on scikit-learn digits, CPU minutes
    python benchmarks/autoshrink.py --quick --seeds 0,1,2   # seeds of the search comparison (default 0,1,2)
    python benchmarks/autoshrink.py --quick --only search --nodes 5 --k 4 --keep 0.2   # a larger cell
    python benchmarks/autoshrink.py --quick --only kernels  # float32 vs int8 per kernel, XNNPACK on/off
Writes <out>/report.json and prints tables; every number is measured in this run or read from this
benchmark's own cache (finished searches and trained weights are reused, latency is always re-measured).
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
                    depth=(1, 1, 2, 2, 1), head=256, runs=200, deploy_size=128, seeds=(0, 1, 2))
    return dict(nodes=8, k=10, keep=0.01, proxy_size=16, train_per_class=500, val_per_class=100, proxy_epochs=20,
                proxy_scales=(1.0, 2.0, 4.0), proxy_pools=(1, 2, 2), final_size=32, final_epochs=40, width=1.0,
                depth=(1, 3, 4, 6, 4), head=1280, runs=300, deploy_size=224, seeds=(0, 1, 2))


def search_tag(cfg: dict) -> str:
    """Folder name of one search setting, so a cached run is only reused with the same settings."""
    return (f"n{cfg['nodes']}_k{cfg['k']}_keep{cfg['keep']:g}_px{cfg['proxy_size']}_{cfg['train_per_class']}"
            f"x{cfg['val_per_class']}_e{cfg['proxy_epochs']}")


def search_one(cfg: dict, out: str, seed: int) -> dict:
    """One seed: EdgeShrinking, then RandomEdgeRemoval with as many trials, on the same cell, data and
    evaluator; each result is the best-scoring candidate seen by that search. Cached in summary.json."""
    cached = os.path.join(out, "summary.json")
    if os.path.exists(cached):
        with open(cached) as f:
            return json.load(f)
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
    if len(rand.history) != len(shrink.history):
        raise RuntimeError(f"{out}: random removal trained {len(rand.history)} candidates, shrinking "
                           f"{len(shrink.history)}; the comparison needs equal budgets")
    full = ev.evaluate(cell)

    def summary(arch, result):
        return {"edges": arch.num_edges(), "score": result.get("score"), "proxy_accuracy": result.get("accuracy"),
                "macs": result.get("macs"), "cell": describe(arch)}

    best = shrink.best()
    best_step = best.trial.info.get("step")
    last = shrink.steps[-1] if shrink.steps else None
    result = {
        "seed": seed, "proxy": data.summary(), "trials_each": len(shrink.history),
        "shrinking": {**summary(best.trial.arch, best.result), "trials": len(shrink.history), "seconds": t_shrink,
                      "steps": len(shrink.steps), "best_step": best_step,
                      "last_step_score": last["best_score"] if last else None},
        "random_removal": {**summary(rand.best().trial.arch, rand.best().result), "trials": len(rand.history),
                           "seconds": t_rand},
        "full_cell": summary(cell, full),
        "best_cell_path": os.path.join(out, "shrinking", "best_cell.json")}
    with open(cached, "w") as f:
        json.dump(result, f, indent=1)
    return result


def mean_std(values) -> dict:
    """{"mean", "std" (population), "n"} of a list of numbers."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


def search_comparison(cfg: dict, out: str, seeds) -> dict:
    """Shrinking vs random removal for every seed (cached per seed), with mean ± std over seeds."""
    root = os.path.join(out, "search", search_tag(cfg))
    runs = []
    for seed in seeds:
        runs.append(search_one(cfg, os.path.join(root, f"seed{seed}"), seed))
    agg = {}
    for key in ("shrinking", "random_removal", "full_cell"):
        agg[key] = {m: mean_std([r[key][m] for r in runs]) for m in ("proxy_accuracy", "macs", "score", "edges")}
    wins = sum(r["shrinking"]["score"] > r["random_removal"]["score"] for r in runs)
    ties = sum(r["shrinking"]["score"] == r["random_removal"]["score"] for r in runs)
    return {"tag": search_tag(cfg), "seeds": list(seeds), "trials_each": [r["trials_each"] for r in runs],
            "per_seed": runs, "aggregate": agg, "shrinking_wins": wins, "ties": ties,
            "best_cell_path": runs[0]["best_cell_path"]}


def search_table(s: dict) -> str:
    """Markdown: one row per seed and method, then mean ± std over seeds and the verdict."""
    lines = [f"## Search: shrinking vs random edge removal ({s['tag']}; trained candidates per method and seed: "
             f"{s['trials_each']})",
             "| seed | method | edges | proxy acc | MACs | score |", "|---|---|---|---|---|---|"]
    for r in s["per_seed"]:
        for key in ("shrinking", "random_removal", "full_cell"):
            x = r[key]
            lines.append(f"| {r['seed']} | {key} | {x['edges']} | {x['proxy_accuracy']:.3f} | {x['macs']:,.0f} | "
                         f"{x['score']:.4f} |")
    lines += ["", f"mean ± std over {len(s['seeds'])} seeds:", "| method | edges | proxy acc | MACs | score |",
              "|---|---|---|---|---|"]
    for key, a in s["aggregate"].items():
        lines.append(f"| {key} | {a['edges']['mean']:.1f} ± {a['edges']['std']:.1f} | "
                     f"{a['proxy_accuracy']['mean']:.3f} ± {a['proxy_accuracy']['std']:.3f} | "
                     f"{a['macs']['mean']:,.0f} ± {a['macs']['std']:,.0f} | "
                     f"{a['score']['mean']:.4f} ± {a['score']['std']:.4f} |")
    a = s["aggregate"]
    d = a["shrinking"]["score"]["mean"] - a["random_removal"]["score"]["mean"]
    spread = max(a["shrinking"]["score"]["std"], a["random_removal"]["score"]["std"])
    verdict = ("shrinking" if d > 0 else "random removal") + (" (within one std: not a clear win)"
                                                               if abs(d) <= spread else "")
    lines.append(f"\nhigher mean score: {verdict}; shrinking scored higher on {s['shrinking_wins']} of "
                 f"{len(s['seeds'])} seeds (ties {s['ties']}); mean score difference {d:+.4f}")
    return "\n".join(lines)


def _trained(name: str, make, data, budget, folder: str) -> tuple:
    """Build with `make()`; train it with `budget` unless `folder` holds this model's trained weights."""
    import tensorflow as tf
    from tfnas.autoshrink.deploy import train_final
    tf.keras.backend.clear_session()
    model = make()
    weights, info = os.path.join(folder, "trained.weights.h5"), os.path.join(folder, "train.json")
    if os.path.exists(weights) and os.path.exists(info):
        model.load_weights(weights)
        with open(info) as f:
            return model, {**json.load(f), "cached": True}
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    trained = {**train_final(model, data, budget), "seconds": time.perf_counter() - start,
               "load_average": os.getloadavg()}
    model.save_weights(weights)
    with open(info, "w") as f:
        json.dump(trained, f, indent=1)
    return model, trained


def model_comparison(cfg: dict, cell_path: str, out: str, seed: int) -> dict:
    """Train ShrinkCNN (found cell) and MobileNetV2 (closest MACs) with one budget; export and measure both."""
    from tfnas.autoshrink.cnn import SHRINK_CNN, build_cnn
    from tfnas.autoshrink.data import load_images
    from tfnas.autoshrink.deploy import (FinalTraining, deployment_latency, export_and_measure,
                                         mobilenet_alpha_for_macs, mobilenet_v2)
    from tfnas.graph import Architecture
    from tfnas.metrics import macs_per_example
    data = load_images("digits", cfg["final_size"], seed=seed)
    budget = FinalTraining(epochs=cfg["final_epochs"], batch_size=64, seed=seed)
    macro = dataclasses.replace(SHRINK_CNN, channel_scale=SHRINK_CNN.channel_scale * cfg["width"],
                                replicate=cfg["depth"], head_filters=cfg["head"])
    cell = Architecture.load(cell_path)
    shrink_macs = macs_per_example(build_cnn(cell, data.input_shape, data.num_classes, macro, name="shrinkcnn"))
    alpha, _ = mobilenet_alpha_for_macs(data.input_shape, data.num_classes, shrink_macs)
    tag = f"cell{cell.fingerprint()[:10]}_{cfg['final_size']}px_w{cfg['width']:g}_e{cfg['final_epochs']}_s{seed}"
    results = {"data": data.summary(), "training": budget.to_dict(), "cache": os.path.join(out, "models", tag)}
    for name, make in [("shrinkcnn", lambda: build_cnn(cell, data.input_shape, data.num_classes, macro,
                                                       name="shrinkcnn")),
                       (f"mobilenet_v2_{alpha:g}", lambda: mobilenet_v2(data.input_shape, data.num_classes, alpha))]:
        folder = os.path.join(results["cache"], name)
        model, trained = _trained(name, make, data, budget, folder)
        rep = export_and_measure(model, data, folder, name, runs=cfg["runs"], save_model=not trained.get("cached"))
        rep["train"] = trained
        rep["deploy"] = deployment_latency(model, data, cfg["deploy_size"], runs=max(20, cfg["runs"] // 4))
        rep["load_average_after"] = os.getloadavg()
        results[name] = rep
    return results


def kernel_speedups(runs: int = 100) -> list[dict]:
    """Single-layer models, float32 vs int8 (per-channel and per-tensor), XNNPACK and builtin kernels, 1 thread:
    which kernels int8 speeds up on this CPU. Weights random, calibration on uniform [0, 1) inputs."""
    import numpy as np
    import tensorflow as tf
    from tfnas.export.latency import delegation, invoke_latency
    L = tf.keras.layers
    cases = [("conv 3x3 s2 224x224x3->32 (stem)", (224, 224, 3), lambda: L.Conv2D(32, 3, 2, padding="same")),
             ("conv 1x1 56x56x64->64", (56, 56, 64), lambda: L.Conv2D(64, 1)),
             ("depthwise 3x3 56x56x64", (56, 56, 64), lambda: L.DepthwiseConv2D(3, padding="same")),
             ("conv 1x1 14x14x256->256", (14, 14, 256), lambda: L.Conv2D(256, 1)),
             ("depthwise 3x3 14x14x256", (14, 14, 256), lambda: L.DepthwiseConv2D(3, padding="same")),
             ("max-pool 2x2 56x56x64", (56, 56, 64), lambda: L.MaxPooling2D(2)),
             ("add x + x/2 56x56x64 (two scales)", (56, 56, 64), lambda: lambda t: L.Add()([t, 0.5 * t])),
             ("relu alone 56x56x64 (not fused)", (56, 56, 64), lambda: L.ReLU())]
    rows = []
    for label, shape, layer in cases:
        tf.keras.backend.clear_session()
        x = tf.keras.Input(shape)
        model = tf.keras.Model(x, layer()(x))
        rng = np.random.default_rng(0)
        rep = [rng.uniform(0, 1, (1,) + shape).astype(np.float32) for _ in range(16)]
        blobs = {"float32": _convert(model, "float32", rep), "int8": _convert(model, "int8", rep),
                 "int8_per_tensor": _convert(model, "int8_per_tensor", rep)}
        row = {"kernel": label, "int8_ops": delegation(blobs["int8"])}
        for mode, blob in blobs.items():
            for xnn in (True, False):
                if mode == "int8_per_tensor" and not xnn:
                    continue
                key = f"{mode}_{'xnnpack' if xnn else 'builtin'}_ms"
                row[key] = invoke_latency(blob, None, 1, runs, xnnpack=xnn)["median_ms"]
        rows.append(row)
    return rows


def _convert(model, mode: str, rep) -> bytes:
    """float32 / int8 (per-channel, the default) via tfnas.export.to_tflite; int8_per_tensor via the converter's
    private `_experimental_disable_per_channel` flag (only here, to compare the two int8 layouts)."""
    import tensorflow as tf
    from tfnas.export import to_tflite
    if mode != "int8_per_tensor":
        return to_tflite(model, mode, representative_data=rep if mode == "int8" else None)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([r] for r in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    conv._experimental_disable_per_channel = True
    return conv.convert()


def model_table(m: dict) -> str:
    """Markdown: accuracy, size and latency of each trained model; then the same weights at the mobile size."""
    lines = [f"## Models ({m['data']}; {m['training']['epochs']} epochs max)",
             "| model | params | MACs | keras acc | f32 acc | f16 acc | int8 acc | XNNPACK f32 ms (1t/2t) | "
             "XNNPACK int8 ms (1t/2t) | int8 speed-up XNNPACK 1t | builtin f32 / int8 ms 1t | int8 speed-up builtin "
             "1t | all ops in XNNPACK (f32, int8) |", "|" + "---|" * 13]
    deploy = []
    for name, r in m.items():
        if not isinstance(r, dict) or "keras" not in r:
            continue
        f32, f16, i8 = r["float32"], r["float16"], r["int8"]
        x32, x8, b32, b8 = f32["latency_ms"], i8["latency_ms"], f32["latency_builtin_ms"], i8["latency_builtin_ms"]
        lines.append(f"| {name} | {r['params']:,} | {r['macs']:,} | {r['keras']['test_accuracy']:.3f} | "
                     f"{f32['test_accuracy']:.3f} | {f16['test_accuracy']:.3f} | {i8['test_accuracy']:.3f} | "
                     f"{x32['1']:.3f}/{x32['2']:.3f} | {x8['1']:.3f}/{x8['2']:.3f} | {x32['1'] / x8['1']:.2f}x | "
                     f"{b32['1']:.3f} / {b8['1']:.3f} | {b32['1'] / b8['1']:.2f}x | "
                     f"{f32['delegation']['fully_delegated']}, {i8['delegation']['fully_delegated']} |")
        d = r["deploy"]
        dx32, dx8 = d["float32"]["xnnpack_ms"]["1"], d["int8"]["xnnpack_ms"]["1"]
        db32, db8 = d["float32"]["builtin_ms"]["1"], d["int8"]["builtin_ms"]["1"]
        deploy.append(f"| {name} | {'x'.join(map(str, d['input']))} | {d['macs']:,} | {dx32:.3f} / {dx8:.3f} | "
                      f"{dx32 / dx8:.2f}x | {db32:.3f} / {db8:.3f} | {db32 / db8:.2f}x |")
    lines += ["", "Same trained weights rebuilt for a mobile-size input (latency only, 1 thread):",
              "| model | input | MACs | XNNPACK f32 / int8 ms | int8 speed-up | builtin f32 / int8 ms | "
              "int8 speed-up |", "|---|---|---|---|---|---|---|"] + deploy
    return "\n".join(lines)


def kernel_table(rows: list[dict]) -> str:
    """Markdown: one row per single-layer model, float32 / int8 ratio with and without XNNPACK."""
    lines = ["## Single kernels, 1 thread (speed-up = float32 ms / int8 ms)",
             "| kernel | XNNPACK f32 ms | XNNPACK int8 ms | int8 per-tensor ms | speed-up XNNPACK | builtin f32 ms | "
             "builtin int8 ms | speed-up builtin | int8 ops outside XNNPACK |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['float32_xnnpack_ms']:.4f} | {r['int8_xnnpack_ms']:.4f} | "
                     f"{r['int8_per_tensor_xnnpack_ms']:.4f} | {r['float32_xnnpack_ms'] / r['int8_xnnpack_ms']:.2f}x | "
                     f"{r['float32_builtin_ms']:.4f} | {r['int8_builtin_ms']:.4f} | "
                     f"{r['float32_builtin_ms'] / r['int8_builtin_ms']:.2f}x | "
                     f"{', '.join(r['int8_ops']['outside']) or 'none'} |")
    return "\n".join(lines)


def cpu_summary() -> str:
    """CPU model and its int8-relevant vector extensions (from /proc/cpuinfo, Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return f"{name}; " + ", ".join(f"{w}={'yes' if w in flags else 'no'}" for w in wanted)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small proxies (CPU minutes)")
    p.add_argument("--out", default="runs/benchmarks/autoshrink")
    p.add_argument("--seeds", default=None, help="comma-separated seeds of the search comparison (default 0,1,2)")
    p.add_argument("--nodes", type=int, default=None, help="override the cell size of the search comparison")
    p.add_argument("--k", type=int, default=None, help="override the candidates per shrinking step")
    p.add_argument("--keep", type=float, default=None, help="override the kept fraction of edges")
    p.add_argument("--only", choices=("search", "models", "kernels"), default=None, help="run one part only")
    args = p.parse_args(argv)
    cfg = settings(args.quick)
    for key in ("nodes", "k", "keep"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.seeds:
        cfg["seeds"] = tuple(int(s) for s in args.seeds.split(","))
    out = os.path.join(args.out, "quick" if args.quick else "full")
    os.makedirs(out, exist_ok=True)
    report = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
              "cpu": cpu_summary(), "load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    parts = [args.only] if args.only else ["search", "models", "kernels"]
    tables = []
    if "search" in parts or "models" in parts:
        report["search"] = search_comparison(cfg, out, cfg["seeds"])
        tables.append(search_table(report["search"]))
    if "models" in parts:
        report["models"] = model_comparison(cfg, report["search"]["best_cell_path"], out, cfg["seeds"][0])
        tables.append(model_table(report["models"]))
    if "kernels" in parts:
        report["kernels"] = kernel_speedups()
        tables.append(kernel_table(report["kernels"]))
    report["load_average_at_end"] = os.getloadavg()
    name = "report.json" if not args.only else f"report_{args.only}.json"
    with open(os.path.join(out, name), "w") as f:
        json.dump(report, f, indent=1)
    print(f"CPU: {report['cpu']}; load average at start {report['load_average_at_start']}, "
          f"at end {report['load_average_at_end']}\n")
    print("\n\n".join(tables))
    print(f"\nreport: {os.path.join(out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
