"""In-graph path samplers for weight-sharing supernets (NASRec's single-op any-connection and ablations).

Every draw is a TensorFlow op on a checkpointable `tf.random.Generator`, so sampling runs inside the traced
training step (a new path never retraces) and a resumed run continues the same random stream.

Strategies (macro = which earlier outputs feed a block, micro = which operators run in it):

* ``single_op_any_connection`` (NASRec's default): macro any-path, micro single-op;
* ``single_path``: one input per role and one operator per block;
* ``any_path``: any inputs and any non-empty operator subset.

"Any" counts are 1 + Binomial(min(n, 4) - 1, 0.5) (the reference's ``binomial-0.5``).  During the first
``warmup_steps`` steps the whole supernet is trained with probability 1 - step / warmup_steps.

With ``keyed=True`` every draw is instead a stateless op keyed on (seed, global step, draw number): the path of
a step depends on nothing else, so the workers of a MultiWorkerMirroredStrategy cluster (whose replicas would each
get their own stream from a shared generator) all train the same path, and a resume needs only the step.
"""
from __future__ import annotations

import tensorflow as tf

STRATEGIES = {
    "single_op_any_connection": ("any", "single"),
    "single_path": ("single", "single"),
    "any_path": ("any", "any"),
}


class PathSampler(tf.Module):
    """Draws counts, subsets, indices and coins in-graph; knows the strategy and the warm-up schedule."""

    def __init__(self, strategy: str = "single_op_any_connection", warmup_steps: int = 0, seed: int = 0,
                 max_inputs: int = 4, p: float = 0.5, name: str | None = None, keyed: bool = False):
        super().__init__(name=name)
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown path sampling strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.strategy, self.warmup_steps = strategy, int(warmup_steps)
        self.max_inputs, self.p = int(max_inputs), float(p)
        self.macro, self.micro = STRATEGIES[strategy]
        self.generator = tf.random.Generator.from_seed(seed)
        self.seed, self.keyed = int(seed), bool(keyed)
        self._key, self._draws = None, 0

    def at_step(self, step):
        """Key the draws traced after this call on global step `step` (keyed samplers; a no-op otherwise)."""
        if self.keyed:
            self._key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
            self._draws = 0

    def _uniform(self, shape, minval=0, maxval=None, dtype=tf.float32) -> tf.Tensor:
        """One uniform draw: from the generator, or stateless from (seed, step, draw number) when keyed."""
        if not self.keyed:
            return self.generator.uniform(shape, minval, maxval, dtype=dtype)
        if self._key is None:
            raise RuntimeError("PathSampler(keyed=True): call at_step(step) before drawing")
        seed = tf.random.experimental.stateless_fold_in(self._key, self._draws)
        self._draws += 1
        return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype=dtype)

    def full_probability(self, step) -> tf.Tensor:
        """Probability of training the whole supernet at `step`: linear decay from 1 to 0 over warm-up."""
        if self.warmup_steps == 0:
            return tf.constant(0.0)
        return tf.maximum(0.0, 1.0 - tf.cast(step, tf.float32) / float(self.warmup_steps))

    def use_full(self, step) -> tf.Tensor:
        """Bool scalar: train the whole supernet this step."""
        return self._uniform([]) < self.full_probability(step)

    def coin(self) -> tf.Tensor:
        """int32 0/1 with probability 1/2."""
        return tf.cast(self._uniform([]) < 0.5, tf.int32)

    def index(self, n: int) -> tf.Tensor:
        """Uniform int32 in [0, n)."""
        return self._uniform([], 0, n, dtype=tf.int32)

    def any_count(self, n: int) -> tf.Tensor:
        """1 + Binomial(min(n, max_inputs) - 1, p)."""
        trials = min(n, self.max_inputs) - 1
        if trials <= 0:
            return tf.constant(1, tf.int32)
        return 1 + tf.reduce_sum(tf.cast(self._uniform([trials]) < self.p, tf.int32))

    def subset_mask(self, n: int, k, size: int | None = None) -> tf.Tensor:
        """int32 mask of a uniformly random k-subset of range(n), zero-padded to `size`."""
        ranks = tf.argsort(tf.argsort(self._uniform([n])))
        mask = tf.cast(ranks < k, tf.int32)
        return tf.pad(mask, [[0, (size or n) - n]])

    def connections(self, n: int, size: int | None = None) -> tf.Tensor:
        """Which of n earlier outputs feed an input (macro level): 1 or 1+Binomial of them."""
        k = self.any_count(n) if self.macro == "any" else tf.constant(1, tf.int32)
        return self.subset_mask(n, k, size)

    def operators(self, n: int) -> tf.Tensor:
        """Which of n candidate operators run (micro level): one, or 1+Binomial(n-1, p) of them."""
        if self.micro == "single":
            return tf.one_hot(self.index(n), n, dtype=tf.int32)
        trials = n - 1
        k = 1 + tf.reduce_sum(tf.cast(self._uniform([trials]) < self.p, tf.int32)) if trials > 0 else 1
        return self.subset_mask(n, k)
