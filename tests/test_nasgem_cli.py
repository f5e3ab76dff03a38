"""`tfnas nasgem encode | search` end to end on a tiny NB201-format table (search resumes from its state)."""
import itertools
import json

import numpy as np

from pipelines.nasbench.nb201 import EDGES, FORMAT, OPS, TABLE_NAME
from tfnas.cli import main


def _table(cache):
    rows = [{"cell": list(c), "baseline_accuracy": 10.0 + sum(v == 2 for v in c), "ptq_accuracy": 1.0,
             "qat_accuracy": 1.0, "noisy_accuracy": 1.0, "analog_accuracy": 1.0}
            for c in itertools.product(range(len(OPS)), repeat=len(EDGES))]
    (cache / TABLE_NAME).write_text(json.dumps({"format": FORMAT, "rows": rows}))


def test_encode_and_resumable_search(tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert main(["nasgem", "encode", "--encoding", "adjacency", "--count", "20", "--out", str(out)]) == 0
    z = np.load(out)
    assert z["cells"].shape == (20, 6) and z["x"].shape[0] == 20
    _table(tmp_path)
    run = tmp_path / "run"
    args = ["nasgem", "search", "--cache", str(tmp_path), "--run-dir", str(run), "--pool-size", "50", "--batch", "5"]
    assert main(args + ["--trials", "25"]) == 0
    assert len(json.loads((run / "state.json").read_text())["history"]) == 25
    assert main(args + ["--trials", "30"]) == 0  # continues the same search
    assert len(json.loads((run / "state.json").read_text())["history"]) == 30
    assert json.loads((run / "run.json").read_text())["kind"] == "nasgem_search"
    assert "best baseline_accuracy" in capsys.readouterr().out


def test_fit_encoder_then_encode_with_it(tmp_path, capsys):
    enc = tmp_path / "enc"
    assert main(["nasgem", "fit-encoder", "--cells", "40", "--pairs", "200", "--epochs", "1", "--out", str(enc)]) == 0
    assert "Pearson" in capsys.readouterr().out and (enc / "encoder.keras").exists()
    out = tmp_path / "z.npz"
    assert main(["nasgem", "encode", "--encoding", "embedding", "--encoder", str(enc), "--count", "7",
                 "--out", str(out)]) == 0
    assert np.load(out)["x"].shape == (7, 32)
    assert main(["nasgem", "encode", "--encoding", "embedding", "--count", "7", "--out", str(out)]) != 0
    assert "--encoder" in capsys.readouterr().err
