"""LEF/DEF reader on small files written here: placement, pins, nets, routed wires, vias, and clear errors."""
import re
from pathlib import Path

import pytest

from pipelines.eda.lefdef import ParseError, is_power_net, read_def, read_lef, transform

LEF = """VERSION 5.6 ;
BUSBITCHARS "[]" ;
UNITS
  DATABASE MICRONS 1000 ;
END UNITS
LAYER M1
  TYPE ROUTING ;
  DIRECTION HORIZONTAL ;
  PITCH 1.0 ;
  OFFSET 0.5 ;
  WIDTH 0.3 ;
END M1
LAYER V1
  TYPE CUT ;
END V1
LAYER M2
  TYPE ROUTING ;
  DIRECTION VERTICAL ;
  PITCH 1.0 ;
  OFFSET 0.5 ;
  WIDTH 0.3 ;
END M2
VIA V12 DEFAULT
  LAYER M1 ;
    RECT -0.2 -0.2 0.2 0.2 ;
  LAYER V1 ;
    RECT -0.1 -0.1 0.1 0.1 ;
  LAYER M2 ;
    RECT -0.2 -0.2 0.2 0.2 ;
END V12
VIARULE gen GENERATE
  LAYER M1 ;
    DIRECTION HORIZONTAL ;
END gen
SITE core
  CLASS CORE ;
  SIZE 1.0 BY 10.0 ;
END core
MACRO INV
  CLASS CORE ;
  ORIGIN 0 0 ;
  SIZE 2.0 BY 10.0 ;
  SITE core ;
  PIN A
    DIRECTION INPUT ;
    PORT
      LAYER M1 ;
        RECT 0.2 4.0 0.6 6.0 ;
    END
  END A
  PIN Y
    DIRECTION OUTPUT ;
    PORT
      LAYER M1 ;
        RECT 1.4 2.0 1.8 8.0 ;
    END
  END Y
  PIN vdd
    USE POWER ;
    PORT
      LAYER M1 ;
        RECT 0 9.7 2.0 10.3 ;
    END
  END vdd
  OBS
    LAYER M1 ;
      RECT 0.8 1.0 1.0 9.0 ;
  END
END INV
MACRO NAND
  CLASS CORE ;
  SIZE 3.0 BY 10.0 ;
  PIN A
    DIRECTION INPUT ;
    PORT
      LAYER M1 ;
        RECT 0.2 1.0 0.6 3.0 ;
    END
  END A
  PIN B
    DIRECTION INPUT ;
    PORT
      LAYER M1 ;
        RECT 1.2 1.0 1.6 3.0 ;
    END
  END B
  PIN Y
    DIRECTION OUTPUT ;
    PORT
      LAYER M1 ;
        RECT 2.4 7.0 2.8 9.0 ;
    END
  END Y
END NAND
MACRO RAM
  CLASS BLOCK ;
  SIZE 20.0 BY 20.0 ;
  PIN D
    DIRECTION INPUT ;
    PORT
      LAYER M2 ;
        RECT 1.0 1.0 2.0 2.0 ;
    END
  END D
  PIN Q
    DIRECTION OUTPUT ;
    PORT
      LAYER M2 ;
        RECT 9.8 0.0 10.2 0.4 ;
    END
  END Q
END RAM
MACRO FILL
  CLASS CORE ;
  SIZE 1.0 BY 10.0 ;
  PIN vdd
    USE POWER ;
    PORT
      LAYER M1 ;
        RECT 0 9.7 1.0 10.3 ;
    END
  END vdd
END FILL
END LIBRARY
"""

