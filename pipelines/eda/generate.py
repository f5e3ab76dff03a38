"""Parallel, resumable generation of labelled placements: synthesis once per design, many place+route runs.

A placement is done when `OUT/samples/<id>/sample.json` exists (part B's `Sample.save` writes it last), so a re-run
skips it without calling any tool. A crash, timeout or unparsable output writes `OUT/failures/<id>.json` with the
reason and the run goes on; those are retried on the next run unless `retry_failed=False`.
A run killed at any moment leaves no tool running (workers and tools die with the parent, `proc.die_with_parent`);
its leftovers (work folders `TMP/tfnas_eda_<pid>_*` of a dead pid, half-written sample folders and temp files) are
removed by the next run, which then makes the same samples an uninterrupted run makes (each placement depends only
on its design, technology and knobs). `generate` expects to be the dataset's only writer (the CLI holds its lock).
"""
from __future__ import annotations

import json
import os
import random
import resource
import shutil
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines.eda import flow, proc, tools
from pipelines.eda.designs import Design
from pipelines.eda.stale import WORK_PREFIX, clean_stale

_OWNER: int | None = None    # pid of the process running `generate` (set before the pool forks)


@dataclass(frozen=True)
class KnobSpace:
    """Values the per-placement knobs are drawn from (one independent draw per knob and placement)."""

    initial_density: tuple = (None, 0.6, 0.75, 0.9)   # None = no fill (densest); d adds fill = cells·(1/d − 1)
    aspect_ratio: tuple = (0.5, 0.75, 1.0, 1.5, 2.0)
    graywolf_fast: tuple = (0, 5, 10)
    route_layers_drop: tuple = (0, 1, 2, 3, 4)   # layers removed from the tech's maximum (at least 2 kept)
    stage2_effort: tuple = (100,)

    def draw(self, rng: random.Random, tech: str) -> flow.Knobs:
        """One deterministic knob set for `tech` from `rng`."""
        n_max = len(tools.tech_info(tech).routing_layers)
        drop = rng.choice(self.route_layers_drop)
        return flow.Knobs(seed=rng.randrange(1, 2**31 - 1), initial_density=rng.choice(self.initial_density),
                          aspect_ratio=rng.choice(self.aspect_ratio), graywolf_fast=rng.choice(self.graywolf_fast),
                          route_layers=max(2, n_max - drop), stage2_effort=rng.choice(self.stage2_effort))

    def to_dict(self) -> dict:
        """JSON-friendly dict (stored in the dataset manifest)."""
        return asdict(self)


@dataclass
class Job:
    """One placement to make: design, technology, knobs, and its id (= sample directory name)."""

    placement_id: str
    design: Design
    tech: str
    knobs: flow.Knobs
    rows_per_tile: float = 2   # rasteriser tile side in placement rows (the resolution knob)


def plan(designs: list[Design], placements_per_design: int, seed: int, techs=("osu018",),
         space: KnobSpace | None = None, rows_per_tile: float = 2) -> list[Job]:
    """Deterministic job list: placement i of a design uses techs[i % len(techs)] and knobs drawn from
    (seed, design, i)."""
    space = space or KnobSpace()
    jobs = []
    for d in designs:
        for i in range(placements_per_design):
            tech = techs[i % len(techs)]
            rng = random.Random(f"{seed}/{d.name}/{tech}/{i}")
            jobs.append(Job(f"{d.name}__{tech}__p{i:04d}", d, tech, space.draw(rng, tech), rows_per_tile))
    return jobs


def sample_dir(out: Path, pid: str) -> Path:
    """Directory of placement `pid`'s sample inside dataset `out`."""
    return out / "samples" / pid


def is_done(out: Path, pid: str) -> bool:
    """A placement is done when its sample directory holds both sample.npz and sample.json."""
    d = sample_dir(out, pid)
    return (d / "sample.json").is_file() and (d / "sample.npz").is_file()


def _default_writer(result: flow.FlowResult, lef_paths: list[str], meta: dict, out_dir: str) -> None:
    from pipelines.eda.def_maps import make_sample   # part B's rasteriser (imported lazily: numpy-heavy)
    t0, c0 = time.monotonic(), time.process_time()
    rows_per_tile = meta.pop("rows_per_tile", 2)   # make_sample records it in sample.json itself
    sample = make_sample(result.placed_def, result.routed_def, lef_paths, result.failed_nets_stage1,
                         result.failed_nets_stage2, result.congestion_path, meta, rows_per_tile=rows_per_tile)
    sample.meta.setdefault("timings_s", {}).update(parse=round(time.monotonic() - t0, 4),
                                                   cpu_parse=round(time.process_time() - c0, 4))
    meta.setdefault("timings_s", {}).update(sample.meta["timings_s"])   # the run record shows the parse steps too
    sample.save(out_dir)


