"""Every `tfnas data` command runs without importing TensorFlow (issue 12: a 5 MB split in seconds, not the
20-40 s of a TF start-up).  One subprocess runs them in turn and reports, after each, whether TensorFlow is
in sys.modules; the first command that imports it is named.  Times are printed (measured), not asserted."""
import json
import os
import shutil
import subprocess
import sys

from pipelines.ctr.example_log import write_example_log

RUNNER = r"""
import json, sys, time
from tfnas.cli import main
for name, argv in json.loads(sys.argv[1]):
    t = time.perf_counter()
    rc = main(argv)
    print(json.dumps({"step": name, "rc": rc, "s": round(time.perf_counter() - t, 2),
                      "tf": "tensorflow" in sys.modules}), flush=True)
"""


def test_data_commands_never_import_tensorflow(tmp_path):
    d = str(tmp_path)
    write_example_log(os.path.join(d, "clicks.csv"), rows=80_000)          # 5.1 MB, the size
    assert os.path.getsize(os.path.join(d, "clicks.csv")) > 5_000_000
    os.makedirs(os.path.join(d, "mine"))
    table = ["--format", "table", "--schema", "clicks.schema.json"]
    steps = [
        ("synth", ["data", "synth", "--out", "synth", "--rows", "3000", "--no-progress"]),
        ("inspect criteo folder", ["data", "inspect", "synth", "--json"]),
        ("split criteo", ["data", "split", "synth/train.txt", "--out", "resplit", "--no-progress"]),
        ("infer-schema", ["data", "infer-schema", "clicks.csv", "--out", "clicks.schema.json"]),
        ("split 5 MB", ["data", "split", "clicks.csv", *table, "--out", "strat", "--no-progress"]),
        ("split 5 MB --by-time", ["data", "split", "clicks.csv", *table, "--by-time", "ts", "--out", "time",
                                  "--no-progress"]),
        ("split 5 MB --by-group", ["data", "split", "clicks.csv", *table, "--by-group", "user_id", "--out",
                                   "group", "--no-progress"]),
        ("inspect table folder", ["data", "inspect", "time", "--max-rows", "5000"]),
        ("inspect table file", ["data", "inspect", "clicks.csv", *table, "--max-rows", "5000"]),
    ]
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(steps)], cwd=d, capture_output=True, text=True,
                          timeout=300)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"step"')]
    assert proc.returncode == 0 and len(results) == len(steps), proc.stdout[-2000:] + proc.stderr[-3000:]
    for r in results:
        assert r["rc"] == 0, (r, proc.stderr[-2000:])
        assert not r["tf"], f"`tfnas {' '.join(dict(steps)[r['step']])}` imported TensorFlow"
    print("\n".join(f"{r['step']:<24}{r['s']:>6.2f} s" for r in results))

    # a folder made by hand (the split's files, no JSON) is described by `data index`, also without TensorFlow
    for split in ("train", "valid", "test"):
        shutil.copy(os.path.join(d, "time", f"{split}.csv"), os.path.join(d, "mine", f"{split}.csv"))
    index = [("index", ["data", "index", "mine", "--schema", "clicks.schema.json"])]
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(index)], cwd=d, capture_output=True, text=True,
                          timeout=120)
    r = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"step"')))
    assert r["rc"] == 0 and not r["tf"], proc.stderr[-2000:]
    with open(os.path.join(d, "mine", "dataset.json")) as f, open(os.path.join(d, "time", "dataset.json")) as g:
        assert json.load(f)["rows"] == json.load(g)["rows"]
