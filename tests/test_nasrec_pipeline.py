"""NASRec pipeline end to end on a tiny config: supernet, search, retrain, export (and reload); a second
`run` skips every finished stage; the CLI parses its sub-commands."""
import json
import os

import numpy as np
import pytest

from tfnas.nasrec.config import (DataConfig, ExportConfig, FinetuneConfig, NASRecConfig, RetrainConfig,
                                 SearchConfig, SpaceConfig, SupernetConfig)


def tiny_config(root) -> NASRecConfig:
    return NASRecConfig(
        run_dir=os.path.join(root, "run"),
        data=DataConfig(dir=os.path.join(root, "data"), synthetic=True, synthetic_rows=3000, synthetic_seed=1),
        space=SpaceConfig(kind="full", num_blocks=1, extra={"dense_widths": [16, 32], "sparse_widths": [16]}),
        supernet=SupernetConfig(steps=12, warmup_steps=4, batch_size=128),
        finetune=FinetuneConfig(steps=4, batch_size=128, eval_batch_size=512, eval_steps=1),
        search=SearchConfig(population_size=4, sample_size=2, children_per_generation=2, generations=1),
        retrain=RetrainConfig(top_k=1, epochs=1, steps_per_epoch=6, batch_size=128, eval_batch_size=1024,
                              baselines=["mlp"]),
        export=ExportConfig(name="nasrec_tiny", root=os.path.join(root, "saved_models")))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tfnas.nasrec.pipeline import run
    from tfnas.nasrec.space import BlockSpec, NASRecSpace
    root = str(tmp_path_factory.mktemp("nasrec_pipeline"))
    cfg = tiny_config(root)
    # one seeded architecture in the initial population (search.seed_architectures): same number of trials
    space = NASRecSpace("full", num_blocks=1, dense_widths=[16, 32], sparse_widths=[16])
    seed_path = os.path.join(root, "seed_arch.json")
    with open(seed_path, "w") as f:
        f.write(space.from_blocks([BlockSpec("fc", "efc", 32, 16, False, True, (0,), (0,))]).to_json())
    cfg.search.seed_architectures = [seed_path]
    out = run(cfg, progress=False)
    return cfg, out


def test_pipeline_outputs(finished_run):
    from tfnas.nasrec.search import CANDIDATES_FILE, FLOPS_PNG, PROGRESS_PNG
    cfg, out = finished_run
    search_dir = os.path.join(cfg.run_dir, "search")
    with open(os.path.join(search_dir, CANDIDATES_FILE)) as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 6
    for r in rows:
        assert np.isfinite(r["logloss"]) and 0.0 < r["logloss"] < 2.0
        assert r["flops"] > 0 and r["params"] > 0
    for png in (PROGRESS_PNG, FLOPS_PNG):
        assert os.path.getsize(os.path.join(search_dir, png)) > 1000
    results = out["retrain"]
    assert set(results) == {f"cand_{min(rows, key=lambda r: r['logloss'])['id']}", "mlp"}
    from tfnas.nasrec.pipeline import RunData
    bayes = RunData(cfg).bayes_logloss()
    for r in results.values():
        assert np.isfinite(r["val_logloss"]) and np.isfinite(r["test_logloss"]) and r["flops"] > 0
        # the planted data's Bayes-optimal logloss is a floor no trained model gets under
        assert bayes["test"] < r["test_logloss"] and bayes["val"] < r["val_logloss"]
    assert "mlp" in out["report"] and "bayes-optimal" in out["report"]
    assert [r["seeded"] for r in rows] == [True] + [False] * 5
    winner = int(next(n for n in results if n.startswith("cand_"))[len("cand_"):])
    kind = "a seeded architecture" if winner == 0 else "a searched architecture (not itself a seed"
    assert f"seeding: 1 of 6 candidates seeded; the winner (trial {winner}) is {kind}" in out["report"]
    # each retrained candidate's lineage and the per-retrain-seed winners, in the report and seeding.json
    with open(os.path.join(cfg.run_dir, "seeding.json")) as f:
        seeding = json.load(f)
    lin = "seed" if winner == 0 else "non-seeded"
    assert seeding["candidates"][f"cand_{winner}"]["lineage"] == lin and seeding["winner"] == f"cand_{winner}"
    wins = seeding["retrain_seeds"] if lin == "non-seeded" else 0
    assert f"a non-seeded architecture won {wins} of {seeding['retrain_seeds']} retrain seeds" in out["report"]


