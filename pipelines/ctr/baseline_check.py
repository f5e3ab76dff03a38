"""Sanity check of a CTR data directory: logistic regression and a small MLP against base-rate and Bayes logloss.

Used to choose the synthetic generator's defaults (a short fit should land between the Bayes floor and the
base rate).  Run: `python -m pipelines.ctr.baseline_check DATA_DIR --epochs 2`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import tensorflow as tf

from pipelines.ctr.dataset import load_info, load_spec, make_split_dataset
from pipelines.ctr.schema import FeatureSpec


def build_model(spec: FeatureSpec, kind: str, embed_dim: int = 8, hidden=(64, 32)) -> tf.keras.Model:
    """"lr": bias + linear dense + one weight per hashed value; "mlp": embeddings + ReLU MLP."""
    dense_in = tf.keras.Input((spec.num_dense,), name="dense")
    sparse_in = tf.keras.Input((spec.num_sparse,), dtype=tf.int64, name="sparse")
    dim = 1 if kind == "lr" else embed_dim
    embeds = [tf.keras.layers.Embedding(v, dim, name=f"emb_{n}")(sparse_in[:, j])
              for j, (n, v) in enumerate(zip(spec.sparse_names, spec.vocab_sizes))]
    if kind == "lr":
        logit = tf.keras.layers.Dense(1, name="linear_dense")(dense_in) + tf.add_n(embeds)
    else:
        x = tf.keras.layers.Concatenate()([dense_in] + embeds)
        for h in hidden:
            x = tf.keras.layers.Dense(h, activation="relu", name=f"hidden_{h}")(x)
        logit = tf.keras.layers.Dense(1, name="logit")(x)
    out = tf.keras.layers.Activation("sigmoid")(logit)
    return tf.keras.Model({"dense": dense_in, "sparse": sparse_in}, out)


def _xy(batch):
    return {"dense": batch["dense"], "sparse": batch["sparse"]}, batch["label"]


def fit_and_score(data_dir, kind: str, epochs: int = 2, batch_size: int = 512, lr: float = 3e-3,
                  seed: int = 0) -> dict:
    """Train `kind` on the train split for `epochs`, return valid logloss and wall time."""
    tf.keras.utils.set_random_seed(seed)
    spec = load_spec(data_dir)
    train = make_split_dataset(data_dir, "train", batch_size, shuffle=True, seed=seed).map(_xy)
    valid = make_split_dataset(data_dir, "valid", 4096).map(_xy)
    model = build_model(spec, kind)
    model.compile(tf.keras.optimizers.Adam(lr), loss="binary_crossentropy",
                  metrics=[tf.keras.metrics.AUC(name="auc")])
    t0 = time.time()
    model.fit(train, epochs=epochs, verbose=0)
    loss, auc = model.evaluate(valid, verbose=0)
    return {"model": kind, "epochs": epochs, "valid_logloss": float(loss), "valid_auc": float(auc),
            "seconds": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--models", default="lr,mlp")
    args = ap.parse_args(argv)
    rows = []
    bayes_path = os.path.join(args.data_dir, "bayes.json")
    if os.path.exists(bayes_path):
        with open(bayes_path) as f:
            v = json.load(f)["valid"]
        print(f"valid: rows={v['rows']} ctr={v['ctr']:.4f} base_rate_logloss={v['base_rate_logloss']:.4f} "
              f"bayes_logloss={v['bayes_logloss']:.4f} true_p_logloss={v['true_p_logloss']:.4f}")
    print(f"format={load_info(args.data_dir).get('format', '?')}")
    for kind in args.models.split(","):
        r = fit_and_score(args.data_dir, kind, args.epochs)
        rows.append(r)
        print(json.dumps(r))
    return 0 if all(math.isfinite(r["valid_logloss"]) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
