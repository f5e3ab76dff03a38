"""Routability NAS benchmark: the found cell vs every hand-made baseline (RouteNet, FLNet, PROS-style, logistic),
by-design and leave-one-out, >= 3 seeds, through the `tfnas routenas` commands; also builds the benchmark dataset.

    .venv/bin/python benchmarks/routenas.py --quick                  # data/eda_default (small), a few minutes
    .venv/bin/python benchmarks/routenas.py --build-dataset          # data/routenas_bench (resumable; long)
    .venv/bin/python benchmarks/routenas.py --data data/routenas_bench --out runs/routenas_bench

The benchmark dataset: every suite (iscas85, epfl, banyan, generated: 32 designs), osu018 + osu035, 10 placements
per design (640), --rows-per-tile 0.25 (the smallest design, banyan_8 at ~300 cells, gets 35x52 / 58x45 tiles).
Re-running --build-dataset resumes. Its manifest is copied to benchmarks/routenas_dataset_manifest.json.
Results land in OUT/evaluation.md (leaderboard + relative gains next to the paper's +2.12 % AUC, +5.85 % tau).

    .venv/bin/python benchmarks/routenas.py --resolution-sweep 2 1 0.5   # ROC-AUC / tau vs --rows-per-tile

The sweep regenerates data/eda_default's placements (same designs, knobs, seed: the flow is deterministic) at each
tile size under OUT/data/, resamples every map to 32x32, and trains FLNet, PROS-style and logistic on split seed 0.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_dataset(out: str, jobs: int) -> int:
    from tfnas.cli import main
    rc = main(["eda", "generate", "--suite", "iscas85", "epfl", "banyan", "generated", "--tech", "osu018", "osu035",
               "--placements-per-design", "10", "--rows-per-tile", "0.25", "--jobs", str(jobs), "--seed", "0",
               "--out", out])
    manifest = Path(out) / "manifest.json"
    if manifest.exists():
        shutil.copyfile(manifest, ROOT / "benchmarks" / "routenas_dataset_manifest.json")
    return rc


def _res_dataset(rows: float, out: str, jobs: int) -> str:
    """data/eda_default's designs, placements and seed rasterised at `rows` rows per tile (the flow is
    deterministic, so only the tile size differs); data/eda_default itself for its own 2 rows per tile."""
    from tfnas.cli import main
    src = ROOT / "data" / "eda_default"
    manifest = json.load(open(src / "manifest.json"))
    if float(rows) == float(manifest.get("rows_per_tile", 2)):
        return str(src)
    dst = os.path.join(out, "data", f"rpt{rows:g}")
    rc = main(["eda", "generate", "--designs", *sorted(manifest["designs"]), "--tech", *manifest["techs"],
               "--placements-per-design", str(manifest["placements_per_design"]), "--seed", str(manifest["seed"]),
               "--rows-per-tile", f"{rows:g}", "--jobs", str(jobs), "--out", dst, "--no-progress"])
    if rc:
        raise SystemExit(f"eda generate --rows-per-tile {rows:g} failed (exit {rc})")
    return dst


def resolution_sweep(rows_list, out: str, seeds, jobs: int, models=("flnet", "pros", "logreg")) -> int:
    """ROC-AUC and tau vs --rows-per-tile (issue 14): the same placements at each tile size, each estimator on the
    same seeded by-design split (split seed 0) and budget; OUT/resolution.{json,md}."""
    from tfnas.cli import main
    from tfnas.routability import data as rdata
    from tfnas.runs import write_json_atomic
    rows_out = []
    for rows in rows_list:
        ds_dir = _res_dataset(rows, out, jobs)
        shapes = [np.load(os.path.join(d, "sample.npz"))["feature/cell_density"].shape
                  for d in rdata.sample_dirs(ds_dir)]
        for m in models:
            run_dir = os.path.join(out, f"rpt{rows:g}", m)
            argv = ["routability", "train", "--model", m, "--data", ds_dir, "--grid", "32", "32", "--seeds",
                    *map(str, seeds), "--split-seed", "0", "--epochs", "30", "--out", run_dir]
            if not os.path.exists(os.path.join(run_dir, "leaderboard.json")):   # a re-run skips finished ones
                print("+ tfnas", " ".join(argv), flush=True)
                if main(argv):
                    return 1
            lb = json.load(open(os.path.join(run_dir, "leaderboard.json")))
            row = next(r for r in lb if r["split"] == "design")
            rows_out.append({"rows_per_tile": rows, "model": m, "tiles_min": [int(v) for v in min(shapes)],
                             "tiles_max": [int(v) for v in max(shapes)], "n_samples": len(shapes),
                             **{k: row[k] for k in row if k.endswith(("_mean", "_std"))}})
    write_json_atomic(os.path.join(out, "resolution.json"), {"rows": rows_out, "grid": [32, 32], "seeds": seeds})
    md = ["| rows/tile | native tiles (min - max) | model | ROC-AUC pooled | Kendall τ |", "|---|---|---|---|---|"]
    md += [f"| {r['rows_per_tile']:g} | {r['tiles_min'][0]}x{r['tiles_min'][1]} - {r['tiles_max'][0]}x"
           f"{r['tiles_max'][1]} | {r['model']} | {r['auc_pooled_mean']:.4f} ± {r['auc_pooled_std']:.4f} | "
           f"{r['kendall_tau_mean']:.4f} ± {r['kendall_tau_std']:.4f} |" for r in rows_out]
    with open(os.path.join(out, "resolution.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


def cost_estimate(out: str, n: int = 48, grid: int = 64, width: int = 32, train_n: int = 448, val_n: int = 96,
                  supernet_epochs: int = 20, trials: int = 64, retrain_epochs: int = 30) -> int:
    """Whole-search wall time at the benchmark size (640 placements: ~448 train / 96 val by design, 64x64 grid,
    width 32, the full settings of `run`), extrapolated from measured steady-state rates on `n` random samples of
    that shape: supernet tiles/s (first epoch, the tracing, dropped), seconds per supernet-scored candidate
    (recalibration + validation predict, scaled to val_n) and the retrain tiles/s of two sampled cells."""
    import time

    from tfnas.routability.experiment import _throughput_callback, make_dataset   # tfnas first: its TF defaults
    from tfnas.routenas.search import SupernetEvaluator
    from tfnas.routenas.space import Macro, RouteNASSpace, build_subnet
    from tfnas.routenas.supernet import RouteSupernet
    from tfnas.runs import write_json_atomic
    from tfnas.train.task import TileBCETask
    from tfnas.train.trainer import train
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, grid, grid, 6)).astype(np.float32)
    y = (rng.random((n, grid, grid, 1)) < 0.1).astype(np.float32)
    tiles = grid * grid
    sn = RouteSupernet((grid, grid, 6), Macro(width), seed=0)
    opt = tf.keras.optimizers.legacy.Adam(1e-3)
    opt._create_all_weights(sn.trainable_variables)
    thr = _throughput_callback(n * tiles)
    t0 = time.perf_counter()
    train(sn, TileBCETask(), make_dataset(x, y, 8, 0), None, epochs=3, optimizer=opt,
          run_dir=os.path.join(out, "supernet"), callbacks=[thr], save_model=False)
    sn_trace = time.perf_counter() - t0 - sum(thr.seconds)
    sn_tps = thr.tiles_per_second()
    ev = SupernetEvaluator(sn, x, y, rng.integers(0, 50, n).astype(np.float32), Macro(width), calibration=x)
    sp, secs = RouteNASSpace(), []
    for i in range(4):
        t = time.perf_counter()
        ev.evaluate(sp.sample(np.random.default_rng(i)))
        secs.append(time.perf_counter() - t)
    per_trial = float(np.mean(secs[1:])) * val_n / n
    re_tps = []
    for i in range(2):
        model = build_subnet(sp.sample(np.random.default_rng(10 + i)), (grid, grid, 6), Macro(width), seed=i)
        thr2 = _throughput_callback(n * tiles)
        train(model, TileBCETask(), make_dataset(x, y, 8, 0), None, epochs=3, optimizer=tf.keras.optimizers.Adam(),
              run_dir=os.path.join(out, f"retrain{i}"), callbacks=[thr2], save_model=False)
        re_tps.append(thr2.tiles_per_second())
    est = {"supernet_tiles_per_s": sn_tps, "supernet_trace_s": round(sn_trace, 1),
           "supernet_s": round(supernet_epochs * train_n * tiles / sn_tps + sn_trace, 1),
           "evolution_s_per_trial": round(per_trial, 2), "evolution_s": round(trials * per_trial + secs[0], 1),
           "retrain_tiles_per_s": re_tps, "retrain_top2_s": round(sum(retrain_epochs * train_n * tiles / t
                                                                     for t in re_tps), 1),
           "settings": {"grid": grid, "width": width, "train_n": train_n, "val_n": val_n, "measured_on_n": n,
                        "supernet_epochs": supernet_epochs, "trials": trials, "retrain_epochs": retrain_epochs}}
    est["total_s"] = round(est["supernet_s"] + est["evolution_s"] + est["retrain_top2_s"], 1)
    write_json_atomic(os.path.join(out, "cost_estimate.json"), est)
    print(json.dumps(est, indent=1))
    return 0


def run(data: str, out: str, quick: bool, seeds, group: str) -> int:
    from tfnas.cli import main
    grid = ["16", "16"] if quick else ["64", "64"]
    search = ["routenas", "search", "--data", data, "--out", out, "--grid", *grid,
              "--width", "16" if quick else "32", "--supernet-epochs", "15" if quick else "20",
              "--population", "8" if quick else "24", "--sample-size", "3" if quick else "6",
              "--children", "4", "--generations", "4" if quick else "10", "--top-k", "2"]
    # every model (found and baselines) gets the same budget: up to `epochs`, early stopping on the validation
    # designs' loss (patience 5, best epoch restored); 5 epochs (the old quick budget) left every model under-trained
    epochs = "30"
    steps = [search,
             ["routenas", "retrain", "--run", out, "--seeds", *map(str, seeds), "--epochs", epochs,
              "--baselines", "routenet", "flnet", "pros", "logreg"],
             ["routenas", "retrain", "--run", out, "--seeds", *map(str, seeds), "--epochs", epochs, "--split", "loso",
              "--group", group, "--baselines", "routenet", "flnet", "pros", "logreg"],
             ["routenas", "evaluate", "--run", out]]
    for argv in steps:
        print("+ tfnas", " ".join(argv), flush=True)
        rc = main(argv)
        if rc:
            return rc
    summary = json.load(open(os.path.join(out, "search", "summary.json")))
    print(f"search cost: supernet {summary['supernet_cpu_s']} CPU s + evolution {summary['search_cpu_s']} CPU s")
    return 0


def main_() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="data/eda_default, small grid and search")
    ap.add_argument("--build-dataset", action="store_true")
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--resolution-sweep", type=float, nargs="+", default=None, metavar="ROWS_PER_TILE",
                    help="ROC-AUC and tau vs tile size: data/eda_default's placements at these --rows-per-tile")
    ap.add_argument("--cost-estimate", action="store_true",
                    help="whole-search time at the benchmark size, from measured rates on random data of its shape")
    a = ap.parse_args()
    if a.cost_estimate:
        return cost_estimate(a.out or "runs/routenas_cost")
    if a.resolution_sweep:
        return resolution_sweep(a.resolution_sweep, a.out or "runs/routenas_resolution", a.seeds, a.jobs)
    if a.build_dataset:
        return build_dataset(a.data or "data/routenas_bench", a.jobs)
    data = a.data or ("data/eda_default" if a.quick else "data/routenas_bench")
    if not a.quick and not os.path.isdir(os.path.join(data, "samples")):
        rc = build_dataset(data, a.jobs)
        if rc:
            return rc
    # data/eda_default holds generated designs only (one suite): leave one family out there
    group = "family" if data.rstrip("/").endswith("eda_default") else "suite"
    return run(data, a.out or ("runs/routenas_quick" if a.quick else "runs/routenas_bench"), a.quick, a.seeds, group)


if __name__ == "__main__":
    sys.exit(main_())
