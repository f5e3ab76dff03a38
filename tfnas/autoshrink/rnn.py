"""ShrinkRNN: a Keras RNN cell whose recurrence is an AutoShrink DAG, the word-level LM around it, its proxy.

Cell (reference ``searching/rnn/model.py``): s0 = h + σ(c0)·(tanh(h0) − h) with [c0, h0] = [x, h]·W0; each
edge i→j computes [c, k] = s_i·W_ij and s = s_i + σ(c)·(act_j(k) − s_i); node j averages its incoming s;
the new hidden state is the mean of the leaf nodes.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from tfnas.autoshrink.cell import active_edges, active_nodes, check_cell, leaf_nodes
from tfnas.graph import Architecture
from tfnas.space import Evaluator, Result

INIT_RANGE = 0.04


def rnn_cell_flops(arch: Architecture, units: int, input_dim: int) -> int:
    """FLOPs of one cell step (multiply-add = 2): the W0 matmul plus one units×2units matmul per active edge."""
    return 2 * ((input_dim + units) * 2 * units + len(active_edges(arch)) * units * 2 * units)


def _layer_base():
    import tensorflow as tf
    return tf.keras.layers.Layer


def _edge_key(u, v) -> str:
    return f"{u}->{v}"


class DagRNNCell(_layer_base()):
    """A recurrent cell (usable in `tf.keras.layers.RNN`) computing the DAG of an AutoShrink RNN cell."""

    def __init__(self, units: int, cell, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.arch = cell if isinstance(cell, Architecture) else Architecture.from_dict(cell, "DagRNNCell.cell")
        check_cell(self.arch)
        self.state_size = self.units
        self.output_size = self.units
        self._edges = active_edges(self.arch)
        self._nodes = active_nodes(self.arch)
        self._leaves = leaf_nodes(self.arch)

    def build(self, input_shape):
        import tensorflow as tf

        def init():
            return tf.keras.initializers.RandomUniform(-INIT_RANGE, INIT_RANGE)

        self.w0 = self.add_weight(name="w0", shape=(int(input_shape[-1]) + self.units, 2 * self.units),
                                  initializer=init())
        # String keys: a tf.train.Checkpoint (the core trainer's resume) cannot track tuple-keyed dicts.
        self.edge_weights = {_edge_key(u, v): self.add_weight(name=f"w_{u}_{v}", shape=(self.units, 2 * self.units),
                                                     initializer=init()) for u, v in self._edges}
        super().build(input_shape)

    @staticmethod
    def _activation(name: str):
        import tensorflow as tf
        table = {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh, "identity": tf.identity}
        if name not in table:
            raise ValueError(f"DagRNNCell: unknown activation {name!r}; known: {sorted(table)}")
        return table[name]

    def call(self, inputs, states):
        import tensorflow as tf
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        c0, h0 = tf.split(tf.matmul(tf.concat([inputs, h_prev], -1), self.w0), 2, axis=-1)
        incoming = {0: [h_prev + tf.sigmoid(c0) * (tf.tanh(h0) - h_prev)]}
        value = {}
        for node in self._nodes:
            parts = incoming[node]
            value[node] = parts[0] if len(parts) == 1 else tf.add_n(parts) / float(len(parts))
            s_prev = value[node]
            for u, v in self._edges:
                if u != node:
                    continue
                c, k = tf.split(tf.matmul(s_prev, self.edge_weights[_edge_key(u, v)]), 2, axis=-1)
                s = s_prev + tf.sigmoid(c) * (self._activation(self.arch.op(v))(k) - s_prev)
                incoming.setdefault(v, []).append(s)
        leaves = [value[n] for n in self._leaves]
        out = leaves[0] if len(leaves) == 1 else tf.add_n(leaves) / float(len(leaves))
        return out, [out]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell": self.arch.to_dict()}


@dataclasses.dataclass(frozen=True)
class LMTraining:
    """Reference RNN search settings: SGD lr 20, global clip 0.25, 10 epochs, batch 128, bptt 35, 100 units."""

    units: int = 100
    embedding: int = 100
    epochs: int = 10
    batch_size: int = 128
    bptt: int = 35
    learning_rate: float = 20.0
    clip: float = 0.25
    patience: int = 4
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_lm(arch: Architecture, vocab_size: int, units: int = 100, embedding: int = 100, name: str = "shrink_rnn"):
    """Embedding → RNN(DagRNNCell) → Dense(vocab) logits, one prediction per position."""
    import tensorflow as tf
    init = tf.keras.initializers.RandomUniform(-0.1, 0.1)
    tokens = tf.keras.Input(shape=(None,), dtype=tf.int32, name="tokens")
    x = tf.keras.layers.Embedding(vocab_size, embedding, embeddings_initializer=init, name="embedding")(tokens)
    x = tf.keras.layers.RNN(DagRNNCell(units, arch, name="dag_cell"), return_sequences=True, name="rnn")(x)
    logits = tf.keras.layers.Dense(vocab_size, name="decoder")(x)
    return tf.keras.Model(tokens, logits, name=name)


def lm_dataset(ids: np.ndarray, batch_size: int, bptt: int, shuffle: bool = False, seed: int = 0):
    """Non-overlapping windows (x = ids[i:i+bptt], y = ids[i+1:i+bptt+1]) as a batched tf.data pipeline."""
    import tensorflow as tf
    n = (len(ids) - 1) // bptt
    if n < 1:
        raise ValueError(f"text of {len(ids)} tokens is too short for bptt={bptt}")
    x = np.asarray(ids[: n * bptt], np.int32).reshape(n, bptt)
    y = np.asarray(ids[1: n * bptt + 1], np.int32).reshape(n, bptt)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_lm(model, corpus, cfg: LMTraining, verbose: int = 0, run_dir: str | None = None) -> dict:
    """SGD with global-norm clipping, lr ÷10 at epochs E−4 and E−2, early stop after `patience` bad epochs
    (best val-loss weights kept), on the core `train()` with the language-model Task; without `run_dir`
    the run folder is temporary."""
    import tempfile

    import tensorflow as tf
    from tfnas.train.task import LanguageModelTask
    from tfnas.train.trainer import train
    drops = {cfg.epochs - 4, cfg.epochs - 2}

    def schedule(epoch, lr):
        return lr / 10.0 if epoch in drops and epoch > 0 else lr

    with tempfile.TemporaryDirectory(prefix="lm_") as tmp:
        out = train(model, LanguageModelTask(), lm_dataset(corpus.train, cfg.batch_size, cfg.bptt, shuffle=True,
                                                            seed=cfg.seed),
                    lm_dataset(corpus.valid, cfg.batch_size, cfg.bptt), epochs=cfg.epochs,
                    optimizer=tf.keras.optimizers.SGD(cfg.learning_rate, global_clipnorm=cfg.clip),
                    run_dir=run_dir or tmp, early_stopping_patience=cfg.patience, verbose=verbose,
                    callbacks=[tf.keras.callbacks.LearningRateScheduler(schedule)], curve_keys=("loss",),
                    save_model=run_dir is not None)
    history = {k: [float(v) for v in vs] for k, vs in out["history"].items() if k != "epoch"}
    val = [v for v in history.get("val_loss", []) if math.isfinite(v)]
    best = min(val) if val else math.inf
    return {"val_perplexity": math.exp(min(best, 50.0)), "epochs": out["epochs_run"], "history": history}


def perplexity(model, ids: np.ndarray, cfg: LMTraining) -> float:
    """exp(mean token cross-entropy) of a trained LM on a token-id array."""
    loss = model.evaluate(lm_dataset(ids, cfg.batch_size, cfg.bptt), verbose=0)
    loss = loss[0] if isinstance(loss, list) else loss
    return float(math.exp(min(loss, 50.0)))


class RnnProxyEvaluator(Evaluator):
    """Train the LM with a candidate cell on the proxy corpus; score perplexity against cell FLOPs."""

    def __init__(self, corpus, training: LMTraining = LMTraining(), score_weight: float = 0.25, verbose: int = 0):
        self.corpus, self.training, self.score_weight, self.verbose = corpus, training, score_weight, verbose

    def evaluate(self, arch: Architecture) -> Result:
        from tfnas.autoshrink.shrink import rnn_score
        from tfnas.metrics import count_params
        from tfnas.train.seeding import seeded
        cfg = self.training
        with seeded(cfg.seed):  # same numbers every call; the caller's random streams are left alone
            model = build_lm(arch, self.corpus.vocab_size, cfg.units, cfg.embedding)
            start = time.perf_counter()
            out = train_lm(model, self.corpus, cfg, verbose=self.verbose)
        flops = rnn_cell_flops(arch, cfg.units, cfg.embedding)
        ppl = out["val_perplexity"]
        return Result({"score": rnn_score(ppl, flops, self.score_weight), "perplexity": ppl, "epochs": out["epochs"]},
                      {"flops": flops, "params": count_params(model), "train_seconds": time.perf_counter() - start})
