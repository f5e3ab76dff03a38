"""An FLNet experiment from a JSON config: clients, then every listed algorithm per model and seed, then the table
and the per-round PNG (federated/report.py). Layout: OUT/<model>/seed<k>/<algorithm>/ (checkpoint.npz of the round
loop, or train() run folders: c<i>/ per client, the centralised model in the folder itself), OUT/results.json.

Algorithms: fedavg (stateful client Adam, as the reference), fedavg_stateless (TFF's re-initialised client Adam),
fedprox (mu), partial_local (output conv "logit" stays on its client), ifca (k learned clusters), ifca_fixed
(clusters fixed by a client attribute; default "source", the suite: "generated" or a circuitgraph suite, so on
data/eda_default it is one cluster), finetune (fedavg, then `finetune_epochs` of local training per client),
local (each client alone) and centralised (all clients' training data pooled, each client normalised by its own
statistics). The last three run on tfnas.train.trainer.train() with Keras Adam; local and
centralised for rounds x local_epochs epochs, the same number of passes over each client's data as federation.
Models: the hand-made estimators by name, and saved ones (`keras_models`: name -> model.keras or a routenas run
folder, e.g. the routability-NAS found model), rebuilt fresh from their config (tfnas/routability/keras_file.py).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

FEDERATED = {"fedavg": {}, "fedavg_stateless": {"stateful": False}, "fedprox": {"mu": None},
             "partial_local": {"local_layers": ("logit",)}, "ifca": {"clusters": None}, "ifca_fixed": {}}
BASELINES = ("local", "centralised", "finetune")
ALGORITHMS = tuple(FEDERATED) + BASELINES
MODELS = ("flnet", "routenet", "pros", "logistic")
DEFAULTS = {"group_by": ["family", "technology"], "grid": [32, 32], "val_fraction": 0.3, "models": ["flnet"],
            "seeds": [0], "rounds": 10, "local_epochs": 1, "batch_size": 8, "lr": 1e-3, "optimizer": "adam",
            "mu": 1e-2, "clusters": 2, "fixed_clusters_by": "source", "dropout": 0.0, "clients_per_round": None,
            "finetune_epochs": 2, "algorithms": list(ALGORITHMS), "workers": 0, "keras_models": {}}
_INT1 = ("rounds", "local_epochs", "batch_size", "finetune_epochs", "clusters")


def _check(path, cfg) -> None:
    def bad(field, why):
        raise ValueError(f"{path}: field {field!r}: {why}, got {cfg[field]!r}")

    for k in _INT1:
        if isinstance(cfg[k], bool) or not isinstance(cfg[k], int) or cfg[k] < 1:
            bad(k, "must be an integer >= 1")
    for k, lo in (("lr", 0.0), ("mu", None)):
        if isinstance(cfg[k], bool) or not isinstance(cfg[k], (int, float)) or (lo is not None and cfg[k] <= lo) \
                or cfg[k] < 0:
            bad(k, "must be a number > 0" if lo is not None else "must be a number >= 0")
    if not isinstance(cfg["dropout"], (int, float)) or not 0 <= cfg["dropout"] < 1:
        bad("dropout", "must be a number in [0, 1)")
    if not isinstance(cfg["val_fraction"], (int, float)) or not 0 < cfg["val_fraction"] < 1:
        bad("val_fraction", "must be a number in (0, 1)")
    if cfg["clients_per_round"] is not None and (not isinstance(cfg["clients_per_round"], int)
                                                 or cfg["clients_per_round"] < 1):
        bad("clients_per_round", "must be null or an integer >= 1")
    if not isinstance(cfg["workers"], int) or cfg["workers"] < 0 or cfg["workers"] == 1:
        bad("workers", "must be 0 (in-process TFF runtime) or >= 2 local worker processes")
    if not (isinstance(cfg["grid"], list) and len(cfg["grid"]) == 2 and all(isinstance(g, int) and g > 0
                                                                            for g in cfg["grid"])):
        bad("grid", "must be [H, W], two positive integers")
    if not isinstance(cfg["seeds"], list) or not cfg["seeds"] or not all(isinstance(s, int) for s in cfg["seeds"]):
        bad("seeds", "must be a non-empty list of integers")
    if cfg["optimizer"] not in ("adam", "sgd"):
        bad("optimizer", "must be 'adam' or 'sgd'")
    saved = cfg["keras_models"]
    if not isinstance(saved, dict) or any(not isinstance(k, str) or not k.isidentifier() or k in MODELS
                                          or not isinstance(v, str) for k, v in saved.items()):
        bad("keras_models", f"must map new model names (identifiers, not {list(MODELS)}) to model.keras files "
                            "or routenas run folders")
    from tfnas.routability.keras_file import resolve   # TF-free: the same check the build makes

    for name, where in saved.items():
        try:
            resolve(where)
        except ValueError as e:
            raise ValueError(f"{path}: field 'keras_models.{name}': {e}") from None
    for k, known in (("models", MODELS + tuple(saved)), ("algorithms", ALGORITHMS)):
        if not isinstance(cfg[k], list) or not cfg[k] or any(v not in known for v in cfg[k]):
            bad(k, f"must be a non-empty list from {list(known)}")
    from federated.clients import GROUP_KEYS

    if not isinstance(cfg["group_by"], list) or not cfg["group_by"] or any(v not in GROUP_KEYS
                                                                           for v in cfg["group_by"]):
        bad("group_by", f"must be a non-empty list from {list(GROUP_KEYS)}")
    if cfg["fixed_clusters_by"] not in GROUP_KEYS:
        bad("fixed_clusters_by", f"must be one of {list(GROUP_KEYS)}")
    if "routenet" in cfg["models"] and any(g % 4 for g in cfg["grid"]):
        bad("grid", "must be multiples of 4 for routenet")


def load_config(path: str) -> dict:
    """The config with defaults filled in; a bad file, field or value is a one-line error naming it."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULTS) - {"data", "comment"})
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}; known: data, {', '.join(sorted(DEFAULTS))}")
    if not isinstance(raw.get("data"), str):
        raise ValueError(f"{path}: field 'data' (the eda dataset folder, relative to the working directory) "
                         "is required")
    cfg = {**DEFAULTS, **raw}
    _check(path, cfg)
    if not os.path.isdir(os.path.join(cfg["data"], "samples")):
        raise ValueError(f"{path}: field 'data': {cfg['data']!r} is not a dataset folder (no samples/ inside); "
                         "build one with `tfnas eda generate` or benchmarks/eda_dataset.py (data/eda_bench)")
    return cfg


