"""`seeded(seed)`: a block that runs as if the process had just been seeded, and leaves the caller's
random state as it found it.

Library code used to call `tf.keras.utils.set_random_seed` inside evaluators and trainers, which re-seeds
Python's `random`, NumPy's global generator, TensorFlow's global seed and Keras's seed generator for the
whole process: a caller's own stream (a search strategy's sampling, a kept-alive predictor's dropout)
then silently restarts after every evaluation.  Inside the block the four are seeded exactly as
`set_random_seed` does (so results are the same as before); on exit the caller's four states come back.

Chosen limitation: TensorFlow clears its kernel cache when the global seed changes, so a *stateful*
random op created before the block restarts its own stream afterwards (as after any `tf.random.set_seed`).
"""
from __future__ import annotations

import contextlib
import random

import numpy as np


def _keras_seed_generator():
    from keras.src import backend  # tf.keras of TF 2.14 is keras 2.14, whose backend lives in keras.src
    return backend._SEED_GENERATOR


@contextlib.contextmanager
def seeded(seed: int):
    """Seed Python, NumPy, TensorFlow and Keras with `seed` for the block; restore the caller's state after."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seeded: seed must be an int, got {seed!r}")
    py_state, np_state = random.getstate(), np.random.get_state()
    ctx = context.context()
    _absent = object()
    tf_seed = ctx._seed
    tf_rng = getattr(ctx, "_rng", _absent)         # set_random_seed replaces _rng, so the old one keeps its state
    generator = _keras_seed_generator()
    keras_gen = getattr(generator, "generator", None)
    tf.keras.utils.set_random_seed(int(seed))
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        ctx._seed = tf_seed
        if tf_rng is _absent:                      # never seeded before: TF creates _rng on first seeding
            del ctx._rng
        else:
            ctx._rng = tf_rng
        generator.generator = keras_gen


def global_random_state() -> tuple:
    """A comparable snapshot of the four process-wide random states (for tests: nothing was re-seeded)."""
    from tensorflow.python.eager import context
    ctx = context.context()
    keras_gen = getattr(_keras_seed_generator(), "generator", None)
    np_state = np.random.get_state()
    return (random.getstate(), (np_state[0], np_state[1].tobytes(), *np_state[2:]), ctx._seed,
            ctx._rng.getstate() if getattr(ctx, "_rng", None) is not None else None,
            keras_gen.getstate() if keras_gen is not None else None)
