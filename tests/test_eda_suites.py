"""Named suites from circuitgraph's netlists, `--top`, and `eda split` refusing an empty split (no EDA tools)."""
from __future__ import annotations

import argparse

import pytest

from pipelines.eda import designs, suites
from tfnas.commands import eda as eda_cmd


def test_suites_read_circuitgraph_netlists_with_family():
    for name in ("iscas85", "epfl", "banyan"):
        ds = suites.suite_designs(name)
        assert len(ds) == len(suites.SUITES[name]) and {d.family for d in ds} == {name}
        assert all(d.top in d.params["modules"] and "endmodule" in d.verilog for d in ds)
        assert all(d.source.startswith("circuitgraph:netlists/") for d in ds)
    c880 = suites.suite_designs("iscas85", ["c880"])[0]
    assert c880.name == "c880" and c880.top == "c880"
    assert [d.name for d in suites.suite_designs("generated", ["mult6", "alu8"])] == ["mult6", "alu8"]


def test_suite_errors_name_the_problem():
    with pytest.raises(designs.DesignError, match="unknown suite 'nope'"):
        suites.suite_designs("nope")
    with pytest.raises(designs.DesignError, match="unknown design.*c9999"):
        suites.suite_designs("iscas85", ["c9999"])
    with pytest.raises(designs.DesignError, match="--top 'zzz' is not a module"):
        suites.suite_designs("iscas85", ["c432"], top="zzz")


def test_top_picks_the_module(tmp_path):
    f = tmp_path / "two.v"
    f.write_text("module leaf(input a, output y); assign y = a; endmodule\n"
                 "module wrap(input a, output y); leaf u(.a(a), .y(y)); endmodule\n")
    assert designs.resolve([str(f)])[0].top == "wrap"
    assert designs.resolve([str(f)], top="leaf")[0].top == "leaf"
    with pytest.raises(designs.DesignError, match=r"two\.v: --top 'other'"):
        designs.resolve([str(f)], top="other")


def _parser():
    ap = argparse.ArgumentParser(prog="tfnas")
    eda_cmd.register(ap.add_subparsers())
    return ap


def test_generate_needs_designs_or_suite_and_rejects_duplicates(tmp_path):
    a = _parser().parse_args(["eda", "generate", "--out", str(tmp_path / "ds")])
    with pytest.raises(ValueError, match="give --designs and/or --suite"):
        a.func(a)
    a = _parser().parse_args(["eda", "generate", "--suite", "generated", "--designs", "mult6",
                              "--out", str(tmp_path / "ds")])
    with pytest.raises(ValueError, match="duplicate design names mult6"):
        a.func(a)
    assert not (tmp_path / "ds").exists()


def test_split_refuses_an_empty_split(tmp_path, monkeypatch):
    """Two designs cannot fill train/val/test: the issue-15 case that used to write an empty test split silently."""
    from pipelines.eda import splits
    recs = [{"design": d, "family": "f", "sample_dir": str(tmp_path / f"{d}_{i}")}
            for d in ("a", "b") for i in range(2)]
    monkeypatch.setattr(splits, "index", lambda ds: recs)
    a = _parser().parse_args(["eda", "split", str(tmp_path)])
    with pytest.raises(ValueError, match="empty split.*test"):
        a.func(a)
    assert not (tmp_path / "splits").exists()
    a = _parser().parse_args(["eda", "split", str(tmp_path), "--fractions", "0.5,0.5,0"])   # asked-for empty: fine
    assert a.func(a) == 0 and (tmp_path / "splits" / "design_seed0.json").is_file()


@pytest.mark.skipif(not __import__("pipelines.eda.tools", fromlist=["x"]).tools_available(),
                    reason="EDA tools not installed")
def test_rows_per_tile_refines_the_grid_and_guards_resume(tmp_path):
    import json

    from pipelines.eda import generate
    space = generate.KnobSpace(initial_density=(None,), aspect_ratio=(1.0,), graywolf_fast=(10,),
                               route_layers_drop=(0,))
    ds = designs.resolve(["mult4"])
    shapes = {}
    for rpt in (2, 1):
        out = tmp_path / f"r{rpt}"
        s = generate.generate(ds, out, 1, seed=5, jobs=1, space=space, progress=False, rows_per_tile=rpt)
        assert s.done == 1, s.table()
        meta = json.loads(next(out.rglob("sample.json")).read_text())["meta"]
        assert meta["maps"]["rows_per_tile"] == rpt
        shapes[rpt] = (meta["maps"]["grid"]["ny"], meta["maps"]["grid"]["nx"])
    assert shapes[1][0] >= 2 * shapes[2][0] - 1 and shapes[1][1] >= 2 * shapes[2][1] - 1
    assert json.loads((tmp_path / "r1" / "manifest.json").read_text())["rows_per_tile"] == 1
    assert "rows_per_tile" not in json.loads((tmp_path / "r2" / "manifest.json").read_text())
    with pytest.raises(ValueError, match="rows_per_tile=1, asked for 2"):
        generate.generate(ds, tmp_path / "r1", 1, seed=5, jobs=1, space=space, progress=False)


def test_summary_prints_crash_reason_with_its_record_path():
    from pipelines.eda import generate
    s = generate.Summary(jobs=1)
    s.records = [{"placement_id": "m__osu018__p0001", "status": "failed", "reason": "timeout", "stage": "route",
                  "detail": "qrouter ran\nqrouter exceeded 300 s", "record": "/ds/failures/m__osu018__p0001.json"},
                 {"placement_id": "x__osu018__p0000", "status": "failed", "reason": "synthesis", "detail": "yosys"}]
    s.synthesis_errors = {"x": "yosys: syntax error line 3"}
    t = s.table()
    assert "failed [m__osu018__p0001] timeout/route: qrouter exceeded 300 s (record: /ds/failures/" in t
    assert t.count("synthesis error [x]") == 1 and "failed [x__osu018__p0000]" not in t


def test_show_drops_the_duplicate_max_panel_and_names_units(tmp_path):
    import numpy as np

    from pipelines.eda import show
    u = np.arange(24, dtype=float).reshape(2, 3, 4)
    panels = show._panels({"utilisation": u, "utilisation_max": u.max(axis=0), "hotspot_stage2": np.zeros((3, 4)),
                           "via_count": np.ones((3, 4))})
    assert [p[0] for p in panels] == ["utilisation_max", "hotspot_stage2", "via_count"]
    assert show._unit({"via_count": "vias per tile"}, "via_count") == "vias per tile"
    assert show._unit({}, "hotspot_stage2") == "hotspot (0/1)" and show._unit({}, "other") == "a.u."
    sample = next((__import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "eda_default" /
                   "samples").iterdir())
    assert show.render(str(sample), str(tmp_path / "s.png")) and (tmp_path / "s.png").stat().st_size > 10_000
