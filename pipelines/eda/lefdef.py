"""Tokenised LEF and DEF readers: the geometry (sites, layers, macros, placement, routed wires) the rasteriser needs.

Coordinates are converted to microns on reading; every parse error names the file, the line and what was expected.
"""
from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field

_TOKEN_RE = re.compile(r'"[^"]*"|\S+')
ORIENTS = ("N", "S", "E", "W", "FN", "FS", "FE", "FW")
POWER_NAME_RE = re.compile(r"^(vdd|vss|gnd|vcc|vpwr|vgnd|vdd!|gnd!|vss!|power|ground|vddio|vssio)$", re.IGNORECASE)


class ParseError(ValueError):
    """A LEF/DEF syntax error; the message is `file:line: what was expected`."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


class Tokens:
    """Whitespace tokens with line numbers; `#` comments dropped, a trailing `;` split off its word."""

    def __init__(self, text: str, path: str):
        self.path, self.toks, self.lines, self.i = path, [], [], 0
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in _TOKEN_RE.finditer(line):
                tok = m.group(0)
                if tok.startswith("#"):
                    break
                if len(tok) > 1 and tok.endswith(";") and not tok.endswith("\\;") and not tok.startswith('"'):
                    self.toks += [tok[:-1], ";"]
                    self.lines += [lineno, lineno]
                else:
                    self.toks.append(tok)
                    self.lines.append(lineno)

    def line(self) -> int:
        """Line of the current token (the last line at end of file)."""
        return self.lines[min(self.i, len(self.lines) - 1)] if self.lines else 0

    def error(self, message: str) -> ParseError:
        return ParseError(self.path, self.line(), message)

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str = "a token") -> str:
        if self.i >= len(self.toks):
            raise self.error(f"unexpected end of file, expected {what}")
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, *values: str, what: str | None = None) -> str:
        tok = self.next(what or " or ".join(repr(v) for v in values))
        if tok not in values:
            self.i -= 1
            raise self.error(f"expected {what or ' or '.join(repr(v) for v in values)}, got {tok!r}")
        return tok

    def number(self, what: str = "a number") -> float:
        tok = self.next(what)
        try:
            return float(tok)
        except ValueError:
            self.i -= 1
            raise self.error(f"expected {what}, got {tok!r}") from None

    def skip_statement(self) -> None:
        """Skip tokens up to and including the next `;`."""
        while self.next("';' ending the statement") != ";":
            pass

    def skip_to_end(self, *names: str) -> None:
        """Skip tokens up to and including `END <names...>`."""
        while True:
            if self.next(f"'END {' '.join(names)}'") == "END" and all(self.peek(k) == n for k, n in enumerate(names)):
                self.i += len(names)
                return


def _read_text(path: str) -> str:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", errors="replace") as f:
        return f.read()


# ----------------------------------------------------------------------------------------------------------- LEF
@dataclass
class LefLayer:
    """A LEF layer; `pitch`/`offset` are the track pitch/offset across the preferred direction (microns)."""
    name: str
    type: str = ""
    direction: str | None = None
    pitch: float | None = None
    offset: float | None = None
    width: float | None = None


@dataclass
class LefPin:
    """A macro pin: direction, use (SIGNAL/POWER/GROUND/CLOCK) and port rectangles (layer, x1, y1, x2, y2)."""
    name: str
    direction: str = ""
    use: str = "SIGNAL"
    rects: list = field(default_factory=list)


@dataclass
class LefMacro:
    """A cell master: class (CORE, BLOCK, PAD, ...), size and origin in microns, pins by name."""
    name: str
    cls: str = "CORE"
    width: float = 0.0
    height: float = 0.0
    origin: tuple = (0.0, 0.0)
    site: str | None = None
    pins: dict = field(default_factory=dict)


@dataclass
class Lef:
    """Merged content of one or more LEF files."""
    dbu: float = 1000.0
    layers: dict = field(default_factory=dict)
    vias: dict = field(default_factory=dict)      # name -> list of layer names
    sites: dict = field(default_factory=dict)     # name -> (class, width, height)
    macros: dict = field(default_factory=dict)

    @property
    def routing_layers(self) -> list:
        """Routing layers in file order (bottom to top)."""
        return [l.name for l in self.layers.values() if l.type == "ROUTING"]


def _parse_lef_layer(t: Tokens, lef: Lef) -> None:
    name = t.next("a layer name")
    layer = lef.layers.setdefault(name, LefLayer(name))
    pitches = None
    while not (t.peek() == "END" and t.peek(1) == name):
        kw = t.next(f"'END {name}'")
        if kw == "TYPE":
            layer.type = t.next("a layer type")
        elif kw == "DIRECTION":
            layer.direction = t.next("HORIZONTAL or VERTICAL")
        elif kw in ("PITCH", "OFFSET"):
            vals = [t.number(f"{kw} value of layer {name}")]
            if t.peek() != ";":
                vals.append(t.number(f"second {kw} value of layer {name}"))
            if kw == "PITCH":
                pitches = vals
            else:
                layer.offset = vals[0] if len(vals) == 1 else vals
        elif kw == "WIDTH":
            layer.width = t.number(f"WIDTH of layer {name}")
        if kw in ("TYPE", "DIRECTION", "PITCH", "OFFSET", "WIDTH") and t.peek() == ";":
            t.next()
        elif kw != ";":
            t.skip_statement()
    t.i += 2
    if pitches is not None:   # "PITCH x y": x pitch is for vertical tracks, y pitch for horizontal ones
        axis = 1 if layer.direction == "HORIZONTAL" else 0
        layer.pitch = pitches[0] if len(pitches) == 1 else pitches[axis]
        if isinstance(layer.offset, list):
            layer.offset = layer.offset[axis]


def _parse_lef_via(t: Tokens, lef: Lef) -> None:
    name = t.next("a via name")
    layers = []
    while t.peek() in ("DEFAULT", "GENERATED", "TOPOFSTACKONLY"):
        t.i += 1
    while not (t.peek() == "END" and t.peek(1) == name):
        kw = t.next(f"'END {name}'")
        if kw == "LAYER":
            layers.append(t.next("a layer name"))
        elif kw == "LAYERS":     # 5.6 parameterised via: LAYERS bottom cut top ;
            layers += [t.next("a layer name") for _ in range(3)]
        if kw != ";":
            t.skip_statement()
    t.i += 2
    lef.vias[name] = layers


def _parse_lef_macro(t: Tokens, lef: Lef) -> None:
    name = t.next("a macro name")
    m = LefMacro(name)
    while not (t.peek() == "END" and t.peek(1) == name):
        kw = t.next(f"'END {name}'")
        if kw == "CLASS":
            m.cls = t.next("a macro class")
            t.skip_statement()
        elif kw == "SIZE":
            m.width = t.number(f"SIZE width of macro {name}")
            t.expect("BY")
            m.height = t.number(f"SIZE height of macro {name}")
            t.expect(";")
        elif kw == "ORIGIN":
            m.origin = (t.number("ORIGIN x"), t.number("ORIGIN y"))
            t.expect(";")
        elif kw == "SITE":
            m.site = t.next("a site name")
            t.skip_statement()
        elif kw == "PIN":
            pin = _parse_lef_pin(t)
            m.pins[pin.name] = pin
        elif kw == "OBS":
            t.skip_to_end()
        elif kw != ";":
            t.skip_statement()
    t.i += 2
    if m.width <= 0 or m.height <= 0:
        raise t.error(f"macro {name} has no positive SIZE")
    lef.macros[name] = m


def _parse_lef_pin(t: Tokens) -> LefPin:
    pin = LefPin(t.next("a pin name"))
    while not (t.peek() == "END" and t.peek(1) == pin.name):
        kw = t.next(f"'END {pin.name}'")
        if kw == "DIRECTION":
            pin.direction = t.next("a pin direction")
            t.skip_statement()
        elif kw == "USE":
            pin.use = t.next("a pin use")
            t.skip_statement()
        elif kw == "PORT":
            layer = None
            while t.peek() != "END":
                k2 = t.next("'END' of PORT")
                if k2 == "LAYER":
                    layer = t.next("a layer name")
                    t.skip_statement()
                elif k2 == "RECT":
                    if t.peek() == "MASK":
                        t.i += 2
                    xy = [t.number("a RECT coordinate") for _ in range(4)]
                    pin.rects.append((layer, min(xy[0], xy[2]), min(xy[1], xy[3]), max(xy[0], xy[2]), max(xy[1], xy[3])))
                    t.expect(";")
                elif k2 != ";":
                    t.skip_statement()
            t.next()
        elif kw != ";":
            t.skip_statement()
    t.i += 2
    return pin


def read_lef(paths, lef: Lef | None = None) -> Lef:
    """Parse LEF file(s) (technology and/or cell libraries) into one `Lef`; later files add to or override earlier."""
    lef = lef or Lef()
    for path in [paths] if isinstance(paths, str) else paths:
        t = Tokens(_read_text(path), str(path))
        while t.peek() is not None:
            kw = t.next()
            if kw == "UNITS":
                while t.peek() != "END":
                    k2 = t.next("'END UNITS'")
                    if k2 == "DATABASE":
                        t.expect("MICRONS")
                        lef.dbu = t.number("DATABASE MICRONS value")
                    if k2 != ";":
                        t.skip_statement()
                t.next(), t.expect("UNITS")
            elif kw == "LAYER":
                _parse_lef_layer(t, lef)
            elif kw == "VIA":
                _parse_lef_via(t, lef)
            elif kw == "SITE":
                name = t.next("a site name")
                cls, size = "CORE", (0.0, 0.0)
                while not (t.peek() == "END" and t.peek(1) == name):
                    k2 = t.next(f"'END {name}'")
                    if k2 == "CLASS":
                        cls = t.next("a site class")
                    elif k2 == "SIZE":
                        size = (t.number("SITE width"), 0.0)
                        t.expect("BY")
                        size = (size[0], t.number("SITE height"))
                    if k2 != ";":
                        t.skip_statement()
                t.i += 2
                lef.sites[name] = (cls, size[0], size[1])
            elif kw == "MACRO":
                _parse_lef_macro(t, lef)
            elif kw in ("VIARULE", "NONDEFAULTRULE"):
                t.skip_to_end(t.next("a rule name"))
            elif kw in ("SPACING", "PROPERTYDEFINITIONS", "IRDROP"):
                t.skip_to_end(kw)
            elif kw == "ARRAY":
                t.skip_to_end(t.next("an array name"))
            elif kw == "BEGINEXT":
                _skip_until(t, "ENDEXT")
            elif kw == "END":
                if t.peek() == "LIBRARY":
                    break
                raise t.error(f"unexpected 'END {t.peek()}' at top level")
            elif kw != ";":
                t.skip_statement()
    return lef


def _skip_until(t: Tokens, word: str) -> None:
    while t.next(repr(word)) != word:
        pass


# ----------------------------------------------------------------------------------------------------------- DEF
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
        prev = None
        while t.peek() not in ("NEW", "+", ";", None) or (t.peek() == "+" and t.peek(1) in ("SHAPE", "STYLE", "MASK")):
            tok = t.peek()
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
                t.i += 1
                _xy(t, d, "a RECT offset", (0, 0)), _xy(t, d, "a RECT offset", (0, 0))
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
    t = Tokens(_read_text(path), str(path))
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
            _skip_until(t, "ENDEXT")
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
    return net.special or net.use in ("POWER", "GROUND") or bool(POWER_NAME_RE.match(net.name.replace("\\", "")))


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
