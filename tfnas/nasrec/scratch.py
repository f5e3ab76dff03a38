"""`ScratchEvaluator`: a candidate's score from brief training from scratch (`search.scorer: "scratch"`).

Our choice beyond the paper (NASRec scores candidates on its weight-sharing supernet): subnet-only spaces
(`full+ext`, whose ops the supernet lacks) need a scorer without one.  Each candidate is built as a standalone
subnet (`build_subnet`), trained for `scratch.steps` steps on the training split under the project's one CTR
protocol (`tfnas.train.ctr.fit_ctr` with retrain's optimizer and learning rates), and scored by its logloss
on the first `scratch.eval_steps` validation batches.

The score is a function of the architecture alone: weights are seeded by `scratch.seed` and every candidate
reads the same training batches (a fresh stream per candidate), so the order of evaluation does not matter
and a resumed search proposes and scores exactly what an uninterrupted one does.
"""
from __future__ import annotations

import tempfile
from typing import Callable, Optional

import tensorflow as tf

from tfnas.graph import Architecture
from tfnas.nasrec.config import RetrainConfig, ScratchConfig
from tfnas.space import Evaluator, Result


class ScratchEvaluator(Evaluator):
    """Train each candidate from scratch for a fixed step budget, then measure validation logloss / AUC."""

    def __init__(self, build: Callable[[Architecture], tf.keras.Model], train_ds: Callable[[], tf.data.Dataset],
                 val_ds: tf.data.Dataset, steps: int, cfg: ScratchConfig, protocol: RetrainConfig,
                 cost_fn: Optional[Callable] = None):
        """`train_ds()` gives a fresh repeating training stream (same batches on every call); `steps` is the
        resolved budget (> 0); `protocol` supplies the optimizer and learning rates (RetrainConfig)."""
        if steps < 1:
            raise ValueError(f"scratch.steps: the resolved budget must be >= 1 step, got {steps}")
        self.build, self.train_ds, self.steps = build, train_ds, int(steps)
        self.cfg, self.protocol, self.cost_fn = cfg, protocol, cost_fn
        self.val = (val_ds.take(cfg.eval_steps) if cfg.eval_steps > 0 else val_ds).cache()

    def score(self, arch: Architecture) -> dict:
        """{"logloss", "auc"} on the validation batches after `steps` training steps from seeded weights."""
        from tfnas.nasrec.retrain import predict_metrics
        from tfnas.train.ctr import fit_ctr
        from tfnas.train.seeding import seeded
        p = self.protocol
        with seeded(self.cfg.seed), tempfile.TemporaryDirectory(prefix="scratch_") as tmp:
            network = self.build(arch)
            model, _ = fit_ctr(network, self.train_ds(), None, run_dir=tmp, epochs=1, optimizer=p.optimizer,
                               learning_rate=p.learning_rate, sparse_learning_rate=p.sparse_learning_rate,
                               steps_per_epoch=self.steps)
            out = predict_metrics(model, self.val, "")
        return {"logloss": float(out["logloss"]), "auc": float(out["auc"])}

    def evaluate(self, arch: Architecture) -> Result:
        """Result(metrics={logloss, auc}, cost={flops, params} when a cost function is given)."""
        cost = dict(self.cost_fn(arch)) if self.cost_fn is not None else {}
        return Result(metrics=self.score(arch), cost=cost)
