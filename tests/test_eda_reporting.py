"""Honest eda reporting: a synthesis failure is one line per design, and `eda show` plots that do not mislead
(constant maps flat and labelled, integer ticks on integer maps, no offset tick labels, units on colour bars)."""
from __future__ import annotations

import numpy as np

from pipelines.eda import generate, show
from pipelines.eda.sample import Sample


def test_synthesis_failure_counts_once_per_design():
    s = generate.Summary(jobs=1)
    s.records = [{"placement_id": f"x__osu018__p{i:04d}", "status": "failed", "reason": "synthesis", "detail": "y"}
                 for i in range(3)]
    s.failed["synthesis"] = 3
    s.synthesis_errors = {"x": "x.v:3: ERROR: syntax error"}
    t = s.table()
    assert "1 design (3 placements)" in t and t.count("synthesis error [x]: x.v:3: ERROR") == 1
    assert "failed [x__osu018__p" not in t


def _sample() -> Sample:
    yy, xx = np.mgrid[0:6, 0:8]
    return Sample(features={"cell_density": (xx + yy) / 13.0, "macro_region": np.zeros((6, 8)),
                            "rudy": 1109.3 + 0.001 * xx},
                  labels={"hotspot_stage2": (xx > 5).astype(float), "via_count": (xx * 3 + yy).astype(float),
                          "n_failed_stage2": np.float32(4)},
                  meta={"placement_id": "t__osu018__p0000", "maps": {"units": {"via_count": "vias per tile"},
                                                                     "grid": {"tile_w": 2.5}}})


def test_show_draws_constant_maps_flat_and_integer_maps_with_integer_ticks():
    import matplotlib.pyplot as plt
    fig = show.figure(_sample())
    try:
        fig.canvas.draw()
        panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
        bars = {ax.get_ylabel(): ax for ax in fig.axes if not ax.get_title() and ax.get_ylabel()}
        const = panels["feature: macro_region"]
        assert any(t.get_text().startswith("constant\n0") for t in const.texts)
        assert len(fig.axes) == 6 + 4   # 6 panels, colour bars for the 4 non-constant ones only (no 0.1-range bar)
        for unit, ax in bars.items():
            assert unit, "every colour bar names its unit"
            assert ax.yaxis.get_offset_text().get_text() == "", f"offset on the {unit} colour bar"
        hot = [t for t in bars["hotspot (0/1)"].get_yticks() if 0 <= t <= 1]
        assert hot and all(float(t).is_integer() for t in hot), hot
        vias = [t for t in bars["vias per tile"].get_yticks() if 0 <= t <= 26]
        assert all(float(t).is_integer() for t in vias), vias
        assert any("tiles = " in t.get_text() and "µm" in t.get_text() for t in panels["feature: cell_density"].texts)
    finally:
        plt.close(fig)


def test_graywolf_fast_values_reach_the_knob_space(tmp_path, monkeypatch):
    import argparse

    import pytest

    from tfnas.commands import eda as eda_cmd
    ap = argparse.ArgumentParser(prog="tfnas")
    eda_cmd.register(ap.add_subparsers())
    seen = {}
    monkeypatch.setattr(generate, "generate", lambda ds, out, n, **kw: seen.update(kw) or generate.Summary())
    a = ap.parse_args(["eda", "generate", "--designs", "mult4", "--out", str(tmp_path), "--graywolf-fast", "5", "10"])
    assert a.func(a) == 0 and seen["space"].graywolf_fast == (5, 10)
    a = ap.parse_args(["eda", "generate", "--designs", "mult4", "--out", str(tmp_path), "--graywolf-fast", "-1"])
    with pytest.raises(ValueError, match="--graywolf-fast values must be >= 0"):
        a.func(a)


def test_clean_stale_removes_only_dead_runs_leftovers(tmp_path):
    import os
    import subprocess

    from pipelines.eda import stale
    tmp, out = tmp_path / "tmp", tmp_path / "ds"
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {"dead": f"{stale.WORK_PREFIX}{dead.pid}_m__osu018__p0000_ab", "live": f"{stale.WORK_PREFIX}"
             f"{os.getpid()}_m__osu018__p0001_cd", "old": "eda_m__osu018__p0002_ef", "new": "eda_m__osu018__p0003_gh"}
    for n in names.values():
        (tmp / n).mkdir(parents=True)
    os.utime(tmp / names["old"], (0, 0))
    half, whole = out / "samples" / "a", out / "samples" / "b"
    half.mkdir(parents=True), whole.mkdir(parents=True)
    (half / "sample.npz").write_bytes(b"x")
    (whole / "sample.json").write_text("{}"), (whole / "sample.npz").write_bytes(b"x")
    (out / "failures").mkdir()
    (out / "failures" / ".a.json.tmp").write_text("{")
    assert stale.clean_stale(out, str(tmp)) == 4
    assert sorted(p.name for p in tmp.iterdir()) == sorted([names["live"], names["new"]])
    assert not half.exists() and whole.exists() and not list((out / "failures").iterdir())
