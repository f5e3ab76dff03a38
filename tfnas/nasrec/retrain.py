"""NASRec's final stage: retrain the top-k candidates from scratch as standalone Keras functional models
inside the TFRS Ranking task, and the hand-made baselines with the same budget, then compare them.

Each finished model's result (and the candidates' weights) is written at once, so a killed retrain
resumes with the next unfinished model.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfnas import metrics as tfm
from tfnas.nasrec.config import RetrainConfig
from tfnas.train.optimizers import make_optimizer
from tfnas.nasrec.supernet import split_batch
from tfnas.nasrec.training import WarmupCosine

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
    """Fit `network` in a `RankingModel` for cfg.epochs x steps_per_epoch on the core `train()` (its
    history, curves and TensorBoard land in `run_dir`, a temporary folder when None); metrics on each eval
    set + cost.  A model killed mid-way is retrained from its start (the repeating train stream has no
    resumable position, so only a fresh start is exact)."""
    import tempfile

    from pipelines.ctr.ranking import RankingModel
    from tfnas.train.task import RankingTask
    from tfnas.train.trainer import train

    model = RankingModel(network)
    total = max(1, cfg.epochs * steps_per_epoch)
    optimizer = make_optimizer(cfg.optimizer, WarmupCosine(cfg.learning_rate, total))
    with tempfile.TemporaryDirectory(prefix="retrain_") as tmp:
        fit = train(model, RankingTask(), train_ds, epochs=cfg.epochs, optimizer=optimizer,
                    run_dir=run_dir or tmp, steps_per_epoch=steps_per_epoch, kind="ctr_network",
                    save_model=False, curve_keys=("loss",))
    out = {"train_seconds": fit["seconds"], "steps": total,
           "final_train_loss": float(fit["history"]["loss"][-1])}
    for name, ds in eval_sets.items():
        out.update(predict_metrics(model, ds, f"{name}_"))
    out["flops"] = float(tfm.flops_per_example(network, signature))
    out["params"] = float(tfm.count_params(network))
    return out


class Retrainer:
    """Trains named models one after another into `out_dir`, skipping those already in results.json."""

    def __init__(self, out_dir: str, cfg: RetrainConfig, train_ds: tf.data.Dataset, steps_per_epoch: int,
                 eval_sets: dict, progress: bool = True):
        self.out_dir, self.cfg, self.train_ds = out_dir, cfg, train_ds
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
        """Train model `name` (built by `build()` under the config seed) unless its result exists."""
        if name in self.results:
            return self.results[name]
        from tfnas.train.seeding import seeded
        if self.progress:
            print(f"[retrain] {name}: {self.cfg.epochs} x {self.steps_per_epoch} steps", flush=True)
        with seeded(self.cfg.seed):
            network = build()
            res = train_network(network, self.train_ds, self.cfg, self.steps_per_epoch, self.eval_sets,
                                signature, run_dir=os.path.join(self.out_dir, "runs", name))
        res.update(extra or {})
        if save_weights:
            network.save_weights(self.weights_path(name))
        self.results[name] = res
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1)
        os.replace(tmp, self.path)
        return res


def retrain_all(out_dir: str, cfg: RetrainConfig, spec, candidates: list[dict], train_ds, steps_per_epoch,
                eval_sets: dict, progress: bool = True) -> dict:
    """Retrain `candidates` (rows with "architecture", "id", "logloss") as `cand_<id>` and cfg.baselines.

    Returns results.json's dict: model name -> metrics (val_/test_ logloss and AUC, flops, params).
    """
    from pipelines.ctr.baselines import build_baseline

    rt = Retrainer(out_dir, cfg, train_ds, steps_per_epoch, eval_sets, progress)
    for row in candidates:
        from tfnas.nasrec.subnet import build_subnet
        arch = row["architecture"]
        rt.train(f"cand_{row['id']}", lambda arch=arch: build_subnet(arch, spec), save_weights=True,
                 extra={"kind": "nasrec", "trial_id": row["id"], "proxy_logloss": row.get("logloss"),
                        "arch": arch.to_dict()})
    for name in cfg.baselines:
        rt.train(name, lambda name=name: build_baseline(name, spec), signature=network_signature(spec),
                 extra={"kind": "baseline"})
    return rt.results


def best_candidate(results: dict, metric: str = "val_logloss") -> tuple[str, dict]:
    """Name and result of the retrained NASRec candidate with the lowest `metric`."""
    cands = {k: v for k, v in results.items() if v.get("kind") == "nasrec"}
    if not cands:
        raise ValueError("no retrained NASRec candidates in results")
    name = min(cands, key=lambda k: cands[k][metric])
    return name, cands[name]


def comparison_table(results: dict, bayes: Optional[dict] = None, best: Optional[str] = None) -> str:
    """Plain-text table: every retrained model's val/test logloss, AUC, FLOPs and params."""
    cols = ["val_logloss", "val_auc", "test_logloss", "test_auc", "flops", "params"]
    lines = [f"{'model':<16}" + "".join(f"{c:>14}" for c in cols)]
    order = sorted(results, key=lambda k: (results[k].get("kind") != "nasrec" or k != best,
                                           results[k].get("kind") != "nasrec", k))
    for name in order:
        r = results[name]
        label = f"{name}{' *' if name == best else ''}"
        cells = [f"{r.get(c, float('nan')):>14.5f}" if "logloss" in c or "auc" in c
                 else f"{r.get(c, float('nan')):>14.4g}" for c in cols]
        lines.append(f"{label:<16}" + "".join(cells))
    if bayes:
        lines.append(f"{'bayes-optimal':<16}{bayes.get('val', float('nan')):>14.5f}{'':>14}"
                     f"{bayes.get('test', float('nan')):>14.5f}")
    return "\n".join(lines)
