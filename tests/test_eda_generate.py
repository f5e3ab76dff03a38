"""Parallel resumable generation, failure records, splits by design / family, and the `tfnas eda` CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.eda import designs, flow, generate, splits, tools

needs_tools = pytest.mark.skipif(not tools.tools_available(),
                                 reason="EDA tools (qflow, graywolf, qrouter, yosys) not installed: "
                                        "run scripts/install_eda_tools.sh")
# fast knobs keep the suite short: graywolf fast mode, all routing layers, no fill
FAST_SPACE = generate.KnobSpace(initial_density=(None,), aspect_ratio=(0.75, 1.0), graywolf_fast=(10,),
                                route_layers_drop=(0,))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("eda_ds")
    ds = designs.resolve(["mult4", "alu4"])
    summary = generate.generate(ds, out, 2, seed=3, jobs=2, space=FAST_SPACE, progress=False)
    return out, ds, summary


# ---------------------------------------------------------------- no tools needed

def test_longest_jobs_start_first(tmp_path, monkeypatch):
    """Big designs and graywolf's normal annealing (3x the moves) are submitted first: no worker idles at the end."""
    ds = designs.resolve(["mult4", "mult8"])
    cells = {"mult4": 100, "mult8": 600}
    fake = lambda d, t, cache: (flow.SynthResult(d.name, d.family, d.top, t, str(tmp_path), cells[d.name],  # noqa: E731
                                                 ("vdd", "gnd"), 0.0), None)
    order = []
    monkeypatch.setattr(generate, "_synth_job", fake)
    monkeypatch.setattr(generate, "_warm_up", lambda *a: None)
    monkeypatch.setattr(tools, "require_tools", lambda *a, **k: {})
    monkeypatch.setattr(generate, "run_job", lambda j, s, *a: order.append(j) or {"placement_id": j.placement_id,
                                                                                "status": "done"})
    space = generate.KnobSpace(graywolf_fast=(0, 10))
    generate.generate(ds, tmp_path / "ds", 6, seed=1, jobs=1, space=space, progress=False)
    costs = [cells[j.design.name] * (3 if j.knobs.graywolf_fast == 0 else 1) for j in order]
    assert len(order) == 12 and costs == sorted(costs, reverse=True) and costs[0] > costs[-1]


def test_plan_is_deterministic_and_spreads_techs():
    ds = designs.resolve("mult4,alu4")
    a = generate.plan(ds, 4, seed=1, techs=("osu018", "osu035"))
    b = generate.plan(ds, 4, seed=1, techs=("osu018", "osu035"))
    c = generate.plan(ds, 4, seed=2, techs=("osu018", "osu035"))
    assert [(j.placement_id, j.knobs) for j in a] == [(j.placement_id, j.knobs) for j in b]
    assert [j.knobs for j in a] != [j.knobs for j in c]
    assert {j.tech for j in a} == {"osu018", "osu035"} and len({j.placement_id for j in a}) == 8
    for j in a:
        assert 2 <= j.knobs.route_layers <= len(tools.tech_info(j.tech).routing_layers)


def _records(n_designs=9, per=3):
    fams = ["multiplier", "alu", "random"]
    return [{"sample_dir": f"/x/d{d}_{k}", "design": f"d{d}", "family": fams[d % 3]}
            for d in range(n_designs) for k in range(per)]


def test_split_by_design_is_disjoint_and_seeded():
    recs = _records()
    s = splits.split_by_design(recs, (0.6, 0.2, 0.2), seed=5)
    assert splits.split_by_design(recs, (0.6, 0.2, 0.2), seed=5) == s
    assert splits.split_by_design(recs, (0.6, 0.2, 0.2), seed=6) != s
    sets = [set(s[k]["designs"]) for k in ("train", "val", "test")]
    assert all(sets) and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sum(len(x) for x in sets) == 9 and sum(len(s[k]["samples"]) for k in s) == 27
    for k in s:   # every sample of a design sits with its design
        assert all(p.split("/")[-1].split("_")[0] in s[k]["designs"] for p in s[k]["samples"])


def test_client_split_gives_whole_families():
    recs = _records()
    c = splits.client_split_by_family(recs, 3, seed=0)
    assert c == splits.client_split_by_family(recs, 3, seed=0)
    fams = [set(v["families"]) for v in c.values()]
    assert sorted(f for s in fams for f in s) == ["alu", "multiplier", "random"]
    for v in c.values():
        designs_here = set(v["train"]["designs"]) | set(v["test"]["designs"])
        assert {r["family"] for r in recs if r["design"] in designs_here} == set(v["families"])
        assert not set(v["train"]["designs"]) & set(v["test"]["designs"])
    with pytest.raises(ValueError, match="4 clients but only 3 design families"):
        splits.client_split_by_family(recs, 4)


# ---------------------------------------------------------------- real tools

