"""One design through qflow's tools: yosys synthesis once (cached), then graywolf placement + qrouter routing
per knob set.

Placement calls qflow's own helper scripts (blif2cel, decongest, place2def, addspacers, arrangepins) exactly as
`qflow place` does, minus its netlist back-annotation, so a placement is the same layout qflow would make, faster.
Routing runs qrouter headless (`-nog`) on a Tcl script: congestion estimate, stage 1, `failing`, stage 2,
`failing`, then a single `write_def` (a second write_def in one session silently drops nets).
The fast path (default) runs the same tools on the same inputs with less overhead: glibc malloc tuned so the Tcl
scripts stop shrinking and regrowing the heap, and the per-technology facts (qrouter's `.info`, the fill cell) made
once per process; `legacy=True` keeps the old path callable so benchmarks can compare both on the same placements.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines.eda import tools
from pipelines.eda.designs import Design
from pipelines.eda.lefdef import is_power_name
from pipelines.eda.proc import (MALLOC_TUNABLES, FlowError, _clean_env, _tail, children_cpu,  # noqa: F401
                                die_with_parent, run_tool)

FLOW_VERSION = 1


class SynthesisError(FlowError):
    """Synthesis of a design failed (the message names the Verilog file)."""


def is_power_net(name: str, extra=()) -> bool:
    """True for power/ground net names (the one rule, `lefdef.is_power_name`), which are never labels."""
    return is_power_name(name, extra)


@dataclass(frozen=True)
class Knobs:
    """Per-placement settings varied to make many layouts of one design."""

    seed: int = 12345
    initial_density: float | None = None   # None: graywolf's own packing; else qflow decongest fill target
    aspect_ratio: float = 0.75             # graywolf TWMC*chip.aspect.ratio (height / width)
    graywolf_fast: int = 0                 # graywolf TWSC*fast (0 = normal annealing; larger = fewer moves)
    route_layers: int = 0                  # 0 = all routing layers of the technology
    stage2_effort: int = 100               # qrouter `stage2 effort N` (100 = qrouter default)

    def to_dict(self) -> dict:
        """JSON-friendly dict of the knobs."""
        return asdict(self)


@dataclass
class SynthResult:
    """A synthesised design cached on disk: netlist (.blif), graywolf cell file (.cel), power names, cell count."""

    design: str
    family: str
    top: str
    tech: str
    dir: str
    n_cells: int
    power_nets: tuple[str, str]
    seconds: float

    @property
    def blif(self) -> str:
        """Synthesised gate netlist (BLIF) in the cache."""
        return str(Path(self.dir) / f"{self.top}.blif")

    @property
    def cel(self) -> str:
        """graywolf cell file made from the netlist by qflow's blif2cel.tcl."""
        return str(Path(self.dir) / f"{self.top}.cel")


@dataclass
class FlowResult:
    """Artifacts and facts of one placed + routed layout (paths live in the placement's work dir)."""

    placed_def: str
    routed_def: str
    congestion_path: str
    failed_nets_stage1: list[str]
    failed_nets_stage2: list[str]
    timings_s: dict
    layout: dict = field(default_factory=dict)


def _tcl(script: str) -> list[str]:
    return [tools.find_tool("tclsh"), tools.qflow_script(script)]


# ------------------------------------------------------------------ synthesis

