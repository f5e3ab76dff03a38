"""FLNet benchmark: the federated table over >= 3 seeds, rounds per minute, TFF build time vs round time, and a
FedAvg round on TFF against the same local training done client after client in plain Keras (side by side).

    .venv/bin/python benchmarks/flnet.py --quick     # FLNet, 16x16 grid, 3 rounds, seeds 0 1 2 (data/eda_default)
    .venv/bin/python benchmarks/flnet.py --quick --timing-only   # only the TFF vs Keras ratio and the build time
    .venv/bin/python benchmarks/flnet.py             # configs/flnet/eda_default.json (FLNet + RouteNet), seeds 0 1 2
    .venv/bin/python benchmarks/flnet.py --config configs/flnet/eda_default.json --data DATASET --out OUT
    .venv/bin/python benchmarks/flnet.py --config configs/flnet/eda_bench.json --keras-model found=runs/rn_bench

The table runs through `federated.experiment.run_experiment` (resumable: OUT/table/). The ratio: one TFF process
(stateful Adam FedAvg) and one compiled Keras model per client (its Adam kept); `--timing-rounds` rounds alternate a
TFF round and a Keras round on the same clients and batches (so load from other processes hits both alike); Keras
sets each client's start weights, fits its batches (fit on a dataset of the round's batches: of the plain-Keras
ways measured, fit(dataset), fit(x, y, shuffle=False) and train_on_batch, the fastest), and averages the weights in
numpy. The first round of each (tracing, the worker's session set-up) is reported apart and left out; the ratio is
the median over rounds of each round's TFF / Keras time (paired, so load from other processes cancels), with its
range. CPU seconds per round (this process, plus the TFF worker's from /proc) are shown beside it: unlike wall time
they do not depend on how many cores other processes leave free. Targets (issue 17): ratio <= 1.5x, building the
computations < 60 s. `--timing-only` skips the table.
Writes OUT/benchmark.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

QUICK = {"models": ["flnet"], "grid": [16, 16], "rounds": 3, "batch_size": 2, "lr": 0.002,
         "algorithms": ["local", "centralised", "fedavg", "fedavg_stateless", "fedprox", "ifca", "partial_local",
                        "finetune"]}


TARGET_RATIO, TARGET_BUILD_S = 1.5, 60.0


def _cpu_seconds() -> dict:
    """{pid: CPU seconds (user + system)} of this process's TFF worker binaries, read from /proc."""
    from federated.runtime import own_workers

    out = {}
    for pid in own_workers():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def keras_vs_tff(cfg, clients, model: str, rounds: int) -> dict:
    """Seconds per FedAvg round: TFF (RoundProcess.next) and plain Keras client after client, interleaved."""
    import tensorflow as tf

    from federated.experiment import input_shape
    from federated.process import RoundProcess
    from tfnas.routability import estimators
    from tfnas.train.task import TileBCETask

    t0 = time.perf_counter()
    proc = RoundProcess(model, input_shape(cfg, clients), optimizer="adam", lr=cfg["lr"], seed=0)
    build = time.perf_counter() - t0
    glob, _ = proc.initial_weights()
    opts = [proc.initial_opt_state() for _ in clients]
    keras_models = [estimators.build_estimator(model, input_shape(cfg, clients), seed=0) for _ in clients]
    for m in keras_models:  # one compiled model + Adam per client, as a plain-Keras simulation would keep them
        TileBCETask().compile(m, tf.keras.optimizers.Adam(cfg["lr"]))
    k_glob = [w.copy() for w in glob]
    tff_s, keras_s, tff_cpu, keras_cpu = [], [], [], []
    for r in range(rounds):
        data = [c.round_data(cfg["batch_size"], cfg["local_epochs"], (0, r, i)) for i, c in enumerate(clients)]
        t, c, w = time.perf_counter(), time.process_time(), _cpu_seconds()
        out = proc.next(glob, [[] for _ in clients], opts, data)
        tff_s.append(time.perf_counter() - t)
        tff_cpu.append(time.process_time() - c + sum(v - w.get(p, 0.0) for p, v in _cpu_seconds().items()))
        glob, opts = out["global"], out["opt_state"]
        t, c = time.perf_counter(), time.process_time()
        new, ns = [], []
        for b, keras_model in zip(data, keras_models):
            proc.layout.set(keras_model, k_glob, [])
            ds = tf.data.Dataset.from_tensors(b[0])
            for batch in b[1:]:
                ds = ds.concatenate(tf.data.Dataset.from_tensors(batch))
            keras_model.fit(ds, epochs=1, verbose=0)
            new.append(proc.layout.get(keras_model)[0])
            ns.append(sum(len(x) for x, _ in b))
        k_glob = [sum(n * w[i] for n, w in zip(ns, new)) / sum(ns) for i in range(len(k_glob))]
        keras_s.append(time.perf_counter() - t)
        keras_cpu.append(time.process_time() - c)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(glob, k_glob))
    med_t, med_k = float(np.median(tff_s[1:])), float(np.median(keras_s[1:]))
    paired = [t / k for t, k in zip(tff_s[1:], keras_s[1:])]
    return {"model": model, "clients": len(clients), "batches_per_round": sum(len(d) for d in data),
            "build_seconds": build, "tff_first_round_s": tff_s[0], "keras_first_round_s": keras_s[0],
            "tff_round_s": tff_s, "keras_round_s": keras_s, "tff_round_s_median": med_t,
            "keras_round_s_median": med_k, "ratio_tff_over_keras": float(np.median(paired)),
            "ratio_min": float(min(paired)), "ratio_max": float(max(paired)), "ratio_of_medians": med_t / med_k,
            "tff_cpu_s_median": float(np.median(tff_cpu[1:])), "keras_cpu_s_median": float(np.median(keras_cpu[1:])),
            "cpu_ratio_tff_over_keras": float(np.median(tff_cpu[1:])) / max(float(np.median(keras_cpu[1:])), 1e-9),
            "tff_rounds_per_minute": 60.0 / med_t, "max_abs_weight_diff_tff_vs_keras": diff, "rounds": rounds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="FLNet only, 16x16 grid, 3 rounds")
    ap.add_argument("--config", default="configs/flnet/eda_default.json")
    ap.add_argument("--data", default=None, help="dataset folder (default: the config's)")
    ap.add_argument("--out", default=None, help="default runs/flnet_bench[_quick]")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--timing-rounds", type=int, default=12, help="interleaved TFF/Keras rounds (>= 2; the first "
                    "is left out of the ratio)")
    ap.add_argument("--timing-only", action="store_true", help="only the TFF vs Keras ratio and build time, no table")
    ap.add_argument("--keras-model", action="append", default=[], metavar="NAME=PATH",
                    help="add a saved model to the config's models (a model.keras or a routenas run folder, e.g. "
                         "routenas_found=runs/rn_bench: the routability-NAS found model); repeatable")
    a = ap.parse_args(argv)
    from federated.experiment import _check, load_config, register_models

    cfg = load_config(a.config)
    if a.quick:
        cfg.update(QUICK)
    if a.data:
        cfg["data"] = a.data
    cfg["seeds"] = a.seeds
    for spec in a.keras_model:
        name, sep, where = spec.partition("=")
        if not sep or not name or not where:
            ap.error(f"--keras-model wants NAME=PATH, got {spec!r}")
        cfg["keras_models"] = {**cfg["keras_models"], name: where}
        cfg["models"] = [*cfg["models"], name]
    _check(a.config, cfg)
    register_models(cfg)
    if a.timing_rounds < 2:
        ap.error(f"--timing-rounds must be >= 2 (the first round is left out), got {a.timing_rounds}")
    out = a.out or ("runs/flnet_bench_quick" if a.quick else "runs/flnet_bench")
    os.makedirs(out, exist_ok=True)

    from federated.clients import make_clients
    from federated.experiment import run_experiment
    from federated.runtime import import_tff
    from tfnas.runs import write_json_atomic

    t0 = time.perf_counter()
    import_tff()
    tff_import = time.perf_counter() - t0
    results, table_s, fed, md = None, 0.0, [], []
    if not a.timing_only:
        t0 = time.perf_counter()
        results = run_experiment(cfg, os.path.join(out, "table"))
        table_s = time.perf_counter() - t0
        fed = [r for r in results["runs"] if r.get("round_seconds")]
        with open(os.path.join(out, "table", "table.md")) as f:
            md = [f.read(), ""]
    clients = make_clients(cfg["data"], tuple(cfg["group_by"]), tuple(cfg["grid"]), cfg["val_fraction"], 0)
    timing = [keras_vs_tff(cfg, clients, m, a.timing_rounds) for m in cfg["models"]]
    bench = {"config": cfg, "tff_import_seconds": tff_import, "table_seconds": table_s,
             "table_seconds_per_seed": table_s / len(a.seeds), "timing": timing,
             "build_seconds": {f"{r['model']}/{r['algorithm']}/seed{r['seed']}": r["build_seconds"] for r in fed
                               if not r.get("process_reused")},
             "processes_reused": sum(1 for r in fed if r.get("process_reused")),
             "round_seconds_median": {f"{r['model']}/{r['algorithm']}/seed{r['seed']}":
                                      float(np.median(r["round_seconds"][1:] or r["round_seconds"])) for r in fed},
             "note": "table_seconds is 0-ish when OUT/table/ already holds the finished runs (resumed)"}
    write_json_atomic(os.path.join(out, "benchmark.json"), bench)
    md += [f"FedAvg round, TFF vs the same training client after client in plain Keras, interleaved "
           f"({a.timing_rounds - 1} timed rounds after one warm-up; ratio = median of per-round TFF/Keras, range):", "",
           "| model | clients | batches/round | TFF build s | TFF first round s | TFF round s (median) "
           "| Keras client-after-client s | ratio TFF/Keras | CPU s TFF (Python + worker) / Keras | rounds/min "
           "| max weight diff |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {t['model']} | {t['clients']} | {t['batches_per_round']} | {t['build_seconds']:.2f} | "
           f"{t['tff_first_round_s']:.2f} | {t['tff_round_s_median']:.3f} | {t['keras_round_s_median']:.3f} | "
           f"{t['ratio_tff_over_keras']:.2f}x ({t['ratio_min']:.2f}-{t['ratio_max']:.2f}) | "
           f"{t['tff_cpu_s_median']:.3f} / {t['keras_cpu_s_median']:.3f} ({t['cpu_ratio_tff_over_keras']:.2f}x) | "
           f"{t['tff_rounds_per_minute']:.0f} | {t['max_abs_weight_diff_tff_vs_keras']:.1e} |" for t in timing]
    builds = list(bench["build_seconds"].values()) + [t["build_seconds"] for t in timing]
    ratio = max(t["ratio_tff_over_keras"] for t in timing)
    md += ["", f"target ratio <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'} "
               f"(worst model {ratio:.2f}x); target build < {TARGET_BUILD_S:.0f} s: "
               f"{'met' if max(builds) < TARGET_BUILD_S else 'NOT met'} (max {max(builds):.2f} s, "
               f"mean {np.mean(builds):.2f} s over {len(builds)} builds, {bench['processes_reused']} table runs "
               f"reused a built process; TFF import {tff_import:.1f} s apart)"]
    if not a.timing_only:
        md += [f"table {table_s:.0f} s for {len(a.seeds)} seeds ({bench['table_seconds_per_seed']:.0f} s per seed)"]
    with open(os.path.join(out, "benchmark.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