def run_job(job: Job, synth: flow.SynthResult, out: str, place_timeout: float, route_timeout: float,
            keep_defs: bool = False, writer=None, legacy: bool = False) -> dict:
    """Place, route and rasterise one job; returns a record {id, status, reason, seconds, ...}. Never raises.

    `legacy=True` uses the flow's old, slower path (`flow.place_and_route(..., legacy=True)`) for benchmarks.
    """
    out = Path(out)
    t0 = time.monotonic()
    cpu0 = _cpu_seconds()
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{_OWNER or os.getpid()}_{job.placement_id}_"))
    rec = {"placement_id": job.placement_id, "design": job.design.name, "tech": job.tech,
           "knobs": job.knobs.to_dict()}
    try:
        res = flow.place_and_route(synth, job.knobs, work, place_timeout, route_timeout, legacy)
        meta = {"placement_id": job.placement_id, "design": job.design.name, "family": job.design.family,
                "top": synth.top, "technology": job.tech, "n_cells": synth.n_cells, **res.layout,
                "knobs": job.knobs.to_dict(), "tool_versions": tools.tool_versions(), "timings_s": dict(res.timings_s),
                **({"rows_per_tile": job.rows_per_tile} if job.rows_per_tile != 2 else {}),
                "routed": len(res.failed_nets_stage2) == 0, "n_failed_stage1": len(res.failed_nets_stage1),
                "n_failed_stage2": len(res.failed_nets_stage2), "failed_nets_stage1": res.failed_nets_stage1,
                "failed_nets_stage2": res.failed_nets_stage2, "flow_version": flow.FLOW_VERSION}
        dest = sample_dir(out, job.placement_id)
        try:
            (writer or _default_writer)(res, [tools.tech_lef(job.tech)], meta, str(dest))
        except Exception as e:   # the rasteriser could not read the tool output
            raise flow.FlowError("make_sample", "unparsable", f"{type(e).__name__}: {e}") from e
        if keep_defs:
            import gzip
            for p in (res.placed_def, res.routed_def, res.congestion_path):
                with open(p, "rb") as fi, gzip.open(dest / (Path(p).name + ".gz"), "wb") as fo:
                    shutil.copyfileobj(fi, fo)
        rec.update(status="done", routed=meta["routed"], n_failed_stage1=meta["n_failed_stage1"],
                   n_failed_stage2=meta["n_failed_stage2"], n_cells=synth.n_cells, timings_s=meta["timings_s"])
        fail = out / "failures" / f"{job.placement_id}.json"
        if fail.exists():
            fail.unlink()
    except flow.FlowError as e:
        rec.update(status="failed", reason=e.reason, stage=e.stage, detail=e.detail[-2000:])
    except Exception:   # a bug or an unexpected tool state: record it, keep the run going
        rec.update(status="failed", reason="error", stage="python", detail=traceback.format_exc()[-2000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rec["seconds"] = round(time.monotonic() - t0, 3)
    rec["cpu_s"] = round(_cpu_seconds() - cpu0, 3)
    if rec["status"] == "failed":
        rec["record"] = str(out / "failures" / f"{job.placement_id}.json")
        _write_json(out / "failures" / f"{job.placement_id}.json", rec)
    return rec


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process plus its finished children (the EDA tools)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def _synth_job(design: Design, tech: str, cache: str):
    try:
        return flow.synthesize(design, tech, cache), None
    except flow.FlowError as e:
        return None, {"reason": "synthesis", "stage": e.stage, "detail": str(e)}


@dataclass
class Summary:
    """Outcome of one `generate` call."""

    done: int = 0
    skipped: int = 0
    failed: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    records: list = field(default_factory=list)
    synthesis_errors: dict = field(default_factory=dict)
    stale_removed: int = 0   # leftovers of a killed run removed at the start (work folders, partial samples)

    jobs: int = 1

    @property
    def placements_per_hour(self) -> float:
        """Measured rate: done placements per wall-clock hour (parsing included)."""
        return 3600.0 * self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_s_per_placement(self) -> float:
        """Mean CPU seconds (tools + parsing) of a done placement; independent of other load on the machine."""
        cpu = [r["cpu_s"] for r in self.records if r.get("status") == "done" and "cpu_s" in r]
        return sum(cpu) / len(cpu) if cpu else 0.0

    @property
    def cpu_bound_placements_per_hour(self) -> float:
        """Rate `jobs` otherwise idle cores would give: 3600 · jobs / CPU seconds per placement."""
        c = self.cpu_s_per_placement
        return 3600.0 * self.jobs / c if c > 0 else 0.0

    def table(self) -> str:
        """Plain-text summary table (done / skipped / failed by reason / placements per hour)."""
        rows = [("done", str(self.done)), ("skipped (already done)", str(self.skipped))]
        for r, n in sorted(self.failed.items()):   # a design that fails synthesis counts once, not per placement
            nd = len(self.synthesis_errors)
            rows.append((f"failed: {r}", f"{nd} design{'s' * (nd != 1)} ({n} placements)"
                         if r == "synthesis" and nd else str(n)))
        routed = sum(1 for r in self.records if r.get("status") == "done" and r.get("routed"))
        if self.stale_removed:
            rows.append(("stale leftovers removed", str(self.stale_removed)))
        rows += [("  of done: fully routed", str(routed)), ("  of done: with failed nets", str(self.done - routed)),
                 ("wall time (s)", f"{self.seconds:.1f}"), ("placements / hour", f"{self.placements_per_hour:.0f}"),
                 ("CPU s / placement", f"{self.cpu_s_per_placement:.2f}"),
                 (f"placements / hour if {self.jobs} idle cores", f"{self.cpu_bound_placements_per_hour:.0f}")]
        w = max(len(a) for a, _ in rows)
        lines = [f"{a:<{w}}  {b:>8}" for a, b in rows]
        for name, msg in self.synthesis_errors.items():
            lines.append(f"synthesis error [{name}]: {msg}")
        crashes = [r for r in self.records if r.get("status") == "failed" and r.get("reason") != "synthesis"]
        for r in crashes[:10]:   # synthesis errors are listed once per design above; the rest name their record
            last = (str(r.get("detail") or "").strip().splitlines() or [""])[-1][:200]
            lines.append(f"failed [{r['placement_id']}] {r.get('reason')}/{r.get('stage')}: {last} "
                         f"(record: {r.get('record', 'failures/' + r['placement_id'] + '.json')})")
        if len(crashes) > 10:
            lines.append(f"... and {len(crashes) - 10} more failed placements (see the failures/ folder)")
        return "\n".join(lines)


def expected_cost(job: Job, synth: flow.SynthResult) -> float:
    """Rough relative CPU cost of a job (cells, x3 for graywolf's normal annealing), to start the longest first."""
    return synth.n_cells * (3.0 if job.knobs.graywolf_fast == 0 else 1.0)


def generate(designs: list[Design], out_dir, placements_per_design: int, seed: int = 0, jobs: int = 2,
             techs=("osu018",), space: KnobSpace | None = None, place_timeout: float = 300,
             route_timeout: float = 300, retry_failed: bool = True, keep_defs: bool = False, progress: bool = True,
             writer=None, legacy: bool = False, rows_per_tile: float = 2) -> Summary:
    """Make `placements_per_design` labelled placements of every design into `out_dir` (resumable, `jobs` processes).

    Jobs start longest-expected first (`expected_cost`), so no worker idles at the end behind one big placement;
    the samples do not depend on the order. `legacy=True` runs the flow's old path (benchmarks only).
    """
    out = Path(out_dir)
    space = space or KnobSpace()
    t0 = time.monotonic()
    if not rows_per_tile > 0:
        raise ValueError(f"rows_per_tile must be > 0, got {rows_per_tile}")
    all_jobs = plan(designs, placements_per_design, seed, tuple(techs), space, rows_per_tile)
    summary = Summary(jobs=jobs)
    _check_manifest(out, seed, techs, space, rows_per_tile)
    summary.stale_removed = clean_stale(out)
    pending = []
    for j in all_jobs:
        failed_before = (out / "failures" / f"{j.placement_id}.json").exists()
        if is_done(out, j.placement_id) or (not retry_failed and failed_before):
            summary.skipped += 1
        else:
            pending.append(j)
    if not pending:
        summary.seconds = time.monotonic() - t0
        return summary
    tools.require_tools()
    out.mkdir(parents=True, exist_ok=True)
    _write_manifest(out, designs, placements_per_design, seed, techs, space, rows_per_tile)
    cache = str(out / "synth")
    pairs = sorted({(j.design.name, j.tech) for j in pending})
    by_name = {d.name: d for d in designs}
    bar = _bar(len(pending), progress)
    global _OWNER
    _OWNER = os.getpid()
    _warm_up(sorted({j.tech for j in pending}), writer, legacy)
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=proc.die_with_parent) if jobs > 1 else None
    try:
        if pool:
            futs = {pool.submit(_synth_job, by_name[n], t, cache): (n, t) for n, t in pairs}
            results = {futs[f]: f.result() for f in futs}
        else:
            results = {(n, t): _synth_job(by_name[n], t, cache) for n, t in pairs}
        runnable = []
        for j in pending:
            s, err = results[(j.design.name, j.tech)]
            if s is None:
                summary.synthesis_errors[j.design.name] = err["detail"]
                rec = {"placement_id": j.placement_id, "design": j.design.name, "status": "failed", **err}
                _write_json(out / "failures" / f"{j.placement_id}.json", rec)
                _account(summary, rec, bar)
            else:
                runnable.append((j, s))
        runnable.sort(key=lambda js: -expected_cost(*js))   # stable: ties keep plan order
        args = (str(out), place_timeout, route_timeout, keep_defs, writer, legacy)
        if pool is None:
            for j, s in runnable:
                _account(summary, run_job(j, s, *args), bar)
        else:
            queue, running = list(runnable), set()
            while queue or running:      # bounded submission keeps memory flat for large runs
                while queue and len(running) < 4 * jobs:
                    j, s = queue.pop(0)
                    running.add(pool.submit(run_job, j, s, *args))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    _account(summary, f.result(), bar)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    summary.seconds = time.monotonic() - t0
    _append_log(out, summary)
    return summary


def _warm_up(techs, writer, legacy: bool) -> None:
    """Do the once-per-process work (tool versions, per-tech qrouter info + fill cell, numpy/rasteriser import) in the
    parent before the pool forks, so every worker starts with it done instead of repeating it."""
    tools.tool_versions()
    if not legacy:
        for t in techs:
            flow._tech_facts(t)
    if writer is None:
        from pipelines.eda import def_maps   # noqa: F401
        if not legacy:
            for t in techs:
                def_maps.cached_lef((tools.tech_lef(t),))


def _account(summary: Summary, rec: dict, bar) -> None:
    summary.records.append(rec)
    if rec["status"] == "done":
        summary.done += 1
    else:
        summary.failed[rec.get("reason", "error")] += 1
    if bar is not None:
        bar.update(1)
        bar.set_postfix(done=summary.done, failed=sum(summary.failed.values()))


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc="placements", unit="pl", dynamic_ncols=True)


