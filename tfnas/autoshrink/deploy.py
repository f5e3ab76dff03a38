"""ShrinkCNN deployment: final training, SavedModel + TFLite (float32/float16/int8), accuracy and latency.

Uses `tfnas.export` (`export_model`, `to_tflite`) and `tfnas.export.latency` (invoke-only timing,
XNNPACK on/off); the MobileNetV2 reference point goes through exactly the same budget and measurements.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfnas.autoshrink.train import evaluate_accuracy, image_dataset


@dataclasses.dataclass(frozen=True)
class FinalTraining:
    """Training of a final model (same budget for ShrinkCNN and the MobileNetV2 reference)."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 4e-3
    label_smoothing: float = 0.1
    patience: int = 8
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_final(model, data, cfg: FinalTraining, verbose: int = 0, run_dir: str | None = None,
                resume: bool = False, callbacks=()) -> dict:
    """Adam + label smoothing on the core `train()` under `seeded(cfg.seed)`, early stopping on val
    accuracy and its best epoch's weights kept; returns val/test accuracy.  With `run_dir` the run folder
    (run.json, model.keras, history, curves, TensorBoard, checkpoints) stays there; else it is temporary."""
    import tempfile

    import tensorflow as tf
    from tfnas.train.seeding import seeded
    from tfnas.train.task import ClassificationTask
    from tfnas.train.trainer import train
    task = ClassificationTask(num_classes=data.num_classes if cfg.label_smoothing else None,
                              label_smoothing=cfg.label_smoothing)
    with tempfile.TemporaryDirectory(prefix="final_") as tmp, seeded(cfg.seed):
        out = train(model, task, image_dataset(*data.train, cfg.batch_size, shuffle=True, seed=cfg.seed),
                    image_dataset(*data.val, 256), epochs=cfg.epochs,
                    optimizer=tf.keras.optimizers.Adam(cfg.learning_rate), run_dir=run_dir or tmp, resume=resume,
                    early_stopping_patience=cfg.patience, monitor="val_accuracy", mode="max",
                    kind="image_classifier", verbose=verbose, run_fields={"training": cfg.to_dict()},
                    callbacks=list(callbacks))
        test_accuracy = evaluate_accuracy(model, *data.test)
    val = out["history"].get("val_accuracy", [])
    return {"epochs": out["epochs_run"], "val_accuracy": max(val) if val else float("nan"),
            "test_accuracy": test_accuracy}


def mobilenet_v2(input_shape, num_classes: int, alpha: float = 0.35, bn_momentum: float = 0.9):
    """keras.applications.MobileNetV2 from scratch (weights=None) with a `num_classes` logits head.

    Its BatchNormalization momentum (Keras: 0.999) is set to ShrinkCNN's 0.9: with a few hundred steps
    the 0.999 moving statistics stay near their initial values and inference accuracy sits at chance.
    """
    import tensorflow as tf
    base = tf.keras.applications.MobileNetV2(input_shape=tuple(input_shape), alpha=alpha, include_top=False,
                                             weights=None, pooling="avg")
    logits = tf.keras.layers.Dense(num_classes, name="logits")(base.output)
    model = tf.keras.Model(base.input, logits, name=f"mobilenet_v2_{alpha:g}")
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["momentum"] = bn_momentum
    return tf.keras.Model.from_config(config)


def mobilenet_alpha_for_macs(input_shape, num_classes: int, target_macs: float,
                             alphas=(0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0)) -> tuple[float, int]:
    """The MobileNetV2 width multiplier whose MACs are closest (in log scale) to `target_macs`."""
    from tfnas.metrics import macs_per_example
    best = None
    for alpha in alphas:
        macs = macs_per_example(mobilenet_v2(input_shape, num_classes, alpha))
        gap = abs(np.log(macs) - np.log(target_macs))
        if best is None or gap < best[2]:
            best = (alpha, macs, gap)
    return best[0], best[1]


def tflite_accuracy(tflite_bytes: bytes, x: np.ndarray, y: np.ndarray, xnnpack: bool = True) -> float:
    """Top-1 accuracy of a TFLite classifier on uint8 images (scaled to [0, 1] as in training), one image per
    invoke on the same kernels that are timed (XNNPACK by default, else the builtin ones)."""
    from tfnas.export.latency import interpreter, set_input
    interp = interpreter(tflite_bytes, 1, xnnpack)
    out = interp.get_output_details()[0]
    if out["dtype"] in (np.int8, np.uint8) and not out["quantization"][0] > 0:
        raise ValueError(f"tflite output {out['name']!r} is {out['dtype'].__name__} without a positive scale")
    correct = 0
    for i in range(len(x)):
        set_input(interp, x[i:i + 1].astype(np.float32) / 255.0)
        interp.invoke()
        correct += int(np.argmax(interp.get_tensor(out["index"])[0]) == y[i])   # argmax: scale > 0 keeps order
    return correct / len(x)


