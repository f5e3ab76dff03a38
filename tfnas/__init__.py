"""tfnas: neural architecture search on TensorFlow/Keras (NASRec, AutoShrink, NASGEM, routability NAS, FLNet)."""
import os

# TF 2.14's oneDNN kernels segfault in Conv2DBackpropFilter on small dilated/separable cell graphs on
# AVX-512 CPUs (seen in CI and on an AMD EPYC here); the Eigen kernels are exact and fast enough for these
# models. Set before TensorFlow is imported; TF_ENABLE_ONEDNN_OPTS=1 in the environment turns oneDNN back on.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
