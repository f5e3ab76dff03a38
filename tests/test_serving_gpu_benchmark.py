"""benchmarks/gpu.py runs on CPU at a tiny size and prints its three positive rates (supernet and baseline
training examples/s, exported-model inference rows/s)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_benchmark_tiny_on_cpu():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu.py"), "--tiny"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert out["device"] == "CPU" and out["batch"] == 16
    for key in ("supernet_train_examples_per_s", "baseline_train_examples_per_s", "inference_rows_per_s"):
        assert out[key] > 0, key
