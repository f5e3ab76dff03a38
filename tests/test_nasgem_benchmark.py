"""benchmarks/nasgem.py on NAS-Bench-101 (`--nb101`): a small file in the official tfrecord format, written
here, goes through the real reader, the table-restricted NB101 space, every search method and the report."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines.nasbench import write_nb101_records
from tfnas.nasgem.nasbench101 import NB101Space, prune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_table(path, n=150, seed=0):
    """`n` distinct NB101 cells; accuracy rises with the number of conv3x3 nodes on the path (a learnable signal)."""
    rng, space, seen, records = np.random.default_rng(seed), NB101Space(), set(), []
    while len(records) < n:
        arch = space.sample(rng)
        key = prune(arch).fingerprint()
        if key in seen:
            continue
        seen.add(key)
        matrix = [[1 if arch.graph.has_edge(i, j) else 0 for j in range(7)] for i in range(7)]
        ops = [arch.op(i) for i in range(7)]
        convs = sum(prune(arch).op(k) == "conv3x3-bn-relu" for k in prune(arch).nodes)
        acc = 0.80 + 0.03 * convs + 0.01 * rng.random()
        records.append((f"h{len(records):04d}", 108, matrix, ops, 1000, [(acc, acc - 0.01, acc - 0.02, 1.0)]))
    write_nb101_records(path, records)


@pytest.mark.slow
def test_nasgem_benchmark_runs_on_nb101_file(tmp_path):
    table = tmp_path / "nasbench_tiny.tfrecord"
    _write_table(table)
    out = tmp_path / "bench"
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "nasgem.py"), "--quick", "--nb101", str(table),
           "--seeds", "2", "--evals", "30", "--encoder-cells", "60", "--encoder-pairs", "300", "--score-cells", "500",
           "--out", str(out),
           "--methods", "random,evolution,bootstrap_adjacency,bootstrap_wl_embedding"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    with open(out / "report.json") as f:
        report = json.load(f)
    assert report["table"] == "nb101" and report["cells"] == 150 and report["metric"] == "test_accuracy"
    assert set(report["methods"]) == {"random", "evolution", "bootstrap_adjacency", "bootstrap_wl_embedding"}
    for name, m in report["methods"].items():
        curve = np.array(m["mean_curve"])
        assert len(curve) == 30 and np.all(np.diff(curve) >= 0), name           # best-so-far never drops
        assert curve[-1] <= report["table_best"] + 1e-9, name
        for hit in m["queries_to_top1"]:
            assert hit is None or 1 <= hit <= 30
    assert set(report["wl_embedding_vs"]) == {"random", "evolution", "bootstrap_adjacency"}
    assert (out / "curves.png").exists() and (out / "embedding_pca.png").exists()
