"""Verilog design generators (array multipliers, adder trees, ALUs, seeded random logic) and user Verilog designs.

A design is named by a short spec string (`mult8`, `addtree8x12`, `alu16`, `rand600s3`) so that a dataset's
manifest names its designs exactly and the generator re-creates the same Verilog from the name alone.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path


class DesignError(ValueError):
    """A design spec or a user Verilog file is invalid (the message names the spec or the file)."""


@dataclass(frozen=True)
class Design:
    """One synthesisable design: its name, family (for client splits), top module and Verilog text."""

    name: str
    family: str
    top: str
    verilog: str
    source: str = "generated"          # "generated" or the user's file path
    params: dict = field(default_factory=dict, compare=False, hash=False)


# ---------------------------------------------------------------- generators

def array_multiplier(n: int) -> Design:
    """Unsigned n×n array multiplier: AND partial products summed by rows of explicit full adders."""
    if not 2 <= n <= 32:
        raise DesignError(f"mult{n}: width must be in 2..32")
    top = f"mult{n}"
    lines = [f"module {top}(input [{n-1}:0] a, input [{n-1}:0] b, output [{2*n-1}:0] p);"]
    lines.append(f"  wire [{n-1}:0] pp [0:{n-1}];")
    lines.append("  genvar i, j;")
    lines.append(f"  generate for (i = 0; i < {n}; i = i + 1) begin : g_pp")
    lines.append(f"    for (j = 0; j < {n}; j = j + 1) begin : g_bit")
    lines.append("      assign pp[i][j] = a[j] & b[i];")
    lines.append("    end end endgenerate")
    # row r adds partial product r (shifted by r) to the running sum; explicit ripple-carry full adders.
    lines.append(f"  wire [{n}:0] acc0 = {{1'b0, pp[0]}};")
    lines.append("  assign p[0] = acc0[0];")
    for r in range(1, n):
        prev, cur = f"acc{r-1}", f"acc{r}"
        lines.append(f"  wire [{n}:0] {cur}; wire [{n}:0] c{r};")
        lines.append(f"  assign c{r}[0] = 1'b0;")
        for j in range(n):
            x, y, cin = f"{prev}[{j+1}]", f"pp[{r}][{j}]", f"c{r}[{j}]"
            lines.append(f"  assign {cur}[{j}] = {x} ^ {y} ^ {cin};")
            lines.append(f"  assign c{r}[{j+1}] = ({x} & {y}) | ({cin} & ({x} ^ {y}));")
        lines.append(f"  assign {cur}[{n}] = c{r}[{n}];")
        lines.append(f"  assign p[{r}] = {cur}[0];")
    lines.append(f"  assign p[{2*n-1}:{n}] = acc{n-1}[{n}:1];")
    lines.append("endmodule")
    return Design(top, "multiplier", top, "\n".join(lines) + "\n", params={"n": n})


def adder_tree(n_inputs: int, width: int) -> Design:
    """Balanced binary tree of `+` summing `n_inputs` unsigned operands of `width` bits each."""
    if not (2 <= n_inputs <= 64 and 2 <= width <= 64):
        raise DesignError(f"addtree{n_inputs}x{width}: need 2..64 inputs of 2..64 bits")
    top = f"addtree{n_inputs}x{width}"
    out_w = width + (n_inputs - 1).bit_length()
    ports = ", ".join(f"input [{width-1}:0] x{i}" for i in range(n_inputs))
    lines = [f"module {top}({ports}, output [{out_w-1}:0] s);"]
    level = [f"x{i}" for i in range(n_inputs)]
    w, k = width, 0
    while len(level) > 1:
        w += 1
        nxt = []
        for i in range(0, len(level) - 1, 2):
            name = f"t{k}"
            k += 1
            lines.append(f"  wire [{w-1}:0] {name} = {level[i]} + {level[i+1]};")
            nxt.append(name)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    lines.append(f"  assign s = {level[0]};")
    lines.append("endmodule")
    return Design(top, "adder_tree", top, "\n".join(lines) + "\n", params={"n_inputs": n_inputs, "width": width})


def alu(width: int) -> Design:
    """Combinational ALU: add, sub, and, or, xor, shift left/right by a variable amount, compare, by a 3-bit op."""
    if not 2 <= width <= 64:
        raise DesignError(f"alu{width}: width must be in 2..64")
    top = f"alu{width}"
    sw = max(1, (width - 1).bit_length())
    v = f"""module {top}(input [{width-1}:0] a, input [{width-1}:0] b, input [2:0] op,
             output reg [{width-1}:0] y, output zero, output carry);
  wire [{width}:0] sum = {{1'b0, a}} + {{1'b0, b}};
  wire [{width}:0] diff = {{1'b0, a}} - {{1'b0, b}};
  always @(*) begin
    case (op)
      3'd0: y = sum[{width-1}:0];
      3'd1: y = diff[{width-1}:0];
      3'd2: y = a & b;
      3'd3: y = a | b;
      3'd4: y = a ^ b;
      3'd5: y = a << b[{sw-1}:0];
      3'd6: y = a >> b[{sw-1}:0];
      default: y = {{{{{width-1}{{1'b0}}}}, (a < b)}};
    endcase
  end
  assign zero = (y == 0);
  assign carry = (op == 3'd1) ? diff[{width}] : sum[{width}];
endmodule
"""
    return Design(top, "alu", top, v, params={"width": width})


_GATES = ("&", "|", "^", "nand", "nor", "xnor", "mux")


def random_logic(n_gates: int, seed: int, n_inputs: int | None = None, n_outputs: int | None = None,
                 locality: int = 48) -> Design:
    """Seeded random DAG of 2-input gates and muxes; each gate reads from the last `locality` signals."""
    if not 8 <= n_gates <= 200000:
        raise DesignError(f"rand{n_gates}s{seed}: gate count must be in 8..200000")
    rng = random.Random(f"rand-{n_gates}-{seed}")
    n_in = n_inputs or max(8, int(round(n_gates ** 0.5)) * 2)
    n_out = n_outputs or max(4, n_in // 2)
    top = f"rand{n_gates}s{seed}"
    sigs = [f"i[{k}]" for k in range(n_in)]
    body, used = [], set()
    for g in range(n_gates):
        pool = sigs[-locality:] if rng.random() < 0.85 else sigs
        a, b, c = (rng.choice(pool) for _ in range(3))
        op = rng.choice(_GATES)
        expr = {"&": f"{a} & {b}", "|": f"{a} | {b}", "^": f"{a} ^ {b}", "nand": f"~({a} & {b})",
                "nor": f"~({a} | {b})", "xnor": f"~({a} ^ {b})", "mux": f"{c} ? {a} : {b}"}[op]
        used.update((a, b, c) if op == "mux" else (a, b))
        body.append(f"  wire g{g} = {expr};")
        sigs.append(f"g{g}")
    # outputs: unused gates first (so logic is not swept away), then the last gates.
    unused = [s for s in sigs[n_in:] if s not in used]
    outs = (unused + sigs[::-1])[:n_out] if len(unused) <= n_out else None
    if outs is None:  # fold the many unused gates into the outputs with xor reductions
        groups = [unused[k::n_out] for k in range(n_out)]
        outs = [" ^ ".join(gr) for gr in groups]
    lines = [f"module {top}(input [{n_in-1}:0] i, output [{n_out-1}:0] o);"] + body
    lines += [f"  assign o[{k}] = {e};" for k, e in enumerate(outs)]
    lines.append("endmodule")
    return Design(top, "random", top, "\n".join(lines) + "\n",
                  params={"n_gates": n_gates, "seed": seed, "n_inputs": n_in, "n_outputs": n_out})


_SPECS = [
    (re.compile(r"^mult(\d+)$"), lambda m: array_multiplier(int(m[1]))),
    (re.compile(r"^addtree(\d+)x(\d+)$"), lambda m: adder_tree(int(m[1]), int(m[2]))),
    (re.compile(r"^alu(\d+)$"), lambda m: alu(int(m[1]))),
    (re.compile(r"^rand(\d+)s(\d+)$"), lambda m: random_logic(int(m[1]), int(m[2]))),
]
SPEC_HELP = "mult<N>, addtree<K>x<W>, alu<W>, rand<GATES>s<SEED>, or a directory / .v file of user Verilog"


def from_spec(spec: str) -> Design:
    """Design for a generator spec string such as `mult8` or `rand600s3`; raises DesignError if unknown."""
    for rx, make in _SPECS:
        m = rx.match(spec.strip())
        if m:
            return make(m)
    raise DesignError(f"unknown design spec {spec!r}; expected {SPEC_HELP}")


# ---------------------------------------------------------------- user Verilog

_MODULE_RX = re.compile(r"^\s*module\s+([A-Za-z_][A-Za-z0-9_$]*)", re.M)
_COMMENT_RX = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def from_verilog_text(text: str, name: str, family: str, source: str, top: str | None = None,
                      stem: str | None = None) -> Design:
    """Design from Verilog text; the top is `top` if given, else the module named `stem`, else the last module."""
    code = _COMMENT_RX.sub(" ", text)
    modules = _MODULE_RX.findall(code)
    if not modules:
        raise DesignError(f"{source}: no 'module' declaration found (not a Verilog design?)")
    n_end = len(re.findall(r"\bendmodule\b", code))
    if n_end != len(modules):
        raise DesignError(f"{source}: {len(modules)} 'module' but {n_end} 'endmodule' (truncated or broken file?)")
    if top is not None and top not in modules:
        raise DesignError(f"{source}: --top {top!r} is not a module here (modules: {', '.join(modules)})")
    stem = name if stem is None else stem
    chosen = top or (stem if stem in modules else modules[-1])
    return Design(name, family, chosen, text, source=source, params={"modules": modules})


def from_verilog_file(path: str | Path, family: str | None = None, top: str | None = None) -> Design:
    """Design from one user Verilog file; the top is `top`, else the module named like the file, else the last."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DesignError(f"{p}: cannot read Verilog file: {e}") from e
    name = re.sub(r"[^A-Za-z0-9_]", "_", p.stem)
    return from_verilog_text(text, name, family or "user", str(p), top=top, stem=p.stem)


def from_verilog_dir(path: str | Path) -> list[Design]:
    """All `*.v` designs under a directory; family = name of the sub-directory holding a file (else 'user')."""
    root = Path(path)
    files = sorted(root.rglob("*.v"))
    if not files:
        raise DesignError(f"{root}: no .v files found")
    out = []
    for f in files:
        rel = f.relative_to(root)
        family = rel.parts[0] if len(rel.parts) > 1 else "user"
        out.append(from_verilog_file(f, family=family))
    return out


def resolve(specs, top: str | None = None) -> list[Design]:
    """Designs for specs (generator names, .v files, directories; comma-separated allowed); `top` for .v files."""
    if isinstance(specs, str):
        specs = [specs]
    items = [s.strip() for spec in specs for s in str(spec).split(",") if s.strip()]
    designs: list[Design] = []
    for s in items:
        p = Path(s)
        if p.is_dir():
            designs.extend(from_verilog_dir(p))
        elif s.endswith(".v") or p.is_file():
            if not p.is_file():
                raise DesignError(f"{p}: Verilog file not found")
            designs.append(from_verilog_file(p, top=top))
        else:
            designs.append(from_spec(s))
    names = [d.name for d in designs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DesignError(f"duplicate design names: {', '.join(dup)} (rename the files)")
    return designs