PLACED_DEF = """VERSION 5.6 ;
# a comment line
DESIGN toy ;
UNITS DISTANCE MICRONS 100 ;
DIEAREA ( 0 0 ) ( 6000 4000 ) ;
ROW r0 core 0 0 N DO 60 BY 1 STEP 100 0 ;
ROW r1 core 0 1000 FS DO 60 BY 1 STEP 100 0 ;
ROW r2 core 0 2000 N DO 60 BY 1 STEP 100 0 ;
ROW r3 core 0 3000 FS DO 60 BY 1 STEP 100 0 ;
TRACKS Y 50 DO 40 STEP 100 LAYER M1 ;
TRACKS X 50 DO 60 STEP 100 LAYER M2 ;
COMPONENTS 5 ;
- u1 INV + PLACED ( 1000 0 ) N ;
- u2 NAND + PLACED ( 1500 1000 ) FS ;
- u3 INV + FIXED ( 3300 2000 ) S ;
- ram RAM + FIXED ( 4000 2000 ) N ;
- f1 FILL + PLACED ( 100 0 ) N ;
END COMPONENTS
PINS 3 ;
- in1 + NET a + DIRECTION INPUT + USE SIGNAL
  + LAYER M2 ( -10 -10 ) ( 10 10 )
  + PLACED ( 0 500 ) N ;
- out1 + NET y + DIRECTION OUTPUT + LAYER M2 ( -10 -10 ) ( 10 10 ) + FIXED ( 5000 100 ) N ;
- VDD + NET vdd + USE POWER ;
END PINS
NETS 5 ;
- a ( PIN in1 ) ( u1 A ) ;
- n1 ( u1 Y ) ( u2 A ) ( u2 B ) ;
- n2 ( u2 Y ) ( u3 A ) ( ram D ) ;
- y ( ram Q ) ( PIN out1 ) ;
- vdd ( u1 vdd ) ( u3 vdd ) + USE POWER ;
END NETS
SPECIALNETS 1 ;
- vdd ( * vdd )
  + ROUTED M1 200 + SHAPE STRIPE ( 0 0 ) ( 6000 0 ) ;
END SPECIALNETS
END DESIGN
"""

ROUTES = {
    "a": "+ ROUTED M1 ( 0 500 ) ( 1020 * )",
    "n1": "+ ROUTED M1 ( 1150 500 ) V12 ( * 1450 )\n    NEW M1 ( 1150 1450 ) ( 1700 * )",
    "y": "+ ROUTED M2 ( 5000 2000 ) ( * 100 )",
}


def routed_def_text() -> str:
    """The placed DEF with routing added to nets a, n1 and y (n2 left unrouted, as if it failed)."""
    text = PLACED_DEF
    for net, route in ROUTES.items():
        head = f"- {net} "
        start = text.index(head)
        end = text.index(";", start)
        text = text[:end] + route + " " + text[end:]
    return text


def write_design(tmp_path):
    """Write toy.lef, placed.def and routed.def into tmp_path; return their paths."""
    lef, placed, routed = tmp_path / "toy.lef", tmp_path / "placed.def", tmp_path / "routed.def"
    lef.write_text(LEF)
    placed.write_text(PLACED_DEF)
    routed.write_text(routed_def_text())
    return str(lef), str(placed), str(routed)


def test_lef_layers_vias_sites_macros(tmp_path):
    lef_path, _, _ = write_design(tmp_path)
    lef = read_lef([lef_path])
    assert lef.dbu == 1000
    assert lef.routing_layers == ["M1", "M2"]
    assert (lef.layers["M1"].direction, lef.layers["M1"].pitch, lef.layers["M1"].offset) == ("HORIZONTAL", 1.0, 0.5)
    assert lef.layers["M2"].direction == "VERTICAL"
    assert lef.vias["V12"] == ["M1", "V1", "M2"]
    assert lef.sites["core"] == ("CORE", 1.0, 10.0)
    inv = lef.macros["INV"]
    assert (inv.cls, inv.width, inv.height) == ("CORE", 2.0, 10.0)
    assert inv.pins["A"].rects == [("M1", 0.2, 4.0, 0.6, 6.0)]
    assert inv.pins["vdd"].use == "POWER"
    assert lef.macros["RAM"].cls == "BLOCK"
    assert set(lef.macros) == {"INV", "NAND", "RAM", "FILL"}