@pytest.mark.eda
@needs_tools
def test_generate_makes_complete_samples(dataset):
    out, ds, summary = dataset
    assert summary.done == 4 and not summary.failed and summary.skipped == 0, summary.table()
    for rec in summary.records:
        d = generate.sample_dir(out, rec["placement_id"])
        meta = json.loads((d / "sample.json").read_text())["meta"]
        assert meta["design"] in {"mult4", "alu4"} and meta["technology"] == "osu018"
        assert meta["knobs"]["graywolf_fast"] == 10 and set(meta["tool_versions"]) >= {"qrouter", "graywolf"}
        assert meta["n_failed_stage2"] == len(meta["failed_nets_stage2"])
        assert "route_stage1" in meta["timings_s"] and "parse" in meta["timings_s"]
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3
    assert "placements / hour" in summary.table()


@pytest.mark.eda
@needs_tools
def test_resume_calls_no_tool(dataset, monkeypatch, tmp_path):
    out, ds, _ = dataset
    monkeypatch.setenv("PATH", str(tmp_path))            # no tool could even be found
    monkeypatch.setattr(flow, "run_tool", lambda *a, **k: pytest.fail("a tool was called on resume"))
    again = generate.generate(ds, out, 2, seed=3, jobs=2, space=FAST_SPACE, progress=False)
    assert again.skipped == 4 and again.done == 0 and not again.failed


@pytest.mark.eda
@needs_tools
def test_timeout_marks_placement_failed(dataset, tmp_path):
    src, ds, _ = dataset
    out = tmp_path / "ds"
    shutil.copytree(src / "synth", out / "synth")        # reuse the synthesis cache
    s = generate.generate(ds[:1], out, 1, seed=3, jobs=1, space=FAST_SPACE, progress=False, route_timeout=0.01)
    assert s.done == 0 and s.failed == {"timeout": 1}
    rec = json.loads(next((out / "failures").glob("*.json")).read_text())
    assert rec["reason"] == "timeout" and rec["stage"] == "qrouter" and rec["status"] == "failed"
    again = generate.generate(ds[:1], out, 1, seed=3, jobs=1, space=FAST_SPACE, progress=False,
                              retry_failed=False)
    assert again.skipped == 1 and again.done == 0
    with pytest.raises(ValueError, match="seed=3"):
        generate.generate(ds[:1], out, 1, seed=4, jobs=1, space=FAST_SPACE, progress=False)


@pytest.mark.eda
@needs_tools
def test_broken_design_fails_with_reason_and_file(tmp_path):
    bad = tmp_path / "src" / "oops.v"
    bad.parent.mkdir()
    bad.write_text("module oops(input a, output y);\n  assign y = a &;\nendmodule\n")
    s = generate.generate(designs.resolve([str(bad.parent)]), tmp_path / "ds", 2, jobs=1, progress=False)
    assert s.failed == {"synthesis": 2} and str(bad) in s.synthesis_errors["oops"]
    assert str(bad) in s.table()


@pytest.mark.eda
@needs_tools
def test_cli_split_and_resume(dataset, capsys):
    from tfnas.commands import eda
    import argparse
    out, _, _ = dataset
    parser = argparse.ArgumentParser()
    eda.register(parser.add_subparsers())
    args = parser.parse_args(["eda", "split", str(out), "--by", "design", "--fractions", "0.5,0.5", "--seed", "1"])
    assert args.func(args) == 0
    doc = json.loads((out / "splits" / "design_seed1.json").read_text())
    assert sorted(doc["train"]["designs"] + doc["val"]["designs"]) == ["alu4", "mult4"]
    args = parser.parse_args(["eda", "split", str(out), "--by", "family", "--clients", "2", "--test-fraction", "0"])
    assert args.func(args) == 0
    args = parser.parse_args(["eda", "generate", "--designs", "mult4", "alu4", "--placements-per-design", "2",
                              "--out", str(out), "--seed", "3", "--no-progress"])
    # the CLI uses the default knob space; the dataset was made with FAST_SPACE, so the manifest guard refuses
    with pytest.raises(ValueError, match="knob space"):
        args.func(args)
    assert "client_1" in capsys.readouterr().out


DEFAULT = Path(__file__).resolve().parents[1] / "data" / "eda_default"


@pytest.mark.skipif(not (DEFAULT / "manifest.json").is_file(), reason="data/eda_default not present")
def test_default_dataset_is_complete_and_splits():
    man = json.loads((DEFAULT / "manifest.json").read_text())
    recs = splits.index(DEFAULT)
    assert len(recs) == len(man["designs"]) * man["placements_per_design"]
    s = splits.split_by_design(recs, seed=0)
    assert not set(s["train"]["designs"]) & set(s["test"]["designs"])
    assert len(splits.client_split_by_family(recs, 4)) == 4


@pytest.mark.eda
@needs_tools
@pytest.mark.skipif(not (DEFAULT / "manifest.json").is_file(), reason="data/eda_default not present")
def test_default_dataset_regenerates_identically(tmp_path):
    from pipelines.eda import reproduce
    man = json.loads((DEFAULT / "manifest.json").read_text())
    s = generate.generate(designs.resolve(["mult4"]), tmp_path, 1, seed=man["seed"], jobs=1, progress=False)
    assert s.done == 1
    pid = "mult4__osu018__p0000"
    diffs = reproduce.compare_samples(generate.sample_dir(DEFAULT, pid), generate.sample_dir(tmp_path, pid))
    assert not diffs, "regenerate data/eda_default (see its README) if the rasteriser changed:\n" + "\n".join(diffs)
