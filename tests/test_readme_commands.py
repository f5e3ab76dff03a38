"""The README's commands that no other test runs through the real CLI, each at a tiny size: every one must exit 0,
print its progress, and write the files the README promises (issue 15: checkpoints, best cell, step files, PNGs,
TensorBoard event files, the trained model, TFLite exports, tables). All runs share one process start: a fork
server imports TensorFlow once (running no op) and forks one child per command. Each test's docstring names the
README lines it stands for and where the README's other commands are run."""
import glob
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
from cli_fork_server import ForkServer

ROOT = Path(__file__).resolve().parents[1]
TINY_IMAGES = ["--image-size", "8"]
NOISE = ("Traceback", "Unable to register", "fully_quantize", "XNNPACK delegate")


@pytest.fixture(scope="module")
def cli():
    """`cli(argv, log) -> console text`, asserting exit 0 and no start-up noise or traceback."""
    server = ForkServer()

    def run(argv, log):
        rc = server.run([str(a) for a in argv], str(log))
        text = Path(log).read_text()
        assert rc == 0, f"tfnas {' '.join(map(str, argv))} exited {rc}:\n{text[-3000:]}"
        noisy = [n for n in NOISE if n in text]
        assert not noisy, f"{noisy} in the output of tfnas {' '.join(map(str, argv))}:\n{text[-3000:]}"
        return text
    try:
        yield run
    finally:
        server.close()


def _exists(folder, *patterns):
    missing = [p for p in patterns if not glob.glob(os.path.join(folder, p))]
    assert not missing, f"{folder}: missing {missing}; has {sorted(os.listdir(folder))}"
    for p in patterns:
        for path in glob.glob(os.path.join(folder, p)):
            if path.endswith(".png"):
                with open(path, "rb") as f:
                    head = f.read(8)
                assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 2000, f"{path}: not a drawn PNG"


def test_readme_autoshrink_commands(cli, tmp_path):
    """README "A short tour" and "AutoShrink": search-cnn, search-rnn, train --cell, export --model (one TFLite
    mode here; the three modes are tests/test_autoshrink_export.py's)."""
    cnn, rnn, model = tmp_path / "shrink_cnn", tmp_path / "shrink_rnn", tmp_path / "shrinkcnn"
    # 3 nodes = 3 edges; keep 0.67 stops at 2 edges: one step, one trial
    shrink = ["--nodes", "3", "--candidates", "1", "--keep-fraction", "0.67", "--epochs", "1"]
    text = cli(["autoshrink", "search-cnn", "--out", cnn, *shrink, "--train-per-class", "10", "--val-per-class", "5",
                "--filters", "4", *TINY_IMAGES], tmp_path / "search-cnn.log")
    assert "shrinking:" in text and "1/1" in text and "search finished" in text   # the bar with its total, summary
    cli(["autoshrink", "search-rnn", "--out", rnn, *shrink, "--train-tokens", "400", "--units", "4", "--embedding",
         "4", "--bptt", "10"], tmp_path / "search-rnn.log")
    for run in (cnn, rnn):
        _exists(run, "search.json", "config.json", "best_cell.json", "best.json", "steps/step_000.json",
                "steps.png", "current_cell.png", "best_cell.png", "tensorboard/search/events.out.tfevents.*")
    assert len(json.loads((cnn / "best_cell.json").read_text())["edges"]) == 2

    text = cli(["autoshrink", "train", "--cell", cnn / "best_cell.json", "--out", model, "--epochs", "1",
                "--width", "0.1", "--depth", "1,1,1,1,1", "--head", "16", "--stem-strides", "1", *TINY_IMAGES],
               tmp_path / "train.log")
    assert "training:" in text and "1/1" in text                           # the epoch bar with its total
    _exists(model, "model.keras", "train.json", "run.json", "history.csv", "curves.png",
            "tensorboard/train/events.out.tfevents.*", "tensorboard/validation/events.out.tfevents.*")

    text = cli(["autoshrink", "export", "--model", model / "model.keras", "--modes", "float32", "--runs", "2",
                "--threads", "1", *TINY_IMAGES], tmp_path / "export.log")
    assert "[1/1] float32: converting to TFLite" in text and "s] wrote" in text   # stage lines with elapsed time
    _exists(model, "shrinkcnn_float32.tflite", "shrinkcnn_export.json", "shrinkcnn_export.png",
            "saved_models/shrinkcnn/*/saved_model.pb")


