"""Rasterise a placed (and routed) DEF onto a row-aligned tile grid: routability features and router-derived labels.

Features come from the placement only; labels (track utilisation, vias, failed-net hotspots) from the router output.
Supply nets (SPECIALNETS, USE POWER/GROUND, vdd/gnd/VSS... names) never enter any map.
"""
from __future__ import annotations

import functools
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from pipelines.eda.lef import read_text
from pipelines.eda.lefdef import Def, Lef, component_rect, is_power_net, read_def, read_lef, transform
from pipelines.eda.sample import Sample


@dataclass(frozen=True)
class TileGrid:
    """Tiles of `tile_w` x `tile_h` microns from (x0, y0); row index 0 is the lowest y, column 0 the lowest x."""
    x0: float
    y0: float
    tile_w: float
    tile_h: float
    nx: int
    ny: int

    @property
    def shape(self) -> tuple:
        """(ny, nx), the shape of every 2-D map."""
        return (self.ny, self.nx)

    @property
    def tile_area(self) -> float:
        """Area of one tile, square microns."""
        return self.tile_w * self.tile_h

    def edges(self, axis: str) -> np.ndarray:
        """Tile boundaries along 'x' or 'y'."""
        if axis == "x":
            return self.x0 + self.tile_w * np.arange(self.nx + 1)
        return self.y0 + self.tile_h * np.arange(self.ny + 1)

    def index(self, x: float, y: float) -> tuple:
        """(row, col) of the tile holding a point; points on or past the border go to the border tile."""
        c = min(max(int(math.floor((x - self.x0) / self.tile_w)), 0), self.nx - 1)
        r = min(max(int(math.floor((y - self.y0) / self.tile_h)), 0), self.ny - 1)
        return r, c

    def add_rect(self, grid_map: np.ndarray, rect: tuple, weight: float = 1.0) -> None:
        """Add weight x (overlap area of rect with each tile) into grid_map [ny, nx]."""
        x1, y1, x2, y2 = rect
        c0, c1 = self._span(x1, x2, self.x0, self.tile_w, self.nx)
        r0, r1 = self._span(y1, y2, self.y0, self.tile_h, self.ny)
        ox = [min(x2, self.x0 + (c + 1) * self.tile_w) - max(x1, self.x0 + c * self.tile_w) for c in range(c0, c1 + 1)]
        oy = [min(y2, self.y0 + (r + 1) * self.tile_h) - max(y1, self.y0 + r * self.tile_h) for r in range(r0, r1 + 1)]
        if len(ox) * len(oy) > 16:
            grid_map[r0:r1 + 1, c0:c1 + 1] += weight * np.outer(np.clip(oy, 0, None), np.clip(ox, 0, None))
            return
        for r, dy in zip(range(r0, r1 + 1), oy):
            if dy > 0:
                for c, dx in zip(range(c0, c1 + 1), ox):
                    if dx > 0:
                        grid_map[r, c] += weight * dx * dy

    def add_segment(self, grid_map: np.ndarray, p: tuple, q: tuple) -> None:
        """Add the length of segment p-q inside each tile into grid_map [ny, nx]."""
        length = math.hypot(q[0] - p[0], q[1] - p[1])
        if length == 0:
            return
        ts = {0.0, 1.0}
        for a, o, step, n in ((0, self.x0, self.tile_w, self.nx), (1, self.y0, self.tile_h, self.ny)):
            if q[a] != p[a]:
                lo, hi = sorted((p[a], q[a]))
                for k in range(int(math.ceil((lo - o) / step)), int(math.floor((hi - o) / step)) + 1):
                    ts.add(min(max((o + k * step - p[a]) / (q[a] - p[a]), 0.0), 1.0))
        ts = sorted(ts)
        for t0, t1 in zip(ts[:-1], ts[1:]):
            tm = (t0 + t1) / 2
            r, c = self.index(p[0] + tm * (q[0] - p[0]), p[1] + tm * (q[1] - p[1]))
            grid_map[r, c] += (t1 - t0) * length

    @staticmethod
    def _span(lo, hi, origin, step, n):
        a = min(max(int(math.floor((lo - origin) / step)), 0), n - 1)
        b = min(max(int(math.ceil((hi - origin) / step)) - 1, a), n - 1)
        return a, b


