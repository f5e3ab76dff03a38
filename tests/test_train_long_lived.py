"""A Keras model kept alive across evaluator calls (a predictor, a supernet) still works afterwards:
evaluators must not clear the Keras session under their caller."""
import numpy as np
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
    first = evaluator.evaluate(arch)
    second = evaluator.evaluate(arch)

    np.testing.assert_array_equal(kept.predict(x, verbose=0), before)
    hist = kept.fit(x, np.ones((5, 1), np.float32), epochs=1, verbose=0)  # still trainable too
    assert np.isfinite(hist.history["loss"][0])
    assert first.metrics["accuracy"] == second.metrics["accuracy"]  # each call seeds itself, order-free
