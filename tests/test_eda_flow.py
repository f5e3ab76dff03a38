"""The qflow flow on a real small design: synthesis, placement, routing artifacts, errors, determinism."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from pipelines.eda import designs, flow, tools

needs_tools = pytest.mark.skipif(not tools.tools_available(),
                                 reason="EDA tools (qflow, graywolf, qrouter, yosys) not installed: "
                                        "run scripts/install_eda_tools.sh")
FAST = flow.Knobs(seed=7, graywolf_fast=10)


@pytest.fixture(scope="session")
def synth_mult8(tmp_path_factory):
    return flow.synthesize(designs.from_spec("mult8"), "osu018", tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def routed_mult8(synth_mult8, tmp_path_factory):
    work = tmp_path_factory.mktemp("pr")
    return flow.place_and_route(synth_mult8, FAST, work)


# ---------------------------------------------------------------- no tools needed

def test_generators_parse_and_are_deterministic():
    for spec, family in (("mult6", "multiplier"), ("addtree4x8", "adder_tree"), ("alu8", "alu"),
                         ("rand200s3", "random")):
        d = designs.from_spec(spec)
        assert d.name == spec and d.family == family and d.top == spec
        assert re.search(rf"^module {spec}\(", d.verilog, re.M) and d.verilog.rstrip().endswith("endmodule")
    assert designs.from_spec("rand200s3").verilog == designs.from_spec("rand200s3").verilog
    assert designs.from_spec("rand200s3").verilog != designs.from_spec("rand200s4").verilog
    with pytest.raises(designs.DesignError, match="unknown design spec 'foo12'"):
        designs.from_spec("foo12")


def test_user_verilog_dir_and_errors(tmp_path):
    (tmp_path / "fam_a").mkdir()
    (tmp_path / "fam_a" / "inv.v").write_text("module inv(input a, output y); assign y = ~a; endmodule\n")
    (tmp_path / "top.v").write_text("module helper(input a, output y); assign y = a; endmodule\n"
                                    "module top2(input a, output y); helper h(.a(a), .y(y)); endmodule\n")
    ds = designs.resolve([str(tmp_path)])
    assert {(d.name, d.family, d.top) for d in ds} == {("inv", "fam_a", "inv"), ("top", "user", "top2")}
    bad = tmp_path / "cut.v"
    bad.write_text("module cut(input a, output y);\n assign y = a;\n")
    with pytest.raises(designs.DesignError, match=re.escape(str(bad))):
        designs.from_verilog_file(bad)
    with pytest.raises(designs.DesignError, match="not found"):
        designs.resolve([str(tmp_path / "missing.v")])


def test_tool_env_is_headless_and_malloc_tuned(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    env = flow._clean_env()
    assert "DISPLAY" not in env
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + flow.MALLOC_TUNABLES
    assert flow._clean_env(tuned=False)["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"


def test_missing_tool_gives_install_hint(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("qflow", "graywolf", "yosys", "tclsh"):      # everything but qrouter
        real = shutil.which(name)
        if real:
            os.symlink(real, bindir / name)
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(tools.ToolMissingError, match=r"^qrouter not found: run scripts/install_eda_tools.sh$"):
        tools.find_tool("qrouter")
    with pytest.raises(tools.ToolMissingError, match="not found: run scripts/install_eda_tools.sh"):
        flow.synthesize(designs.from_spec("mult4"), "osu018", tmp_path / "synth")


def test_power_nets_are_recognised():
    assert all(flow.is_power_net(n) for n in ("vdd", "gnd", "VDD", "VSS", "vss!", "GND", "vdd1"))
    assert not any(flow.is_power_net(n) for n in ("_344_", "a[6]", "vdd_sense_out", "data"))
    assert flow.is_power_net("VPWR_core", extra=("VPWR_core",))


# ---------------------------------------------------------------- real tools

@pytest.mark.eda
@needs_tools
def test_synthesis_is_cached(synth_mult8, tmp_path):
    assert synth_mult8.n_cells > 300 and Path(synth_mult8.blif).is_file() and Path(synth_mult8.cel).is_file()
    again = flow.synthesize(designs.from_spec("mult8"), "osu018", Path(synth_mult8.dir).parent)
    assert again.n_cells == synth_mult8.n_cells and again.seconds == synth_mult8.seconds   # read from cache


@pytest.mark.eda
@needs_tools
def test_place_and_route_artifacts(routed_mult8, synth_mult8):
    placed = Path(routed_mult8.placed_def).read_text()
    routed = Path(routed_mult8.routed_def).read_text()
    assert "END DESIGN" in placed and "+ ROUTED" not in placed
    assert routed.count("+ ROUTED") > 100 and "END DESIGN" in routed
    net_names = set(re.findall(r"^- (\S+)", routed[routed.index("\nNETS"):routed.index("END NETS")], re.M))
    for name in routed_mult8.failed_nets_stage1 + routed_mult8.failed_nets_stage2:
        assert name in net_names and not flow.is_power_net(name)
    cong = [line.split() for line in Path(routed_mult8.congestion_path).read_text().splitlines()
            if not line.startswith("#")]
    assert len(cong) == routed_mult8.layout["n_components"] and all(float(v) >= 0 for _, v in cong)
    lay = routed_mult8.layout
    assert lay["dbu_per_micron"] == 100 and lay["row_height_dbu"] == 1000 and lay["n_components"] >= synth_mult8.n_cells
    t = routed_mult8.timings_s
    assert t["place"] > 0 and t["route_total"] >= t["route_stage1"] > 0


@pytest.mark.eda
@needs_tools
def test_flow_artifacts_make_a_sample(routed_mult8, tmp_path):
    def_maps = pytest.importorskip("pipelines.eda.def_maps")
    from pipelines.eda.sample import Sample
    r = routed_mult8
    s = def_maps.make_sample(r.placed_def, r.routed_def, [tools.tech_lef("osu018")], r.failed_nets_stage1,
                             r.failed_nets_stage2, r.congestion_path, {"design": "mult8", "family": "multiplier"})
    s.save(tmp_path / "s")
    back = Sample.load(tmp_path / "s")
    assert back.meta["n_failed_stage2"] == len(r.failed_nets_stage2)
    assert float(back.features["cell_density"].sum()) > 0


@pytest.mark.eda
@needs_tools
def test_same_seed_same_layout(routed_mult8, synth_mult8, tmp_path):
    # the second run takes the legacy path (untuned malloc, per-placement qrouter -i / getfillcell): one run shows
    # both that the flow is deterministic and that the faster path changes no byte of the tools' output
    again = flow.place_and_route(synth_mult8, FAST, tmp_path / "again", legacy=True)
    assert Path(again.placed_def).read_bytes() == Path(routed_mult8.placed_def).read_bytes()
    assert Path(again.routed_def).read_bytes() == Path(routed_mult8.routed_def).read_bytes()
    assert again.failed_nets_stage1 == routed_mult8.failed_nets_stage1
    assert again.failed_nets_stage2 == routed_mult8.failed_nets_stage2


@pytest.mark.eda
@needs_tools
def test_broken_verilog_names_the_file(tmp_path):
    bad = tmp_path / "broken.v"
    bad.write_text("module broken(input a, output y);\n  assign y = a +* ;\nendmodule\n")
    with pytest.raises(flow.SynthesisError, match=re.escape(str(bad)) + r":2: ERROR: syntax error") as e:
        flow.synthesize(designs.from_verilog_file(bad), "osu018", tmp_path / "synth")
    assert e.value.reason == "syntax"


@pytest.mark.eda
@needs_tools
def test_relative_cache_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = flow.synthesize(designs.from_spec("mult4"), "osu018", "rel/synth")
    assert Path(s.blif).is_absolute() and Path(s.blif).is_file() and s.n_cells > 50


@pytest.mark.eda
@needs_tools
def test_route_timeout_is_a_flow_error(synth_mult8, tmp_path):
    with pytest.raises(flow.FlowError) as e:
        flow.place_and_route(synth_mult8, FAST, tmp_path / "t", route_timeout=0.01)
    assert e.value.reason == "timeout" and e.value.stage == "qrouter"
