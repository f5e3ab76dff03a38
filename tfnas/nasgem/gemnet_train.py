"""GEMNet on the built-in digits data: the core `train()` with the classification Task, and a short-training
Evaluator for searching the 30-node space.

Our choices (the paper trains on CIFAR-10 / ImageNet; CIFAR-10 is read when its files are given, `data=
"cifar10:<dir>"`): digits upsampled to 16x16x3,
a class-stratified 80 / 20 train / validation split seeded by `split_seed`, Adam 1e-3, batch 64, the best
validation epoch kept. The short-training Evaluator runs the same recipe for `epochs` (default 2) with
narrow stages (8 filters) and reports validation accuracy, params and MACs.
"""
from __future__ import annotations

import os

import numpy as np

from tfnas.graph import Architecture
from tfnas.space import Evaluator, Result


def digits_split(split_seed: int = 0, size: int = 16):
    """((x_train, y_train), (x_val, y_val)) of the shipped digits, class-stratified 80 / 20."""
    from pipelines.vision.digits import load_digits_images
    from pipelines.vision.splits import stratified_split
    x, y = load_digits_images(size)
    tr, va = stratified_split(y, (0.8, 0.2), np.random.default_rng(split_seed))
    return (x[tr], y[tr]), (x[va], y[va])


def image_splits(data: str = "digits", split_seed: int = 0, image_size: int = 32):
    """(train, val, test-or-None) of `data`: the built-in digits keep GEMNet's 80 / 20 split at 16x16 (no test
    part); `cifar10:<dir>` / `folders:<root>` come from pipelines.vision at `image_size` with their test split."""
    if data == "digits":
        train, val = digits_split(split_seed)
        return train, val, None
    from pipelines.vision.images import load_images
    d = load_images(data, image_size, seed=split_seed)
    return d.train, d.val, d.test


def train_gemnet(arch: Architecture, run_dir: str, epochs: int = 5, filters: int = 16, seed: int = 0,
                 resume: bool = False, batch: int = 64, split_seed: int = 0, data: str = "digits",
                 image_size: int = 32, progress: bool = False) -> dict:
    """Build GEMNet around `arch`, train it on `data` into `run_dir`; returns params, MACs, val (and test) accuracy.
    `progress` draws an epoch bar (the CLI's; a search's proxy trainings run under the search's own bar)."""
    from pipelines.vision.dataset import image_dataset
    from tfnas.metrics import count_params, macs_per_example
    from tfnas.nasgem.gemnet import build_gemnet
    from tfnas.runs import write_json_atomic
    from tfnas.train import seeding
    from tfnas.train.callbacks import epoch_bar
    from tfnas.train.optimizers import make_optimizer
    from tfnas.train.task import ClassificationTask
    from tfnas.train.trainer import train
    (xt, yt), (xv, yv), test = image_splits(data, split_seed, image_size)
    num_classes = int(max(yt.max(), yv.max())) + 1
    os.makedirs(run_dir, exist_ok=True)
    arch.save(os.path.join(run_dir, "cell.json"))
    with seeding.seeded(seed):
        model = build_gemnet(arch, xt.shape[1:], num_classes, filters=filters, seed=seed)
        out = train(model, ClassificationTask(num_classes=num_classes),
                    image_dataset(xt, yt, batch, shuffle=True, seed=seed), image_dataset(xv, yv, 256), epochs=epochs,
                    optimizer=make_optimizer("adam", 1e-3), run_dir=run_dir, resume=resume, kind="nasgem_gemnet",
                    monitor="val_accuracy", mode="max",
                    callbacks=[epoch_bar(epochs, desc="GEMNet")] if progress else (),
                    run_fields={"filters": filters, "seed": seed, "split_seed": split_seed, "nodes": len(arch),
                                "data": data})
    best = out["best"] or {}
    result = {"val_accuracy": float(best.get("val_accuracy", float("nan"))), "params": count_params(model),
              "macs": macs_per_example(model), "nodes": len(arch), "edges": arch.num_edges(), "filters": filters,
              "epochs": out["epochs_run"], "seconds": out["seconds"], "data": data}
    if test is not None:   # the model holds the best validation epoch's weights (train() restores them)
        logits = model.predict(image_dataset(*test, 256), verbose=0)
        result["test_accuracy"] = float(np.mean(np.argmax(logits, -1) == test[1]))
    write_json_atomic(os.path.join(run_dir, "result.json"), result)
    return result


class DigitsShortTraining(Evaluator):
    """Evaluator: a short GEMNet training on digits (one run folder per call under `root`)."""

    def __init__(self, root: str, epochs: int = 2, filters: int = 8, seed: int = 0):
        self.root, self.epochs, self.filters, self.seed = root, int(epochs), int(filters), int(seed)
        self.calls = 0

    def evaluate(self, arch: Architecture) -> Result:
        import hashlib
        run_dir = os.path.join(self.root, f"eval_{hashlib.sha1(arch.key().encode()).hexdigest()[:12]}")
        self.calls += 1
        r = train_gemnet(arch, run_dir, self.epochs, self.filters, self.seed)
        return Result({"accuracy": r["val_accuracy"], "params": float(r["params"]), "macs": float(r["macs"])},
                      {"seconds": r["seconds"]})
