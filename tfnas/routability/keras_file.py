"""An estimator rebuilt from a saved `model.keras` (e.g. the routability-NAS found model), so a method such as FLNet
can train it from scratch without importing the method that found it.

Rebuilt from the file's config, never its weights: the same layers at the caller's input shape (fully convolutional
models carry over to another grid), the output layer renamed "logit" (the name partial-local personalisation keeps on
its client), and every seeded initialiser's seed shifted by `seed`, so seeds give different, reproducible starts.
`path` may be the file or a run folder whose run.json names it (`tfnas routenas retrain` writes one).
"""
from __future__ import annotations

import copy
import json
import os
import zipfile

OUTPUT_NAME = "logit"


def resolve(path: str) -> str:
    """The model.keras file that `path` (a file, or a run folder with run.json) names; ValueError naming it."""
    if os.path.isdir(path):
        info = os.path.join(path, "run.json")
        try:
            with open(info) as f:
                rel = json.load(f)["model"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{path}: not a model.keras file nor a run folder whose run.json names one "
                             "(`tfnas routenas retrain` writes it)") from None
        path = os.path.join(path, rel)
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a saved Keras model (.keras zip)")
    return path


def _read_config(path: str) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _shift_seeds(node, seed: int):
    """Every initialiser config {'class_name': ..., 'config': {'seed': s}} with s set gets s + 7919 * seed."""
    if isinstance(node, dict):
        cfg = node.get("config")
        if "class_name" in node and isinstance(cfg, dict) and isinstance(cfg.get("seed"), int) and seed:
            cfg["seed"] = cfg["seed"] + 7919 * int(seed)
        for v in node.values():
            _shift_seeds(v, seed)
    elif isinstance(node, list):
        for v in node:
            _shift_seeds(v, seed)


def _model_config(saved: dict, input_shape, seed: int) -> dict:
    """The functional config at `input_shape`, output layer renamed, seeds shifted."""
    if saved.get("class_name") not in ("Functional", "Model"):
        raise ValueError(f"only functional Keras models can be rebuilt, got {saved.get('class_name')!r}")
    cfg = copy.deepcopy(saved["config"])
    if len(cfg["input_layers"]) != 1 or len(cfg["output_layers"]) != 1:
        raise ValueError("an estimator has one input map and one logit map")
    in_name, out_name = cfg["input_layers"][0][0], cfg["output_layers"][0][0]
    names = {layer["config"]["name"] for layer in cfg["layers"]}
    if out_name != OUTPUT_NAME and OUTPUT_NAME in names:
        raise ValueError(f"the model has a layer named {OUTPUT_NAME!r} that is not its output")
    for layer in cfg["layers"]:
        if layer["config"]["name"] == in_name:
            layer["config"]["batch_input_shape"] = [None, *map(int, input_shape)]
        if layer["config"]["name"] == out_name:
            layer["config"]["name"] = layer["name"] = OUTPUT_NAME
        for node in layer.get("inbound_nodes", []):
            for inbound in node:
                if inbound[0] == out_name:   # pragma: no cover  (the output layer feeds nothing)
                    inbound[0] = OUTPUT_NAME
    cfg["output_layers"][0][0] = OUTPUT_NAME
    _shift_seeds(cfg["layers"], seed)
    return cfg


def load_saved_config(path: str) -> dict:
    """The saved model's Keras config (read once; `rebuild` makes any number of fresh models from it)."""
    return _read_config(resolve(path))


def rebuild(saved: dict, input_shape, seed: int = 0):
    """A fresh functional model from a saved config, at `input_shape`, seeded by `seed`."""
    import tensorflow as tf

    import tfnas.builders.layers  # noqa: F401  (registers the project's custom layers for from_config)

    return tf.keras.Model.from_config(_model_config(saved, input_shape, seed))


def from_keras_file(path: str, input_shape, seed: int = 0):
    """A fresh functional model with the saved model's layers, at `input_shape`, seeded by `seed`."""
    return rebuild(load_saved_config(path), input_shape, seed)
