"""PNG view of one sample: feature maps on the top row, label maps below (matplotlib Agg, y up).

Drawn so nothing reads wrong: a constant map is a flat grey field labelled with its value (no colour bar to suggest
a range), a map duplicated by another panel is dropped, every colour bar names its unit, integer-valued maps
(counts, 0/1 hotspots) get integer ticks, no tick label uses an offset, and the first panel carries a scale bar.
"""
from __future__ import annotations

import textwrap

import numpy as np

from pipelines.eda.sample import Sample


def _panels(maps: dict) -> list:
    """2-D maps as (title, array, key); [L, H, W] maps shown as their max over layers; a map equal to one
    already listed is dropped (e.g. "utilisation (max of 6)" is "utilisation_max")."""
    out = []
    for name, arr in maps.items():
        arr, key = np.asarray(arr), name
        if arr.ndim == 3:
            twin = maps.get(f"{name}_max")
            if twin is not None and np.array_equal(np.asarray(twin), arr.max(axis=0)):
                continue
            name, arr = f"{name} (max of {arr.shape[0]})", arr.max(axis=0)
        if arr.ndim == 2:
            out.append((name, arr, key))
    return out


def _unit(units: dict, key: str) -> str:
    """Unit of a map from sample.json's `maps.units` (longest matching prefix), else 'a.u.'."""
    units = {"hotspot": "hotspot (0/1)", **units}
    best = max((k for k in units if key.startswith(k)), key=len, default=None)
    return units[best] if best else "a.u."


def _colorbar(fig, ax, im, arr, unit: str):
    """Colour bar with its unit; integer ticks for integer-valued maps; plain tick labels (no offset)."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if np.all(np.mod(arr, 1) == 0):
        cb.locator = MaxNLocator(integer=True)
    fmt = ScalarFormatter(useOffset=False)
    fmt.set_powerlimits((-3, 4))
    cb.formatter = fmt
    cb.update_ticks()
    cb.set_label(textwrap.fill(unit, 28), fontsize=6)   # long units wrap beside their bar
    return cb


def render(sample_dir: str, png_path: str) -> str:
    """Draw the sample's feature and label maps side by side into png_path; returns png_path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figure(Sample.load(sample_dir))
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def figure(s: Sample):
    """The matplotlib figure of sample `s` (caller closes it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("feature", _panels(s.features)), ("label", _panels(s.labels))]
    ncols = max(1, max(len(p) for _, p in rows))
    fig, axes = plt.subplots(2, ncols, figsize=(2.6 * ncols, 5.6), squeeze=False)
    maps_meta = s.meta.get("maps", {}) if isinstance(s.meta.get("maps"), dict) else {}
    units = maps_meta.get("units", {})
    tile_um = (maps_meta.get("grid") or {}).get("tile_w")
    for r, (kind, panels) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(panels):
                ax.axis("off")
                continue
            title, arr, key = panels[c]
            unit = _unit(units, key)
            if np.all(arr == arr.flat[0]):   # constant: a flat grey field, labelled, no misleading colour bar
                ax.imshow(np.zeros_like(arr, dtype=float), origin="lower", cmap="Greys", vmin=0, vmax=4,
                          interpolation="nearest")
                ax.text(0.5, 0.5, f"constant\n{float(arr.flat[0]):g} {unit}", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes)
            else:
                cmap = "viridis" if kind == "feature" else "magma"
                im = ax.imshow(arr, origin="lower", cmap=cmap, interpolation="nearest")
                _colorbar(fig, ax, im, arr, unit)
            ax.set_title(f"{kind}: {title}", fontsize=7)
            if r == 0 and c == 0:   # scale bar: a quarter of the width, in tiles (and µm when the grid says)
                n = max(1, arr.shape[1] // 4)
                ax.annotate("", xy=(n / arr.shape[1], -0.04), xytext=(0, -0.04), xycoords="axes fraction",
                            arrowprops={"arrowstyle": "-", "lw": 3, "color": "k"}, annotation_clip=False)
                ax.text(0, -0.07, f"{n} tile{'s' if n > 1 else ''}" + (f" = {n * tile_um:g} µm" if tile_um else ""),
                        fontsize=6, va="top", transform=ax.transAxes)
    scalars = {k: float(v) for k, v in s.labels.items() if np.ndim(v) == 0}
    name = s.meta.get("placement_id") or s.meta.get("name") or s.meta.get("design", "")
    fig.suptitle(f"{name}  " + "  ".join(f"{k}={v:g}" for k, v in scalars.items()), fontsize=8)
    fig.tight_layout()
    return fig