def synthesize(design: Design, tech: str, cache_dir: str | Path, timeout: float = 600) -> SynthResult:
    """Synthesise `design` for `tech` with qflow (yosys + abc + blifFanout) once; later calls reuse the cache."""
    tools.require_tools(("qflow", "yosys", "tclsh", "qrouter"))
    info = tools.tech_info(tech)
    d = Path(cache_dir).resolve() / f"{design.name}__{tech}"   # tools run with cwd=d: no relative paths
    done = d / "synth.json"
    if done.is_file():
        meta = json.loads(done.read_text())
        if meta.get("verilog_sha") == _sha(design.verilog):
            return SynthResult(**{k: v for k, v in meta.items() if k in SynthResult.__dataclass_fields__})
    if d.exists():
        shutil.rmtree(d)
    (d / "source").mkdir(parents=True)
    (d / "source" / f"{design.top}.v").write_text(design.verilog)
    where = design.source if design.source != "generated" else f"generated design {design.name}"
    t0 = time.monotonic()
    _check_verilog(d, design, where, timeout)
    try:
        run_tool([tools.find_tool("qflow"), "synthesize", "-T", tech, design.top], d, timeout, "synthesize",
                 str(d / "qflow_synth.out"))
    except FlowError as e:
        raise SynthesisError("synthesize", e.reason, f"{where}: {_synth_error(d) or e.detail}") from None
    blif = d / f"{design.top}.blif"
    if not blif.is_file() or "error condition" in _tail(d / "log" / "synth.log", 3):
        raise SynthesisError("synthesize", "crash", f"{where}: {_synth_error(d) or 'no netlist produced'}")
    n_cells = sum(1 for line in blif.read_text().splitlines() if line.startswith(".gate"))
    if n_cells == 0:
        raise SynthesisError("synthesize", "unparsable", f"{where}: netlist has no cells (empty design?)")
    power = _power_nets(d / f"{design.top}_powerground")
    # graywolf's cell file depends only on the netlist and the LEF: make it once here.
    run_tool(_tcl("blif2cel.tcl") + ["--blif", str(blif), "--lef", info.lef, "--cel", str(d / f"{design.top}.cel")],
             d, 120, "blif2cel", str(d / "blif2cel.log"))
    res = SynthResult(design.name, design.family, design.top, tech, str(d), n_cells, power, time.monotonic() - t0)
    tmp = done.with_name(".synth.json.tmp")   # atomic: a run killed here leaves no half-written cache entry
    tmp.write_text(json.dumps({**asdict(res), "verilog_sha": _sha(design.verilog)}, indent=1))
    os.replace(tmp, done)
    return res


def _check_verilog(d: Path, design: Design, where: str, timeout: float) -> None:
    """Parse the Verilog with yosys first, so a broken file fails with yosys' `file:line: ERROR` message."""
    src = d / "source" / f"{design.top}.v"
    log = d / "verilog_check.log"
    try:
        run_tool([tools.find_tool("yosys"), "-q", "-p", f"read_verilog {src}; hierarchy -check -top {design.top}"],
                 d, timeout, "verilog", str(log))
    except FlowError as e:
        text = log.read_text(errors="replace") if log.is_file() else ""
        errs = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
        msg = (errs[0] if errs else e.detail).replace(str(src), where)
        if not msg.startswith(where):
            msg = f"{where}: {msg}"
        raise SynthesisError("verilog", "syntax" if e.reason == "crash" else e.reason, msg) from None


