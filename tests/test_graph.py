"""Architecture: JSON round-trip, validation errors, fingerprints, derivation."""
import json

import pytest

from tfnas.graph import Architecture, ArchitectureError


def make():
    return Architecture([(0, {"op": "input"}), (1, {"op": "conv", "filters": 16}), (2, {"op": "sum"})],
                        [(0, 1), (1, 2, {"role": "left"}), (0, 2, {"role": "right"})], meta={"space": "t"})


def test_json_round_trip_preserves_everything():
    arch = make()
    back = Architecture.from_json(arch.to_json())
    assert back == arch
    assert back.attrs(1) == {"op": "conv", "filters": 16}
    assert back.edge_attrs(1, 2) == {"role": "left"}
    assert back.meta == {"space": "t"}
    assert back.key() == arch.key() and back.fingerprint() == arch.fingerprint()


def test_string_node_ids_round_trip():
    arch = Architecture([("in", {"op": "input"}), ("b0", {"op": "fc"})], [("in", "b0")])
    assert Architecture.from_json(arch.to_json(indent=2)) == arch


def test_cycle_is_rejected_with_path():
    with pytest.raises(ArchitectureError, match="cycle"):
        Architecture([(0, {"op": "a"}), (1, {"op": "b"})], [(0, 1), (1, 0)])


def test_missing_op_names_the_node():
    with pytest.raises(ArchitectureError, match="node 3: missing"):
        Architecture([(3, {"width": 2})])


def test_unknown_edge_endpoint_is_named():
    with pytest.raises(ArchitectureError, match="node 9 does not exist"):
        Architecture([(0, {"op": "a"})], [(0, 9)])


def test_non_json_attribute_is_rejected():
    with pytest.raises(ArchitectureError, match="attribute 'w'"):
        Architecture([(0, {"op": "a", "w": object()})])


def test_bad_json_names_source_and_field():
    with pytest.raises(ArchitectureError, match="cell.json:1"):
        Architecture.from_json("{not json", source="cell.json")
    bad = make().to_dict()
    del bad["nodes"][0]["id"]
    with pytest.raises(ArchitectureError, match=r"x.json: nodes\[0\]"):
        Architecture.from_json(json.dumps(bad), source="x.json")


def test_fingerprint_is_isomorphism_invariant_and_attr_sensitive():
    a = Architecture([(0, {"op": "in"}), (1, {"op": "x"}), (2, {"op": "y"})], [(0, 1), (0, 2)])
    b = Architecture([(5, {"op": "in"}), (7, {"op": "y"}), (6, {"op": "x"})], [(5, 6), (5, 7)])
    c = a.with_node(2, op="z")
    assert a.fingerprint() == b.fingerprint()
    assert a.key() != b.key()
    assert a.fingerprint() != c.fingerprint()


def test_immutability_and_derivation():
    arch = make()
    smaller = arch.with_edge_removed(0, 2)
    assert arch.num_edges() == 3 and smaller.num_edges() == 2
    with pytest.raises(Exception):
        arch.graph.add_edge(2, 0)
    assert arch.topological_order() == [0, 1, 2]
    assert smaller.reachable_from(1) == {1, 2}
    with pytest.raises(ArchitectureError):
        arch.with_edge_removed(2, 0)


# ---------------------------------------------------------------- issue 10: hostile architecture JSON
@pytest.mark.parametrize("text, match", [
    ('{"nodes":[{"id":1,"op":"a"},{"id":1,"op":"b"}],"edges":[]}', r"nodes\[1\]: duplicate node id 1"),
    ('{"nodes":[{"id":[1],"op":"a"}],"edges":[]}', r"nodes\[0\]: node id \[1\] must be an int or a str"),
    ('{"nodes":[{"id":1,"op":"a"}],"edges":[{"src":{"a":1},"dst":1}]}', r"edges\[0\]\.src: node id"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"nodes":[{"id":1,"op":' + "[" * 100_000 + "]" * 100_000 + '}],"edges":[]}', "nested too deeply"),
])
def test_from_json_hostile_inputs_clean_error(text, match):
    from tfnas.graph import Architecture, ArchitectureError
    with pytest.raises(ArchitectureError, match=match):
        Architecture.from_json(text, source="a.json")
