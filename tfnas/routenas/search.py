"""Routability NAS pipeline: train the supernet with the core `train()`, score candidates on validation designs with
it, regularized evolution on the shared `Strategy` (`run_search`: checkpointed, resumes exactly), top-k out.

Choices (the paper is silent): the search uses one seeded by-design split (train designs train the supernet,
validation designs score candidates, test designs are never seen); the objective "score" weighs both tasks
equally, 0.5 * pooled ROC-AUC + 0.5 * (1 + Kendall tau) / 2 on the validation placements (tau NaN counts as 0);
params and FLOPs of each candidate's plain subnet are its costs. Before scoring, a candidate's BatchNorm statistics
are recalibrated on up to CALIBRATION_SAMPLES training placements (`RouteSupernet.recalibrate_bn`; settings
`bn_recalibration`), so its score reflects its own activations rather than the mixture of every path's.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import numpy as np

from tfnas.graph import Architecture
from tfnas.routenas.space import Macro, RouteNASSpace, build_subnet
from tfnas.space import Evaluator, Objective, Result

SUPERNET, SEARCH, RETRAIN, SETTINGS = "supernet", "search", "retrain", "settings.json"
CALIBRATION_SAMPLES = 64   # training placements (seeded subset) whose statistics recalibrate a candidate's BN


@dataclasses.dataclass
class SearchSettings:
    """Everything a search depends on; a resumed search refuses other settings."""

    data: str
    grid: tuple = (32, 32)
    width: int = 32
    supernet_epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    population: int = 16
    sample_size: int = 4
    children: int = 4
    generations: int = 6
    seed: int = 0
    split_seed: int = 0
    top_k: int = 2
    bad_samples: str = "error"
    bn_recalibration: bool = True

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "grid": list(self.grid)}

    @classmethod
    def from_dict(cls, d: dict) -> SearchSettings:
        return cls(**{**d, "grid": tuple(d["grid"])})


def score(metrics: dict) -> float:
    """The search objective (module docstring)."""
    tau = metrics["kendall_tau"]
    tau = 0.0 if tau is None or math.isnan(tau) else tau
    return 0.5 * metrics["auc_pooled"] + 0.25 * (1.0 + tau)


class SupernetEvaluator(Evaluator):
    """Scores a cell by running its path through the trained supernet on the validation placements."""

    def __init__(self, supernet, x, y, n_failed, macro: Macro, costs: bool = True, calibration=None):
        self.supernet, self.x, self.y, self.n = supernet, x, y, n_failed
        self.macro, self.costs, self.calibration = macro, costs, calibration
        self._cost_cache: dict = {}

    def cost(self, arch: Architecture) -> dict:
        from tfnas import metrics
        key = arch.key()
        if key not in self._cost_cache:
            model = build_subnet(arch, self.x.shape[1:], self.macro)
            self._cost_cache[key] = {"params": metrics.count_params(model), "flops": metrics.flops_per_example(model)}
        return self._cost_cache[key]

    def evaluate(self, arch: Architecture) -> Result:
        import tensorflow as tf
        from tfnas.routability import protocol
        self.supernet.set_path(arch)
        if self.calibration is not None:
            self.supernet.recalibrate_bn(self.calibration)
        prob = tf.sigmoid(self.supernet.predict(self.x, batch_size=64, verbose=0)).numpy()
        m = protocol.evaluate(self.y, prob, self.n)
        out = {"score": score(m), "val_auc_pooled": m["auc_pooled"], "val_auc_per_placement": m["auc_per_placement"],
               "val_kendall_tau": m["kendall_tau"]}
        return Result(out, self.cost(arch) if self.costs else {})


def check_settings(run_dir: str, settings: SearchSettings) -> None:
    """Write run_dir/settings.json, or refuse when the folder holds a search with other settings."""
    from tfnas.runs import write_json_atomic
    path = os.path.join(run_dir, SETTINGS)
    if os.path.exists(path):
        with open(path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{exc.lineno}: malformed settings: {exc.msg}") from None
        diff = sorted(k for k, v in settings.to_dict().items() if old.get(k) != v)
        if diff:
            raise ValueError(f"{path}: this run folder holds a search with other settings ({', '.join(diff)}); "
                             "use a new --out or the same settings")
    else:
        write_json_atomic(path, settings.to_dict())


def prepare(ds: dict, settings: SearchSettings) -> tuple:
    """(normalised x, split) of the search's by-design split."""
    from tfnas.routability import data, protocol
    split = protocol.split_by_design(ds["design"], seed=settings.split_seed)
    norm = data.Normalizer.fit(ds["x"][split["train"]])
    return norm(ds["x"]), split


