"""Pictures of a routability run: input features, true and predicted hotspot maps per test placement; ROC curve."""
from __future__ import annotations

import os

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=80)
    os.replace(tmp, path)


def plot_maps(x, y, p, ids, channels, path, n: int = 3) -> str:
    """One row per placement: each input channel, true hotspots, predicted hotspot probability."""
    plt = _plt()
    n = min(n, len(x))
    cols = len(channels) + 2
    fig, axes = plt.subplots(n, cols, figsize=(2 * cols, 2 * n), squeeze=False)
    for r in range(n):
        panels = [(x[r, ..., c], channels[c]) for c in range(len(channels))]
        panels += [(y[r, ..., 0], "true hotspot"), (p[r, ..., 0], "predicted")]
        for c, (img, title) in enumerate(panels):
            axes[r, c].imshow(img, cmap="viridis")
            axes[r, c].set_title(f"{ids[r]}\n{title}" if c == 0 else title, fontsize=6)
            axes[r, c].axis("off")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_roc(labels, probs, path, name: str) -> str:
    """ROC curve of the pooled test tiles."""
    from sklearn.metrics import roc_curve
    plt = _plt()
    fpr, tpr, _ = roc_curve(np.asarray(labels).reshape(-1) > 0.5, np.asarray(probs).reshape(-1))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=0.5)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
