"""CTR training runs (`tfnas ctr train`, `tfnas ctr leaderboard`) on the core `train()`: a hand-made
network from pipelines/ctr/baselines inside the TFRS `RankingModel`, the Ranking task, and the run folder
every `train()` writes (run.json, history.csv, curves.png, tensorboard/, checkpoints/).

run.json (kind "ctr") also holds `config` (TrainConfig), `spec` (FeatureSpec), `network` (class and
config) and `train_seconds` (wall-clock training time over all resumes): `load_run` rebuilds the network
from it.  The one CTR training protocol (`fit_ctr`, used by `ctr train`, `ctr leaderboard` and NASRec's
retrain alike): Adam for dense layers + row-wise Adagrad for embedding tables, validation logloss monitored
each epoch, early stopping after `patience` epochs without improvement and the best epoch's weights
restored (`load_run` loads them too).  Folders of the older layout (ckpt/, run.json without kind) still load.
"""
from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from pipelines.ctr.badrows import BadRowReport, check_policy
from pipelines.ctr.baselines import build_baseline
from pipelines.ctr.dense_encoding import fit_spec
from pipelines.ctr.dataset import load_spec, make_split_dataset, split_paths
from pipelines.ctr.ranking import RankingModel
from pipelines.ctr.schema import FeatureSpec
from pipelines.ctr.train import example_batch
from tfnas.distribute.cluster import data_sharded, is_distributed, strategy_from_env, sync_from_chief, worker_run_dir
from tfnas.distribute.ranking import DistributedRankingModel
from tfnas.runs import RUN_INFO, write_run_info
from tfnas.train.callbacks import CHECKPOINTS, HISTORY, read_history
from tfnas.train.optimizers import make_optimizer_pair
from tfnas.train.seeding import seeded
from tfnas.train.task import RankingTask
from tfnas.train.trainer import train

