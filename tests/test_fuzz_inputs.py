"""Property-based fuzzing (hypothesis): random bytes and mutated valid files fed to the split, the CTR reader
and Architecture.from_json give a clean error (ValueError with a message) or a counted skip, never another
exception type or a hang."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ctr import criteo
from pipelines.ctr.badrows import BadRowReport, clear_errors
from pipelines.ctr.dataset import make_dataset
from pipelines.ctr.split import split_files
from tfnas.graph import Architecture, ArchitectureError

FAST = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SPEC = criteo.default_spec(1000)
FMT = criteo.line_format(SPEC)


def valid_lines(n=12):
    return ["\t".join([str(i % 2)] + [str(i)] * 13 + ["ab"] * 26)
            for i in range(n)]


def mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for pos, byte in edits:
        if buf:
            buf[pos % len(buf)] = byte
    return bytes(buf)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(b"\t\n\r0x.-e\x00\xff ,")), max_size=12)


def _split(tmp_path, data: bytes, policy: str):
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    out = tmp_path / "out"
    report = BadRowReport()
    try:
        res = split_files([str(src)], str(out), "criteo", line_format=FMT, bad_rows=policy, report=report)
    except ValueError as exc:
        assert str(exc)
        return
    total = sum(res["rows"].values())
    assert total > 0
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert total + report.total <= max(n_lines, 1)


@FAST
@given(data=st.binary(max_size=400), policy=st.sampled_from(["error", "skip"]))
def test_split_random_bytes(tmp_path, data, policy):
    _split(tmp_path, data, policy)


@FAST
@given(edits=EDITS, policy=st.sampled_from(["error", "skip"]))
def test_split_mutated_valid_file(tmp_path, edits, policy):
    _split(tmp_path, mutate(("\n".join(valid_lines()) + "\n").encode(), edits), policy)


def _read(tmp_path, data: bytes, policy: str):
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    report = BadRowReport()
    try:
        with clear_errors():
            n = sum(int(b["label"].shape[0]) for b in make_dataset(
                [str(src)], "criteo", SPEC, 8, processed=False, bad_rows=policy, report=report))
    except ValueError as exc:
        assert str(exc)
        return
    assert n >= 0 and report.total >= 0


@SLOW
@given(data=st.binary(max_size=300), policy=st.sampled_from(["error", "skip"]))
def test_reader_random_bytes(tmp_path, data, policy):
    _read(tmp_path, data, policy)


@SLOW
@given(edits=EDITS, policy=st.sampled_from(["error", "skip"]))
def test_reader_mutated_valid_file(tmp_path, edits, policy):
    _read(tmp_path, mutate(("\n".join(valid_lines()) + "\n").encode(), edits), policy)


VALID_ARCH = json.dumps({"nodes": [{"id": 0, "op": "input"}, {"id": 1, "op": "dense", "units": 4}],
                         "edges": [{"src": 0, "dst": 1}]})


def _arch(text):
    try:
        Architecture.from_json(text, source="a.json")
    except ArchitectureError as exc:
        assert str(exc).startswith("a.json")


@FAST
@given(data=st.binary(max_size=300))
def test_from_json_random_bytes(data):
    _arch(data.decode("utf-8", "replace"))


@FAST
@given(edits=EDITS)
def test_from_json_mutated_valid(edits):
    _arch(mutate(VALID_ARCH.encode(), edits).decode("utf-8", "replace"))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=4),
                       lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                       max_leaves=20)


@FAST
@given(nodes=st.lists(st.dictionaries(st.sampled_from(["id", "op", "x"]), JSONISH, max_size=3), max_size=4),
       edges=st.lists(st.dictionaries(st.sampled_from(["src", "dst", "w"]), JSONISH, max_size=3), max_size=4))
def test_from_json_random_structures(nodes, edges):
    _arch(json.dumps({"nodes": nodes, "edges": edges}))


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_from_json_deep_nesting(depth):
    _arch('{"nodes":[{"id":0,"op":' + "[" * depth + "]" * depth + "}],\"edges\":[]}")
