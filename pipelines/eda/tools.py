"""Find the Debian EDA tools (qflow, graywolf, qrouter, yosys), their versions and the qflow technology files.

Every flow step asks this module for a binary or a tech file, so a missing tool fails early with one clear
message that says how to install it, instead of a cryptic error from a qflow shell script.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "run scripts/install_eda_tools.sh"
REQUIRED_TOOLS = ("qflow", "graywolf", "qrouter", "yosys", "tclsh")
TECHNOLOGIES = ("osu018", "osu035", "osu050")
QFLOW_SCRIPT_DIRS = ("/usr/lib/qflow/scripts", "/usr/local/share/qflow/scripts", "/usr/share/qflow/scripts")
QFLOW_TECH_DIRS = ("/usr/share/qflow/tech", "/usr/lib/qflow/tech", "/usr/local/share/qflow/tech")


class ToolMissingError(RuntimeError):
    """A required EDA tool or data file is not installed."""


def find_tool(name: str, path: str | None = None) -> str:
    """Absolute path of executable `name` on PATH (or `path`); raises ToolMissingError naming the tool."""
    found = shutil.which(name, path=path if path is not None else os.environ.get("PATH", ""))
    if not found:
        raise ToolMissingError(f"{name} not found: {INSTALL_HINT}")
    return found


def require_tools(names=REQUIRED_TOOLS, path: str | None = None) -> dict[str, str]:
    """Paths of all `names`; raises ToolMissingError for the first one missing."""
    return {n: find_tool(n, path) for n in names}


def tools_available(names=REQUIRED_TOOLS) -> bool:
    """True when every tool in `names` and the qflow scripts/tech files are installed."""
    try:
        require_tools(names)
        qflow_script_dir()
        tech_dir("osu018")
    except ToolMissingError:
        return False
    return True


def _first_dir(candidates, what: str) -> Path:
    for c in candidates:
        if Path(c).is_dir():
            return Path(c)
    raise ToolMissingError(f"{what} not found (looked in {', '.join(candidates)}): {INSTALL_HINT}")


@functools.cache
def qflow_script_dir() -> Path:
    """Directory holding qflow's Tcl helper scripts (blif2cel.tcl, place2def.tcl, ...)."""
    return _first_dir(QFLOW_SCRIPT_DIRS, "qflow scripts directory")


def qflow_script(name: str) -> str:
    """Absolute path of one qflow helper script; raises ToolMissingError when absent."""
    p = qflow_script_dir() / name
    if not p.is_file():
        raise ToolMissingError(f"qflow script {p} not found: {INSTALL_HINT}")
    return str(p)


def tech_dir(tech: str) -> Path:
    """qflow technology directory of `tech` (osu018, osu035, osu050)."""
    if tech not in TECHNOLOGIES:
        raise ValueError(f"unknown technology {tech!r}; expected one of {', '.join(TECHNOLOGIES)}")
    root = _first_dir(QFLOW_TECH_DIRS, "qflow technology directory")
    d = root / tech
    if not d.is_dir():
        raise ToolMissingError(f"qflow technology {tech} not found in {root}: {INSTALL_HINT}")
    return d


@dataclass(frozen=True)
class TechInfo:
    """What the flow needs to know about one qflow technology, read from its .sh/.par/.lef files."""

    name: str
    lef: str
    par: str
    fill_cell: str
    addspacers_options: tuple[str, ...]
    via_stacks: str
    routing_layers: tuple[str, ...]
    site_height_um: float


def _tcsh_var(text: str, var: str, default: str = "") -> str:
    m = re.search(rf'^\s*set\s+{var}\s*=\s*"?([^";#\n]*)"?', text, flags=re.M)
    return m.group(1).strip() if m else default


@functools.cache
def tech_info(tech: str) -> TechInfo:
    """Parse qflow's `<tech>.sh` and LEF for LEF path, fill cell, spacer options and routing layers."""
    d = tech_dir(tech)
    sh = (d / f"{tech}.sh").read_text()
    lef = d / _tcsh_var(sh, "leffile")
    if not lef.is_file():
        raise ToolMissingError(f"tech LEF {lef} not found: {INSTALL_HINT}")
    lef_text = lef.read_text()
    layers = []
    for m in re.finditer(r"^LAYER\s+(\S+)(.*?)^END\s+\1", lef_text, flags=re.M | re.S):
        if re.search(r"TYPE\s+ROUTING", m.group(2)):
            layers.append(m.group(1))
    site = re.search(r"^SITE\s+core\b.*?SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", lef_text, flags=re.M | re.S)
    return TechInfo(
        name=tech,
        lef=str(lef),
        par=str(d / f"{tech}.par"),
        fill_cell=_tcsh_var(sh, "fillcell", "FILL") or "FILL",
        addspacers_options=tuple(_tcsh_var(sh, "addspacers_options").split()),
        via_stacks=_tcsh_var(sh, "via_stacks", "all") or "all",
        routing_layers=tuple(layers),
        site_height_um=float(site.group(2)) if site else 0.0,
    )


def tech_lef(tech: str) -> str:
    """Path of the single LEF (technology layers + SITE + cell macros) of `tech`."""
    return tech_info(tech).lef


def _run_text(cmd, timeout=20) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (r.stdout or "") + (r.stderr or "")


def _dpkg_version(pkg: str) -> str:
    if not shutil.which("dpkg-query"):
        return ""
    return _run_text(["dpkg-query", "-W", "-f=${Version}", pkg]).strip()


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of qflow, graywolf, qrouter, yosys as reported by the tools (dpkg as fallback)."""
    require_tools()
    out = {}
    m = re.search(r"Qflow version\s+(\S+)\s+revision\s+(\S+)", _run_text([find_tool("qflow"), "-h"]))
    out["qflow"] = f"{m.group(1)}.{m.group(2)}" if m else _dpkg_version("qflow")
    lines = _run_text([find_tool("qrouter"), "-v", "0", "-h"]).strip().splitlines()
    last = lines[-1].strip() if lines else ""
    out["qrouter"] = last if re.match(r"^\d+\.\d+", last) else _dpkg_version("qrouter")
    m = re.search(r"Yosys\s+(\S+)", _run_text([find_tool("yosys"), "-V"]))
    out["yosys"] = m.group(1) if m else _dpkg_version("yosys")
    out["graywolf"] = _dpkg_version("graywolf") or "unknown"  # graywolf has no version flag
    return out