def _row_geometry(d: Def, lef: Lef) -> tuple:
    """(row height, y of the first row, source): from DEF ROWs, else from the LEF core SITE and the placed cells."""
    if d.rows:
        ys = sorted({r[3] + j * r[8] for r in d.rows for j in range(max(r[6], 1))})
        diffs = [b - a for a, b in zip(ys[:-1], ys[1:]) if b - a > 1e-9]
        site = lef.sites.get(d.rows[0][1])
        height = min(diffs) if diffs else (site[2] if site else None)
        if height:
            return height, ys[0], "DEF ROW"
    core_sites = [s for s in lef.sites.values() if s[0] == "CORE" and s[2] > 0]
    placed = [c for c in d.components.values() if c.status != "UNPLACED" and c.macro in lef.macros
              and lef.macros[c.macro].cls == "CORE"]
    if not placed:
        raise ValueError(f"{d.path}: no ROW statements and no placed CORE cells to infer rows from")
    if core_sites:
        height = Counter(s[2] for s in core_sites).most_common(1)[0][0]
    else:
        height = Counter(lef.macros[c.macro].height for c in placed).most_common(1)[0][0]
    return height, min(c.y for c in placed), "LEF SITE + placed cells"


def make_grid(d: Def, lef: Lef, rows_per_tile: float = 2) -> tuple:
    """Square tiles of `rows_per_tile` row heights (a fraction splits rows: 0.25 = four tiles per row height),
    aligned to the rows and covering the die; returns (grid, info)."""
    if not rows_per_tile > 0:
        raise ValueError(f"rows_per_tile must be > 0, got {rows_per_tile}")
    row_h, row_y, source = _row_geometry(d, lef)
    tile = rows_per_tile * row_h
    dx1, dy1, dx2, dy2 = d.die
    if dx2 <= dx1 or dy2 <= dy1:
        raise ValueError(f"{d.path}: DIEAREA {d.die} is empty")
    y0 = row_y - math.ceil((row_y - dy1) / tile - 1e-9) * tile
    grid = TileGrid(dx1, y0, tile, tile, max(1, math.ceil((dx2 - dx1) / tile - 1e-9)),
                    max(1, math.ceil((dy2 - y0) / tile - 1e-9)))
    return grid, {"row_height_um": row_h, "row_y0_um": row_y, "rows_source": source}