def _check_manifest(out: Path, seed, techs, space, rows_per_tile: float = 2) -> None:
    """Refuse to resume a dataset made with another seed, technology list, knob space or tile size."""
    path = out / "manifest.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    same_space = old.get("knob_space") == json.loads(json.dumps(space.to_dict()))
    if old.get("rows_per_tile", 2) != rows_per_tile:
        raise ValueError(f"{path}: existing dataset has rows_per_tile={old.get('rows_per_tile', 2)}, asked for "
                         f"{rows_per_tile}; use a new --out directory or the same --rows-per-tile")
    if old.get("seed") != seed or old.get("techs") != list(techs) or not same_space:
        raise ValueError(f"{path}: existing dataset was made with seed={old.get('seed')}, techs={old.get('techs')}, "
                         f"knob space {old.get('knob_space')}; use a new --out directory or the same settings")


def _write_manifest(out: Path, designs, n, seed, techs, space, rows_per_tile: float = 2) -> None:
    path = out / "manifest.json"
    new = {"seed": seed, "placements_per_design": n, "techs": list(techs), "knob_space": space.to_dict(),
           "designs": {d.name: {"family": d.family, "top": d.top, "source": d.source} for d in designs},
           "flow_version": flow.FLOW_VERSION}
    if rows_per_tile != 2:   # key absent at the default: manifests made before the knob stay byte-identical
        new["rows_per_tile"] = rows_per_tile
    if path.is_file():
        old = json.loads(path.read_text())
        new["designs"] = {**old.get("designs", {}), **new["designs"]}
        new["placements_per_design"] = max(n, old.get("placements_per_design", 0))
    _write_json(path, new)


def _append_log(out: Path, s: Summary) -> None:
    with open(out / "runs.jsonl", "a") as f:
        f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "done": s.done, "skipped": s.skipped,
                            "failed": dict(s.failed), "seconds": round(s.seconds, 2),
                            "placements_per_hour": round(s.placements_per_hour, 1),
                            "cpu_s_per_placement": round(s.cpu_s_per_placement, 3), "jobs": s.jobs,
                            "load_avg_15min": round(os.getloadavg()[2], 2)}) + "\n")
