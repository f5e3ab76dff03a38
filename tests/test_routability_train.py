"""`tfnas routability train` on the core train(): seeds -> mean +- std, LOSO splits, CircuitNet-format input,
leaderboard aggregation, bad-sample policy through the CLI."""
import json
import os
import shutil

import numpy as np
import pytest

from tfnas.routability import data, leaderboard, protocol

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "eda_default")


def test_leave_one_group_out_has_disjoint_designs_and_a_val_split():
    designs = [f"d{i % 9}" for i in range(36)]
    groups = [f"g{int(d[1:]) % 3}" for d in designs]
    s = protocol.leave_one_group_out(designs, groups, "g1", seed=3)
    sets = [{designs[i] for i in s[k]} for k in ("train", "val", "test")]
    assert sets[2] == {"d1", "d4", "d7"} and sets[1] and not (sets[0] & sets[1])
    assert not ((sets[0] | sets[1]) & sets[2]) and sum(len(v) for v in s.values()) == 36
    assert {groups[i] for i in s["train"] + s["val"]} == {"g0", "g2"}


def test_aggregate_mean_std_loso_pool_and_gain():
    base = dict(auc_per_placement=0.5, params=10, flops=20, train_tiles_per_s=100.0)
    rs = [dict(base, model="a", split="design", seed=0, auc_pooled=0.6, kendall_tau=0.2),
          dict(base, model="a", split="design", seed=1, auc_pooled=0.8, kendall_tau=float("nan")),
          dict(base, model="b", split="design", seed=0, auc_pooled=0.9, kendall_tau=0.5),
          dict(base, model="b", split="loso-x", seed=0, auc_pooled=0.7, kendall_tau=0.1),
          dict(base, model="b", split="loso-y", seed=0, auc_pooled=0.5, kendall_tau=0.3)]
    rows = {(r["model"], r["split"]): r for r in leaderboard.aggregate(rs)}
    a = rows[("a", "design")]
    assert a["auc_pooled_mean"] == pytest.approx(0.7) and a["auc_pooled_std"] == pytest.approx(0.1)
    assert a["kendall_tau_mean"] == pytest.approx(0.2) and a["kendall_tau_nan"] == 1
    assert rows[("b", "loso (mean)")]["auc_pooled_mean"] == pytest.approx(0.6)
    g = leaderboard.relative_gain(list(rows.values()), "b")
    assert g["auc_pooled"]["gain_pct"] == pytest.approx(100 * (0.9 - 0.7) / 0.7)
    assert "0.7000 ± 0.1000" in leaderboard.markdown(list(rows.values()))


def test_cli_train_seeds_loso_leaderboard_and_bad_sample_policy(tmp_path):
    from tfnas.cli import main
    out = str(tmp_path / "run")
    assert main(["routability", "train", "--model", "logreg", "--data", DATA, "--out", out, "--grid", "8", "8",
                 "--epochs", "1", "--seeds", "0", "1"]) == 0
    res = json.load(open(os.path.join(out, "results.json")))["results"]
    assert [r["seed"] for r in res] == [0, 1] and all(r["params"] == 7 for r in res)
    for r in res:                                                    # each seed draws its own by-design split
        split = protocol.split_by_design(data.load_samples(data.sample_dirs(DATA), (4, 4))["design"], seed=r["seed"])
        assert r["n_test"] == len(split["test"]) and r["n_train"] == len(split["train"])
    for f in ("maps.png", "roc.png", "model.keras", "history.csv", "result.json"):
        assert os.path.exists(os.path.join(out, "design", "seed1", f)), f
    rows = json.load(open(os.path.join(out, "leaderboard.json")))
    assert rows[0]["auc_pooled_mean"] == pytest.approx(np.mean([r["auc_pooled"] for r in res]))
    assert json.load(open(os.path.join(out, "run.json")))["model"] == os.path.join("design", "seed0", "model.keras")

    lo = str(tmp_path / "loso")
    assert main(["routability", "train", "--model", "logreg", "--data", DATA, "--out", lo, "--grid", "8", "8",
                 "--epochs", "1", "--split", "loso", "--group", "family", "--hold-out", "alu"]) == 0
    r = json.load(open(os.path.join(lo, "results.json")))["results"][0]
    assert r["split"] == "loso-alu" and r["test_designs"] == ["alu4", "alu8"]
    assert main(["routability", "leaderboard", out, lo, "--md", str(tmp_path / "t.md")]) == 0
    assert "loso-alu" in open(tmp_path / "t.md").read()

    bad = tmp_path / "bad"
    shutil.copytree(DATA, bad)
    victim = sorted(os.listdir(bad / "samples"))[3]
    z = dict(np.load(bad / "samples" / victim / "sample.npz"))
    z["feature/pin_rudy"] = z["feature/pin_rudy"][:-1]
    np.savez(bad / "samples" / victim / "sample.npz", **z)
    args = ["routability", "train", "--model", "logreg", "--data", str(bad), "--grid", "8", "8", "--epochs", "1"]
    assert main(args + ["--out", str(tmp_path / "b1")]) == 1
    assert main(args + ["--out", str(tmp_path / "b2"), "--bad-samples", "skip"]) == 0
    skipped = json.load(open(tmp_path / "b2" / "results.json"))["skipped_samples"]
    assert len(skipped) == 1 and victim in skipped[0] and "pin_rudy" in skipped[0]


def _circuitnet_layout(root, names, shape_xy=(12, 10)):
    """CircuitNet's released folders with small random maps; DRC hotspots where RUDY is high (learnable)."""
    from pipelines.eda import circuitnet as cn
    rng = np.random.default_rng(0)
    for name in names:
        maps = {k: rng.random(shape_xy).astype(np.float32) for k in {**cn.FEATURE_DIRS, **cn.LABEL_DIRS}}
        maps["drc"] = np.where(maps["rudy"] > 0.7, 2.0, 0.0).astype(np.float32)
        for key, sub in {**cn.FEATURE_DIRS, **cn.LABEL_DIRS}.items():
            os.makedirs(root / sub, exist_ok=True)
            np.save(root / sub / f"{name}.npy", maps[key])


def test_cli_train_on_circuitnet_format(tmp_path):
    from tfnas.cli import main
    names = [f"{i}-{d}-a-1-c2-u0.{7 + i % 2}-m1-p1-f0" for i, d in enumerate(["RISCY", "zeroriscy", "Vortex"] * 2)]
    root = tmp_path / "routability_features"
    _circuitnet_layout(root, names)
    before = sorted(str(p) for p in root.rglob("*"))
    out = tmp_path / "cn_run"
    assert main(["routability", "train", "--model", "logreg", "--data", str(root), "--out", str(out),
                 "--grid", "8", "8", "--epochs", "2", "--lr", "0.05"]) == 0
    assert sorted(str(p) for p in root.rglob("*")) == before                  # the input folder is not written
    ds = data.load_samples(sorted(str(p) for p in (out / "circuitnet_samples").iterdir()), grid=(8, 8))
    assert ds["format"] == "circuitnet" and ds["x"].shape == (6, 8, 8, 5) and set(ds["suite"]) == {"circuitnet"}
    r = json.load(open(out / "results.json"))["results"][0]
    assert r["n_test"] == 2 and r["params"] == 6 and r["auc_pooled"] > 0.6   # DRC follows RUDY: learnt
