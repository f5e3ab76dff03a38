"""Pictures of a routability run: input features, true and predicted hotspot maps per test placement; ROC curve."""
from __future__ import annotations

import os
import textwrap

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


def plot_maps(x, y, p, ids, channels, path, n: int = 3, units=None) -> str:
    """One row per placement: each input channel (as loaded: clipped at its 99th percentile and resized, before
    standardisation), true hotspots, predicted hotspot probability; colour bars with units, constant maps drawn
    flat and labelled with their value (a constant map must not read as a pattern)."""
    plt = _plt()
    n = min(n, len(x))
    cols = len(channels) + 2
    units = list(units) if units else ["a.u."] * len(channels)
    fig, axes = plt.subplots(n, cols, figsize=(2 * cols, 2 * n), squeeze=False)
    for r in range(n):
        panels = [(x[r, ..., c], channels[c], units[c]) for c in range(len(channels))]
        panels += [(y[r, ..., 0], "true hotspot", "hotspot (0/1)"), (p[r, ..., 0], "predicted", "probability")]
        for c, (img, title, unit) in enumerate(panels):
            ax = axes[r, c]
            if np.all(img == img.flat[0]):   # a constant map drawn as a flat grey field, labelled, no colour bar
                ax.imshow(np.zeros_like(img, dtype=float), cmap="Greys", vmin=0, vmax=4, origin="lower")
                ax.text(0.5, 0.5, f"constant\n{float(img.flat[0]):g} {unit}", ha="center", va="center", fontsize=6,
                        transform=ax.transAxes)
            else:
                fixed = c >= len(channels)   # hotspot and probability panels share the 0..1 scale
                im = ax.imshow(img, cmap="viridis", origin="lower", vmin=0 if fixed else None,
                               vmax=1 if fixed else None)
                cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
                cb.ax.tick_params(labelsize=5)
                cb.set_label(textwrap.fill(unit, 24), fontsize=5)   # long units wrap inside the row
            ax.set_title(f"{ids[r]}\n{title}" if c == 0 else title, fontsize=6)
            ax.set_xticks([]), ax.set_yticks([])
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
