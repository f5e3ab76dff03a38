"""Hand-made routability estimators (per-tile hotspot logits on an HxWxC map), built as Keras functional models.

RouteNet follows the layer list of issue 14 (input BN, two conv+BN+ReLU+pool blocks, two convs, transposed conv,
skip concat with block 1, conv, transposed conv, 3x3/1 logit); H and W must be multiples of 4.
FLNet: conv 9x9/64 + ReLU, conv 9x9/1 logit, 1e-3 * sum(w^2) on both kernels (Keras L2 regulariser, which is l*sum w^2).
PROS-style (chosen here, the paper's exact net is not used): a 3x3/32 stem, dilated 3x3/32 convs at rates 1, 2, 4
(receptive field grows without pooling, which suits maps of a few dozen tiles), a 1x1/32 fuse of the concatenated
rates, and a 1x1/1 logit. Logistic regression: a single 1x1 conv per tile (the floor).
"""
from __future__ import annotations

import tensorflow as tf

L = tf.keras.layers


def _conv(filters, k, seed, **kw):
    return L.Conv2D(filters, k, padding="same", kernel_initializer=tf.keras.initializers.GlorotUniform(seed), **kw)


def _up(filters, k, seed):
    """A seeded stride-2 transposed conv (unseeded, two builds with the same seed differed by up to 0.21)."""
    return L.Conv2DTranspose(filters, k, strides=2, padding="same",
                             kernel_initializer=tf.keras.initializers.GlorotUniform(seed))


def routenet(input_shape, seed: int = 0) -> tf.keras.Model:
    """RouteNet: output grid equals the input grid; H and W must be divisible by 4."""
    h, w = input_shape[0], input_shape[1]
    if h % 4 or w % 4:
        raise ValueError(f"routenet: input grid {h}x{w} must be divisible by 4")
    x_in = tf.keras.Input(input_shape, name="features")
    x = L.BatchNormalization()(x_in)
    x = L.ReLU()(L.BatchNormalization()(_conv(32, 9, seed)(x)))
    b1 = x
    x = L.MaxPool2D(2)(x)
    x = L.ReLU()(L.BatchNormalization()(_conv(64, 7, seed + 1)(x)))
    x = L.MaxPool2D(2)(x)
    x = L.ReLU()(_conv(32, 9, seed + 2)(x))
    x = L.ReLU()(_conv(32, 7, seed + 3)(x))
    x = L.ReLU()(_up(16, 9, seed + 6)(x))
    x = L.Concatenate()([x, L.MaxPool2D(2)(b1)])
    x = L.ReLU()(_conv(16, 5, seed + 4)(x))
    x = L.ReLU()(_up(4, 5, seed + 7)(x))
    out = _conv(1, 3, seed + 5, name="logit")(x)
    return tf.keras.Model(x_in, out, name="routenet")


def flnet(input_shape, seed: int = 0, l2: float = 1e-3) -> tf.keras.Model:
    """FLNet: conv 9x9/64 + ReLU, conv 9x9/1 logit; kernel regulariser l2 * sum(w^2)."""
    reg = tf.keras.regularizers.L2(l2)
    x_in = tf.keras.Input(input_shape, name="features")
    x = _conv(64, 9, seed, activation="relu", kernel_regularizer=reg)(x_in)
    out = _conv(1, 9, seed + 1, kernel_regularizer=reg, name="logit")(x)
    return tf.keras.Model(x_in, out, name="flnet")


def pros(input_shape, seed: int = 0, width: int = 32, rates=(1, 2, 4)) -> tf.keras.Model:
    """PROS-style dilated encoder-decoder scaled to small maps (see module docstring)."""
    x_in = tf.keras.Input(input_shape, name="features")
    x = L.ReLU()(L.BatchNormalization()(_conv(width, 3, seed)(x_in)))
    branches = [L.ReLU()(L.BatchNormalization()(_conv(width, 3, seed + 1 + i, dilation_rate=r)(x)))
                for i, r in enumerate(rates)]
    x = L.ReLU()(_conv(width, 1, seed + 10)(L.Concatenate()(branches + [x])))
    out = _conv(1, 1, seed + 11, name="logit")(x)
    return tf.keras.Model(x_in, out, name="pros")


def logistic(input_shape, seed: int = 0) -> tf.keras.Model:
    """Logistic regression per tile: one 1x1 conv to a logit."""
    x_in = tf.keras.Input(input_shape, name="features")
    return tf.keras.Model(x_in, _conv(1, 1, seed, name="logit")(x_in), name="logistic")


ESTIMATORS = {"routenet": routenet, "flnet": flnet, "pros": pros, "logistic": logistic}
ALIASES = {"logreg": "logistic"}


def register_keras_model(name: str, path: str) -> None:
    """Make `name` build the model saved at `path` (a model.keras or a run folder naming one), fresh for each
    build (see keras_file); the hand-made names cannot be replaced."""
    from tfnas.routability.keras_file import load_saved_config, rebuild, resolve

    if name in ESTIMATORS and getattr(ESTIMATORS[name], "keras_file", None) is None:
        raise ValueError(f"{name!r} is a hand-made estimator; give the saved model another name")
    saved = load_saved_config(path)   # read once, not at every build (one per client, seed and algorithm)

    def build(input_shape, seed: int = 0):
        return rebuild(saved, input_shape, seed)
    build.keras_file = resolve(path)
    ESTIMATORS[name] = build


def build_estimator(name: str, input_shape, seed: int = 0) -> tf.keras.Model:
    """Build a registered estimator by name; unknown names give a ValueError listing the choices."""
    name = ALIASES.get(name, name)
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose from {sorted(ESTIMATORS)}")
    return ESTIMATORS[name](tuple(input_shape), seed=seed)