def representative_images(data, count: int = 200, seed: int = 0, size: int | None = None):
    """A callable yielding `count` single training images (float [0, 1]) for int8 calibration,
    resized (bilinear) to `size`×`size` when given."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data.x_train), size=min(count, len(data.x_train)), replace=False)

    def gen():
        import tensorflow as tf
        for i in idx:
            x = data.x_train[i:i + 1].astype(np.float32) / 255.0
            if size is not None and x.shape[1:3] != (size, size):
                x = tf.image.resize(x, (size, size)).numpy()
            yield [x]
    return gen


def export_and_measure(model, data, out_dir: str, name: str, modes=("float32", "float16", "int8"),
                       threads=(1, 2), runs: int = 100, save_model: bool = True, measure_macs: bool = True,
                       log=None, filter_native: bool = True) -> dict:
    """SavedModel (`out_dir/saved_models/name/<next version>/`), one .tflite per mode, accuracy and per-image latency.

    Accuracy is measured with XNNPACK ("test_accuracy") and the builtin kernels ("test_accuracy_builtin").
    Latency is invoke-only (`latency.invoke_latency`), with the default XNNPACK delegate ("latency_ms")
    and with the builtin kernels ("latency_builtin_ms"), per thread count; "delegation" says which ops
    XNNPACK took. Returns {"keras": {...}, "<mode>": {"bytes", "test_accuracy", "latency_ms", ...}}.
    `log(message)` is called at the start of each stage (the CLI prints it with the elapsed time);
    `filter_native` hides the converter's and interpreter's own stderr lines (`progress.NATIVE_NOISE`).
    """
    from tfnas.autoshrink.progress import native_noise_filtered
    log = log or (lambda message: None)
    from tfnas.export.latency import latency_grid
    from tfnas.export import export_model, to_tflite
    from tfnas.metrics import count_params, macs_per_example
    os.makedirs(out_dir, exist_ok=True)
    log("counting MACs and measuring the Keras model's test accuracy")
    report = {"name": name, "params": count_params(model),
              "macs": macs_per_example(model) if measure_macs else None,
              "keras": {"test_accuracy": evaluate_accuracy(model, *data.test)}}
    if save_model:   # the core writer: next free version, atomic rename, never overwrites
        log("writing the SavedModel")
        report["saved_model"] = export_model(model, name, root=os.path.join(out_dir, "saved_models"))
    sample = data.x_test[:1].astype(np.float32) / 255.0
    for i, mode in enumerate(modes, start=1):
        log(f"[{i}/{len(modes)}] {mode}: converting to TFLite")
        rep = representative_images(data) if mode == "int8" else None
        with native_noise_filtered(filter_native):
            blob = to_tflite(model, mode, representative_data=rep)
        path = os.path.join(out_dir, f"{name}_{mode}.tflite")
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
        log(f"[{i}/{len(modes)}] {mode}: timing {runs} runs × threads {list(threads)} × XNNPACK on/off")
        with native_noise_filtered(filter_native):
            grid = latency_grid(blob, sample, threads, runs)
        log(f"[{i}/{len(modes)}] {mode}: test accuracy on {len(data.y_test)} images (XNNPACK and builtin kernels)")
        with native_noise_filtered(filter_native):
            accuracy = tflite_accuracy(blob, *data.test), tflite_accuracy(blob, *data.test, xnnpack=False)
        report[mode] = {"path": path, "bytes": len(blob), "test_accuracy": accuracy[0],
                        "test_accuracy_builtin": accuracy[1],
                        "latency_ms": grid["xnnpack_ms"], "latency_builtin_ms": grid["builtin_ms"],
                        "delegation": grid["delegation"]}
    return report


def deployment_latency(model, data, size: int, modes=("float32", "int8"), threads=(1,), runs: int = 50,
                       filter_native: bool = True) -> dict:
    """Latency of the trained model rebuilt (same weights) for `size`×`size` inputs, e.g. a phone camera crop.

    Latency only: no accuracy is claimed at that size (the images are upsampled digits). int8 is
    calibrated on training images resized to `size`. Returns {"input", "macs", "<mode>": latency_grid}.
    """
    import tensorflow as tf
    from tfnas.export.latency import at_input_size, latency_grid
    from tfnas.autoshrink.progress import native_noise_filtered
    from tfnas.export import to_tflite
    from tfnas.metrics import macs_per_example
    big = at_input_size(model, size)
    sample = tf.image.resize(data.x_test[:1].astype(np.float32) / 255.0, (size, size)).numpy()
    report = {"input": [int(size), int(size), int(data.input_shape[-1])], "macs": macs_per_example(big)}
    for mode in modes:
        rep = representative_images(data, size=size) if mode == "int8" else None
        with native_noise_filtered(filter_native):
            blob = to_tflite(big, mode, representative_data=rep)
            report[mode] = {"bytes": len(blob), **latency_grid(blob, sample, threads, runs)}
    return report