def _pin_point(d: Def, lef: Lef, net, comp_name: str, pin_name: str):
    """Location of one net terminal (microns), or None for a power pin or an unplaced I/O pin."""
    if comp_name == "PIN":
        p = d.pins.get(pin_name)
        if p is None:
            raise ValueError(f"{d.path}: net {net.name!r} connects to I/O pin {pin_name!r} not in PINS")
        return None if p.x is None else (p.x, p.y)
    comp = d.components.get(comp_name)
    if comp is None:
        raise ValueError(f"{d.path}: net {net.name!r} connects to component {comp_name!r} not in COMPONENTS")
    macro = lef.macros.get(comp.macro)
    if macro is None:
        raise ValueError(f"{d.path}: component {comp_name!r} uses macro {comp.macro!r} not found in the LEF files")
    pin = macro.pins.get(pin_name)
    if pin is None:
        raise ValueError(f"{d.path}: net {net.name!r}: macro {comp.macro!r} has no pin {pin_name!r}")
    if pin.use in ("POWER", "GROUND"):
        return None
    if not pin.rects:
        return transform(macro, comp, macro.width / 2, macro.height / 2)
    xs = [v for r in pin.rects for v in (r[1], r[3])]
    ys = [v for r in pin.rects for v in (r[2], r[4])]
    return transform(macro, comp, (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


def net_pins(d: Def, lef: Lef) -> dict:
    """Signal net name -> list of terminal points (microns); supply nets and power pins left out."""
    return {n.name: [pt for c, p in n.connections if (pt := _pin_point(d, lef, n, c, p)) is not None]
            for n in d.nets.values() if not is_power_net(n)}


def is_filler(macro) -> bool:
    """Filler/tap cells: CLASS CORE SPACER, or no pin other than power/ground."""
    return macro.cls in ("SPACER",) or not any(p.use not in ("POWER", "GROUND") for p in macro.pins.values())


def read_congestion(path: str, d: Def, lef: Lef, grid: TileGrid) -> np.ndarray:
    """qrouter `congested` output (`INSTANCE VALUE` lines, `#` comments) -> area-weighted mean value per tile."""
    num, den = np.zeros(grid.shape), np.zeros(grid.shape)
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"{path}:{lineno}: expected 'INSTANCE VALUE', got {line.strip()!r}")
        comp = d.components.get(parts[0])
        if comp is None:
            raise ValueError(f"{path}:{lineno}: instance {parts[0]!r} is not a component of {d.path}")
        try:
            value = float(parts[1])
        except ValueError:
            raise ValueError(f"{path}:{lineno}: expected a number, got {parts[1]!r}") from None
        rect = component_rect(lef.macros[comp.macro], comp)
        grid.add_rect(num, rect, value)
        grid.add_rect(den, rect, 1.0)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def placement_features(d: Def, lef: Lef, grid: TileGrid, terminals: dict | None = None) -> tuple:
    """Feature maps from a placed DEF: cell_density, pin_density, rudy, pin_rudy, macro_region; plus counts.

    `terminals` is `net_pins(d, lef)` when the caller has it already (computed here otherwise).
    """
    cell, macro, pins = np.zeros(grid.shape), np.zeros(grid.shape), np.zeros(grid.shape)
    rudy, pin_rudy = np.zeros(grid.shape), np.zeros(grid.shape)
    cell_area, n_fill = 0.0, 0
    for comp in d.components.values():
        if comp.status == "UNPLACED":
            continue
        m = lef.macros.get(comp.macro)
        if m is None:
            raise ValueError(f"{d.path}: component {comp.name!r} uses macro {comp.macro!r} not found in the LEF files")
        if is_filler(m):
            n_fill += 1
            continue
        rect = component_rect(m, comp)
        grid.add_rect(cell, rect)
        cell_area += m.width * m.height
        if m.cls in ("BLOCK", "RING", "COVER"):
            grid.add_rect(macro, rect)
    pitches = [ly.pitch for ly in lef.layers.values() if ly.type == "ROUTING" and ly.pitch]
    eps = min(pitches) if pitches else grid.tile_w / 100
    n_pins = 0
    for name, pts in (net_pins(d, lef) if terminals is None else terminals).items():
        for x, y in pts:
            pins[grid.index(x, y)] += 1
        n_pins += len(pts)
        if len(pts) < 2:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        w, h = max(max(xs) - min(xs), eps), max(max(ys) - min(ys), eps)
        cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
        density = (w + h) / (w * h)
        grid.add_rect(rudy, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), density / grid.tile_area)
        for x, y in pts:
            pin_rudy[grid.index(x, y)] += density
    feats = {"cell_density": cell / grid.tile_area, "pin_density": pins, "rudy": rudy, "pin_rudy": pin_rudy,
             "macro_region": macro / grid.tile_area}
    return feats, {"cell_area_um2": cell_area, "n_fillers_excluded": n_fill, "n_pins": n_pins}


