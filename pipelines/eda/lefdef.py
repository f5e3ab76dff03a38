"""DEF reader (units, die, rows, tracks, vias, components, pins, nets with routed wires, special nets) + geometry
helpers.

Coordinates are converted to microns on reading; every parse error names the file, the line and what was expected.
LEF reading lives in `pipelines.eda.lef` and is re-exported here, so `lefdef` is the one import for both formats.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines.eda.lef import (ORIENTS, Lef, LefLayer, LefMacro, LefPin, ParseError, Tokens, read_lef, read_text,
                               skip_until)

__all__ = ["ParseError", "Lef", "LefLayer", "LefMacro", "LefPin", "read_lef", "Def", "DefComponent", "DefPin",
           "DefNet", "RoutedPath", "read_def", "is_power_net", "is_power_name", "transform", "component_rect"]
# The one supply-name rule (flow.py's net lists and the DEF feature maps both use it): the qflow/OSU tech LEFs
# name supplies vdd/gnd (vddnet/gndnet in the _powerground file), other libraries vss/vcc/vee (ECL/bipolar
# negative rail), sky130's vpwr/vgnd, pad rings vddio/vssio; a global suffix "!" or an index (vdd1, vss_2)
# names the same rail. The union of the two old rules, so a net is a supply in both places or in neither.
POWER_NAME_RE = re.compile(r"^(vdd|vss|gnd|vcc|vee|vpwr|vgnd|vddio|vssio|power|ground)(!|_?\d+)?$", re.IGNORECASE)


def is_power_name(name: str, extra=()) -> bool:
    """True for supply net names (vdd, GND, vss!, vee, vdd_1, ...) or a name in `extra` (the design's own)."""
    name = name.replace("\\", "")
    return name in extra or bool(POWER_NAME_RE.match(name))


@dataclass
class DefComponent:
    """A placed instance: master name, status (PLACED/FIXED/COVER/UNPLACED), lower-left (microns), orientation."""
    name: str
    macro: str
    status: str = "UNPLACED"
    x: float = 0.0
    y: float = 0.0
    orient: str = "N"


@dataclass
class DefPin:
    """A design I/O pin: its net, use and (if placed) location in microns."""
    name: str
    net: str = ""
    direction: str = ""
    use: str = "SIGNAL"
    layer: str | None = None
    x: float | None = None
    y: float | None = None


@dataclass
class RoutedPath:
    """One routed path: start layer, optional width, and elements ('pt', x, y) or ('via', name) in order."""
    layer: str
    width: float | None = None
    elements: list = field(default_factory=list)


@dataclass
class DefNet:
    """A net: connections (component, pin) with component 'PIN' for I/O pins, use, routed paths."""
    name: str
    connections: list = field(default_factory=list)
    use: str = "SIGNAL"
    paths: list = field(default_factory=list)
    special: bool = False


@dataclass
class Def:
    """A parsed DEF; all coordinates in microns (`dbu` = database units per micron as declared)."""
    path: str
    design: str = ""
    dbu: float = 0.0
    die: tuple = (0.0, 0.0, 0.0, 0.0)
    rows: list = field(default_factory=list)      # (name, site, x, y, orient, num_x, num_y, step_x, step_y)
    tracks: list = field(default_factory=list)    # (axis 'X'|'Y', start, num, step, [layers])
    vias: dict = field(default_factory=dict)      # DEF-defined vias: name -> layer names
    components: dict = field(default_factory=dict)
    pins: dict = field(default_factory=dict)
    nets: dict = field(default_factory=dict)
    specialnets: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


def _xy(t: Tokens, d: Def, what: str, prev: tuple | None = None) -> tuple:
    """Read `( x y [ext] )`; `*` repeats the previous coordinate."""
    toks, i = t.toks, t.i
    if i + 3 < len(toks) and toks[i] == "(" and toks[i + 3] == ")":   # fast path: plain `( x y )`
        a, b = toks[i + 1], toks[i + 2]
        try:
            x = prev[0] if a == "*" and prev is not None else float(a) / d.dbu
            y = prev[1] if b == "*" and prev is not None else float(b) / d.dbu
        except ValueError:
            pass   # the general path below reports the bad token
        else:
            t.i = i + 4
            return x, y
    return _xy_general(t, d, what, prev)


def _xy_general(t: Tokens, d: Def, what: str, prev: tuple | None) -> tuple:
    """`_xy` for every form, with the error messages (`*` with no previous point, extension values, bad numbers)."""
    t.expect("(", what=f"'(' starting {what}")
    out = []
    for axis in range(2):
        tok = t.next(f"{'xy'[axis]} of {what}")
        if tok == "*":
            if prev is None:
                t.i -= 1
                raise t.error(f"'*' in {what} with no previous point")
            out.append(prev[axis])
            continue
        try:
            out.append(float(tok) / d.dbu)
        except ValueError:
            t.i -= 1
            raise t.error(f"expected a number for {'xy'[axis]} of {what}, got {tok!r}") from None
    if t.peek() != ")":
        t.number(f"extension value or ')' closing {what}")
    t.expect(")", what=f"')' closing {what}")
    return tuple(out)


def _parse_path(t: Tokens, d: Def, net: DefNet, special: bool) -> None:
    """Parse `layer [width] [+ SHAPE s] ( x y ) ( x * ) via ... [NEW ...]` up to the next `+` or `;`."""
    while True:
        path = RoutedPath(t.next(f"a layer name in routing of net {net.name!r}"))
        if special and t.peek() not in ("(", None):
            path.width = t.number(f"wire width in net {net.name!r}") / d.dbu
        prev, toks, n = None, t.toks, len(t.toks)
        while True:   # up to NEW / ; / + that is not `+ SHAPE|STYLE|MASK` (peeks inlined: this loop is the hot one)
            tok = toks[t.i] if t.i < n else None
            if tok in ("NEW", ";", None) or (tok == "+" and (toks[t.i + 1] if t.i + 1 < n else None)
                                             not in ("SHAPE", "STYLE", "MASK")):
                break
            if tok == "+" or tok in ("TAPER", "MASK", "STYLE", "SHAPE", "TAPERRULE"):
                t.i += 1 if tok == "+" else 0
                kw = t.next()
                if kw != "TAPER":
                    t.next(f"value of {kw}")
            elif tok == "(":
                prev = _xy(t, d, f"a wire point of net {net.name!r}", prev)
                path.elements.append(("pt",) + prev)
            elif tok == "VIRTUAL":
                t.i += 1
                prev = _xy(t, d, f"a VIRTUAL point of net {net.name!r}", prev)
                path.elements.append(("virtual",) + prev)
            elif tok == "RECT":
                t.i += 1   # RECT ( dx1 dy1 dx2 dy2 ): a patch at the last point, no wire length
                t.expect("(", what=f"'(' after RECT in net {net.name!r}")
                for _ in range(4):
                    t.number(f"a RECT offset in net {net.name!r}")
                t.expect(")", what=f"')' closing RECT in net {net.name!r}")
            else:
                t.i += 1
                path.elements.append(("via", tok))
                if t.peek() in ORIENTS:
                    t.i += 1
                if t.peek() == "DO":   # via array: DO n BY m STEP dx dy
                    for _ in range(7):
                        t.next("via array parameters")
        net.paths.append(path)
        if t.peek() != "NEW":
            return
        t.i += 1


def _parse_nets(t: Tokens, d: Def, special: bool) -> dict:
    section = "SPECIALNETS" if special else "NETS"
    count = int(t.number(f"{section} count"))
    t.expect(";")
    nets = {}
    while t.peek() != "END":
        t.expect("-", what=f"'-' starting a net or 'END {section}'")
        net = DefNet(t.next("a net name"), special=special)
        while t.peek() != ";":
            tok = t.next(f"';' ending net {net.name!r}")
            if tok == "(":
                comp = t.next(f"a component name in net {net.name!r}")
                pin = t.next(f"a pin name in net {net.name!r}")
                net.connections.append((comp, pin))
                while t.peek() != ")":
                    t.next(f"')' closing connection in net {net.name!r}")
                t.i += 1
            elif tok == "+":
                kw = t.next(f"a net attribute of {net.name!r}")
                if kw in ("ROUTED", "FIXED", "COVER", "NOSHIELD"):
                    _parse_path(t, d, net, special)
                elif kw == "USE":
                    net.use = t.next("a net use")
                elif kw in ("SHIELD",):
                    t.next("shield net name")
                    _parse_path(t, d, net, special)
                elif kw in ("RECT", "POLYGON", "VIA"):
                    while t.peek() not in ("+", ";"):
                        t.next()
            elif tok == "MUSTJOIN":
                continue
        t.next()
        nets[net.name] = net
    t.next(), t.expect(section)
    if len(nets) != count:
        d.warnings.append(f"{d.path}: {section} declares {count} nets but lists {len(nets)}")
    return nets


def _parse_components(t: Tokens, d: Def) -> None:
    count = int(t.number("COMPONENTS count"))
    t.expect(";")
    while t.peek() != "END":
        t.expect("-", what="'-' starting a component or 'END COMPONENTS'")
        c = DefComponent(t.next("a component name"), t.next("a component master name"))
        while t.peek() != ";":
            tok = t.next(f"';' ending component {c.name!r}")
            if tok == "+":
                kw = t.next(f"a component attribute of {c.name!r}")
                if kw in ("PLACED", "FIXED", "COVER"):
                    c.status = kw
                    c.x, c.y = _xy(t, d, f"the location of component {c.name!r}")
                    c.orient = t.expect(*ORIENTS, what=f"an orientation for component {c.name!r}")
                elif kw == "UNPLACED":
                    c.status = kw
        t.next()
        d.components[c.name] = c
    t.next(), t.expect("COMPONENTS")
    if len(d.components) != count:
        d.warnings.append(f"{d.path}: COMPONENTS declares {count} but lists {len(d.components)}")


def _parse_pins(t: Tokens, d: Def) -> None:
    t.number("PINS count"), t.expect(";")
    while t.peek() != "END":
        t.expect("-", what="'-' starting a pin or 'END PINS'")
        p = DefPin(t.next("a pin name"))
        rect = None
        while t.peek() != ";":
            tok = t.next(f"';' ending pin {p.name!r}")
            if tok != "+":
                continue
            kw = t.next(f"a pin attribute of {p.name!r}")
            if kw == "NET":
                p.net = t.next("a net name")
            elif kw == "DIRECTION":
                p.direction = t.next("a pin direction")
            elif kw == "USE":
                p.use = t.next("a pin use")
            elif kw == "LAYER":
                p.layer = t.next("a layer name")
                while t.peek() != "(":
                    t.next()
                a, b = _xy(t, d, f"the LAYER rect of pin {p.name!r}"), _xy(t, d, f"the LAYER rect of pin {p.name!r}")
                rect = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            elif kw in ("PLACED", "FIXED", "COVER"):
                p.x, p.y = _xy(t, d, f"the location of pin {p.name!r}")
                t.expect(*ORIENTS, what=f"an orientation for pin {p.name!r}")
        t.next()
        if p.x is not None and rect is not None:   # pin shape centre (offset is in the N frame; small vs a tile)
            p.x, p.y = p.x + rect[0], p.y + rect[1]
        d.pins[p.name] = p
    t.next(), t.expect("PINS")


def _parse_def_vias(t: Tokens, d: Def) -> None:
    t.number("VIAS count"), t.expect(";")
    while t.peek() != "END":
        t.expect("-", what="'-' starting a via or 'END VIAS'")
        name, layers = t.next("a via name"), []
        while t.peek() != ";":
            tok = t.next(f"';' ending via {name!r}")
            if tok == "+" and t.peek() in ("RECT", "POLYGON"):
                t.i += 1
                layers.append(t.next("a layer name"))
            elif tok == "+" and t.peek() == "LAYERS":
                t.i += 1
                layers += [t.next("a layer name") for _ in range(3)]
        t.next()
        d.vias[name] = list(dict.fromkeys(layers))
    t.next(), t.expect("VIAS")


_SKIP_SECTIONS = ("PROPERTYDEFINITIONS", "NONDEFAULTRULES", "REGIONS", "GROUPS", "BLOCKAGES", "FILLS", "SCANCHAINS",
                  "SLOTS", "STYLES", "PINPROPERTIES", "VIARULES", "COMPONENTMASKSHIFT")


def read_def(path: str) -> Def:
    """Parse a DEF file (optionally .gz) into a `Def`; raises `ParseError` naming file and line on bad input."""
    t = Tokens(read_text(path), str(path))
    d = Def(str(path))
    seen_end = False
    while t.peek() is not None:
        kw = t.next()
        if kw == "DESIGN":
            d.design = t.next("a design name")
            t.expect(";")
        elif kw == "UNITS":
            t.expect("DISTANCE"), t.expect("MICRONS")
            d.dbu = t.number("UNITS DISTANCE MICRONS value")
            t.expect(";")
        elif kw in ("DIEAREA", "ROW", "TRACKS", "COMPONENTS", "PINS", "NETS", "SPECIALNETS", "VIAS") and d.dbu <= 0:
            raise t.error(f"{kw} before 'UNITS DISTANCE MICRONS'")
        elif kw == "DIEAREA":
            pts = []
            while t.peek() == "(":
                pts.append(_xy(t, d, "a DIEAREA point"))
            if len(pts) < 2:
                raise t.error("expected at least two DIEAREA points")
            t.expect(";")
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            d.die = (min(xs), min(ys), max(xs), max(ys))
        elif kw == "ROW":
            name, site = t.next("a row name"), t.next("a site name")
            x, y = t.number("row x") / d.dbu, t.number("row y") / d.dbu
            orient = t.expect(*ORIENTS, what="a row orientation")
            nx = ny = 1
            sx = sy = 0.0
            if t.peek() == "DO":
                t.i += 1
                nx = int(t.number("row DO count"))
                t.expect("BY")
                ny = int(t.number("row BY count"))
                if t.peek() == "STEP":
                    t.i += 1
                    sx, sy = t.number("row STEP x") / d.dbu, t.number("row STEP y") / d.dbu
            t.skip_statement()
            d.rows.append((name, site, x, y, orient, nx, ny, sx, sy))
        elif kw == "TRACKS":
            axis = t.expect("X", "Y", what="X or Y after TRACKS")
            start = t.number("TRACKS start") / d.dbu
            t.expect("DO")
            num = int(t.number("TRACKS DO count"))
            t.expect("STEP")
            step = t.number("TRACKS STEP") / d.dbu
            layers = []
            while t.peek() != ";":
                if t.next("';' ending TRACKS") == "LAYER":
                    while t.peek() not in (";", "MASK", None):
                        layers.append(t.next())
            t.next()
            d.tracks.append((axis, start, num, step, layers))
        elif kw == "VIAS":
            _parse_def_vias(t, d)
        elif kw == "COMPONENTS":
            _parse_components(t, d)
        elif kw == "PINS":
            _parse_pins(t, d)
        elif kw == "NETS":
            d.nets = _parse_nets(t, d, special=False)
        elif kw == "SPECIALNETS":
            d.specialnets = _parse_nets(t, d, special=True)
        elif kw in _SKIP_SECTIONS:
            t.skip_to_end(kw)
        elif kw == "BEGINEXT":
            skip_until(t, "ENDEXT")
        elif kw == "END":
            t.expect("DESIGN", what="'END DESIGN'")
            seen_end = True
            break
        elif kw in ("VERSION", "NAMESCASESENSITIVE", "DIVIDERCHAR", "BUSBITCHARS", "TECHNOLOGY", "GCELLGRID",
                    "HISTORY", "PROPERTY"):
            t.skip_statement()
        else:
            raise t.error(f"expected a DEF section or statement keyword, got {kw!r}")
    if not seen_end:
        raise t.error("unexpected end of file, expected 'END DESIGN'")
    if d.dbu <= 0:
        raise ParseError(d.path, 1, "missing 'UNITS DISTANCE MICRONS'")
    return d


def is_power_net(net: DefNet) -> bool:
    """True for supply nets: special nets, USE POWER/GROUND, or supply-like names (vdd, gnd, VSS, ...)."""
    return net.special or net.use in ("POWER", "GROUND") or is_power_name(net.name)


def transform(macro: LefMacro, comp: DefComponent, px: float, py: float) -> tuple:
    """Map a point in the macro's frame to die coordinates for the component's placement and orientation."""
    w, h = macro.width, macro.height
    px, py = px + macro.origin[0], py + macro.origin[1]
    o = comp.orient
    if o == "N":
        x, y = px, py
    elif o == "S":
        x, y = w - px, h - py
    elif o == "FN":
        x, y = w - px, py
    elif o == "FS":
        x, y = px, h - py
    elif o == "W":
        x, y = h - py, px
    elif o == "E":
        x, y = py, w - px
    elif o == "FW":
        x, y = py, px
    else:  # FE
        x, y = h - py, w - px
    return comp.x + x, comp.y + y


def component_rect(macro: LefMacro, comp: DefComponent) -> tuple:
    """Bounding box (x1, y1, x2, y2) of a placed component, microns."""
    w, h = (macro.height, macro.width) if comp.orient in ("W", "E", "FW", "FE") else (macro.width, macro.height)
    return comp.x, comp.y, comp.x + w, comp.y + h