def test_export_reloads_and_matches(finished_run):
    import tensorflow as tf
    from tfnas.export import raw_batch_to_inputs
    from tfnas.graph import Architecture
    from tfnas.nasrec.pipeline import RunData
    from tfnas.nasrec.retrain import Retrainer, best_candidate
    from tfnas.nasrec.subnet import build_subnet
    from pipelines.ctr.dataset import make_split_dataset

    cfg, out = finished_run
    path = out["export"]
    assert os.path.isdir(path) and os.path.basename(path) == "1"
    assert os.path.dirname(path) == os.path.join(cfg.export.root, cfg.export.name)
    data = RunData(cfg)
    raw = next(iter(make_split_dataset(cfg.data.dir, "test", 64, spec=data.spec, processed=False)))
    served = tf.saved_model.load(path).signatures["serving_default"](**raw_batch_to_inputs(raw, data.spec))
    prob = served["probability"].numpy().reshape(-1)
    assert prob.shape == (64,) and np.all((prob > 0) & (prob < 1))
    # the export is the best retrained candidate: same outputs as its saved weights
    name, res = best_candidate(out["retrain"])
    net = build_subnet(Architecture.from_dict(res["arch"]), data.spec)
    net.load_weights(Retrainer.weights_path_for(os.path.join(cfg.run_dir, "retrain"), name))
    processed = next(iter(make_split_dataset(cfg.data.dir, "test", 64, spec=data.spec)))
    logits = net({"dense": processed["dense"], "sparse": processed["sparse"]}, training=False)
    np.testing.assert_allclose(served["logit"].numpy().reshape(-1), logits.numpy().reshape(-1),
                               rtol=1e-4, atol=1e-5)


def test_rerun_skips_finished_stages(finished_run):
    from tfnas.nasrec.pipeline import run
    from tfnas.nasrec.retrain import RESULTS_FILE
    cfg, out = finished_run
    results = os.path.join(cfg.run_dir, "retrain", RESULTS_FILE)
    before = os.path.getmtime(results)
    again = run(cfg, progress=False)
    assert again["export"] == out["export"]
    assert os.path.getmtime(results) == before
    assert sorted(os.listdir(os.path.join(cfg.export.root, cfg.export.name))) == ["1"]


def test_cli_parses_nasrec_commands(tmp_path):
    from tfnas.cli import build_parser
    parser = build_parser()
    for stage in ("train-supernet", "search", "retrain", "export", "run"):
        args = parser.parse_args(["nasrec", stage, "--config", "configs/nasrec_demo.json"])
        assert args.stage == stage and callable(args.func)
    bad = tmp_path / "bad.json"
    bad.write_text('{"retrain": {"top_k": "two"}}')
    args = parser.parse_args(["nasrec", "run", "--config", str(bad)])
    with pytest.raises(ValueError, match="retrain.top_k"):
        args.func(args)


def test_missing_data_folder_is_an_error_not_synthetic_data(tmp_path):
    """A mistyped data.dir must not be filled with planted data: synthetic data is asked for by name."""
    from tfnas.cli import main
    from tfnas.nasrec.config import DataConfig, NASRecConfig
    from tfnas.nasrec.pipeline import RunData
    cfg = NASRecConfig(run_dir=str(tmp_path / "run"), data=DataConfig(dir=str(tmp_path / "data/adlut")))
    cfg.save(str(tmp_path / "cfg.json"))
    assert main(["nasrec", "train-supernet", "--config", str(tmp_path / "cfg.json"), "--no-progress"]) == 1
    assert not os.path.exists(tmp_path / "data/adlut")
    with pytest.raises(FileNotFoundError, match="data.synthetic"):
        RunData(cfg)


def test_nasrec_stage_holds_the_run_lock(tmp_path, capsys):
    """A second writer on a NASRec run folder is refused while a live process holds its lock."""
    import subprocess
    import sys
    from tfnas.cli import main
    from tfnas.nasrec.config import NASRecConfig
    from tfnas.runlock import RunLock
    run_dir = tmp_path / "run"
    NASRecConfig(run_dir=str(run_dir)).save(str(tmp_path / "cfg.json"))
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from tfnas.runlock import RunLock; "
                               f"RunLock({str(run_dir)!r}, 'holder').acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["nasrec", "search", "--config", str(tmp_path / "cfg.json"), "--no-progress"]) == 1
        assert "lock" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with RunLock(str(run_dir), "after"):  # the dead holder's lock is taken over
        pass


def test_bad_rows_policy_reaches_every_split_read(tmp_path):
    """`data.bad_rows` (and `nasrec ... --bad-rows`): "error" stops at a malformed row naming file:line,
    "skip" drops it and counts it in the run's report."""
    from pipelines.ctr.badrows import BadRowError
    from pipelines.ctr.synthetic import write_synthetic
    from tfnas.nasrec.config import DataConfig, NASRecConfig
    from tfnas.nasrec.pipeline import RunData
    data = tmp_path / "data"
    write_synthetic(str(data), 400, seed=2)
    with open(data / "valid.txt", "a") as f:
        f.write("1\tnot-a-number\n")
    want_rows = sum(1 for _ in open(data / "valid.txt")) - 1

    def read(policy):
        cfg = NASRecConfig(run_dir=str(tmp_path / "run"), data=DataConfig(dir=str(data), bad_rows=policy))
        run_data = RunData(cfg)
        import tensorflow as tf
        rows = sum(int(tf.nest.flatten(b)[0].shape[0]) for b in run_data.dataset("val", 64))
        return rows, run_data.bad_rows
    with pytest.raises(Exception, match=r"valid\.txt:\d+") as err:
        read("error")
    assert isinstance(err.value, BadRowError) or "valid.txt" in str(err.value)
    rows, report = read("skip")
    assert rows == want_rows and report.total == 1 and report.summary().startswith("bad rows skipped: 1")
    from tfnas.cli import build_parser
    args = build_parser().parse_args(["nasrec", "run", "--config", "c.json", "--bad-rows", "skip"])
    assert args.bad_rows == "skip"
