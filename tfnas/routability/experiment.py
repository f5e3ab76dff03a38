"""One routability experiment: train a map model on one split with the core `train()` (per-tile BCE `TileBCETask`)
and score it on the split's test placements for both tasks; shared by `tfnas routability train`, routenas retrain
and benchmarks/routenas.py.

Choices: features are standardised with training-split statistics (`data.Normalizer`); the training set is
shuffled with the run's seed each epoch; early stopping watches the validation designs' loss (patience 5 by
default) and restores the best epoch. Task 2 (failed-net count) is the sum of the predicted hotspot probabilities
times a least-squares scale fitted on the training placements (`protocol.fit_count_scale`). Throughput (tiles/s)
is training tiles over the training part of each epoch (epoch start to its last training batch, validation left
out), the first epoch dropped when there are more (it holds the graph tracing). The result also holds the
validation designs' pooled ROC-AUC and tau (`val_auc_pooled`, `val_kendall_tau`) for model selection.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

CALIBRATION = "calibration.npz"
RESULT = "result.json"


def make_dataset(x, y, batch_size: int, shuffle_seed: int | None = None):
    """(features, hotspot) batches; shuffled each epoch with `shuffle_seed` when given."""
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=int(shuffle_seed), reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def _throughput_callback(tiles_per_epoch: int):
    import tensorflow as tf

    class TrainThroughput(tf.keras.callbacks.Callback):
        """Seconds of the training part of each epoch (validation excluded)."""

        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = self._last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self._last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(self._last - self._t0)

        def tiles_per_second(self) -> float:
            s = self.seconds[1:] if len(self.seconds) > 1 else self.seconds
            return float(tiles_per_epoch * len(s) / sum(s)) if s and sum(s) > 0 else float("nan")

    return TrainThroughput()


def run_experiment(ds: dict, split: dict, build_model: Callable, run_dir: str, *, name: str, seed: int = 0,
                   epochs: int = 10, batch_size: int = 8, lr: float = 1e-3, patience: int | None = 5,
                   resume: bool = False, plots: bool = True, run_fields: dict | None = None,
                   progress: bool = True) -> dict:
    """Train `build_model(input_shape, seed)` on split["train"] (early stopping on split["val"]) into `run_dir`;
    returns the test metrics plus params, FLOPs, tiles/s, CPU seconds (also written to run_dir/result.json).
    `progress` draws an epoch bar (total = epochs; says so when early stopping ends it) on stderr."""
    import tensorflow as tf

    from tfnas import metrics
    from tfnas.routability import data, protocol, report
    from tfnas.train.callbacks import epoch_bar
    from tfnas.runs import write_json_atomic, write_run_info
    from tfnas.train.task import TileBCETask
    from tfnas.train.trainer import train

    tr, va, te = split["train"], split.get("val", []), split["test"]
    if not tr or not te:
        raise ValueError(f"{name}: empty train ({len(tr)}) or test ({len(te)}) split")
    norm = data.Normalizer.fit(ds["x"][tr])
    x, y, counts = norm(ds["x"]), ds["y"], ds["n_failed"]
    model = build_model(tuple(x.shape[1:]), seed)
    tiles = int(np.prod(x.shape[1:3]))
    thr = _throughput_callback(len(tr) * tiles)
    os.makedirs(run_dir, exist_ok=True)
    np.savez(os.path.join(run_dir, CALIBRATION), features=x[te][:32])
    cpu0 = time.process_time()
    out = train(model, TileBCETask(), make_dataset(x[tr], y[tr], batch_size, seed),
                make_dataset(x[va], y[va], batch_size) if va else None, epochs=epochs,
                optimizer=tf.keras.optimizers.Adam(lr), run_dir=run_dir, resume=resume,
                early_stopping_patience=patience if va else None, kind="map",
                callbacks=[thr] + ([epoch_bar(epochs, desc=f"{name} seed {seed}", keys=("loss", "val_loss"))]
                                   if progress else []),
                run_fields={"calibration": CALIBRATION, "normalizer": norm.get_config(), "channels": ds["channels"],
                            "grid": list(x.shape[1:3]), **(run_fields or {})})
    cpu_s = time.process_time() - cpu0
    prob = tf.sigmoid(model.predict(x, batch_size=64, verbose=0)).numpy()
    scale = protocol.fit_count_scale(prob[tr], counts[tr])
    result = protocol.evaluate(y[te], prob[te], counts[te], scale)
    if va:   # the validation designs' figures, so a method can pick among its models without the test figures
        val = protocol.evaluate(y[va], prob[va], counts[va], scale)
        result.update(val_auc_pooled=val["auc_pooled"], val_kendall_tau=val["kendall_tau"])
    result.update(name=name, seed=seed, params=metrics.count_params(model), flops=metrics.flops_per_example(model),
                  train_tiles_per_s=thr.tiles_per_second(), train_cpu_s=round(cpu_s, 2),
                  train_wall_s=round(out["seconds"], 2), epochs_run=out["epochs_run"], best_epoch=out["best_epoch"],
                  grid=list(x.shape[1:3]), n_train=len(tr), n_val=len(va), n_test=len(te),
                  test_designs=sorted({ds["design"][i] for i in te}), run_dir=os.path.abspath(run_dir))
    write_json_atomic(os.path.join(run_dir, RESULT), result)
    if plots:
        ids = [ds["id"][i] for i in te]
        report.plot_maps(ds["x"][te], y[te], prob[te], ids, ds["channels"], os.path.join(run_dir, "maps.png"),
                         units=ds.get("units"))
        report.plot_roc(y[te], prob[te], os.path.join(run_dir, "roc.png"), name)
    write_run_info(run_dir, "map", test_auc_pooled=result["auc_pooled"], test_kendall_tau=result["kendall_tau"])
    return result


def splits_for(ds: dict, how: str, seed: int, group: str = "suite", held_out=None) -> dict:
    """{split name: split} for `how` = "design" (seeded by-design 70/15/15) or "loso" (one per held-out group of
    `group`, or only those in `held_out`)."""
    from tfnas.routability import protocol
    if how == "design":
        return {"design": protocol.split_by_design(ds["design"], seed=seed)}
    if how != "loso":
        raise ValueError(f"unknown split {how!r}; use 'design' or 'loso'")
    groups = ds[group]
    names = list(held_out) if held_out else sorted(set(groups))
    if len(set(groups)) < 2:
        raise ValueError(f"leave-one-{group}-out needs at least 2 {group}s, the data has {sorted(set(groups))}")
    return {f"loso-{g}": protocol.leave_one_group_out(ds["design"], groups, g, seed=seed) for g in names}
