"""The README's "Bring your own click log" walk, command for command, as subprocesses of the installed `tfnas`:
CSV -> infer-schema -> split --by-time -> ctr leaderboard -> nasrec run (exports) -> the REST body of
configs/click_log_request.json, sent here to the SavedModel's serving signature instead of TF Serving."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFNAS = os.path.join(os.path.dirname(sys.executable), "tfnas")


def sh(cwd, *args):
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-1500:]}\n"
                                  f"{proc.stderr[-3000:]}")
    return proc.stdout + "\n" + proc.stderr


@pytest.mark.slow
def test_readme_click_log_walkthrough(tmp_path):
    d = str(tmp_path)
    sh(d, sys.executable, "-m", "pipelines.ctr.example_log", "clicks.csv", "--rows", "10000")
    out = sh(d, TFNAS, "data", "infer-schema", "clicks.csv", "--out", "clicks.schema.json")
    assert "genres: multi-valued, separator '|'" in out and "ts: left out" in out
    out = sh(d, TFNAS, "data", "split", "clicks.csv", "--format", "table", "--schema", "clicks.schema.json",
             "--by-time", "ts", "--out", "data/clicks")
    rows = json.loads(next(line for line in out.splitlines() if line.startswith('{"out"')))["rows"]
    assert rows == {"train": 8000, "valid": 1000, "test": 1000}
    out = sh(d, TFNAS, "ctr", "leaderboard", "--data", "data/clicks", "--models", "mlp,deepfm", "--epochs", "3",
             "--batch-size", "128", "--logdir", "runs/clicks_leaderboard", "--export-name", "clicks_best")
    assert "best:" in out and os.path.isdir(os.path.join(d, "saved_models", "clicks_best", "1"))
    out = sh(d, TFNAS, "nasrec", "run", "--config", os.path.join(ROOT, "configs", "click_log_nasrec.json"),
             "--no-progress")
    export = os.path.join(d, "saved_models", "click_nasrec", "1")
    assert "exported: saved_models/click_nasrec/1" in out
    assert out.count("'capital-gain' -> 'capital_gain'") == 1 and "Sanitizing" not in out   # printed once, no warning
    assert "Unable to register" not in out                                                    # TF start-up noise hidden
    with open(os.path.join(export, "assets.extra", "signature_inputs.json")) as f:
        assert json.load(f)["device type"] == "device_type"

    # The REST request: TF Serving batches each input of the "instances" rows; do the same by hand.
    import tensorflow as tf

    from pipelines.ctr.schema import FeatureSpec
    from tfnas.export.ctr import rest_request_to_inputs
    with open(os.path.join(ROOT, "configs", "click_log_request.json")) as f:
        body = json.load(f)
    fn = tf.saved_model.load(export).signatures["serving_default"]
    feed = {k: tf.constant([row[k] for row in body["instances"]],
                           tf.string if isinstance(body["instances"][0][k], str) else tf.float32)
            for k in body["instances"][0]}
    assert set(feed) == set(fn.structured_input_signature[1])
    p = fn(**feed)["probability"].numpy()
    assert p.shape == (2, 1) and ((p > 0) & (p < 1)).all()
    with open(os.path.join(export, "assets.extra", "feature_spec.json")) as f:
        spec = FeatureSpec.from_json(f.read())
    by_column = {"instances": [{"capital-gain" if k == "capital_gain" else k: v for k, v in row.items()}
                               for row in body["instances"]]}
    np.testing.assert_allclose(fn(**rest_request_to_inputs(by_column, spec))["probability"].numpy(), p, rtol=1e-6)