RUN_FILE = RUN_INFO
CURVE_KEYS = ("logloss", "auc")
LEGACY_CHECKPOINTS = "ckpt"


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (stored in run.json)."""

    model: str
    data: str
    epochs: int = 3
    batch_size: int = 512
    learning_rate: float = 1e-3
    optimizer: str = "adam+adagrad"
    sparse_learning_rate: float = 0.2
    hparams: dict = dataclasses.field(default_factory=dict)
    steps_per_epoch: int | None = None
    seed: int = 0
    patience: int = 2          # early stopping on validation logloss (0: off); the best epoch is restored
    bad_rows: str = "error"    # "error": stop at the first malformed row (file:line: field); "skip": count it
    dense_encoding: str = "log1p"   # or "quantile": edges fitted on train, kept in the run's spec (dense_encoding.py)
    dense_bins: int = 32

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


MONITOR = "val_logloss"


def fit_ctr(network, train_ds, valid_ds, *, run_dir: str, epochs: int, optimizer: str = "adam+adagrad",
            learning_rate: float = 1e-3, sparse_learning_rate: float = 0.2, patience: int = 2,
            steps_per_epoch: int | None = None, resume: bool = False, verbose: int = 0) -> tuple:
    """Train `network` in a `RankingModel` under the one CTR protocol (module doc) on the core `train()`.

    Returns (RankingModel, train()'s result).  Without `valid_ds` the last epoch is kept (nothing to monitor).
    """
    optimizer_, sparse_optimizer = make_optimizer_pair(optimizer, learning_rate, sparse_learning_rate)
    # inside a multi-replica strategy's scope: the RankingModel with a global-batch loss (tfnas/distribute)
    model_class = DistributedRankingModel if is_distributed(tf.distribute.get_strategy()) else RankingModel
    model = model_class(network, sparse_optimizer=sparse_optimizer)
    out = train(model, RankingTask(), train_ds, valid_ds, epochs=epochs, optimizer=optimizer_, run_dir=run_dir,
                resume=resume, restore_best=valid_ds is not None,
                early_stopping_patience=(patience or None) if valid_ds is not None else None,
                monitor=MONITOR, steps_per_epoch=steps_per_epoch, kind="ctr", verbose=verbose, save_model=False,
                curve_keys=CURVE_KEYS)
    return model, out


def _read_run(logdir: str) -> dict:
    import json
    path = os.path.join(logdir, RUN_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: not a training run directory")
    with open(path) as f:
        try:
            run = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: malformed run metadata: {exc.msg}") from None
    for key in ("config", "spec"):
        if key not in run:
            raise ValueError(f"{path}: field {key!r} missing (not a CTR training run)")
    return run


def train_run(config: TrainConfig, logdir: str, resume: bool = False, verbose: int = 1) -> dict:
    """Train `config.model` on `config.data` into `logdir`; returns {"history", "epochs_done", "seconds",
    "skipped"} (seconds: wall-clock training time of the run so far, over all resumes; skipped: rows
    dropped under `bad_rows="skip"`, by reason, over this call's reading).

    With `resume`, the run continues from its last checkpoint (same config from run.json; `epochs` may
    extend it); without it, a folder that already holds a run is refused rather than overwritten.
    """
    logdir = os.fspath(logdir)
    seconds_before = 0.0
    if resume:
        saved = _read_run(logdir)
        cfg = dict(saved["config"], epochs=config.epochs)        # resuming may extend the run
        config = TrainConfig(**cfg)
        seconds_before = float(saved.get("train_seconds", 0.0))
    elif any(os.path.exists(os.path.join(logdir, d)) for d in (CHECKPOINTS, LEGACY_CHECKPOINTS)):
        raise FileExistsError(f"{logdir} already holds a run; pass --resume or use a new --logdir")
    check_policy(config.bad_rows)
    # TF_CONFIG naming several workers: train under MultiWorkerMirroredStrategy, this worker's files in its run
    # folder (the chief's is logdir), each global batch sharded by example across workers (tfnas/distribute).
    strategy, chief_dir, logdir = strategy_from_env(), logdir, worker_run_dir(logdir)
    shard = data_sharded if is_distributed(strategy) else (lambda ds: ds)
    if resume:
        sync_from_chief(chief_dir)
    os.makedirs(logdir, exist_ok=True)
    report = BadRowReport()
    rows = {"bad_rows": config.bad_rows, "report": report}

    with strategy.scope(), seeded(config.seed):
        spec = load_spec(config.data)
        if resume and config.dense_encoding != "log1p":
            spec = FeatureSpec.from_dict(saved["spec"])        # the edges fitted when the run started
        elif config.dense_encoding != "log1p":
            spec = fit_spec(config.data, spec, config.dense_encoding, config.dense_bins, **rows)
        network = build_baseline(config.model, spec, **config.hparams)
        network(example_batch(spec))
        fields = {"config": config.to_dict(), "spec": spec.to_dict(), "train_seconds": seconds_before,
                  "network": {"class": type(network).__name__, "config": network.get_config()}}
        write_run_info(logdir, "ctr", task=RankingTask.name, **fields)   # a killed first epoch can resume
        repeat = config.steps_per_epoch is not None
        train_ds = shard(make_split_dataset(config.data, "train", config.batch_size, spec=spec, shuffle=True,
                                            repeat=repeat, seed=config.seed, **rows).prefetch(tf.data.AUTOTUNE))
        valid_ds = (shard(make_split_dataset(config.data, "valid", config.batch_size, spec=spec, **rows)
                          .prefetch(tf.data.AUTOTUNE)) if split_paths(config.data).get("valid") else None)
        _, out = fit_ctr(network, train_ds, valid_ds, run_dir=logdir, epochs=config.epochs,
                         optimizer=config.optimizer, learning_rate=config.learning_rate,
                         sparse_learning_rate=config.sparse_learning_rate, patience=config.patience,
                         steps_per_epoch=config.steps_per_epoch, resume=resume, verbose=verbose)
    seconds = seconds_before + out["seconds"]
    write_run_info(logdir, "ctr", train_seconds=seconds)
    return {"history": out["history"], "epochs_done": out["epochs_run"], "seconds": seconds,
            "skipped": dict(report.counts), "skipped_examples": list(report.examples)}


def load_run(logdir: str):
    """(network with its best epoch's weights (the last epoch's when nothing was monitored), FeatureSpec,
    run.json dict) of a training run."""
    logdir = os.fspath(logdir)
    run = _read_run(logdir)
    spec = FeatureSpec.from_dict(run["spec"])
    config = TrainConfig(**run["config"])
    network = build_baseline(config.model, spec, **config.hparams)
    network(example_batch(spec))
    latest = (tf.train.latest_checkpoint(os.path.join(logdir, CHECKPOINTS, "best"))
              or tf.train.latest_checkpoint(os.path.join(logdir, CHECKPOINTS, "last")))
    if latest is not None:
        root = tf.train.Checkpoint(model=tf.train.Checkpoint(network=network))
    else:                                   # the layout before runs moved onto the core train()
        latest = tf.train.latest_checkpoint(os.path.join(logdir, LEGACY_CHECKPOINTS))
        root = tf.train.Checkpoint(network=network)
    if latest is None:
        raise FileNotFoundError(f"{logdir}/{CHECKPOINTS}: no checkpoint; train at least one epoch first")
    root.restore(latest).expect_partial().assert_existing_objects_matched()
    return network, spec, run


def run_history(logdir: str) -> dict:
    """The run's history.csv as {column: values} (`epoch` 1-based)."""
    return read_history(os.path.join(logdir, HISTORY))
