"""NAS-Bench-201 table from PyPI `analog-nasbench` 0.1.3, converted once into a JSON table in a cache folder.

The package ships `data.anb`, a pickle of its own `Architecture` objects keyed by a 6-tuple of op indices.
`convert_nb201` loads it ONCE through the package's own loader (`AnalogNASBench`; its `pkg_resources`
import is satisfied by a small shim when setuptools is absent) and writes `nb201.json` atomically; the
runtime path (`load_nb201`) only reads that JSON, never unpickles.

The package documents neither the op indices nor the edge order; both were inferred from the table
(`infer_mapping` re-derives them and the tests check it):
- op 1 = `none`: the cell of op 1 everywhere scores 10.0 % (chance); every cell whose active edges leave
  no input->output path scores 10.0 % too, which fixes the edge order below (of the 720 orders only this
  one and its mirror image agree with all 64 on/off patterns; we take the lexicographic one);
- op 0 = `skip_connect`: a chain of three op-0 edges scores the same as one direct op-0 edge (identity is
  idempotent), while a chain of op 4 scores far lower than one op-4 edge, so op 4 = `avg_pool_3x3`;
- op 2 = `nor_conv_3x3`, op 3 = `nor_conv_1x1`: the all-op-2 cell beats the all-op-3 cell (93.2 vs 89.5),
  as 3x3 convolutions do in NAS-Bench-201.
Edge k of the tuple joins node EDGES[k][0] -> EDGES[k][1] (node 0 = cell input, node 3 = cell output).
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
import types
from pathlib import Path

OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
METRICS = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy")
TABLE_NAME = "nb201.json"
FORMAT = "tfnas-nb201-v1"


def default_cache_dir() -> Path:
    """`$TFNAS_NASBENCH_CACHE`, else `~/.cache/tfnas/nasbench`."""
    return Path(os.environ.get("TFNAS_NASBENCH_CACHE") or Path.home() / ".cache" / "tfnas" / "nasbench")


def _package_loader():
    """The package's own `AnalogNASBench` class; a `pkg_resources` shim if setuptools is not installed."""
    if importlib.util.find_spec("analognasbench") is None:
        raise RuntimeError("analog-nasbench is not installed: pip install 'tfnas[bench]' (analog-nasbench==0.1.3)")
    if importlib.util.find_spec("pkg_resources") is None and "pkg_resources" not in sys.modules:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            return os.path.join(os.path.dirname(importlib.util.find_spec(package).origin), name)

        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    from analognasbench.data import AnalogNASBench
    return AnalogNASBench


def _drift(value) -> float:
    return float(getattr(value, "value", value))


def convert_nb201(cache_dir: str | os.PathLike | None = None) -> Path:
    """Convert the package's pickle into `<cache_dir>/nb201.json` (atomic); returns the table's path."""
    out_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    bench = _package_loader()()
    rows = []
    for cell, arch in sorted(bench.data.items()):
        row = {"cell": [int(i) for i in cell]}
        for m in METRICS:
            row[m] = float(getattr(arch, m))
        for m in ("baseline_drift_2592000", "analog_drift_2592000"):
            row[m] = _drift(getattr(arch, m))
        rows.append(row)
    doc = {"format": FORMAT, "source": "analog-nasbench 0.1.3 data.anb", "ops": list(OPS),
           "edges": [list(e) for e in EDGES], "rows": rows}
    path = out_dir / TABLE_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
    return path


def load_nb201(cache_dir: str | os.PathLike | None = None, convert: bool = True) -> dict[tuple, dict]:
    """The table as {6-tuple of op indices: metrics}; converts on first use when `convert` is true."""
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / TABLE_NAME
    if not path.exists():
        if not convert:
            raise FileNotFoundError(f"{path}: no NAS-Bench-201 table; run `tfnas nasgem convert-nb201`")
        convert_nb201(path.parent)
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: field 'format' is {doc.get('format')!r}, expected {FORMAT!r}")
    table = {}
    for i, row in enumerate(doc["rows"]):
        cell = tuple(row.get("cell", ()))
        if len(cell) != len(EDGES) or not all(0 <= c < len(OPS) for c in cell):
            raise ValueError(f"{path}: rows[{i}].cell {list(cell)} is not {len(EDGES)} op indices in [0, {len(OPS)})")
        table[cell] = {k: v for k, v in row.items() if k != "cell"}
    return table


def _has_path(active_edges) -> bool:
    reach = {0}
    for u, v in sorted(active_edges):
        if u in reach:
            reach.add(v)
    return 3 in reach


def infer_mapping(table: dict[tuple, dict], metric: str = "baseline_accuracy") -> dict:
    """Re-derive from the table which index is which op and which tuple slot is which edge (see module doc)."""
    n = len(EDGES)
    counts = {k: 0 for k in range(len(OPS))}
    for cell in table:
        for c in cell:
            counts[c] += 1
    uniform = {k: table[(k,) * n][metric] for k in range(len(OPS))}
    none = min(uniform, key=uniform.get)
    conv = sorted((k for k in uniform if k != none), key=uniform.get, reverse=True)
    conv3, conv1 = conv[0], conv[1]
    dead = {bits: table[tuple(conv3 if b else none for b in bits)][metric] <= 10.5
            for bits in itertools.product((0, 1), repeat=n)}
    orders = [perm for perm in itertools.permutations(EDGES)
              if all(_has_path([e for e, b in zip(perm, bits) if b]) != d for bits, d in dead.items())]
    order = min(orders) if orders else None
    rest = [k for k in uniform if k not in (none, conv3, conv1)]
    gaps = {}
    if order is not None:
        slot = {e: i for i, e in enumerate(order)}
        for k in rest:
            direct = [none] * n
            direct[slot[(0, 3)]] = k
            chain = [none] * n
            for e in ((0, 1), (1, 2), (2, 3)):
                chain[slot[e]] = k
            gaps[k] = abs(table[tuple(direct)][metric] - table[tuple(chain)][metric])
    skip = min(gaps, key=gaps.get) if gaps else None
    pool = next((k for k in rest if k != skip), None)
    names = {none: "none", conv3: "nor_conv_3x3", conv1: "nor_conv_1x1", skip: "skip_connect", pool: "avg_pool_3x3"}
    return {"ops": tuple(names.get(k) for k in range(len(OPS))), "edges": order, "orders": orders, "gaps": gaps}
