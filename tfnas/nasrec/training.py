"""Resumable NASRec supernet training: reference optimizer settings, checkpoints, progress, callbacks.

Reference settings (facebookresearch/NasRec train_supernet.py, Criteo scripts): Adagrad lr 0.12 with
eps 1e-2 and zero initial accumulator (torch's semantics: lr * g / (sqrt(acc) + eps), which Keras'
legacy Adagrad kernel implements), linear warm-up over the first 10% of steps then cosine decay to
1e-8, gradient clipping by global norm 5, batch 512.  All are arguments here.
"""
from __future__ import annotations

import math
import os

import tensorflow as tf


class WarmupCosine(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `learning_rate` over `warmup_frac` of `total_steps`, then cosine to `min_lr`."""

    def __init__(self, learning_rate: float, total_steps: int, warmup_frac: float = 0.1, min_lr: float = 1e-8):
        self.learning_rate, self.total_steps = float(learning_rate), max(1, int(total_steps))
        self.warmup_frac, self.min_lr = float(warmup_frac), float(min_lr)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = max(1.0, self.warmup_frac * self.total_steps)
        rise = self.learning_rate * (step + 1.0) / warm
        frac = tf.clip_by_value((step - warm) / max(1.0, self.total_steps - warm), 0.0, 1.0)
        decay = self.min_lr + 0.5 * (self.learning_rate - self.min_lr) * (1.0 + tf.cos(math.pi * frac))
        return tf.where(step < warm, rise, decay)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "total_steps": self.total_steps,
                "warmup_frac": self.warmup_frac, "min_lr": self.min_lr}


def make_optimizer(learning_rate: float = 0.12, total_steps: int = 15_000, warmup_frac: float = 0.1,
                   epsilon: float = 1e-2, initial_accumulator: float = 0.0, schedule: str = "cosine"):
    """NASRec's Adagrad (sparse row updates for the embedding) with its warm-up + cosine schedule."""
    lr = WarmupCosine(learning_rate, total_steps, warmup_frac) if schedule == "cosine" else learning_rate
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    return tf.keras.optimizers.legacy.Adagrad(lr, initial_accumulator_value=initial_accumulator, epsilon=epsilon)


class _Progress(tf.keras.callbacks.Callback):
    """A tqdm bar over supernet steps showing loss and the whole-supernet probability."""

    def __init__(self, total: int, initial: int):
        super().__init__()
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, initial=initial, desc="supernet", unit="step")

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.bar.set_postfix(loss=f"{float(logs.get('loss', float('nan'))):.4f}",
                             p_full=f"{float(logs.get('full_prob', 0.0)):.2f}", refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


class _Scalars(tf.keras.callbacks.Callback):
    """TensorBoard scalars of the supernet every `every` steps: loss, whole-supernet probability, learning rate."""

    def __init__(self, logdir: str, every: int = 10):
        super().__init__()
        self.writer, self.every = tf.summary.create_file_writer(logdir), max(1, int(every))

    def on_train_batch_end(self, batch, logs=None):
        step = batch + 1                     # train_supernet passes the global step index as `batch`
        if step % self.every:
            return
        logs = logs or {}
        opt = self.model.optimizer
        lr = opt.learning_rate(opt.iterations) if callable(opt.learning_rate) else opt.learning_rate
        with self.writer.as_default(step=step):
            tf.summary.scalar("supernet/loss", float(logs.get("loss", float("nan"))))
            tf.summary.scalar("supernet/full_prob", float(logs.get("full_prob", 0.0)))
            tf.summary.scalar("supernet/learning_rate", float(lr))

    def on_train_end(self, logs=None):
        self.writer.flush()


def checkpoint_for(supernet, optimizer) -> tf.train.Checkpoint:
    """What a resume needs: weights, optimizer slots and step, the supernet step and the sampler RNG."""
    return tf.train.Checkpoint(model=supernet, optimizer=optimizer, sampler=supernet.sampler)


def train_supernet(supernet, dataset: tf.data.Dataset, steps: int, ckpt_dir: str, learning_rate: float = 0.12,
                   warmup_frac: float = 0.1, epsilon: float = 1e-2, initial_accumulator: float = 0.0,
                   clipnorm: float = 5.0, schedule: str = "cosine", save_every: int = 500, keep: int = 2,
                   callbacks=(), progress: bool = True, skip_seen: bool = True, stop_at: int | None = None,
                   tensorboard_dir: str | None = None, log_every: int = 10) -> dict:
    """Train `supernet` for `steps` sampled-path steps on batches of `dataset`, resuming from `ckpt_dir`.

    Not the core `train()`: that one checkpoints per epoch, and a supernet runs one long epoch that must
    resume mid-way (every `save_every` steps); the loss still comes from the ranking Task (supernet.py).

    Saves every `save_every` steps and at the end; a run killed at any point restarts from the last
    save with the same weights, optimizer state, step and sampler RNG, and (with `skip_seen`, for a
    deterministic dataset) the same next batch.  `stop_at` ends this call early (at that step) without
    changing the schedule, which is set by `steps`.  With `tensorboard_dir`, scalars every `log_every` steps.
    Called in a multi-worker strategy's scope (tfnas/distribute/nasrec.py), `dataset` is the global batch, split
    across the workers, and every worker saves its own checkpoints (MWMS saves are collective).
    Returns {"step", "loss" (last), "resumed_from"}.
    """
    if steps < 0 or save_every < 1:
        raise ValueError(f"train_supernet: steps must be >= 0 and save_every >= 1, got {steps}, {save_every}")
    supernet.clipnorm = clipnorm
    optimizer = make_optimizer(learning_rate, steps, warmup_frac, epsilon, initial_accumulator, schedule)
    supernet.compile(optimizer=optimizer)
    first = next(iter(dataset))
    supernet(_features(first))                       # build every variable before restoring
    ckpt = checkpoint_for(supernet, optimizer)
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=keep)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint)
    done = int(supernet.step.numpy())
    result = {"step": done, "loss": float("nan"), "resumed_from": done}
    end = steps if stop_at is None else min(steps, int(stop_at))
    if done >= end:
        return result
    data = dataset.repeat()
    if skip_seen and done:
        data = data.skip(done)
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync > 1:   # MWMS: each worker takes its share of every global batch
        from tfnas.distribute.cluster import data_sharded
        data = strategy.experimental_distribute_dataset(data_sharded(data))
    iterator = iter(data)
    train_fn = supernet.make_train_function()
    cbs = list(callbacks) + ([_Progress(end, done)] if progress else [])
    cbs += [_Scalars(tensorboard_dir, log_every)] if tensorboard_dir else []
    cb = tf.keras.callbacks.CallbackList(cbs, model=supernet)
    cb.on_train_begin()
    logs = {}
    for step in range(done, end):
        cb.on_train_batch_begin(step)
        logs = train_fn(iterator)
        cb.on_train_batch_end(step, logs)
        if (step + 1) % save_every == 0 or step + 1 == end:
            manager.save(checkpoint_number=step + 1)
    cb.on_train_end({k: float(v) for k, v in logs.items()})
    result.update(step=int(supernet.step.numpy()), loss=float(logs["loss"]))
    return result


def _features(batch):
    if isinstance(batch, (tuple, list)):
        return batch[0]
    return {k: v for k, v in batch.items() if k != "label"}


def latest_step(ckpt_dir: str) -> int:
    """The step of the newest checkpoint in `ckpt_dir` (0 when there is none)."""
    path = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
    return int(path.rsplit("-", 1)[-1]) if path else 0