def register_models(cfg) -> None:
    """Make the config's saved models (`keras_models`) buildable by name, like the hand-made estimators."""
    from tfnas.routability import estimators

    for name, where in cfg.get("keras_models", {}).items():
        estimators.register_keras_model(name, where)


def input_shape(cfg, clients) -> tuple:
    return (*cfg["grid"], clients[0].x_train.shape[-1])


_PROCESSES = {}


def round_process(model: str, shape, cfg, spec: dict):
    """(RoundProcess, built now?) for these settings, reused across seeds and algorithms that share them (fedavg,
    ifca, ifca_fixed, finetune): the computation does not depend on the seed, as its in-graph model's initial values
    are overwritten by each round's inputs, so reusing it saves a build and the worker's first-call set-up."""
    from federated.process import RoundProcess

    key = (model, tuple(shape), cfg["optimizer"], float(cfg["lr"]), tuple(sorted(spec.items())))
    if key in _PROCESSES:
        return _PROCESSES[key], False
    _PROCESSES[key] = RoundProcess(model, shape, optimizer=cfg["optimizer"], lr=cfg["lr"], seed=0, **spec)
    return _PROCESSES[key], True


def federated_run(cfg, clients, model: str, seed: int, algorithm: str, run_dir: str):
    """The FederatedRun of one federated algorithm (finetune starts from fedavg's); `.built` says whether its
    RoundProcess was built for it (False: reused, see round_process)."""
    from federated.driver import FederatedRun

    spec = dict(FEDERATED["fedavg" if algorithm == "finetune" else algorithm])
    clusters = cfg["clusters"] if "clusters" in spec else 1
    spec.pop("clusters", None)
    if "mu" in spec:
        spec["mu"] = cfg["mu"]
    fixed = ({c.name: c.group.get(cfg["fixed_clusters_by"], "?") for c in clients}
             if algorithm == "ifca_fixed" else None)
    proc, built = round_process(model, input_shape(cfg, clients), cfg, spec)
    keys = ("rounds", "local_epochs", "batch_size", "lr", "optimizer", "dropout", "clients_per_round", "grid")
    fp = {"model": model, "seed": seed, "algorithm": "fedavg" if algorithm == "finetune" else algorithm,
          **{k: cfg[k] for k in keys}, **spec, "clusters": clusters, "fixed": fixed}
    fed = FederatedRun(proc, clients, run_dir, rounds=cfg["rounds"], local_epochs=cfg["local_epochs"],
                       batch_size=cfg["batch_size"], seed=seed, clients_per_round=cfg["clients_per_round"],
                       dropout=cfg["dropout"], clusters=clusters, fixed_clusters=fixed,
                       fingerprint=json.loads(json.dumps(fp, default=list)))
    fed.built = built
    return fed


