"""`tfnas nasgem encode | search | train` end to end: on a tiny NB201-format table (search resumes from its
state), on a small NB101 tfrecord, on the 30-node GEMNet space with short digits trainings, and GEMNet trained
on CIFAR-10-format pickles."""
import itertools
import json

import numpy as np
import pytest

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
    assert main(["nasgem", "encode", "--encoding", "wl", "--count", "30", "--cache", str(tmp_path),
                 "--out", str(out)]) == 0
    assert (tmp_path / "x.png").stat().st_size > 0 and "picture" in capsys.readouterr().out
    run = tmp_path / "run"
    args = ["nasgem", "search", "--cache", str(tmp_path), "--run-dir", str(run), "--pool-size", "50", "--batch", "5"]
    assert main(args + ["--trials", "25"]) == 0
    assert len(json.loads((run / "state.json").read_text())["history"]) == 25
    assert main(args + ["--trials", "30"]) == 0  # continues the same search
    assert len(json.loads((run / "state.json").read_text())["history"]) == 30
    assert json.loads((run / "run.json").read_text())["kind"] == "nasgem_search"
    assert "best accuracy" in capsys.readouterr().out and (run / "best_cell.json").exists()


def test_fit_encoder_then_encode_with_it(tmp_path, capsys):
    enc = tmp_path / "enc"
    assert main(["nasgem", "fit-encoder", "--cells", "40", "--pairs", "200", "--epochs", "1", "--out", str(enc)]) == 0
    assert "Pearson" in capsys.readouterr().out and (enc / "encoder.keras").exists()
    assert list((enc / "tensorboard" / "encoder" / "train").glob("events.out.tfevents.*"))   # the encoder's loss
    out = tmp_path / "z.npz"
    assert main(["nasgem", "encode", "--encoding", "embedding", "--encoder", str(enc), "--count", "7",
                 "--out", str(out)]) == 0
    assert np.load(out)["x"].shape == (7, 32)
    assert main(["nasgem", "encode", "--encoding", "embedding", "--count", "7", "--out", str(out)]) != 0
    assert "--encoder" in capsys.readouterr().err


def test_search_nb101_file(tmp_path, capsys):
    from test_nasgem_benchmark import _write_table
    table = tmp_path / "nb101.tfrecord"
    _write_table(table, n=60)
    run = tmp_path / "run101"
    args = ["nasgem", "search", "--space", "nb101", "--nb101", str(table), "--encoding", "adjacency", "--trials", "25",
            "--pool-size", "40", "--batch", "5", "--run-dir", str(run)]
    assert main(args) == 0
    state = json.loads((run / "state.json").read_text())
    assert len(state["history"]) == 25 and not any(r.get("failed") for r in state["history"])
    assert "best accuracy" in capsys.readouterr().out
    assert main(["nasgem", "search", "--space", "nb101", "--run-dir", str(run)]) != 0   # no --nb101: named
    assert "--nb101" in capsys.readouterr().err
    import os
    import socket

    from tfnas.runlock import LOCK_NAME
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "since": 0, "command": "another writer"}
    (run / LOCK_NAME).write_text(json.dumps(holder))                            # one writer per run folder
    assert main(args) != 0
    assert "lock" in capsys.readouterr().err.lower()


@pytest.mark.slow
def test_search_gemnet_space_then_train_on_cifar_format(tmp_path, capsys):
    from pipelines.vision.cifar import TEST_FILE, TRAIN_FILES, write_cifar_batch
    run = tmp_path / "gem"
    assert main(["nasgem", "search", "--space", "gemnet", "--encoding", "wl", "--trials", "3", "--pool-size", "20",
                 "--batch", "1", "--proxy-epochs", "1", "--proxy-filters", "4", "--max-nodes", "5",
                 "--run-dir", str(run)]) == 0
    assert "best accuracy" in capsys.readouterr().out
    assert len(json.loads((run / "state.json").read_text())["history"]) == 3
    cifar, rng = tmp_path / "cifar-10-batches-py", np.random.default_rng(0)
    cifar.mkdir()
    for name in (*TRAIN_FILES, TEST_FILE):
        write_cifar_batch(str(cifar / name), rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), np.arange(20) % 10)
    model = tmp_path / "gemnet"
    assert main(["nasgem", "train", "--cell", str(run / "best_cell.json"), "--data", f"cifar10:{cifar}",
                 "--epochs", "1", "--filters", "4", "--run-dir", str(model)]) == 0
    result = json.loads((model / "result.json").read_text())
    assert result["data"].startswith("cifar10:") and 0.0 <= result["test_accuracy"] <= 1.0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["nasgem", "train", "--data", f"cifar10:{tmp_path / 'missing'}", "--run-dir", str(model)]) != 0
