"""`SupernetEvaluator`: NASRec's candidate score, the supernet with the candidate fixed, head fine-tuned.

Score = validation logloss after fine-tuning only the supernet's last layer for a few hundred steps
(NASRec's post-training fine-tuning; `FinetuneConfig.enabled=False` gives the no-fine-tune ablation).
The head weights and the optimizer state are restored after every evaluation, so one candidate's
fine-tuning never leaks into the next; fine-tune and validation batches are cached, so the score of an
architecture does not depend on the order in which candidates are evaluated.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfnas import metrics as tfm
from tfnas.graph import Architecture
from tfnas.nasrec.config import FinetuneConfig
from tfnas.nasrec.supernet import split_batch
from tfnas.nasrec.training import WarmupCosine
from tfnas.space import Evaluator, Result
from tfnas.train.optimizers import make_optimizer
from tfnas.train.task import RankingTask


def head_variables(supernet) -> list:
    """The supernet's last layer's variables: `supernet.head_variables()` / `.head` if it exposes them."""
    if hasattr(supernet, "head_variables"):
        hv = supernet.head_variables
        return list(hv() if callable(hv) else hv)
    for name in ("head", "final", "output_layer"):
        layer = getattr(supernet, name, None)
        if isinstance(layer, tf.keras.layers.Layer):
            return list(layer.trainable_variables)
    raise AttributeError(f"{type(supernet).__name__} exposes no head layer (head_variables/head/final)")


class FlopsCache:
    """FLOPs and params of standalone subnets keyed by architecture fingerprint; optionally a JSON file."""

    def __init__(self, build: Callable[[Architecture], tf.keras.Model], path: Optional[str] = None,
                 build_for_flops: Optional[Callable[[Architecture], tf.keras.Model]] = None):
        """`build_for_flops` may build the same subnet with tiny embedding tables: lookups cost no FLOPs,
        and freezing small tables into the profiled graph is several times faster."""
        self._build, self.path = build, path
        self._build_for_flops = build_for_flops or build
        self._data: dict = {}
        if path and os.path.exists(path):
            with open(path) as f:
                self._data = json.load(f)

    def __call__(self, arch: Architecture) -> dict:
        key = arch.fingerprint()
        if key not in self._data:
            params = float(tfm.count_params(self._build(arch)))
            flops = float(tfm.flops_per_example(self._build_for_flops(arch)))
            self._data[key] = {"flops": flops, "params": params}
            if self.path:
                tmp = self.path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self._data, f)
                os.replace(tmp, self.path)
        return dict(self._data[key])


class SupernetEvaluator(Evaluator):
    """Scores a candidate on a trained supernet: fix it, fine-tune the head, measure val logloss / AUC.

    One traced function serves both fine-tuning and validation (a flag tensor says whether to apply the
    head update), so the large supernet graph is traced once per evaluator, never per candidate: this is
    why it is not the core `train()` (a `fit` per candidate retraces); its loss is the ranking Task's.
    """

    def __init__(self, supernet, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset,
                 finetune: FinetuneConfig | None = None, cost_fn: Optional[Callable] = None):
        finetune = finetune or FinetuneConfig()
        self.supernet, self.cfg, self.cost_fn = supernet, finetune, cost_fn
        self._train = train_ds.take(finetune.steps).cache() if finetune.steps > 0 else None
        self._val = (val_ds.take(finetune.eval_steps) if finetune.eval_steps > 0 else val_ds).cache()
        self._head = head_variables(supernet)
        if not self._head:
            raise ValueError("supernet head has no variables; build the supernet (call it once) first")
        self._head_init = [v.numpy() for v in self._head]
        self._opt = None
        if self._train is not None:
            sched = WarmupCosine(finetune.learning_rate, finetune.steps)
            self._opt = make_optimizer(finetune.optimizer, sched, finetune.clipnorm)
            self._opt.build(self._head)
            self._opt_init = [v.numpy() for v in self._opt.variables]
        self._loss = RankingTask().loss()
        self._run = tf.function(self._step)

    def _step(self, x, y, train):
        """Probabilities [B] of the fixed candidate; when `train` (bool tensor) also one head update."""
        with tf.GradientTape() as tape:
            logits = tf.reshape(self.supernet(x, training=False), [-1])
            loss = self._loss(tf.reshape(y, [-1, 1]), logits[:, None])
        if self._opt is not None:
            grads = tape.gradient(loss, self._head)

            def apply():
                self._opt.apply_gradients(zip(grads, self._head))
                return tf.constant(True)

            tf.cond(train, apply, lambda: tf.constant(False))
        return tf.sigmoid(logits)

    def _restore(self) -> None:
        """Put back the trained head weights and a fresh optimizer state."""
        for v, w in zip(self._head, self._head_init):
            v.assign(w)
        if self._opt is not None:
            for v, w in zip(self._opt.variables, self._opt_init):
                v.assign(w)

    def score(self, arch: Architecture, finetune: Optional[bool] = None) -> dict:
        """Val logloss and AUC of `arch` on the supernet, after head fine-tuning when `finetune`
        (default: the config's `enabled`)."""
        finetune = self.cfg.enabled if finetune is None else bool(finetune)
        if finetune and self._train is None:
            raise ValueError("fine-tuning asked for but finetune.steps == 0")
        self.supernet.fix(arch)
        on, off = tf.constant(True), tf.constant(False)
        try:
            if finetune:
                for batch in self._train:
                    self._run(*split_batch(batch), on)
            probs, labels = [], []
            for batch in self._val:
                x, y = split_batch(batch)
                probs.append(self._run(x, y, off).numpy())
                labels.append(y.numpy())
        finally:
            self._restore()
        p, y = np.concatenate(probs), np.concatenate(labels)
        return {"logloss": float(tfm.logloss(y, p)), "auc": float(tfm.auc(y, p))}

    def evaluate(self, arch: Architecture) -> Result:
        """Result(metrics={logloss, auc}, cost={flops, params} when a cost function is given)."""
        cost = dict(self.cost_fn(arch)) if self.cost_fn is not None else {}
        return Result(metrics=self.score(arch), cost=cost)
