"""NASGEM's two learned encodings on the Keras graph encoder (`encoder.py`): WL-guided and the no-WL ablation.

`fit_wl_encoder`: the encoder is trained on sampled pairs of cells so that the cosine similarity of their
embeddings matches their WL kernel value (MSE). Our choices where the paper is silent: half the pairs
are independent samples of the space, half a sample and a 1-3-step mutation of it (random pairs alone
are almost all dissimilar, so the high-kernel range would go untrained); Adam 1e-3, batch 256. The fit
is reported as Pearson and Spearman correlation (and MAE) on pairs of *held-out* cells drawn from a
separate random stream. No accuracy is used: the WL embedding is fixed before the search starts.
`SupervisedEmbedding` is the ablation "embedding without the WL target": the same encoder net with a
linear head, trained only on the predictor loss (MSE to the standardised objective of the evaluated
cells), refit from a seeded initialisation at every bootstrap round (`fit(archs, y, seed)`).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from tfnas.nasgem.encoder import GraphFeaturizer, build_encoder, embed, reinitialise, reset_optimizer
from tfnas.nasgem.wl_kernel import kernel_from_features, wl_features


class WLEmbedding:
    """Encoding by a (WL-trained) encoder: `encode(archs) -> [n, dim]` embeddings."""

    name = "wl_embedding"

    def __init__(self, featurizer: GraphFeaturizer, model: tf.keras.Model, report: dict | None = None):
        self.featurizer, self.model, self.report = featurizer, model, dict(report or {})

    def encode(self, archs) -> np.ndarray:
        return embed(self.model, self.featurizer.featurize(list(archs)))

    def embed_features(self, feats: dict) -> np.ndarray:
        """Embeddings of already-featurized cells (e.g. `gemnet.sample_arrays` output)."""
        return embed(self.model, feats)

    def encode_one(self, arch) -> np.ndarray:
        return self.encode([arch])[0]

    def save(self, folder: str) -> str:
        """`folder/encoder.keras` + `folder/encoder.json` (featurizer vocabulary, fit report), via a temp folder."""
        import json
        import os
        import shutil
        tmp = f"{folder}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self.model.save(os.path.join(tmp, "encoder.keras"))
        with open(os.path.join(tmp, "encoder.json"), "w") as f:
            json.dump({"featurizer": self.featurizer.config(), "report": self.report, "name": self.name}, f)
        if os.path.isdir(os.path.join(folder, "tensorboard")):   # the fit's logs stay with the encoder
            shutil.move(os.path.join(folder, "tensorboard"), os.path.join(tmp, "tensorboard"))
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return folder

    @classmethod
    def load(cls, folder: str) -> WLEmbedding:
        import json
        import os
        meta_path = os.path.join(folder, "encoder.json")
        if not os.path.exists(meta_path):
            raise FileNotFoundError(f"{meta_path}: no saved encoder (run `tfnas nasgem fit-encoder`)")
        with open(meta_path) as f:
            meta = json.load(f)
        try:
            fz = GraphFeaturizer(meta["featurizer"]["ops"], meta["featurizer"]["max_nodes"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{meta_path}: field 'featurizer' lacks {exc}") from None
        model = tf.keras.models.load_model(os.path.join(folder, "encoder.keras"), compile=False)
        out = cls(fz, model, meta.get("report"))
        out.name = meta.get("name", cls.name)
        return out


def sample_pairs(space, n_cells: int, n_pairs: int, rng: np.random.Generator, h: int = 2):
    """(cells, index pairs [n_pairs, 2], WL kernel per pair): half random pairs, half (cell, its 1-3-step mutant)."""
    cells = [space.sample(rng) for _ in range(n_cells)]
    n_near = n_pairs // 2
    parents = rng.integers(0, n_cells, n_near)
    steps = rng.integers(1, 4, n_near)
    cells += [space.mutate_n(cells[int(p)], rng, int(k)) for p, k in zip(parents, steps)]
    near = np.stack([parents, n_cells + np.arange(n_near)], 1)
    rand = rng.integers(0, n_cells, size=(n_pairs - n_near, 2))
    pairs = np.concatenate([near, rand]).astype(np.int64)
    feats = [wl_features(c, h) for c in cells]
    target = np.array([kernel_from_features(feats[i], feats[j]) for i, j in pairs], np.float32)
    return cells, pairs, target


def _pair_model(encoder: tf.keras.Model) -> tf.keras.Model:
    """Shared encoder on two cells -> cosine similarity of their embeddings."""
    ins = {f"{k}{s}": tf.keras.Input(t.shape[1:], name=f"{k}{s}") for s in ("1", "2")
           for k, t in encoder.input.items()}
    e1 = encoder({k: ins[f"{k}1"] for k in encoder.input})
    e2 = encoder({k: ins[f"{k}2"] for k in encoder.input})
    cos = tf.keras.layers.Dot(axes=-1, normalize=True, name="cosine")([e1, e2])
    return tf.keras.Model(ins, cos, name="wl_pairs")


def _pair_inputs(feats: dict, pairs: np.ndarray) -> dict:
    first = {f"{k}1": v[pairs[:, 0]] for k, v in feats.items()}
    return {**first, **{f"{k}2": v[pairs[:, 1]] for k, v in feats.items()}}


def pair_fit(model: tf.keras.Model, feats: dict, pairs: np.ndarray, target: np.ndarray) -> dict:
    """Pearson, Spearman and MAE of embedding cosine vs WL kernel on the given pairs."""
    from scipy.stats import pearsonr, spearmanr
    z = embed(model, feats)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    cos = np.sum(z[pairs[:, 0]] * z[pairs[:, 1]], 1)
    return {"pearson": float(pearsonr(cos, target)[0]), "spearman": float(spearmanr(cos, target)[0]),
            "mae": float(np.mean(np.abs(cos - target))), "pairs": int(len(pairs))}


def _drop_seen(cells, pairs, target, seen: set):
    """Keep only the held-out pairs whose two cells were never trained on (small spaces repeat cells)."""
    fresh = np.array([c.key() not in seen for c in cells])
    keep = fresh[pairs[:, 0]] & fresh[pairs[:, 1]]
    if not keep.any():
        raise ValueError("no held-out pair of unseen cells: the space is too small for this many training cells")
    return cells, pairs[keep], target[keep]


def untrained_embedding(featurizer: GraphFeaturizer, hidden: int = 64, dim: int = 32, layers: int = 3,
                        seed: int = 0) -> WLEmbedding:
    """The same encoder net at its seeded random initialisation (the "no WL target, no training" ablation)."""
    encoder = build_encoder(featurizer.num_features, featurizer.max_nodes, hidden, dim, layers)
    reinitialise(encoder, seed)
    out = WLEmbedding(featurizer, encoder, {"trained": False, "seed": seed})
    out.name = "untrained_embedding"
    return out


def fit_wl_encoder(space, featurizer: GraphFeaturizer, n_cells: int = 2000, n_pairs: int = 20000,
                   epochs: int = 10, batch: int = 256, hidden: int = 64, dim: int = 32, layers: int = 3,
                   h: int = 2, seed: int = 0, heldout_cells: int = 500, heldout_pairs: int = 5000,
                   callbacks=()) -> WLEmbedding:
    """Train the encoder on WL-kernel pairs of `space`; `report` holds train and held-out fit and timings.
    `callbacks` go to Keras `fit` (the CLI's epoch bar and TensorBoard scalars)."""
    import time
    rng = np.random.default_rng(seed)
    held_rng = np.random.default_rng([seed, 1])
    t0 = time.perf_counter()
    cells, pairs, target = sample_pairs(space, n_cells, n_pairs, rng, h)
    hcells, hpairs, htarget = sample_pairs(space, heldout_cells, heldout_pairs, held_rng, h)
    hcells, hpairs, htarget = _drop_seen(hcells, hpairs, htarget, {c.key() for c in cells})
    feats, hfeats = featurizer.featurize(cells), featurizer.featurize(hcells)
    t_data = time.perf_counter() - t0
    encoder = build_encoder(featurizer.num_features, featurizer.max_nodes, hidden, dim, layers)
    reinitialise(encoder, seed)
    pm = _pair_model(encoder)
    pm.compile(tf.keras.optimizers.Adam(1e-3), loss="mse")
    order = rng.permutation(len(pairs))
    t0 = time.perf_counter()
    hist = pm.fit(_pair_inputs(feats, pairs[order]), target[order][:, None], batch_size=batch, epochs=epochs,
                  shuffle=False, verbose=0, callbacks=list(callbacks))
    t_fit = time.perf_counter() - t0
    report = {"train": pair_fit(encoder, feats, pairs, target), "heldout": pair_fit(encoder, hfeats, hpairs, htarget),
              "loss": [float(v) for v in hist.history["loss"]], "cells": len(cells), "epochs": epochs,
              "h": h, "dim": dim, "trained": True, "seconds_pairs": t_data, "seconds_fit": t_fit}
    return WLEmbedding(featurizer, encoder, report)


class SupervisedEmbedding:
    """The no-WL ablation: same encoder net + linear head, trained on the predictor loss only, each round."""

    name = "supervised_embedding"

    def __init__(self, featurizer: GraphFeaturizer, hidden: int = 64, dim: int = 32, layers: int = 3,
                 steps: int = 300, batch: int = 32, lr: float = 1e-3):
        self.featurizer, self.steps, self.batch = featurizer, int(steps), int(batch)
        self.encoder = build_encoder(featurizer.num_features, featurizer.max_nodes, hidden, dim, layers)
        head = tf.keras.layers.Dense(1, name="predict")(self.encoder.output)
        self.model = tf.keras.Model(self.encoder.input, head, name="supervised_embedding")
        self.optimizer = tf.keras.optimizers.Adam(lr)
        self.model.compile(self.optimizer, loss="mse")
        self.fitted = False

    def fit(self, archs, y, seed: int) -> SupervisedEmbedding:
        """Refit from a seeded start on (archs, y): `steps` Adam steps over a seeded shuffle."""
        y = np.asarray(y, np.float32)
        t = (y - y.mean()) / (y.std() + 1e-6)
        reinitialise(self.model, seed)
        reset_optimizer(self.optimizer)
        feats = self.featurizer.featurize(list(archs))
        per_epoch = math.ceil(len(y) / self.batch)
        epochs = max(1, math.ceil(self.steps / per_epoch))
        order = np.random.default_rng(seed).permutation(np.tile(np.arange(len(y)), epochs))
        self.model.fit({k: v[order] for k, v in feats.items()}, t[order][:, None], batch_size=self.batch,
                       epochs=1, shuffle=False, verbose=0)
        self.fitted = True
        return self

    def encode(self, archs) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("SupervisedEmbedding.encode before fit")
        return embed(self.encoder, self.featurizer.featurize(list(archs)))
