"""Tokeniser shared by the LEF/DEF readers, and the LEF reader (units, sites, routing layers, vias, macros + pins).

Every parse error names the file, the line and what was expected. `pipelines.eda.lefdef` re-exports `read_lef`.
"""
from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field

_TOKEN_RE = re.compile(r'"[^"]*"|\S+')
ORIENTS = ("N", "S", "E", "W", "FN", "FS", "FE", "FW")


class ParseError(ValueError):
    """A LEF/DEF syntax error; the message is `file:line: what was expected`."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


class Tokens:
    """Whitespace tokens with line numbers; `#` comments dropped, a trailing `;` split off its word."""

    def __init__(self, text: str, path: str):
        self.path, self.toks, self.lines, self.i = path, [], [], 0
        toks, lines = self.toks, self.lines
        for lineno, line in enumerate(text.splitlines(), 1):
            if "#" not in line and ";" not in line and '"' not in line:   # most lines: plain words
                words = line.split()
                toks += words
                lines += [lineno] * len(words)
                continue
            words = _TOKEN_RE.findall(line) if '"' in line else line.split()
            for tok in words:
                if tok[0] == "#":
                    break
                if tok[-1] == ";" and len(tok) > 1 and not tok.endswith("\\;") and tok[0] != '"':
                    toks += (tok[:-1], ";")
                    lines += (lineno, lineno)
                else:
                    toks.append(tok)
                    lines.append(lineno)

    def line(self) -> int:
        """Line of the current token (the last line at end of file)."""
        return self.lines[min(self.i, len(self.lines) - 1)] if self.lines else 1

    def error(self, message: str) -> ParseError:
        """A ParseError at the current token's line."""
        return ParseError(self.path, self.line(), message)

    def peek(self, k: int = 0) -> str | None:
        """The token k ahead without consuming it (None at end of file)."""
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str = "a token") -> str:
        """Consume one token; `what` names the expectation in the end-of-file error."""
        if self.i >= len(self.toks):
            raise self.error(f"unexpected end of file, expected {what}")
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, *values: str, what: str | None = None) -> str:
        """Consume a token that must be one of `values`."""
        tok = self.next(what or " or ".join(repr(v) for v in values))
        if tok not in values:
            self.i -= 1
            raise self.error(f"expected {what or ' or '.join(repr(v) for v in values)}, got {tok!r}")
        return tok

    def number(self, what: str = "a number") -> float:
        """Consume a numeric token."""
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


def read_text(path: str) -> str:
    """Whole text of a file, gunzipped when the name ends in .gz."""
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
        return [ly.name for ly in self.layers.values() if ly.type == "ROUTING"]


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
                    pin.rects.append((layer, min(xy[0], xy[2]), min(xy[1], xy[3]),
                                      max(xy[0], xy[2]), max(xy[1], xy[3])))
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
        t = Tokens(read_text(path), str(path))
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
                skip_until(t, "ENDEXT")
            elif kw == "END":
                if t.peek() == "LIBRARY":
                    break
                raise t.error(f"unexpected 'END {t.peek()}' at top level")
            elif kw != ";":
                t.skip_statement()
    return lef


def skip_until(t: Tokens, word: str) -> None:
    """Skip tokens up to and including `word`."""
    while t.next(repr(word)) != word:
        pass
