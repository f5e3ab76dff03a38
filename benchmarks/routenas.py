"""Routability NAS benchmark: the found cell vs every hand-made baseline (RouteNet, FLNet, PROS-style, logistic),
by-design and leave-one-out, >= 3 seeds, through the `tfnas routenas` commands; also builds the benchmark dataset.

    .venv/bin/python benchmarks/routenas.py --quick                  # data/eda_default (small), a few minutes
    .venv/bin/python benchmarks/routenas.py --build-dataset          # data/routenas_bench (resumable; long)
    .venv/bin/python benchmarks/routenas.py --data data/routenas_bench --out runs/routenas_bench

The benchmark dataset: every suite (iscas85, epfl, banyan, generated: 32 designs), osu018 + osu035, 10 placements
per design (640), --rows-per-tile 0.25 (the smallest design, banyan_8 at ~300 cells, gets 35x52 / 58x45 tiles).
Re-running --build-dataset resumes. Its manifest is copied to benchmarks/routenas_dataset_manifest.json.
Results land in OUT/evaluation.md (leaderboard + relative gains next to the paper's +2.12 % AUC, +5.85 % tau).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

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


def run(data: str, out: str, quick: bool, seeds, group: str) -> int:
    from tfnas.cli import main
    grid = ["16", "16"] if quick else ["64", "64"]
    search = ["routenas", "search", "--data", data, "--out", out, "--grid", *grid,
              "--width", "16" if quick else "32", "--supernet-epochs", "3" if quick else "20",
              "--population", "8" if quick else "24", "--sample-size", "3" if quick else "6",
              "--children", "4", "--generations", "2" if quick else "10", "--top-k", "2"]
    epochs = "5" if quick else "30"
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
    a = ap.parse_args()
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