def keras_train(model, x, y, epochs, cfg, seed, run_dir, resume):
    """Plain Keras training of one model on (x, y) through the core train() (resumable run folder)."""
    import tensorflow as tf

    from tfnas.train.task import TileBCETask
    from tfnas.train.trainer import train

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return train(model, TileBCETask(), ds.batch(cfg["batch_size"]), epochs=epochs,
                 optimizer=tf.keras.optimizers.Adam(cfg["lr"]), run_dir=run_dir, resume=resume, restore_best=False,
                 run_fields={"kind_detail": "flnet baseline"})


def evaluate_keras(model, client) -> dict:
    from tfnas.routability import protocol

    probs = np.exp(-np.logaddexp(0.0, -np.asarray(model(client.x_val, training=False), np.float64)))
    return protocol.evaluate(client.y_val, probs, client.n_failed_val)


def baseline_model_dirs(algorithm: str, run_dir: str, clients) -> dict:
    """{client: train() run folder} holding each client's baseline model."""
    if algorithm == "centralised":
        return {c.name: run_dir for c in clients}
    return {c.name: os.path.join(run_dir, f"c{i}") for i, c in enumerate(clients)}


def run_baseline(cfg, clients, model: str, seed: int, algorithm: str, run_dir: str, resume: bool) -> dict:
    """{client: metrics} of local-only, centralised or fine-tuned models (trained with train())."""
    from tfnas.routability import estimators

    shape, epochs = input_shape(cfg, clients), cfg["rounds"] * cfg["local_epochs"]
    dirs = baseline_model_dirs(algorithm, run_dir, clients)
    if algorithm == "centralised":
        m = estimators.build_estimator(model, shape, seed=seed)
        x, y = np.concatenate([c.x_train for c in clients]), np.concatenate([c.y_train for c in clients])
        keras_train(m, x, y, epochs, cfg, seed, run_dir, resume)
        return {c.name: evaluate_keras(m, c) for c in clients}
    if algorithm == "finetune":
        fed = federated_run(cfg, clients, model, seed, "finetune", os.path.join(os.path.dirname(run_dir), "fedavg"))
        fed.run(resume=resume)
        finals = fed.final()
    out = {}
    for c in clients:
        m = estimators.build_estimator(model, shape, seed=seed)
        if algorithm == "finetune":
            fed.process.layout.set(m, *finals[c.name])
        keras_train(m, c.x_train, c.y_train, cfg["finetune_epochs"] if algorithm == "finetune" else epochs,
                    cfg, seed, dirs[c.name], resume)
        out[c.name] = evaluate_keras(m, c)
    return out


def _clients(cfg, seed):
    from federated.clients import make_clients

    return make_clients(cfg["data"], tuple(cfg["group_by"]), tuple(cfg["grid"]), cfg["val_fraction"], seed)


def run_experiment(cfg: dict, out_dir: str, resume: bool = True, log=print) -> dict:
    """Every seed x model x algorithm of `cfg` into `out_dir`; writes results.json, table.md and the PNG. With
    `workers` >= 2 the TFF rounds run on that many local worker processes (federated/remote.py)."""
    if cfg["workers"] >= 2:
        from federated.remote import LocalWorkers

        with LocalWorkers(cfg["workers"]) as workers:
            log(f"TFF rounds run on {cfg['workers']} local worker processes (pids {workers.pids()})")
            return _run_all(cfg, out_dir, resume, log)
    return _run_all(cfg, out_dir, resume, log)


