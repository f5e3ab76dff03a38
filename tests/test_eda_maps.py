"""Rasteriser: conservation of cell area, pins, RUDY and wire length; labels; and one real qflow-routed DEF."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from pipelines.eda.def_maps import make_sample
from pipelines.eda.lefdef import read_def, read_lef
from pipelines.eda.sample import Sample
from pipelines.eda.show import render
from test_eda_lefdef import write_design

CELL_AREA = 2 * 10 + 3 * 10 + 2 * 10 + 20 * 20      # u1, u2, u3, ram (filler f1 excluded)


@pytest.fixture
def toy(tmp_path):
    return write_design(tmp_path)


def _sample(toy, rows_per_tile=1, failed1=("n2", "n1"), failed2=("n2",), congestion=None, routed=True, meta=None):
    lef, placed, routed_def = toy
    return make_sample(placed, routed_def if routed else None, [lef], list(failed1), list(failed2), congestion,
                       dict(meta or {"design": "toy"}), rows_per_tile=rows_per_tile)


@pytest.mark.parametrize("rows_per_tile", [0.5, 1, 2, 3])
def test_conservation_of_area_pins_rudy_and_wirelength(toy, rows_per_tile):
    s = _sample(toy, rows_per_tile)
    g = s.meta["maps"]["grid"]
    tile_area = g["tile_w"] * g["tile_h"]
    assert g["tile_h"] == pytest.approx(10.0 * rows_per_tile)           # k row heights, rows are 10 um
    assert s.features["cell_density"].sum() * tile_area == pytest.approx(CELL_AREA, rel=1e-5)
    assert s.features["macro_region"].sum() * tile_area == pytest.approx(400.0, rel=1e-5)
    assert s.features["pin_density"].sum() == 10                         # signal terminals, supply pins left out
    # RUDY spreads each net's (w + h) over its bounding box (w or h floored at the 1 um min pitch)
    assert s.features["rudy"].sum() * tile_area == pytest.approx(11.4 + 17.8 + 36.9 + 20.2, rel=1e-5)
    assert s.labels["wirelength"].sum() == pytest.approx(10.2 + 9.5 + 5.5 + 19.0, rel=1e-5)   # special net excluded
    assert s.labels["via_count"].sum() == 1
    assert all(v.dtype == np.float32 for v in [*s.features.values(), *s.labels.values()])


def test_label_maps_per_tile(toy):
    s = _sample(toy, 1)
    assert s.features["cell_density"].shape == (4, 6)
    util = s.labels["utilisation"]
    assert util.shape == (2, 4, 6) and s.meta["maps"]["layers"] == ["M1", "M2"]
    # every tile offers 10 tracks x 10 um on each layer
    expected = np.zeros((2, 4, 6))
    expected[0, 0, 0], expected[0, 0, 1], expected[0, 1, 1] = 10.0, 0.2, 5.5     # M1
    expected[1, 0, 1], expected[1, 1, 1], expected[1, 0, 5], expected[1, 1, 5] = 5.0, 4.5, 9.0, 10.0   # M2
    np.testing.assert_allclose(util, expected / 100.0, atol=1e-6)
    np.testing.assert_allclose(s.labels["utilisation_max"], (expected / 100.0).max(0), atol=1e-6)
    assert s.labels["via_count"][0, 1] == 1
    hot2 = {tuple(ix) for ix in np.argwhere(s.labels["hotspot_stage2"] > 0)}
    hot1 = {tuple(ix) for ix in np.argwhere(s.labels["hotspot_stage1"] > 0)}
    assert hot2 == {(1, 1), (2, 3), (2, 4)}
    assert hot1 == hot2 | {(0, 1)}
    assert float(s.labels["n_failed_stage2"]) == 1 and float(s.labels["n_failed_stage1"]) == 2
    assert float(s.labels["routed"]) == 0 and s.meta["routed"] is False
    assert s.meta["maps"]["n_fillers_excluded"] == 1 and s.meta["maps"]["n_nets_without_routing"] == 1
    assert s.meta["design"] == "toy"


def test_congestion_absent_flag_and_file(toy, tmp_path):
    s = _sample(toy)
    assert not s.meta["maps"]["congestion_present"] and not s.features["congestion"].any()
    cong = tmp_path / "congestion.txt"
    cong.write_text("# qrouter congested\nu2 4.0\nram 3.0\nu1 2.0\nu3 1.0\nf1 5.0\n")
    c = _sample(toy, congestion=str(cong)).features["congestion"]
    assert c[0, 0] == 5.0 and c[0, 1] == 2.0 and c[1, 1] == 4.0 and c[2, 3] == 1.0
    assert (c[2:, 4:] == 3.0).all() and c[0, 2] == 0.0
    cong.write_text("u2 4.0\nnot_a_cell 1.0\n")
    with pytest.raises(ValueError, match=r"congestion.txt:2: instance 'not_a_cell'"):
        _sample(toy, congestion=str(cong))


def test_no_routed_def_and_inconsistent_meta(toy):
    s = _sample(toy, failed1=(), failed2=(), routed=False)
    assert not s.meta["maps"]["has_routing"] and not s.labels["utilisation"].any()
    assert float(s.labels["routed"]) == 0
    with pytest.raises(ValueError, match="disagrees"):
        _sample(toy, meta={"routed": True})


def test_sample_round_trip_and_png(toy, tmp_path):
    s = _sample(toy)
    out = tmp_path / "s1"
    s.save(out)
    assert sorted(os.listdir(out)) == ["sample.json", "sample.npz"]
    back = Sample.load(out)
    assert set(back.features) == set(s.features) and set(back.labels) == set(s.labels)
    for k in s.labels:
        np.testing.assert_array_equal(back.labels[k], s.labels[k])
    assert back.meta == s.meta
    png = render(str(out), str(tmp_path / "s1.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    (out / "sample.json").write_text("{\"features\": {}}")
    with pytest.raises(ValueError, match="missing field 'labels'"):
        Sample.load(out)


# --------------------------------------------------------------------------------------- real qflow output
COUNTER_V = """module counter(input clk, input rst, input en, output reg [3:0] q, output co);
  always @(posedge clk) if (rst) q <= 4'd0; else if (en) q <= q + 4'd1;
  assign co = en & (q == 4'hf);
endmodule
"""


@pytest.fixture(scope="session")
def qflow_run(tmp_path_factory):
    """Synthesise, place and route a 4-bit counter with qflow (osu018) once per session."""
    if not all(shutil.which(t) for t in ("qflow", "yosys", "graywolf", "qrouter")):
        pytest.skip("EDA tools (qflow, yosys, graywolf, qrouter) not installed")
    lef = "/usr/share/qflow/tech/osu018/osu018_stdcells.lef"
    if not os.path.exists(lef):
        pytest.skip("qflow osu018 tech files missing")
    root = tmp_path_factory.mktemp("qflow")
    (root / "source").mkdir()
    (root / "source" / "counter.v").write_text(COUNTER_V)
    proc = subprocess.run(["qflow", "synthesize", "place", "route", "-T", "osu018", "counter"], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return lef, str(root / "counter_unroute.def"), str(root / "counter.def")


def _independent_route_stats(def_path):
    """Total Manhattan length (um) and via count of NETS routing, by a plain regex scan of the DEF text."""
    text = open(def_path).read()
    dbu = float(re.search(r"UNITS DISTANCE MICRONS (\S+)", text).group(1))
    nets = text[text.index("\nNETS "):text.index("END NETS")]
    length, vias = 0.0, 0
    for path in re.split(r"\+ ROUTED|\bNEW\b", nets)[1:]:
        prev = None
        for m in re.finditer(r"\(\s*(\S+)\s+(\S+)\s*\)|\b(M\d_M\d)\b", path.split(";")[0]):
            if m.group(3):
                vias += 1
                continue
            x = prev[0] if m.group(1) == "*" else float(m.group(1)) / dbu
            y = prev[1] if m.group(2) == "*" else float(m.group(2)) / dbu
            if prev is not None:
                length += abs(x - prev[0]) + abs(y - prev[1])
            prev = (x, y)
    return length, vias


@pytest.mark.eda
def test_real_qflow_def(qflow_run, tmp_path):
    lef_path, placed, routed = qflow_run
    lef, pd, rd = read_lef([lef_path]), read_def(placed), read_def(routed)
    assert pd.design == rd.design == "counter" and len(pd.components) == len(rd.components) > 10
    assert pd.warnings == []
    routed_nets = [n for n in rd.nets.values() if n.paths]
    assert len(routed_nets) == len([n for n in rd.nets.values() if len(n.connections) > 1])
    s = make_sample(placed, routed, [lef_path], [], [], None, {"design": "counter"}, rows_per_tile=1)
    g = s.meta["maps"]["grid"]
    tile_area = g["tile_w"] * g["tile_h"]
    cell_area = sum(lef.macros[c.macro].width * lef.macros[c.macro].height for c in pd.components.values()
                    if any(p.use not in ("POWER", "GROUND") for p in lef.macros[c.macro].pins.values()))
    assert s.features["cell_density"].sum() * tile_area == pytest.approx(cell_area, rel=1e-5)
    n_terms = sum(1 for n in pd.nets.values() if n.name not in ("vdd", "gnd") for c, p in n.connections
                  if c == "PIN" or lef.macros[pd.components[c].macro].pins[p].use not in ("POWER", "GROUND"))
    assert s.features["pin_density"].sum() == n_terms
    length, vias = _independent_route_stats(routed)
    assert length > 0 and s.labels["wirelength"].sum() == pytest.approx(length, rel=1e-4)
    assert s.labels["via_count"].sum() == vias
    assert s.meta["maps"]["n_nets_without_routing"] == 0 and s.meta["maps"]["unknown_vias"] == []
    assert 0 < s.labels["utilisation_max"].max() < 1 and float(s.labels["routed"]) == 1
    s.save(tmp_path / "real")
    assert Sample.load(tmp_path / "real").meta["maps"]["layers"] == lef.routing_layers


def test_tile_grid_conserves_rect_area_and_segment_length():
    from pipelines.eda.def_maps import TileGrid
    g = TileGrid(x0=-1.0, y0=2.0, tile_w=3.0, tile_h=3.0, nx=7, ny=5)
    rng = np.random.default_rng(1)
    m = np.zeros(g.shape)
    total = 0.0
    for _ in range(200):
        x1, y1 = rng.uniform(-1, 19), rng.uniform(2, 16)
        w, h = rng.uniform(0, 8), rng.uniform(0, 8)
        x2, y2 = min(x1 + w, 20.0), min(y1 + h, 17.0)
        g.add_rect(m, (x1, y1, x2, y2), 2.0)
        total += 2.0 * (x2 - x1) * (y2 - y1)
    assert m.sum() == pytest.approx(total)
    seg = np.zeros(g.shape)
    g.add_segment(seg, (0.0, 3.0), (12.0, 12.0))          # diagonal, length 15
    g.add_segment(seg, (5.0, 5.0), (5.0, 14.0))           # on a tile boundary (x = 5)
    assert seg.sum() == pytest.approx(15.0 + 9.0)
    assert seg[:, 2].sum() >= 9.0                          # boundary wire goes to the tile on its right
