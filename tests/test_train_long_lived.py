"""A Keras model kept alive across evaluator calls (a predictor, a supernet) still works afterwards:
evaluators must not clear the Keras session under their caller."""
import numpy as np
import pytest
import tensorflow as tf

from tfnas.autoshrink.cell import full_cnn_cell


def test_model_survives_cnn_proxy_evaluations():
    from tfnas.autoshrink.cnn import Macro
    from tfnas.autoshrink.data import load_images, proxy_subset
    from tfnas.autoshrink.shrink import CnnProxyEvaluator
    from tfnas.autoshrink.train import ProxyTraining

    kept = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3, kernel_initializer=
                                tf.keras.initializers.GlorotUniform(seed=1)), tf.keras.layers.Dense(1)])
    kept.compile(optimizer="sgd", loss="mse")
    x = np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4)
    before = kept.predict(x, verbose=0)

    data = proxy_subset(load_images("digits", 8), train_per_class=10, val_per_class=5)
    evaluator = CnnProxyEvaluator(data, Macro(scales=(0.5,), replicate=(1,), pools=(1,), stem_filters=4),
                                  ProxyTraining(epochs=1, batch_size=32))
    arch = full_cnn_cell(3, seed=0)
    from tfnas.train.seeding import global_random_state
    tf.random.set_seed(123)
    np.random.seed(7)
    state = global_random_state()
    first = evaluator.evaluate(arch)
    second = evaluator.evaluate(arch)
    assert global_random_state() == state    # the caller's Python/NumPy/TF/Keras random streams untouched

    np.testing.assert_array_equal(kept.predict(x, verbose=0), before)
    hist = kept.fit(x, np.ones((5, 1), np.float32), epochs=1, verbose=0)  # still trainable too
    assert np.isfinite(hist.history["loss"][0])
    assert first.metrics["accuracy"] == second.metrics["accuracy"]  # each call seeds itself, order-free


def test_seeded_block_matches_set_random_seed_and_restores_the_caller():
    import random

    from tfnas.train.seeding import global_random_state, seeded
    tf.keras.utils.set_random_seed(5)
    want = (random.random(), float(np.random.rand()), float(tf.random.uniform([])),
            tf.keras.initializers.GlorotUniform()((2,)).numpy().tolist())
    tf.random.set_seed(99)
    random.seed(1)
    before = global_random_state()
    caller_next = random.random()
    random.seed(1)
    with seeded(5):
        got = (random.random(), float(np.random.rand()), float(tf.random.uniform([])),
               tf.keras.initializers.GlorotUniform()((2,)).numpy().tolist())
    assert got == want
    assert global_random_state() == before and random.random() == caller_next
    with pytest.raises(ValueError, match="seed must be an int"):
        with seeded(1.5):
            pass
