"""Data pipelines (CTR logs, images, text, EDA flow, NAS-Bench tables); they never import tfnas."""
import os

# Same guard as tfnas/__init__.py: TF 2.14's oneDNN Conv2DBackpropFilter segfaults on AVX-512 CPUs.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
