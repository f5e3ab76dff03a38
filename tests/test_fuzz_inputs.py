"""Property-based fuzzing (hypothesis): random bytes and mutated valid files fed to the split, the CTR reader
and Architecture.from_json give a clean error (ValueError with a message) or a counted skip, never another
exception type or a hang."""
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
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


class _Hostile:
    """Unpickling this would run `touch <marker>` (os.system) if the loader admitted any global."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_cifar_hostile_pickle_refused(tmp_path):
    import pickle

    from pipelines.vision.cifar import read_cifar_batch
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Hostile(marker), b"labels": [0]}))
    with pytest.raises(ValueError, match=r"data_batch_1: not a CIFAR-10 python pickle .*posix.system"):
        read_cifar_batch(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_official_layout_still_loads(tmp_path, protocol):
    import pickle

    import numpy as np

    from pipelines.vision.cifar import read_cifar_batch
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [1, 2, 3], b"batch_label": b"x",
                                   b"filenames": [b"a.png", b"b.png", b"c.png"]}, protocol=protocol))
    images, labels = read_cifar_batch(str(path))
    assert labels.tolist() == [1, 2, 3]
    assert (images.transpose(0, 3, 1, 2).reshape(3, -1) == data).all()


@FAST
@given(data=st.binary(max_size=200))
@example(data=b"\x95\x00\x00\x00\x00\x00\x00\x00\x80")   # a pickle FRAME of 2**63 bytes: OverflowError
def test_cifar_random_bytes_clean_error(tmp_path, data):
    from pipelines.vision.cifar import read_cifar_batch
    path = tmp_path / "b"
    path.write_bytes(data)
    try:
        read_cifar_batch(str(path))
    except ValueError as exc:
        assert str(exc).startswith(str(path))
