"""NASRec's final stage: retrain the top-k candidates from scratch as standalone Keras functional models
inside the TFRS Ranking task, and the hand-made baselines under the same protocol (tfnas/train/ctr.py
`fit_ctr`: early stopping on validation, best epoch restored), over several seeds, then compare them
(mean +- std; selection on validation only, test reported for every model once per seed).

Each finished (model, seed) result (and the candidates' weights) is written at once, and each (model, seed)
checkpoints every epoch (tfnas/train/trainer.py), so a killed retrain skips the finished ones and resumes the
running one from its last epoch, to the uninterrupted result.  Each (model, seed) trains on a train stream of its
own (`train_data()`, made inside the seed's block, so seeds see different orders): a shared reshuffling stream
draws a new order per pass read, read-ahead included, so a model's batches would depend on how far the models
before it had read (measured: 2 workers read further ahead than one process, and the second model differed).
"""
from __future__ import annotations

import json
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfnas import metrics as tfm
from tfnas.nasrec.config import RetrainConfig
from tfnas.nasrec.supernet import split_batch

RESULTS_FILE = "results.json"


def network_signature(spec) -> dict:
    """Input signature of a processed CTR batch for `spec` (used to count FLOPs of subclassed networks)."""
    return {"dense": tf.TensorSpec([None, spec.num_dense], tf.float32),
            "sparse": tf.TensorSpec([None, spec.num_sparse], tf.int64)}


def predict_metrics(model, dataset: tf.data.Dataset, prefix: str) -> dict:
    """`{prefix}logloss`, `{prefix}auc` of a RankingModel over a finite processed data set."""
    probs, labels = [], []
    predict = tf.function(lambda x: tf.reshape(model.predict_proba(x), [-1]))
    for batch in dataset:
        x, y = split_batch(batch)
        probs.append(predict(x).numpy())
        labels.append(y.numpy())
    y, p = np.concatenate(labels), np.concatenate(probs)
    return {f"{prefix}logloss": tfm.logloss(y, p), f"{prefix}auc": tfm.auc(y, p)}


def train_network(network: tf.keras.Model, train_ds: tf.data.Dataset, cfg: RetrainConfig,
                  steps_per_epoch: int, eval_sets: dict, signature=None, run_dir: Optional[str] = None) -> dict:
    """Fit `network` under the one CTR protocol (`fit_ctr`: up to cfg.epochs x steps_per_epoch, early
    stopping on eval_sets["val"], best epoch restored; history, curves and TensorBoard in `run_dir`, a
    temporary folder when None); metrics on each eval set + cost.  A `run_dir` holding an epoch checkpoint is
    resumed from it ("resumed_from": epochs restored), exactly when `train_ds` is a fresh copy of the stream
    the interrupted fit had (the trainer skips the batches of the restored epochs)."""
    import tempfile

    from tfnas.train.callbacks import CHECKPOINTS
    from tfnas.train.ctr import fit_ctr

    resume = run_dir is not None and os.path.exists(os.path.join(run_dir, CHECKPOINTS, "last", "checkpoint"))
    with tempfile.TemporaryDirectory(prefix="retrain_") as tmp:
        model, fit = fit_ctr(network, train_ds, eval_sets.get("val"), run_dir=run_dir or tmp, epochs=cfg.epochs,
                             optimizer=cfg.optimizer, learning_rate=cfg.learning_rate,
                             sparse_learning_rate=cfg.sparse_learning_rate, patience=cfg.patience,
                             steps_per_epoch=steps_per_epoch, resume=resume)
    out = {"train_seconds": fit["seconds"], "steps": fit["epochs_run"] * steps_per_epoch,
           "epochs_run": fit["epochs_run"], "best_epoch": fit["best_epoch"],
           "final_train_loss": float(fit["history"]["loss"][-1]), "resumed_from": fit["resumed_from"]}
    for name, ds in eval_sets.items():
        out.update(predict_metrics(model, ds, f"{name}_"))
    out["flops"] = float(tfm.flops_per_example(network, signature))
    out["params"] = float(tfm.count_params(network))
    return out


METRICS = ("val_logloss", "val_auc", "test_logloss", "test_auc")


def summarise_seeds(per_seed: dict) -> dict:
    """Mean of every numeric field over seeds, plus `<metric>_std` (population std) of the quality metrics."""
    rows = list(per_seed.values())
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]
           if isinstance(rows[0][k], (int, float)) and all(isinstance(r.get(k), (int, float)) for r in rows)}
    for k in METRICS:
        if k in out:
            out[f"{k}_std"] = float(np.std([r[k] for r in rows]))
    out["n_seeds"] = len(rows)
    return out