def track_capacity(d: Def, lef: Lef, grid: TileGrid, layers: list) -> np.ndarray:
    """[L, H, W] wire length (microns) the preferred-direction tracks of each layer offer inside each tile."""
    dx1, dy1, dx2, dy2 = d.die
    ex, ey = grid.edges("x"), grid.edges("y")
    width_in = np.clip(np.minimum(ex[1:], dx2) - np.maximum(ex[:-1], dx1), 0, None)
    height_in = np.clip(np.minimum(ey[1:], dy2) - np.maximum(ey[:-1], dy1), 0, None)
    cap = np.zeros((len(layers),) + grid.shape)
    for li, name in enumerate(layers):
        layer = lef.layers[name]
        horizontal = layer.direction == "HORIZONTAL"
        axis = "Y" if horizontal else "X"
        lo, hi = (dy1, dy2) if horizontal else (dx1, dx2)
        coords = [s + k * st for a, s, n, st, ls in d.tracks if a == axis and name in ls for k in range(n)]
        if not coords and layer.pitch:
            coords = list(np.arange(lo + (layer.offset or 0.0), hi + 1e-9, layer.pitch))
        coords = np.asarray([c for c in coords if lo - 1e-9 <= c <= hi + 1e-9])
        if horizontal:
            counts = np.bincount([grid.index(dx1, c)[0] for c in coords], minlength=grid.ny)[:grid.ny]
            cap[li] = np.outer(counts, width_in)
        else:
            counts = np.bincount([grid.index(c, dy1)[1] for c in coords], minlength=grid.nx)[:grid.nx]
            cap[li] = np.outer(height_in, counts)
    return cap


def routed_maps(d: Def, lef: Lef, grid: TileGrid, layers: list) -> tuple:
    """[L, H, W] routed signal wire length per layer, [H, W] via count, and info (unrouted nets, unknown vias)."""
    index = {name: i for i, name in enumerate(layers)}
    via_layers = {name: [ly for ly in ls if ly in index] for name, ls in {**lef.vias, **d.vias}.items()}
    wl, vias = np.zeros((len(layers),) + grid.shape), np.zeros(grid.shape)
    unknown_vias, n_unrouted = set(), 0
    for net in d.nets.values():
        if is_power_net(net):
            continue
        n_unrouted += int(not net.paths and len(net.connections) > 1)
        for path in net.paths:
            cur, prev = path.layer, None
            if cur not in index:
                raise ValueError(f"{d.path}: net {net.name!r} routed on {cur!r}, not a routing layer of the LEF")
            for el in path.elements:
                if el[0] == "pt":
                    if prev is not None:
                        grid.add_segment(wl[index[cur]], prev, el[1:])
                    prev = el[1:]
                elif el[0] == "virtual":
                    prev = el[1:]
                elif el[0] == "via" and prev is not None:
                    vias[grid.index(*prev)] += 1
                    ls = via_layers.get(el[1])
                    if ls is None:
                        unknown_vias.add(el[1])
                    elif cur in ls and len(ls) == 2:
                        cur = ls[1 - ls.index(cur)]
    return wl, vias, {"n_nets_without_routing": n_unrouted, "unknown_vias": sorted(unknown_vias)}


def _hotspot(pins: dict, failed: list, grid: TileGrid) -> tuple:
    """Binary map of tiles holding a terminal of a failed net, and the failed names not found in the DEF."""
    out, unknown = np.zeros(grid.shape), []
    by_plain = {k.replace("\\", ""): k for k in pins}
    for name in failed:
        key = name if name in pins else by_plain.get(name.replace("\\", ""))
        if key is None:
            unknown.append(name)
            continue
        for x, y in pins[key]:
            out[grid.index(x, y)] = 1.0
    return out, unknown


class _StepClock:
    """CPU seconds of this process between successive `lap(name)` calls (where make_sample's time goes)."""

    def __init__(self):
        self.t, self.laps = time.process_time(), {}

    def lap(self, name: str) -> None:
        """Record the CPU time since the previous lap under `name`."""
        now = time.process_time()
        self.laps[name] = round(now - self.t, 4)
        self.t = now


def cached_lef(paths: tuple) -> Lef:
    """Parsed LEF of `paths`, parsed once per process and per file version (path, size, mtime); treat it read-only."""
    key = tuple((str(p), *_stamp(p)) for p in paths)
    return _parse_lef_once(key)


def _stamp(path) -> tuple:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _parse_lef_once(key: tuple) -> Lef:
    return read_lef([k[0] for k in key])


