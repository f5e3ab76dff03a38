"""A 2-D picture of an encoding: the PCA projection of cell vectors, coloured by accuracy when it is known."""
from __future__ import annotations

import os

import numpy as np


def pca_2d(z: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of `z` (centred, by SVD)."""
    z = np.asarray(z, np.float64)
    z = z - z.mean(0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[:2].T if vt.shape[0] >= 2 else np.column_stack([z @ vt[:1].T, np.zeros(len(z))])


def plot_projection(z: np.ndarray, path: str, accuracy=None, title: str = "cell encodings, PCA",
                    clip_below: float = 80.0) -> str:
    """Write the PNG. With `accuracy` (%, one per row) points are coloured by it, clipped below `clip_below`
    (NB201's dead cells sit at 10 % and would flatten the scale) and drawn low to high so good cells stay on top."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    p = pca_2d(z)
    fig, ax = plt.subplots(figsize=(5, 4))
    if accuracy is None:
        ax.scatter(p[:, 0], p[:, 1], s=3, c="tab:blue")
        ax.set_title(f"{title} ({len(p):,} cells; no accuracy known)")
    else:
        acc = np.asarray(accuracy, float)
        order = np.argsort(acc)
        sc = ax.scatter(p[order, 0], p[order, 1], c=acc[order], s=3, cmap="viridis",
                        vmin=max(float(acc.min()), clip_below) if acc.max() > clip_below else None)
        fig.colorbar(sc, label=f"accuracy (%), clipped at {clip_below:g}" if acc.max() > clip_below else "accuracy")
        ax.set_title(f"{title} ({len(p):,} cells)")
    ax.set(xlabel="PC 1", ylabel="PC 2")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path