class Retrainer:
    """Trains named models one after another into `out_dir`, skipping those already in results.json;
    `train_data()` makes a fresh train stream for each (model, seed) (see the module doc)."""

    def __init__(self, out_dir: str, cfg: RetrainConfig, train_data: Callable[[], tf.data.Dataset],
                 steps_per_epoch: int, eval_sets: dict, progress: bool = True):
        if isinstance(train_data, tf.data.Dataset):
            raise TypeError("Retrainer: train_data must make a fresh dataset per model (a callable), not a dataset")
        self.out_dir, self.cfg, self.train_data = out_dir, cfg, train_data
        self.steps_per_epoch, self.eval_sets, self.progress = steps_per_epoch, eval_sets, progress
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, RESULTS_FILE)
        self.results: dict = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                try:
                    self.results = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{self.path}:{e.lineno}: corrupt retrain results: {e.msg}") from e

    @staticmethod
    def weights_path_for(out_dir: str, name: str) -> str:
        """Where model `name`'s trained weights are saved."""
        return os.path.join(out_dir, f"{name}.weights.h5")

    def weights_path(self, name: str) -> str:
        return self.weights_path_for(self.out_dir, name)

    def train(self, name: str, build: Callable[[], tf.keras.Model], signature=None,
              save_weights: bool = False, extra: Optional[dict] = None) -> dict:
        """Train model `name` (built by `build()` under each seed of cfg.seed_list()) unless its results
        exist; the seed with the lowest validation logloss keeps its weights (when `save_weights`)."""
        seeds = self.cfg.seed_list()
        entry = self.results.get(name, {})
        per_seed = dict(entry.get("per_seed", {}))
        if "per_seed" not in entry and "val_logloss" in entry:   # written before seeds existed
            return entry
        if all(str(s) in per_seed for s in seeds) and "n_seeds" in entry:
            return entry
        from tfnas.train.seeding import seeded
        for seed in seeds:
            if str(seed) in per_seed:
                continue
            if self.progress:
                print(f"[retrain] {name} seed {seed}: up to {self.cfg.epochs} x {self.steps_per_epoch} steps "
                      f"(patience {self.cfg.patience})", flush=True)
            with seeded(seed):
                network = build()
                res = train_network(network, self.train_data(), self.cfg, self.steps_per_epoch, self.eval_sets,
                                    signature, run_dir=os.path.join(self.out_dir, "runs", f"{name}.seed{seed}"))
            if not res["resumed_from"]:          # kept only where a killed run was resumed
                del res["resumed_from"]
            best_so_far = min((r["val_logloss"] for r in per_seed.values()), default=float("inf"))
            if save_weights and res["val_logloss"] < best_so_far:
                network.save_weights(self.weights_path(name))
                res["weights"] = True
            per_seed[str(seed)] = res
            self._write(name, dict(extra or {}, per_seed=per_seed))
        row = dict(extra or {}, **summarise_seeds(per_seed), per_seed=per_seed)
        if save_weights:
            row["weights_seed"] = int(next(s for s, r in per_seed.items() if r.get("weights")))
        return self._write(name, row)

    def add(self, name: str, row: dict) -> dict:
        """Record a result computed elsewhere (a reference model)."""
        return self._write(name, row)

    def _write(self, name: str, row: dict) -> dict:
        self.results[name] = row
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1)
        os.replace(tmp, self.path)
        return row


def retrain_all(out_dir: str, cfg: RetrainConfig, spec, candidates: list[dict], train_data: Callable,
                steps_per_epoch, eval_sets: dict, progress: bool = True,
                reference_arrays: Optional[Callable] = None) -> dict:
    """Retrain `candidates` (rows with "architecture", "id", "logloss") as `cand_<id>` and cfg.baselines, each
    on a fresh `train_data()` stream;
    fit cfg.references (pipelines/ctr/reference.py) on `reference_arrays()` = (train, val, test or None).

    Returns results.json's dict: model name -> metrics (val_/test_ logloss and AUC mean and _std over seeds,
    flops, params, per_seed).
    """
    from pipelines.ctr.baselines import build_baseline

    rt = Retrainer(out_dir, cfg, train_data, steps_per_epoch, eval_sets, progress)
    for row in candidates:
        from tfnas.nasrec.subnet import build_subnet
        arch = row["architecture"]
        rt.train(f"cand_{row['id']}", lambda arch=arch: build_subnet(arch, spec), save_weights=True,
                 extra={"kind": "nasrec", "trial_id": row["id"], "proxy_logloss": row.get("logloss"),
                        "arch": arch.to_dict()})
    for name in cfg.baselines:
        rt.train(name, lambda name=name: build_baseline(name, spec), signature=network_signature(spec),
                 extra={"kind": "baseline"})
    todo = [r for r in cfg.references if r not in rt.results]
    if todo:
        if reference_arrays is None:
            raise ValueError("retrain.references needs the data splits as arrays")
        from pipelines.ctr.reference import REFERENCES, reference_results
        unknown = sorted(set(todo) - set(REFERENCES))
        if unknown:
            raise ValueError(f"retrain.references: unknown {unknown}; choose from {sorted(REFERENCES)}")
        train, val, test = reference_arrays()
        for name in todo:
            if progress:
                print(f"[retrain] reference {name}", flush=True)
            rt.add(name, reference_results(train, val, test, seed=cfg.seed_list()[0], models=(name,))[name])
    return rt.results