def _run_all(cfg: dict, out_dir: str, resume: bool, log) -> dict:
    from federated.report import summarise, write_report
    from tfnas.runs import write_json_atomic

    register_models(cfg)
    results = {"config": cfg, "runs": [], "clients": {}}
    for seed in cfg["seeds"]:
        clients = _clients(cfg, seed)
        results["clients"][str(seed)] = [c.summary() for c in clients]
        for model in cfg["models"]:
            for algo in cfg["algorithms"]:
                run_dir = os.path.join(out_dir, model, f"seed{seed}", algo)
                t0 = time.perf_counter()
                entry = {"model": model, "seed": seed, "algorithm": algo, "run_dir": os.path.relpath(run_dir, out_dir)}
                if algo in BASELINES:
                    entry["final"] = run_baseline(cfg, clients, model, seed, algo, run_dir, resume)
                else:
                    fed = federated_run(cfg, clients, model, seed, algo, run_dir)
                    history = fed.run(resume=resume)
                    entry.update(final={h["client"]: h for h in history if h["round"] == cfg["rounds"]},
                                 history=history, build_seconds=fed.process.build_seconds if fed.built else 0.0,
                                 process_reused=not fed.built,
                                 round_seconds=[h["round_seconds"] for h in history if h["client"] == clients[0].name])
                entry["seconds"] = time.perf_counter() - t0
                summarise(entry)
                results["runs"].append(entry)
                log(f"{model} seed {seed} {algo}: mean auc_pooled={entry['mean_auc_pooled']:.4f} "
                    f"per_placement={entry['mean_auc_per_placement']:.4f} ({entry['seconds']:.1f} s)")
                write_json_atomic(os.path.join(out_dir, "results.json"), jsonable(results))
    write_report(results, out_dir)
    return results


def evaluate_experiment(out_dir: str, log=print) -> dict:
    """Re-score every saved model of a finished run (round checkpoints and baseline model.keras files) on the
    clients rebuilt from its config, and compare with the recorded figures; rewrites table.md and the PNG."""
    import tensorflow as tf

    from federated.driver import Evaluator, read_checkpoint
    from federated.process import Layout
    from federated.report import summarise, write_report
    from tfnas.routability import estimators

    path = os.path.join(out_dir, "results.json")
    try:
        with open(path) as f:
            results = json.load(f)
        cfg, runs = results["config"], results["runs"]
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise ValueError(f"{path}: not the results of `tfnas flnet run` ({e})") from None
    register_models(cfg)
    worst = 0.0
    for seed in sorted({r["seed"] for r in runs}):
        clients = _clients(cfg, seed)
        for r in (r for r in runs if r["seed"] == seed):
            run_dir = os.path.join(out_dir, r["run_dir"])
            if r["algorithm"] in BASELINES:
                fresh = {}
                for c in clients:
                    m = tf.keras.models.load_model(os.path.join(baseline_model_dirs(
                        r["algorithm"], run_dir, clients)[c.name], "model.keras"), compile=False)
                    fresh[c.name] = evaluate_keras(m, c)
            else:
                ck = read_checkpoint(run_dir)
                probe = estimators.build_estimator(r["model"], input_shape(cfg, clients), seed=seed)
                layout = Layout(probe, FEDERATED[r["algorithm"]].get("local_layers", ()))
                ev = Evaluator(r["model"], input_shape(cfg, clients), layout, seed)
                clusters = ck["meta"]["clusters"]
                fresh = {c.name: ev.evaluate(c, ck["server"][clusters[c.name]], ck["local"][c.name])
                         for c in clients}
            for name, m in fresh.items():
                old = r["final"].get(name, {}).get("auc_pooled")
                if old is not None and not np.isnan(old):
                    worst = max(worst, abs(old - m["auc_pooled"]))
                r["final"].setdefault(name, {}).update(m)
            summarise(r)
            log(f"{r['model']} seed {seed} {r['algorithm']}: mean auc_pooled={r['mean_auc_pooled']:.4f}")
    results["evaluate_max_abs_diff_auc"] = worst
    write_report(results, out_dir)
    log(f"re-scored {len(runs)} runs; max |ROC-AUC difference| against the recorded figures: {worst:.2e}")
    return results


def jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
