"""Benchmark of labelled-placement generation: placements per hour by design size, routing-failure share per knob
setting, and label statistics (hotspot rate, failed-net distribution), all measured on this machine.

    .venv/bin/python benchmarks/eda_generation.py --quick            # ~700 and ~1,700-cell designs, few placements
    .venv/bin/python benchmarks/eda_generation.py --jobs 2 --out runs/eda_bench
    .venv/bin/python benchmarks/eda_generation.py --quick --compare-legacy   # + old flow path on the same placements

`--compare-legacy` first makes every placement twice at the same time, in two processes of one job each: once with
the flow's old path (`legacy=True`: untuned malloc, per-placement qrouter -i / getfillcell; the Python parse is the
current one in both) and once with the new path. Running side by side, both see the same machine load, so the
CPU-seconds ratio old/new on the same placements is fair on a shared machine; it also checks both give identical
samples. The normal `--jobs` run of the new path (the placements/hour figures) follows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.eda import designs, generate, tools  # noqa: E402

# design size classes (cell counts after synthesis for osu018, measured: mult8 652, alu16 692, addtree8x12 826,
# mult12 1628, alu32 1605, mult16 3082, addtree16x16 2555)
SIZES = {
    "~700": ["mult8", "alu16", "addtree8x12", "rand400s1"],
    "~1700": ["mult12", "alu32", "rand1000s1"],
    "~3000": ["mult16", "addtree16x16"],
}


def run_size_class(label, specs, per_design, jobs, seed, out_root, space, legacy=False, suffix="", progress=True):
    """Generate `per_design` placements of each design in one size class; returns (summary, dataset dir, synth s)."""
    out = Path(out_root) / f"size_{label.strip('~')}{suffix}"
    ds = designs.resolve(specs)
    # synthesis is once per design and not part of the per-placement rate: do it first, time it separately
    from pipelines.eda import flow
    t0 = time.monotonic()
    for d in ds:
        flow.synthesize(d, "osu018", out / "synth")
    synth_s = time.monotonic() - t0
    summary = generate.generate(ds, out, per_design, seed=seed, jobs=jobs, space=space, progress=progress,
                                legacy=legacy)
    return summary, out, synth_s


def run_side_by_side(label, specs, per_design, seed, out_root, space):
    """Old and new flow path on the same placements at the same time (one process each, 1 job each); returns both."""
    from concurrent.futures import ProcessPoolExecutor
    load0 = os.getloadavg()
    with ProcessPoolExecutor(2) as pool:
        old = pool.submit(run_size_class, label, specs, per_design, 1, seed, out_root, space, True, "_legacy", False)
        new = pool.submit(run_size_class, label, specs, per_design, 1, seed, out_root, space, False, "_pair", False)
        (s_old, d_old, _), (s_new, d_new, _) = old.result(), new.result()
    cmp = legacy_comparison(s_new, s_old, d_new, d_old)
    cmp["load_avg"] = [load0, os.getloadavg()]
    return cmp


def legacy_comparison(new, old, new_dir, old_dir):
    """CPU-s and wall ratios old/new over the placements both paths finished; are their samples identical?"""
    from pipelines.eda.reproduce import compare_datasets
    a = {r["placement_id"]: r for r in new.records if r["status"] == "done"}
    b = {r["placement_id"]: r for r in old.records if r["status"] == "done"}
    common = sorted(set(a) & set(b))
    cpu_new, cpu_old = sum(a[k]["cpu_s"] for k in common), sum(b[k]["cpu_s"] for k in common)
    steps = {}
    keys = sorted({k for r in list(a.values()) + list(b.values()) for k in r["timings_s"] if k.startswith("cpu_")})
    for k in keys:
        mean = lambda recs: round(float(np.mean([recs[i]["timings_s"].get(k, 0) for i in common])), 3)  # noqa: E731
        steps[k] = {"new": mean(a), "legacy": mean(b)} if common else None
    same = compare_datasets(new_dir, old_dir)
    return {"placements": len(common), "cpu_s_per_placement_new": round(cpu_new / max(len(common), 1), 3),
            "cpu_s_per_placement_legacy": round(cpu_old / max(len(common), 1), 3),
            "cpu_ratio_legacy_over_new": round(cpu_old / cpu_new, 3) if cpu_new else None,
            "wall_s_new": round(new.seconds, 1), "wall_s_legacy": round(old.seconds, 1),
            "placements_per_hour_new": round(new.placements_per_hour, 1),
            "placements_per_hour_legacy": round(old.placements_per_hour, 1),
            "mean_step_cpu_s": steps, "samples_identical": f"{same['identical']}/{same['compared']}",
            "differences": same["differences"][:5]}


def knob_weighted_cpu(records, space):
    """Mean CPU s per placement with graywolf's modes weighted as the knob space draws them (uniformly).

    A small run may draw normal annealing (3-4x the CPU of fast mode) more or less often than its expected share;
    this estimate corrects for that, so the rate it implies is the one a long run would see.
    """
    by_mode = defaultdict(list)
    for r in records:
        if r.get("status") == "done" and "cpu_s" in r:
            by_mode[r["knobs"]["graywolf_fast"]].append(r["cpu_s"])
    if set(by_mode) != set(space.graywolf_fast):
        return None   # some mode was never drawn: no honest estimate
    return {"cpu_s_per_placement": round(float(np.mean([np.mean(v) for v in by_mode.values()])), 3),
            "cpu_s_by_graywolf_fast": {str(k): round(float(np.mean(v)), 3) for k, v in sorted(by_mode.items())},
            "n_by_graywolf_fast": {str(k): len(v) for k, v in sorted(by_mode.items())}}


def knob_failure_table(records):
    """Share of placements with failed nets after stage 2 (and stage 1), per value of every knob."""
    rows = defaultdict(lambda: [0, 0, 0, []])
    for r in records:
        if r.get("status") != "done":
            continue
        for k, v in r["knobs"].items():
            if k == "seed":
                continue
            row = rows[(k, str(v))]
            row[0] += 1
            row[1] += r["n_failed_stage1"] > 0
            row[2] += r["n_failed_stage2"] > 0
            row[3].append(r["n_failed_stage2"])
    out = []
    for (k, v), (n, f1, f2, nets) in sorted(rows.items()):
        out.append({"knob": k, "value": v, "n": n, "fail_share_stage1": f1 / n, "fail_share_stage2": f2 / n,
                    "mean_failed_nets_stage2": float(np.mean(nets))})
    return out


def label_stats(sample_dirs):
    """Hotspot tile rates, failed-net distribution and utilisation statistics over saved samples."""
    from pipelines.eda.sample import Sample
    hot1, hot2, util, nfail, routed = [], [], [], [], []
    for d in sample_dirs:
        s = Sample.load(d)
        hot1.append(float((s.labels["hotspot_stage1"] > 0).mean()))
        hot2.append(float((s.labels["hotspot_stage2"] > 0).mean()))
        util.append(float(s.labels["utilisation_max"].mean()))
        nfail.append(int(s.meta["n_failed_stage2"]))
        routed.append(bool(s.meta["routed"]))
    nfail = np.array(nfail)
    bins = {"0": int((nfail == 0).sum()), "1-10": int(((nfail >= 1) & (nfail <= 10)).sum()),
            "11-100": int(((nfail > 10) & (nfail <= 100)).sum()), ">100": int((nfail > 100).sum())}
    return {"n_samples": len(sample_dirs), "routed_share": float(np.mean(routed)) if routed else 0.0,
            "hotspot_tile_rate_stage1": float(np.mean(hot1)) if hot1 else 0.0,
            "hotspot_tile_rate_stage2": float(np.mean(hot2)) if hot2 else 0.0,
            "mean_max_utilisation": float(np.mean(util)) if util else 0.0,
            "failed_nets_stage2_hist": bins,
            "failed_nets_stage2_quantiles": {q: float(np.quantile(nfail, q / 100)) for q in (50, 90, 100)}
            if len(nfail) else {}}


def main(argv=None) -> int:
    """Run the size classes, then print rates, per-knob failure shares and label statistics."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 size classes, few placements (a few minutes)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-design", type=int, default=None, help="placements per design (default 6 quick / 25)")
    ap.add_argument("--out", default=None, help="keep datasets and results.json here (default: temp dir)")
    ap.add_argument("--compare-legacy", action="store_true",
                    help="also run the old flow path on the same placements (first), report CPU ratio + identity")
    args = ap.parse_args(argv)
    tools.require_tools()
    per = args.per_design or (4 if args.quick else 25)
    sizes = {k: (v[:2] if args.quick else v) for k, v in SIZES.items() if not (args.quick and k == "~3000")}
    if args.quick:
        sizes["~1700"] = sizes["~1700"][:1]
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="eda_bench_"))
    space = generate.KnobSpace()
    results = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}, "jobs": args.jobs,
               "per_design": per, "tool_versions": tools.tool_versions(), "knob_space": space.to_dict(),
               "sizes": {}}
    all_records, all_dirs = [], []
    for label, specs in sizes.items():
        cmp = run_side_by_side(label, specs, per, args.seed, root, space) if args.compare_legacy else None
        summary, out, synth_s = run_size_class(label, specs, per, args.jobs, args.seed, root, space)
        done = [r for r in summary.records if r["status"] == "done"]
        cells = sorted({r["n_cells"] for r in done})
        t = defaultdict(list)
        for r in done:
            for k, v in r["timings_s"].items():
                t[k].append(v)
        results["sizes"][label] = {
            "designs": specs, "n_cells": cells, "done": summary.done, "failed": dict(summary.failed),
            "wall_s": round(summary.seconds, 1), "placements_per_hour": round(summary.placements_per_hour, 1),
            "cpu_s_per_placement": round(summary.cpu_s_per_placement, 2),
            "cpu_bound_placements_per_hour": round(summary.cpu_bound_placements_per_hour, 1),
            "synthesis_s": round(synth_s, 1),
            "mean_step_s": {k: round(float(np.mean(v)), 3) for k, v in sorted(t.items())},
            "mean_placement_s": round(float(np.mean([r["seconds"] for r in done])), 2) if done else None,
            "knob_weighted": knob_weighted_cpu(summary.records, space),
        }
        kw = results["sizes"][label]["knob_weighted"]
        if kw:
            kw["cpu_bound_placements_per_hour"] = round(3600.0 * args.jobs / kw["cpu_s_per_placement"], 1)
        if cmp:
            results["sizes"][label]["legacy_comparison"] = cmp
        print(f"\n[{label} cells {cells}] {summary.table()}", flush=True)
        all_records += summary.records
        all_dirs += [str(generate.sample_dir(out, r["placement_id"])) for r in done]
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["knob_failure"] = knob_failure_table(all_records)
    results["labels"] = label_stats(all_dirs)

    print(f"\n== placements per hour by design size (jobs={args.jobs}, parsing included) ==")
    print("   pl/hour = measured on this (shared) machine; CPU s/pl = tools + parsing CPU time per placement;")
    print("   pl/hour CPU-bound = 3600 * jobs / (CPU s/pl), the rate on otherwise idle cores")
    print(f"{'size':>6} {'cells':>16} {'done':>5} {'failed':>6} {'wall s':>8} {'pl/hour':>8} {'s/pl':>6} "
          f"{'CPU s/pl':>8} {'pl/hour CPU-bound':>17}")
    for label, r in results["sizes"].items():
        print(f"{label:>6} {str(r['n_cells']):>16} {r['done']:>5} {sum(r['failed'].values()):>6} {r['wall_s']:>8} "
              f"{r['placements_per_hour']:>8} {r['mean_placement_s']!s:>6} {r['cpu_s_per_placement']:>8} "
              f"{r['cpu_bound_placements_per_hour']:>17}")
        print(f"{'':>6} mean step seconds: {r['mean_step_s']}")
        if r["knob_weighted"]:
            kw = r["knob_weighted"]
            print(f"{'':>6} graywolf modes weighted as drawn (1/3 each): CPU s/pl {kw['cpu_s_per_placement']}, "
                  f"pl/hour CPU-bound {kw['cpu_bound_placements_per_hour']} (by mode {kw['cpu_s_by_graywolf_fast']}, "
                  f"n {kw['n_by_graywolf_fast']})")
    for label, r in results["sizes"].items():
        c = r.get("legacy_comparison")
        if c:
            print(f"{label:>6} legacy vs new, side by side (1 job each) on the same {c['placements']} placements: "
                  f"CPU s/pl {c['cpu_s_per_placement_legacy']} -> {c['cpu_s_per_placement_new']} "
                  f"(x{c['cpu_ratio_legacy_over_new']}); "
                  f"pl/hour {c['placements_per_hour_legacy']} -> {c['placements_per_hour_new']}; "
                  f"samples identical {c['samples_identical']}; steps {c['mean_step_cpu_s']}")
    print("\n== share of placements with failed nets, per knob value ==")
    print(f"{'knob':>16} {'value':>6} {'n':>4} {'stage1':>7} {'stage2':>7} {'mean nets':>9}")
    for r in results["knob_failure"]:
        print(f"{r['knob']:>16} {r['value']:>6} {r['n']:>4} {r['fail_share_stage1']:>7.2f} "
              f"{r['fail_share_stage2']:>7.2f} {r['mean_failed_nets_stage2']:>9.1f}")
    print("\n== label statistics ==")
    print(json.dumps(results["labels"], indent=1))
    print(f"load average start {results['machine']['load_avg_start']} end {results['machine']['load_avg_end']}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