def train_supernet(ds: dict, settings: SearchSettings, run_dir: str):
    """Train (or resume, or just reload when finished) the supernet in run_dir/supernet; (supernet, info)."""
    import tensorflow as tf
    from tfnas.routability.experiment import make_dataset
    from tfnas.routenas.supernet import RouteSupernet
    from tfnas.train.task import TileBCETask
    from tfnas.train.trainer import train
    x, split = prepare(ds, settings)
    tr = split["train"]
    supernet = RouteSupernet(x.shape[1:], Macro(settings.width), seed=settings.seed, sampler_seed=settings.seed)
    # the legacy (fused-kernel) Adam: tracing the 72-branch train step with it is ~40 % faster on this CPU (11 s vs
    # 18 s measured at width 4), and its steps are faster too; slots made now so the step is traced once
    opt = tf.keras.optimizers.legacy.Adam(settings.lr)
    opt._create_all_weights(supernet.trainable_variables)
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = train(supernet, TileBCETask(), make_dataset(x[tr], ds["y"][tr], settings.batch_size, settings.seed), None,
                epochs=settings.supernet_epochs, optimizer=opt,
                run_dir=os.path.join(run_dir, SUPERNET), resume=True, kind="routenas_supernet")
    info = {"supernet_cpu_s": round(time.process_time() - cpu0, 2),
            "supernet_wall_s": round(time.perf_counter() - t0, 2),
            "supernet_params": int(supernet.count_params()), "supernet_epochs": out["epochs_run"],
            "supernet_final_loss": out["history"]["loss"][-1] if out["history"].get("loss") else None}
    return supernet, info


def run_evolution(supernet, ds: dict, settings: SearchSettings, run_dir: str, max_trials: int | None = None,
                  costs: bool = True):
    """Regularized evolution scored by the supernet on the validation designs (checkpoint run_dir/search)."""
    from tfnas.search.evolution import RegularizedEvolution
    from tfnas.search.loop import run_search
    x, split = prepare(ds, settings)
    va, tr = split["val"], split["train"]
    calib = x[sorted(np.random.default_rng(settings.seed).permutation(tr)[:CALIBRATION_SAMPLES])] \
        if settings.bn_recalibration else None
    evaluator = SupernetEvaluator(supernet, x[va], ds["y"][va], ds["n_failed"][va], Macro(settings.width), costs,
                                  calibration=calib)
    strategy = RegularizedEvolution(RouteNASSpace(), Objective("score", "max"), population_size=settings.population,
                                    sample_size=settings.sample_size, children_per_generation=settings.children,
                                    generations=settings.generations, mutations_start=2, mutations_end=1,
                                    seed=settings.seed)
    os.makedirs(os.path.join(run_dir, SEARCH), exist_ok=True)
    return run_search(strategy, evaluator, os.path.join(run_dir, SEARCH, "state.json"), max_trials=max_trials,
                      progress=False)


def top_k_records(strategy, k: int) -> list:
    """[{rank, key, arch, metrics, cost}] of the k best distinct cells."""
    return [{"rank": i, "key": r.trial.arch.key(), "arch": r.trial.arch.to_dict(), **r.result.to_dict()}
            for i, r in enumerate(strategy.top_k(k))]


def load_top_k(run_dir: str) -> list:
    path = os.path.join(run_dir, SEARCH, "topk.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no search result; run `tfnas routenas search --out {run_dir}` first")
    with open(path) as f:
        try:
            items = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: malformed top-k file: {exc.msg}") from None
    return [{**it, "arch": Architecture.from_dict(it["arch"], source=path)} for it in items]
