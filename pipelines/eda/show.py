"""PNG view of one sample: feature maps on the top row, label maps below (matplotlib Agg, y up)."""
from __future__ import annotations

import numpy as np

from pipelines.eda.sample import Sample


def _panels(maps: dict) -> list:
    """2-D maps as (title, array); [L, H, W] maps shown as their max over layers."""
    out = []
    for name, arr in maps.items():
        arr = np.asarray(arr)
        if arr.ndim == 2:
            out.append((name, arr))
        elif arr.ndim == 3:
            out.append((f"{name} (max of {arr.shape[0]})", arr.max(axis=0)))
    return out


def render(sample_dir: str, png_path: str) -> str:
    """Draw the sample's feature and label maps side by side into png_path; returns png_path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = Sample.load(sample_dir)
    rows = [("feature", _panels(s.features)), ("label", _panels(s.labels))]
    ncols = max(1, max(len(p) for _, p in rows))
    fig, axes = plt.subplots(2, ncols, figsize=(2.6 * ncols, 5.6), squeeze=False)
    for r, (kind, panels) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(panels):
                ax.axis("off")
                continue
            title, arr = panels[c]
            cmap = "viridis" if kind == "feature" else "magma"
            im = ax.imshow(arr, origin="lower", cmap=cmap, interpolation="nearest")
            ax.set_title(f"{kind}: {title}", fontsize=7)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    scalars = {k: float(v) for k, v in s.labels.items() if np.ndim(v) == 0}
    name = s.meta.get("placement_id") or s.meta.get("name") or s.meta.get("design", "")
    fig.suptitle(f"{name}  " + "  ".join(f"{k}={v:g}" for k, v in scalars.items()), fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