def test_def_components_pins_nets_routes(tmp_path):
    _, placed_path, routed_path = write_design(tmp_path)
    d = read_def(routed_path)
    assert (d.design, d.dbu, d.die) == ("toy", 100, (0, 0, 60, 40))
    assert len(d.rows) == 4 and d.rows[1][:5] == ("r1", "core", 0, 10, "FS") and d.rows[0][5] == 60
    assert ("Y", 0.5, 40, 1.0, ["M1"]) in d.tracks and ("X", 0.5, 60, 1.0, ["M2"]) in d.tracks
    u2 = d.components["u2"]
    assert (u2.macro, u2.status, u2.x, u2.y, u2.orient) == ("NAND", "PLACED", 15, 10, "FS")
    assert d.components["ram"].status == "FIXED"
    assert d.pins["in1"].net == "a" and d.pins["in1"].direction == "INPUT"
    assert (d.pins["out1"].x, d.pins["out1"].y) == (50, 1)
    assert d.pins["VDD"].x is None and d.pins["VDD"].use == "POWER"
    assert d.nets["n2"].connections == [("u2", "Y"), ("u3", "A"), ("ram", "D")]
    assert d.nets["n2"].paths == []
    n1 = d.nets["n1"]
    assert [p.layer for p in n1.paths] == ["M1", "M1"]
    assert n1.paths[0].elements == [("pt", 11.5, 5.0), ("via", "V12"), ("pt", 11.5, 14.5)]
    assert n1.paths[1].elements == [("pt", 11.5, 14.5), ("pt", 17.0, 14.5)]
    assert d.nets["a"].paths[0].elements == [("pt", 0.0, 5.0), ("pt", 10.2, 5.0)]
    assert is_power_net(d.nets["vdd"]) and not is_power_net(d.nets["n1"])
    sn = d.specialnets["vdd"]
    assert sn.special and sn.paths[0].width == 2.0 and sn.paths[0].elements[-1] == ("pt", 60.0, 0.0)
    assert read_def(placed_path).nets["a"].paths == []
    assert d.warnings == []


def test_orientation_transform(tmp_path):
    lef_path, placed_path, _ = write_design(tmp_path)
    lef, d = read_lef([lef_path]), read_def(placed_path)
    # NAND (3 x 10) flipped south at (15, 10): y is mirrored, x kept
    assert transform(lef.macros["NAND"], d.components["u2"], 0.4, 2.0) == pytest.approx((15.4, 18.0))
    # INV (2 x 10) rotated 180 at (33, 20)
    assert transform(lef.macros["INV"], d.components["u3"], 0.4, 5.0) == pytest.approx((34.6, 25.0))


@pytest.mark.parametrize("old,new,line,expect", [
    ("- u2 NAND + PLACED ( 1500 1000 ) FS ;", "- u2 NAND + PLACED ( 1500 abc ) FS ;", 14, "expected a number"),
    ("- u2 NAND + PLACED ( 1500 1000 ) FS ;", "- u2 NAND + PLACED ( 1500 1000 ) XX ;", 14, "an orientation"),
    ("END NETS", "END NOTS", 32, "'NETS'"),
    ("DIEAREA ( 0 0 ) ( 6000 4000 ) ;", "DIEAREA ( 0 0 ) 6000 4000 ) ;", 5, "DIEAREA"),
])
def test_corrupt_def_names_file_and_line(tmp_path, old, new, line, expect):
    assert old in PLACED_DEF
    bad = tmp_path / "bad.def"
    bad.write_text(PLACED_DEF.replace(old, new))
    with pytest.raises(ParseError) as err:
        read_def(str(bad))
    assert err.value.line == line
    assert str(err.value).startswith(f"{bad}:{line}:")
    assert expect in str(err.value)


def test_truncated_def_and_missing_units(tmp_path):
    bad = tmp_path / "cut.def"
    bad.write_text(PLACED_DEF[:PLACED_DEF.index("- n2")])
    with pytest.raises(ParseError, match="unexpected end of file"):
        read_def(str(bad))
    nounits = tmp_path / "nounits.def"
    nounits.write_text(PLACED_DEF.replace("UNITS DISTANCE MICRONS 100 ;\n", ""))
    with pytest.raises(ParseError, match=r"nounits.def:4: DIEAREA before 'UNITS DISTANCE MICRONS'"):
        read_def(str(nounits))


def test_corrupt_lef_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.lef"
    bad.write_text(LEF.replace("  SIZE 3.0 BY 10.0 ;", "  SIZE 3.0 BY ten ;"))
    line = LEF.splitlines().index("  SIZE 3.0 BY 10.0 ;") + 1
    with pytest.raises(ParseError, match=rf"bad.lef:{line}: expected SIZE height of macro NAND, got 'ten'"):
        read_lef([str(bad)])
    cut = tmp_path / "cut.lef"
    cut.write_text(LEF[:LEF.index("END NAND")])
    with pytest.raises(ParseError, match="unexpected end of file, expected 'END NAND'"):
        read_lef([str(cut)])


@pytest.mark.parametrize("tech,layers", [("osu018", 6), ("osu035", 4), ("osu050", 3)])
def test_qflow_tech_lefs(tech, layers):
    import os
    path = f"/usr/share/qflow/tech/{tech}/{tech}_stdcells.lef"
    if not os.path.exists(path):
        pytest.skip(f"qflow tech {tech} not installed")
    lef = read_lef([path])
    assert len(lef.routing_layers) == layers
    assert all(lef.layers[n].pitch and lef.layers[n].direction in ("HORIZONTAL", "VERTICAL")
               for n in lef.routing_layers)
    assert lef.sites["core"][0] == "CORE" and len(lef.macros) > 20
    assert all(m.width > 0 and m.height > 0 for m in lef.macros.values())