def _sha(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _synth_error(d: Path) -> str:
    log = d / "log" / "synth.log"
    if not log.is_file():
        return _tail(d / "qflow_synth.out", 3)
    lines = log.read_text(errors="replace").splitlines()
    errs = [ln.strip() for ln in lines if re.search(r"\bERROR\b|syntax error|error:", ln, re.I)]
    return errs[0] if errs else ""


def _power_nets(path: Path) -> tuple[str, str]:
    vdd, gnd = "vdd", "gnd"
    if path.is_file():
        t = path.read_text()
        m = re.search(r'vddnet\s*=\s*"?([^"\s]+)', t)
        vdd = m.group(1) if m else vdd
        m = re.search(r'gndnet\s*=\s*"?([^"\s]+)', t)
        gnd = m.group(1) if m else gnd
    return vdd, gnd


# ------------------------------------------------------------------ placement

def _write_par(src: str, dst: Path, knobs: Knobs) -> None:
    text = Path(src).read_text()
    text, n = re.subn(r"^\*random\.seed\s*:.*$", f"*random.seed\t      : {int(knobs.seed)}", text, flags=re.M)
    if n == 0:
        text += f"\n*random.seed : {int(knobs.seed)}\n"
    text, n = re.subn(r"^TWMC\*chip\.aspect\.ratio\s*:.*$", f"TWMC*chip.aspect.ratio : {knobs.aspect_ratio:g}",
                      text, flags=re.M)
    if n == 0:
        text += f"\nTWMC*chip.aspect.ratio : {knobs.aspect_ratio:g}\n"
    if knobs.graywolf_fast:
        text += f"\nTWSC*fast : {int(knobs.graywolf_fast)}\n"
    dst.write_text(text)


@functools.cache
def _tech_facts(tech: str) -> tuple[str, str]:
    """(qrouter `.info` text, fill cell name) of `tech`: both depend only on the tech LEF and .par, so make them once.

    Same commands as the per-placement legacy path (`qrouter -i`, qflow's getfillcell.tcl), run in a temp dir.
    """
    info = tools.tech_info(tech)
    with tempfile.TemporaryDirectory(prefix=f"tfnas_eda_{os.getpid()}_tech_{tech}_") as tmp:
        work = Path(tmp)
        shutil.copy(info.par, work / "tech.par")
        (work / "boot.cfg").write_text(f"read_lef {info.lef}\n")
        run_tool([tools.find_tool("qrouter"), "-i", "tech.info", "-c", "boot.cfg"], work, 60, "qrouter-info",
                 str(work / "info.log"))
        text = (work / "tech.info").read_text()
        return text, _get_fill_cell(work, "tech", info, 60, True)


def _get_fill_cell(work: Path, top: str, info: tools.TechInfo, timeout: float, tuned: bool) -> str:
    """Name of the fill cell matching graywolf's feed-through width (qflow's getfillcell.tcl)."""
    try:
        r = subprocess.run(_tcl("getfillcell.tcl") + [top, info.lef, info.fill_cell], cwd=work, capture_output=True,
                           text=True, timeout=timeout, env=_clean_env(tuned), preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        raise FlowError("getfillcell", "timeout", f"getfillcell.tcl exceeded {timeout:g} s") from None
    m = re.search(r"fill=(\S+)", r.stdout)
    return m.group(1) if m else info.fill_cell


def place(synth: SynthResult, knobs: Knobs, work: Path, timeout: float, legacy: bool = False) -> dict:
    """graywolf placement of a synthesised design in `work`; returns timings. Leaves `<top>.def` + `<top>.obs`.

    `legacy=True` is the old path (per-placement `qrouter -i` and getfillcell, untuned malloc): same files out.
    """
    info = tools.tech_info(synth.tech)
    top, log = synth.top, str(work / "place.log")
    tuned = not legacy
    deadline = time.monotonic() + timeout
    left = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731
    cpu: dict[str, float] = {}   # CPU seconds of each helper, so the per-step cost shows in every sample's timings

    def tool(cmd, stage):
        c0 = children_cpu()
        run_tool(cmd, work, left(), stage, log, tuned)
        cpu[f"cpu_{stage}"] = children_cpu() - c0

    shutil.copy(synth.cel, work / f"{top}.cel")
    _write_par(info.par, work / f"{top}.par", knobs)
    t0 = time.monotonic()
    if legacy:
        (work / "boot.cfg").write_text(f"read_lef {info.lef}\n")
        tool([tools.find_tool("qrouter"), "-i", f"{top}.info", "-c", "boot.cfg"], "qrouter-info")
    else:
        info_text, fill = _tech_facts(synth.tech)
        (work / f"{top}.info").write_text(info_text)
    units = re.search(r"units scale (\d+)", (work / f"{top}.info").read_text())
    units = units.group(1) if units else "100"
    if knobs.initial_density is not None:
        tool(_tcl("decongest.tcl") + [top, info.lef, info.fill_cell, f"{knobs.initial_density:g}", f"--units={units}"],
             "decongest")
        if (work / f"{top}.acel").is_file():
            shutil.move(work / f"{top}.acel", work / f"{top}.cel")
    t1 = time.monotonic()
    tool([tools.find_tool("graywolf"), "-n", top], "graywolf")
    if not (work / f"{top}.pl1").is_file():
        raise FlowError("graywolf", "missing_output", f"no {top}.pl1; {_tail(log)}")
    t2 = time.monotonic()
    if legacy:
        c0 = children_cpu()
        fill = _get_fill_cell(work, top, info, left(), tuned)
        cpu["cpu_getfillcell"] = children_cpu() - c0
    layers = [str(knobs.route_layers)] if knobs.route_layers else []
    tool(_tcl("place2def.tcl") + [top, fill] + layers, "place2def")
    if not (work / f"{top}.def").is_file():
        raise FlowError("place2def", "missing_output", f"no {top}.def; {_tail(log)}")
    tool(_tcl("addspacers.tcl") + list(info.addspacers_options) + [top, info.lef, info.fill_cell], "addspacers")
    if (work / f"{top}_filled.def").is_file():
        shutil.move(work / f"{top}_filled.def", work / f"{top}.def")
    if (work / f"{top}.obsx").is_file():
        shutil.move(work / f"{top}.obsx", work / f"{top}.obs")
    tool(_tcl("arrangepins.tcl") + [top], "arrangepins")
    if (work / f"{top}_mod.def").is_file():
        shutil.move(work / f"{top}_mod.def", work / f"{top}.def")
    t3 = time.monotonic()
    return {"decongest": t1 - t0, "graywolf": t2 - t1, "def": t3 - t2, "place": t3 - t0, **cpu}


# ------------------------------------------------------------------ routing

_ROUTE_TCL = """\
verbose 0
read_lef {lef}
catch {{layers {layers}}}
via stack {via_stack}
vdd {vdd}
gnd {gnd}
{obstructions}
read_def {top}.def
proc dump_list {{fname items}} {{
    set f [open $fname w]
    foreach x $items {{ puts $f $x }}
    close $f
}}
set fc [open congestion.txt w]
puts $fc "# qrouter congestion estimate (Tcl 'congested', before routing): INSTANCE VALUE"
foreach p [congested] {{ puts $fc "[lindex $p 0] [lindex $p 1]" }}
close $fc
set t0 [clock milliseconds]
set r1 [stage1]
set t1 [clock milliseconds]
dump_list failed_stage1.txt [failing]
if {{$r1 > 0}} {{ set r2 [stage2 effort {effort}] }} else {{ set r2 0 }}
set t2 [clock milliseconds]
dump_list failed_stage2.txt [failing]
dump_list route_times.txt [list "stage1 [expr {{$t1 - $t0}}]" "stage2 [expr {{$t2 - $t1}}]" "r1 $r1" "r2 $r2"]
write_def {top}_routed.def
quit
"""


def route(synth: SynthResult, knobs: Knobs, work: Path, timeout: float, legacy: bool = False) -> dict:
    """qrouter stage 1 + stage 2 on `<top>.def` in `work`; writes failed-net lists, congestion, routed DEF."""
    info = tools.tech_info(synth.tech)
    top = synth.top
    n_layers = knobs.route_layers or len(info.routing_layers)
    obs = work / f"{top}.obs"
    script = _ROUTE_TCL.format(lef=info.lef, layers=n_layers, via_stack=info.via_stacks, vdd=synth.power_nets[0],
                               gnd=synth.power_nets[1], obstructions=obs.read_text() if obs.is_file() else "",
                               top=top, effort=int(knobs.stage2_effort))
    (work / "route.tcl").write_text(script)
    secs = run_tool([tools.find_tool("qrouter"), "-nog", "-s", "route.tcl"], work, timeout, "qrouter",
                    str(work / "route.log"), not legacy)
    times = {}
    for name in ("congestion.txt", "failed_stage1.txt", "failed_stage2.txt", "route_times.txt", f"{top}_routed.def"):
        if not (work / name).is_file():
            raise FlowError("qrouter", "missing_output", f"no {name}; {_tail(work / 'route.log')}")
    for line in (work / "route_times.txt").read_text().splitlines():
        k, _, v = line.partition(" ")
        try:
            times[k] = float(v)
        except ValueError:
            raise FlowError("qrouter", "unparsable", f"route_times.txt line {line!r}") from None
    routed = (work / f"{top}_routed.def").read_text(errors="replace")
    if "END DESIGN" not in routed:
        raise FlowError("qrouter", "unparsable", f"{top}_routed.def is truncated (no END DESIGN)")
    return {"route_stage1": times.get("stage1", 0) / 1000.0, "route_stage2": times.get("stage2", 0) / 1000.0,
            "route_total": secs}


def _read_nets(path: Path, power: tuple[str, ...]) -> list[str]:
    return [n for n in (ln.strip() for ln in path.read_text().splitlines()) if n and not is_power_net(n, power)]


_PLACED_RX = re.compile(r"^\s*-\s+(\S+)\s+(\S+)\s+\+\s+(?:PLACED|FIXED)\s+\(\s*(-?[\d.]+)\s+(-?[\d.]+)\s*\)", re.M)


def layout_facts(placed_def: str, tech: str) -> dict:
    """Counts and row geometry of a placed DEF (component count, nets, row height/origin, core bbox)."""
    text = Path(placed_def).read_text(errors="replace")
    m = re.search(r"UNITS\s+DISTANCE\s+MICRONS\s+(\d+)", text)
    if not m:
        raise FlowError("place2def", "unparsable", f"{placed_def}: no UNITS DISTANCE MICRONS")
    dbu = int(m.group(1))
    comp = text[text.find("COMPONENTS"):text.find("END COMPONENTS")]
    xy = [(float(x), float(y)) for _, _, x, y in _PLACED_RX.findall(comp)]
    if not xy:
        raise FlowError("place2def", "unparsable", f"{placed_def}: no placed COMPONENTS")
    nets = re.search(r"^NETS\s+(\d+)", text, re.M)
    row_h = int(round(tools.tech_info(tech).site_height_um * dbu))
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    return {"n_components": len(xy), "n_nets": int(nets.group(1)) if nets else 0, "dbu_per_micron": dbu,
            "row_height_dbu": row_h, "row_y0_dbu": min(ys),
            "core_bbox_dbu": [min(xs), min(ys), max(xs), max(ys) + row_h]}


def place_and_route(synth: SynthResult, knobs: Knobs, work: str | Path, place_timeout: float = 300,
                    route_timeout: float = 300, legacy: bool = False) -> FlowResult:
    """Place and route one knob set in `work` (an empty temp dir); raises FlowError on crash/timeout/bad output.

    `legacy=True` runs the pre-tuning path (same tools, same outputs, more overhead) for side-by-side benchmarks.
    """
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    info = tools.tech_info(synth.tech)
    if knobs.route_layers and not 2 <= knobs.route_layers <= len(info.routing_layers):
        raise ValueError(f"route_layers={knobs.route_layers}: {synth.tech} has {len(info.routing_layers)} layers")
    c0 = children_cpu()
    timings = place(synth, knobs, work, place_timeout, legacy)
    c1 = children_cpu()
    shutil.copy(work / f"{synth.top}.def", work / f"{synth.top}_placed.def")
    timings.update(route(synth, knobs, work, route_timeout, legacy))
    timings.update(cpu_place=c1 - c0, cpu_route=children_cpu() - c1)
    power = tuple(synth.power_nets)
    return FlowResult(
        placed_def=str(work / f"{synth.top}_placed.def"),
        routed_def=str(work / f"{synth.top}_routed.def"),
        congestion_path=str(work / "congestion.txt"),
        failed_nets_stage1=_read_nets(work / "failed_stage1.txt", power),
        failed_nets_stage2=_read_nets(work / "failed_stage2.txt", power),
        timings_s={k: round(v, 4) for k, v in timings.items()},
        layout=layout_facts(str(work / f"{synth.top}_placed.def"), synth.tech),
    )