def test_readme_eda_show(cli, tmp_path):
    """README "A short tour" and "Routability data": `tfnas eda show data/eda/samples/<sample>` writes
    SAMPLE/sample.png (run on a copy: the committed dataset is not written to)."""
    sample = tmp_path / "sample"
    shutil.copytree(next((ROOT / "data" / "eda_default" / "samples").iterdir()), sample)
    text = cli(["eda", "show", sample], tmp_path / "show.log")
    assert str(sample / "sample.png") in text
    _exists(sample, "sample.png")


def test_readme_nasgem_convert_nb201(cli, tmp_path):
    """README "NASGEM": `tfnas nasgem convert-nb201 --cache DIR` turns analog-nasbench's table into DIR/nb201.json
    (fit-encoder, encode, search: tests/test_nasgem_cli.py; train, export: tests/test_nasgem_gemnet.py)."""
    if importlib.util.find_spec("analognasbench") is None:
        pytest.skip("analog-nasbench (tfnas[bench]) is not installed")
    text = cli(["nasgem", "convert-nb201", "--cache", tmp_path / "nb"], tmp_path / "convert.log")
    assert "nb201.json" in text
    table = json.loads((tmp_path / "nb" / "nb201.json").read_text())
    assert table


def test_readme_flnet_run_and_evaluate(cli, tmp_path):
    """README "A short tour" and "FLNet": `flnet run --config FILE --out DIR` writes results.json, table.md and
    auc_rounds.png; `flnet evaluate --run DIR` re-scores the saved models and rewrites the table."""
    if importlib.util.find_spec("tensorflow_federated") is None:
        pytest.skip("tensorflow-federated is not installed")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"data": str(ROOT / "data" / "eda_default"), "models": ["flnet"], "grid": [8, 8],
                                  "rounds": 1, "batch_size": 4, "algorithms": ["fedavg"]}))
    out = tmp_path / "flnet"
    text = cli(["flnet", "run", "--config", config, "--out", out], tmp_path / "run.log")
    assert "| flnet | fedavg |" in text
    _exists(out, "results.json", "table.md", "auc_rounds.png", "flnet/seed0/fedavg/checkpoint.npz",
            "flnet/seed0/fedavg/tensorboard/events.out.tfevents.*")
    assert "flnet/seed0/fedavg: 100%" in (tmp_path / "run.log").read_text()      # the round bar
    table = (out / "table.md").read_text()
    (out / "table.md").unlink()
    text = cli(["flnet", "evaluate", "--run", out], tmp_path / "evaluate.log")
    assert "| flnet | fedavg |" in text and (out / "table.md").read_text() == table


@pytest.mark.long   # ~42 CPU s for the four stages (two TF traces each): over this file's CI budget
def test_readme_nasrec_stages_one_by_one(cli, tmp_path):
    """README "A short tour": `tfnas nasrec train-supernet|search|retrain|export --config FILE`, the four stages
    one by one (`nasrec run` is run in CI by tests/test_click_log_walkthrough.py)."""
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({
        "run_dir": str(tmp_path / "run"),
        "data": {"dir": str(tmp_path / "data"), "synthetic": True, "synthetic_rows": 3000, "synthetic_seed": 1},
        "space": {"kind": "small", "num_blocks": 1, "extra": {"dense_widths": [16], "sparse_widths": [8]}},
        "supernet": {"steps": 8, "warmup_steps": 2, "batch_size": 128},
        "finetune": {"enabled": False, "steps": 0, "eval_batch_size": 512, "eval_steps": 1},
        "search": {"population_size": 2, "sample_size": 1, "children_per_generation": 1, "generations": 1},
        "retrain": {"top_k": 1, "epochs": 1, "steps_per_epoch": 4, "batch_size": 128, "eval_batch_size": 1024,
                    "baselines": [], "seeds": [0], "references": []},
        "export": {"name": "nr_tiny", "root": str(tmp_path / "saved_models")}}))
    run = tmp_path / "run"
    for stage, promised in (("train-supernet", ["supernet/DONE.json"]),
                            ("search", ["search/candidates.jsonl", "search/search_progress.png",
                                        "search/logloss_vs_flops.png"]),
                            ("retrain", ["retrain/results.json", "retrain/pareto.png", "retrain/runs/*/curves.png",
                                         "retrain/runs/*/tensorboard/train/events.out.tfevents.*"]),
                            ("export", ["export.json"])):
        cli(["nasrec", stage, "--config", config, "--no-progress"], tmp_path / f"{stage}.log")
        _exists(run, *promised)
    _exists(tmp_path / "saved_models", "nr_tiny/1/saved_model.pb")