def best_candidate(results: dict, metric: str = "val_logloss", max_flops: float = 0.0) -> tuple[str, dict]:
    """Name and result of the retrained NASRec candidate with the lowest `metric` (among those within
    `max_flops` FLOPs per example when it is > 0)."""
    cands = {k: v for k, v in results.items() if v.get("kind") == "nasrec" and metric in v}
    if max_flops and max_flops > 0:
        cands = {k: v for k, v in cands.items() if v["flops"] <= max_flops}
        if not cands:
            raise ValueError(f"no retrained NASRec candidate within max_flops {max_flops:g} FLOPs per example")
    if not cands:
        raise ValueError("no retrained NASRec candidates in results")
    name = min(cands, key=lambda k: cands[k][metric])
    return name, cands[name]


def _cell(r: dict, key: str) -> str:
    value, std = r.get(key, float("nan")), r.get(f"{key}_std")
    return f"{value:.5f}" + (f" +- {std:.5f}" if std is not None and r.get("n_seeds", 1) > 1 else "")


def beyond_noise(a: dict, b: dict, key: str = "test_logloss") -> bool:
    """True when the mean difference of `key` between two results exceeds the sum of their seed stds (a
    deliberately conservative rule; with one seed nothing is beyond noise)."""
    if min(a.get("n_seeds", 1), b.get("n_seeds", 1)) < 2:
        return False
    return abs(a[key] - b[key]) > a.get(f"{key}_std", 0.0) + b.get(f"{key}_std", 0.0)


def comparison_table(results: dict, bayes: Optional[dict] = None, best: Optional[str] = None) -> str:
    """Plain-text table: every model's val/test logloss (mean +- std over seeds), test AUC, FLOPs and params;
    the last column compares test logloss with the found net `best` ('!' = beyond seed noise)."""
    kinds = {"nasrec": 0, "baseline": 1, "reference": 2}
    order = sorted(results, key=lambda k: (k != best, kinds.get(results[k].get("kind"), 3),
                                           results[k].get("val_logloss", float("inf"))))
    head = (f"{'model':<14}{'kind':<10}{'val logloss':>22}{'test logloss':>22}{'test AUC':>10}{'FLOPs':>10}"
            f"{'params':>10}{'vs found':>12}")
    lines = [head, "-" * len(head)]
    ref = results.get(best) if best else None
    for name in order:
        r = results[name]
        if "val_logloss" not in r:
            continue
        vs = ""
        if ref is not None and name != best and "test_logloss" in r and "test_logloss" in ref:
            d = r["test_logloss"] - ref["test_logloss"]
            vs = f"{d:+.5f}{'!' if beyond_noise(r, ref) else ' '}"
        lines.append(f"{name + (' *' if name == best else ''):<14}{r.get('kind', ''):<10}"
                     f"{_cell(r, 'val_logloss'):>22}{_cell(r, 'test_logloss'):>22}"
                     f"{r.get('test_auc', float('nan')):>10.4f}{r.get('flops', float('nan')):>10.4g}"
                     f"{r.get('params', float('nan')):>10.4g}{vs:>12}")
    if bayes:
        lines.append(f"{'bayes-optimal':<24}{bayes.get('val', float('nan')):>22.5f}"
                     f"{bayes.get('test', float('nan')):>22.5f}")
    seeds = max((r.get("n_seeds", 1) for r in results.values()), default=1)
    lines.append(f"(* = found net, chosen by validation logloss; mean +- std over {seeds} seed(s); "
                 "'!' = difference larger than the two stds summed)")
    return "\n".join(lines)
