"""Named design suites: circuitgraph's public benchmark netlists (ISCAS'85, EPFL, banyan) and generated families.

The netlists are read as data with importlib.resources from the installed `circuitgraph` package (never imported
as code).  The suite name becomes each design's family, so splits and federated clients group by suite.
Chosen here (the issue leaves it open): the EPFL list keeps the control-type circuits that place and route in
about a minute on this flow, leaving out the large arithmetic ones (div, log2, sin, sqrt, square, multiplier,
max, memctrl, voter, arbiter); banyan stops at 64 ports for the same reason.
"""
from __future__ import annotations

from importlib import resources

from .designs import Design, DesignError, from_spec, from_verilog_text

SUITES: dict[str, tuple[str, ...]] = {
    "iscas85": ("c432", "c499", "c880", "c1355", "c1908", "c2670", "c3540", "c5315", "c6288", "c7552"),
    "epfl": ("adder", "bar", "cavlc", "ctrl", "dec", "i2c", "int2float", "priority_ckt", "router"),
    "banyan": ("banyan_8", "banyan_16", "banyan_32", "banyan_64"),
    "generated": ("mult6", "mult8", "addtree4x8", "addtree8x8", "alu8", "alu16",
                  "rand400s1", "rand600s2", "rand800s3"),
}


def _netlist_text(stem: str) -> str:
    """Text of circuitgraph's `netlists/<stem>.v`; DesignError if the package or the file is missing."""
    try:
        root = resources.files("circuitgraph") / "netlists"
    except ModuleNotFoundError as e:
        raise DesignError("suite designs need the 'circuitgraph' package (pip install circuitgraph==0.2.1)") from e
    f = root / f"{stem}.v"
    if not f.is_file():
        raise DesignError(f"circuitgraph netlists/{stem}.v: not found in the installed package")
    return f.read_text()


def suite_designs(suite: str, names=None, top: str | None = None) -> list[Design]:
    """Designs of one suite (all, or the `names` subset); `top` overrides the top module of every design."""
    if suite not in SUITES:
        raise DesignError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    chosen = list(names) if names else list(SUITES[suite])
    unknown = [n for n in chosen if n not in SUITES[suite]]
    if unknown:
        raise DesignError(f"suite {suite}: unknown design(s) {', '.join(unknown)}; "
                          f"expected some of {', '.join(SUITES[suite])}")
    if suite == "generated":
        return [from_spec(n) for n in chosen]
    return [from_verilog_text(_netlist_text(n), name=n, family=suite, source=f"circuitgraph:netlists/{n}.v",
                              top=top) for n in chosen]
