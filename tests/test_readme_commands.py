"""Each AutoShrink command of the README, run at a tiny size through the real CLI, writes the files the README
and the command's help promise: checkpoint, best_cell.json, step files, PNGs, TensorBoard event files, the
trained model and the TFLite exports (issue 15 item 2). The four runs share one process start: a fork server
imports TensorFlow once (running no op) and forks one child per command."""
import glob
import os

import pytest
from cli_fork_server import ForkServer

TINY_IMAGES = ["--image-size", "8"]


def _commands(tmp):
    cnn, rnn, model = f"{tmp}/shrink_cnn", f"{tmp}/shrink_rnn", f"{tmp}/shrinkcnn"
    return [
        ("search-cnn", ["autoshrink", "search-cnn", "--out", cnn, "--nodes", "3", "--candidates", "1",
                        "--keep-fraction", "0.34", "--train-per-class", "10", "--val-per-class", "5", "--epochs", "1",
                        "--filters", "4", *TINY_IMAGES]),
        ("search-rnn", ["autoshrink", "search-rnn", "--out", rnn, "--nodes", "3", "--candidates", "1",
                        "--keep-fraction", "0.34", "--train-tokens", "400", "--units", "4", "--embedding", "4",
                        "--epochs", "1", "--bptt", "10"]),
        ("train", ["autoshrink", "train", "--cell", f"{cnn}/best_cell.json", "--out", model, "--epochs", "1",
                   "--width", "0.1", "--depth", "1,1,1,1,1", "--head", "16", "--stem-strides", "1", *TINY_IMAGES]),
        ("export", ["autoshrink", "export", "--model", f"{model}/model.keras", "--modes", "float32,int8",
                    "--runs", "2", "--threads", "1", *TINY_IMAGES]),
    ]


def _exists(folder, *patterns):
    missing = [p for p in patterns if not glob.glob(os.path.join(folder, p))]
    assert not missing, f"{folder}: missing {missing}; has {sorted(os.listdir(folder))}"


@pytest.mark.long   # ~64 CPU s (four commands, two TFLite conversions): over the CI budget, run by `make test-long`
def test_readme_autoshrink_commands_write_what_they_promise(tmp_path):
    server = ForkServer()
    logs = {}
    try:
        for name, argv in _commands(tmp_path):
            logs[name] = str(tmp_path / f"{name}.log")
            rc = server.run(argv, logs[name])
            with open(logs[name]) as f:
                text = f.read()
            assert rc == 0, f"{name}:\n{text}"
            assert "Traceback" not in text and "Unable to register" not in text, text
            assert "fully_quantize" not in text and "XNNPACK delegate" not in text, text
    finally:
        server.close()

    for name in ("shrink_cnn", "shrink_rnn"):
        run = tmp_path / name
        _exists(run, "search.json", "config.json", "best_cell.json", "best.json", "steps/step_000.json",
                "steps.png", "current_cell.png", "best_cell.png", "tensorboard/search/events.out.tfevents.*")
    with open(logs["search-cnn"]) as f:
        text = f.read()
    assert "shrinking:" in text and "search finished" in text          # the progress bar and the summary
    model = tmp_path / "shrinkcnn"
    _exists(model, "model.keras", "train.json", "run.json", "history.csv", "curves.png",
            "tensorboard/train/events.out.tfevents.*", "tensorboard/validation/events.out.tfevents.*")
    with open(logs["train"]) as f:
        text = f.read()
    assert "training:" in text and "1/1" in text                          # the epoch bar with its total
    _exists(model, "shrinkcnn_float32.tflite", "shrinkcnn_int8.tflite", "shrinkcnn_export.json",
            "shrinkcnn_export.png", "saved_models/shrinkcnn/*/saved_model.pb")
    with open(logs["export"]) as f:
        text = f.read()
    assert "[2/2] int8: converting to TFLite" in text and "s] wrote" in text   # stage lines with elapsed time
