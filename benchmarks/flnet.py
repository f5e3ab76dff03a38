"""FLNet benchmark: the federated table over >= 3 seeds, rounds per minute, TFF build time vs round time, and a
FedAvg round on TFF against the same local training done client after client in plain Keras (side by side).

    .venv/bin/python benchmarks/flnet.py --quick     # FLNet, 16x16 grid, 3 rounds, seeds 0 1 2 (data/eda_default)
    .venv/bin/python benchmarks/flnet.py             # configs/flnet/eda_default.json (FLNet + RouteNet), seeds 0 1 2
    .venv/bin/python benchmarks/flnet.py --config configs/flnet/eda_default.json --data DATASET --out OUT

The table runs through `federated.experiment.run_experiment` (resumable: OUT/table/). The ratio: one TFF process
(stateful Adam FedAvg) and one compiled Keras model per client (its Adam kept); `--timing-rounds` rounds alternate a
TFF round and a Keras round on the same clients and batches (so load from other processes hits both alike); Keras
sets each client's start weights, fits its batches, and averages the weights in numpy. The first round of each
(tracing) is reported apart and left out of the median. Writes OUT/benchmark.{json,md}.
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
    tff_s, keras_s = [], []
    for r in range(rounds):
        data = [c.round_data(cfg["batch_size"], cfg["local_epochs"], (0, r, i)) for i, c in enumerate(clients)]
        t = time.perf_counter()
        out = proc.next(glob, [[] for _ in clients], opts, data)
        tff_s.append(time.perf_counter() - t)
        glob, opts = out["global"], out["opt_state"]
        t = time.perf_counter()
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
    diff = max(float(np.abs(a - b).max()) for a, b in zip(glob, k_glob))
    med_t, med_k = float(np.median(tff_s[1:])), float(np.median(keras_s[1:]))
    return {"model": model, "clients": len(clients), "build_seconds": build, "tff_first_round_s": tff_s[0],
            "keras_first_round_s": keras_s[0], "tff_round_s_median": med_t, "keras_round_s_median": med_k,
            "ratio_tff_over_keras": med_t / med_k, "tff_rounds_per_minute": 60.0 / med_t,
            "max_abs_weight_diff_tff_vs_keras": diff, "rounds": rounds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="FLNet only, 16x16 grid, 3 rounds")
    ap.add_argument("--config", default="configs/flnet/eda_default.json")
    ap.add_argument("--data", default=None, help="dataset folder (default: the config's)")
    ap.add_argument("--out", default=None, help="default runs/flnet_bench[_quick]")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--timing-rounds", type=int, default=6)
    a = ap.parse_args(argv)
    from federated.experiment import _check, load_config

    cfg = load_config(a.config)
    if a.quick:
        cfg.update(QUICK)
    if a.data:
        cfg["data"] = a.data
    cfg["seeds"] = a.seeds
    _check(a.config, cfg)
    out = a.out or ("runs/flnet_bench_quick" if a.quick else "runs/flnet_bench")
    os.makedirs(out, exist_ok=True)

    from federated.clients import make_clients
    from federated.experiment import run_experiment
    from federated.runtime import import_tff
    from tfnas.runs import write_json_atomic

    t0 = time.perf_counter()
    import_tff()
    tff_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = run_experiment(cfg, os.path.join(out, "table"))
    table_s = time.perf_counter() - t0
    fed = [r for r in results["runs"] if r.get("round_seconds")]
    clients = make_clients(cfg["data"], tuple(cfg["group_by"]), tuple(cfg["grid"]), cfg["val_fraction"], 0)
    timing = [keras_vs_tff(cfg, clients, m, a.timing_rounds) for m in cfg["models"]]
    bench = {"config": cfg, "tff_import_seconds": tff_import, "table_seconds": table_s,
             "table_seconds_per_seed": table_s / len(a.seeds), "timing": timing,
             "build_seconds": {f"{r['model']}/{r['algorithm']}/seed{r['seed']}": r["build_seconds"] for r in fed},
             "round_seconds_median": {f"{r['model']}/{r['algorithm']}/seed{r['seed']}":
                                      float(np.median(r["round_seconds"][1:] or r["round_seconds"])) for r in fed},
             "note": "table_seconds is 0-ish when OUT/table/ already holds the finished runs (resumed)"}
    write_json_atomic(os.path.join(out, "benchmark.json"), bench)
    with open(os.path.join(out, "table", "table.md")) as f:
        md = [f.read(), ""]
    md += ["| model | clients | TFF build s | TFF round s (median) | Keras client-after-client s | ratio | rounds/min "
           "| max weight diff |", "|---|---|---|---|---|---|---|---|"]
    md += [f"| {t['model']} | {t['clients']} | {t['build_seconds']:.2f} | {t['tff_round_s_median']:.3f} | "
           f"{t['keras_round_s_median']:.3f} | {t['ratio_tff_over_keras']:.2f}x | {t['tff_rounds_per_minute']:.0f} | "
           f"{t['max_abs_weight_diff_tff_vs_keras']:.1e} |" for t in timing]
    builds = list(bench["build_seconds"].values())
    md += ["", f"TFF import {tff_import:.1f} s; per-algorithm computation build {np.mean(builds):.2f} s mean, "
               f"{max(builds):.2f} s max; table {table_s:.0f} s for {len(a.seeds)} seeds "
               f"({bench['table_seconds_per_seed']:.0f} s per seed)"]
    with open(os.path.join(out, "benchmark.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