def make_sample(placed_def: str, routed_def: str | None, lef_paths: list[str],
                failed_nets_stage1: list[str], failed_nets_stage2: list[str],
                congestion_path: str | None, meta: dict, rows_per_tile: float = 2) -> Sample:
    """Build one `Sample`: placement features + routing labels on a grid of `rows_per_tile`-row square tiles."""
    clock = _StepClock()
    lef = cached_lef(tuple(lef_paths))
    placed = read_def(placed_def)
    clock.lap("parse_lef_placed_def")
    grid, row_info = make_grid(placed, lef, rows_per_tile)
    pins = net_pins(placed, lef)
    feats, counts = placement_features(placed, lef, grid, pins)
    out_meta = dict(meta)
    if congestion_path is not None:
        feats["congestion"] = read_congestion(congestion_path, placed, lef, grid)
    else:
        feats["congestion"] = np.zeros(grid.shape)
    clock.lap("parse_features")
    layers = lef.routing_layers
    if not layers:
        raise ValueError(f"LEF files {list(lef_paths)} define no ROUTING layers")
    labels, route_info = {}, {}
    if routed_def is not None:
        routed = read_def(routed_def)
        clock.lap("parse_routed_def")
        if any(abs(a - b) > 1e-6 for a, b in zip(routed.die, placed.die)):
            raise ValueError(f"{routed_def}: DIEAREA {routed.die} differs from {placed_def} {placed.die}")
        wl, vias, route_info = routed_maps(routed, lef, grid, layers)
        cap = track_capacity(routed, lef, grid, layers)
    else:
        wl, vias = np.zeros((len(layers),) + grid.shape), np.zeros(grid.shape)
        cap = track_capacity(placed, lef, grid, layers)
    util = np.divide(wl, cap, out=np.zeros_like(wl), where=cap > 0)
    labels["utilisation"] = util
    labels["utilisation_max"] = util.max(axis=0)
    labels["wirelength"] = wl.sum(axis=0)
    labels["via_count"] = vias
    labels["hotspot_stage1"], unknown1 = _hotspot(pins, failed_nets_stage1, grid)
    labels["hotspot_stage2"], unknown2 = _hotspot(pins, failed_nets_stage2, grid)
    routed_ok = routed_def is not None and len(failed_nets_stage2) == 0
    labels["n_failed_stage1"] = np.float32(len(failed_nets_stage1))
    labels["n_failed_stage2"] = np.float32(len(failed_nets_stage2))
    labels["routed"] = np.float32(routed_ok)
    clock.lap("parse_labels")
    # CPU s per step (volatile, like all timings)
    out_meta["timings_s"] = {**out_meta.get("timings_s", {}), **clock.laps}
    for key, value in (("n_failed_stage1", len(failed_nets_stage1)), ("n_failed_stage2", len(failed_nets_stage2)),
                       ("routed", routed_ok)):
        if key in out_meta and out_meta[key] != value:
            raise ValueError(f"meta[{key!r}] = {out_meta[key]!r} disagrees with the failed-net lists ({value!r})")
        out_meta[key] = value
    out_meta["maps"] = {
        "grid": asdict(grid), "rows_per_tile": rows_per_tile, **row_info, "layers": layers,
        "congestion_present": congestion_path is not None, "has_routing": routed_def is not None,
        "placed_def": os.path.basename(placed_def), "routed_def": routed_def and os.path.basename(routed_def),
        "n_signal_nets": len(pins), **counts, **route_info,
        "unknown_failed_nets_stage1": unknown1, "unknown_failed_nets_stage2": unknown2,
        "def_warnings": placed.warnings + (routed.warnings if routed_def is not None else []),
        "units": {"cell_density": "cell area / tile area", "pin_density": "pins per tile",
                  "rudy": "um wire / um^2", "pin_rudy": "sum of net RUDY at its pins", "macro_region": "area fraction",
                  "congestion": "qrouter estimate, area-weighted mean over cells",
                  "utilisation": "routed / track length",
                  "wirelength": "um", "via_count": "vias per tile"},
    }
    to32 = lambda m: {k: np.asarray(v, dtype=np.float32) for k, v in m.items()}
    return Sample(features=to32(feats), labels=to32(labels), meta=out_meta)