def test_def58_routing_syntax(tmp_path):
    """Extension values, MASK, RECT patches, VIRTUAL points and oriented vias parse into the same elements."""
    route = ("+ ROUTED M1 ( 1000 500 0 ) MASK 2 ( 1500 * ) V12 N\n"
             "    NEW M2 TAPER ( 1500 500 ) ( * 900 30 ) RECT ( -10 -10 10 10 ) VIRTUAL ( 1600 900 ) ( * 1000 )\n"
             "  + USE SIGNAL + WEIGHT 2 + SOURCE NETLIST")
    text = PLACED_DEF.replace("- n1 ( u1 Y ) ( u2 A ) ( u2 B ) ;", f"- n1 ( u1 Y ) ( u2 A ) ( u2 B ) {route} ;")
    text = text.replace("- u1 INV + PLACED ( 1000 0 ) N ;",
                        "- u1 INV + SOURCE NETLIST + PLACED ( 1000 0 ) N + HALO 1 1 1 1 + PROPERTY p \"q r\" ;")
    path = tmp_path / "d58.def"
    path.write_text(text)
    d = read_def(str(path))
    a, b = d.nets["n1"].paths
    assert (a.layer, a.elements) == ("M1", [("pt", 10.0, 5.0), ("pt", 15.0, 5.0), ("via", "V12")])
    assert (b.layer, b.elements) == ("M2", [("pt", 15.0, 5.0), ("pt", 15.0, 9.0), ("virtual", 16.0, 9.0),
                                            ("pt", 16.0, 10.0)])
    assert d.components["u1"].status == "PLACED" and d.components["u1"].x == 10.0


@pytest.mark.parametrize("old,new,expect", [
    ("( 0 500 ) ( 1020 * )", "( * 500 ) ( 1020 * )", "'*' in a wire point of net 'a' with no previous point"),
    ("( 0 500 ) ( 1020 * )", "( 0 500 ) ( 1x2 * )", "expected a number for x of a wire point of net 'a'"),
    ("( 0 500 ) ( 1020 * )", "( 0 500 7 ) ( 1020 * )", None),   # extension value: general path, no error
])
def test_routed_points_fast_and_general_path(tmp_path, old, new, expect):
    """Plain `( x y )` points take a fast path; every other form keeps the full parse and its error messages."""
    bad = tmp_path / "r.def"
    bad.write_text(routed_def_text().replace(old, new))
    if expect is None:
        pts = [e[1:] for e in read_def(str(bad)).nets["a"].paths[0].elements]
        assert pts == [(0.0, 5.0), (10.2, 5.0)]
        return
    with pytest.raises(ParseError, match=re.escape(expect)) as err:
        read_def(str(bad))
    assert str(err.value).startswith(f"{bad}:")


def test_lef_cache_reparses_a_changed_file(tmp_path):
    from pipelines.eda.def_maps import cached_lef
    lef_path, _, _ = write_design(tmp_path)
    first = cached_lef((lef_path,))
    assert cached_lef((lef_path,)) is first
    Path(lef_path).write_text(LEF.replace("MACRO INV\n", "MACRO INVX\n").replace("END INV\n", "END INVX\n"))
    again = cached_lef((lef_path,))
    assert again is not first and "INVX" in again.macros and "INV" not in again.macros


@pytest.mark.parametrize("name, power", [
    ("vdd", True), ("GND", True), ("vss!", True), ("vee", True), ("VCC", True), ("vdd_1", True), ("vss2", True),
    ("vpwr", True), ("vddio", True), ("\\vdd", True), ("n1", False), ("vdd_net", False), ("vdata", False),
    ("gnd_sense", False), ("_05_", False)])
def test_one_power_name_rule_in_flow_and_def(name, power):
    from pipelines.eda.flow import is_power_net as flow_is_power
    from pipelines.eda.lefdef import DefNet, is_power_name
    assert is_power_name(name) is power
    assert flow_is_power(name) is power  # the failed-net labels and the feature maps agree
    assert is_power_net(DefNet(name)) is power
    assert flow_is_power("mysupply", extra=("mysupply",))
