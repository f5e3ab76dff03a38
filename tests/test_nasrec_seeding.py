"""search.seed_baselines: DeepFM / DCN-v2 (written in the full+ext space) first in evolution's population,
config errors naming the field, and the report of each retrained candidate's lineage and of how often a
non-seeded architecture won."""
import dataclasses
import os

import numpy as np
import pytest

from tfnas.nasrec.baselines_in_space import from_baseline
from tfnas.nasrec.config import NASRecConfig, SearchConfig
from tfnas.nasrec.search import load_candidates, make_strategy, run_nasrec_search
from tfnas.nasrec.seeding import baseline_seeds, lineage, seeding_report
from tfnas.nasrec.space import NASRecSpace
from tfnas.space import Evaluator, Result

EXT = "full+ext"
CFG = SearchConfig(population_size=6, sample_size=3, children_per_generation=2, generations=3,
                   mutations_start=2, mutations_end=1, seed=1, seed_baselines=["deepfm", "dcn_v2"])


class OpEvaluator(Evaluator):
    """Deterministic stand-in score from the ops and widths (no training)."""

    def evaluate(self, arch):
        s = sum(0.1 * (a.get("dense_op") == "attn") + np.log2(a.get("dense_width", 16)) / 100
                for _, a in arch.graph.nodes(data=True) if a.get("op") == "nasrec_block")
        return Result({"logloss": 0.4 + float(s), "auc": 0.7}, {"flops": 1.0})


def test_seed_baselines_come_first_and_descendants_are_traced(tmp_path):
    space = NASRecSpace(EXT, 6)
    run_nasrec_search(CFG, space, OpEvaluator(), str(tmp_path), progress=False)
    rows = load_candidates(str(tmp_path))
    assert [r["seeded"] for r in rows[:3]] == [True, True, False]
    assert rows[0]["architecture"].key() == from_baseline("deepfm", space).key()
    assert rows[1]["architecture"].meta["baseline"] == "dcnv2"
    lin = lineage(rows)
    assert lin[0] == {"lineage": "seed", "seed_trial": 0, "baseline": "deepfm"}
    for r in rows[6:]:   # children: a descendant exactly when the parent is a seed or a seed's descendant
        parent = lin[r["parent"]]
        want = "non-seeded" if parent["lineage"] == "non-seeded" else "seed descendant"
        assert lin[r["id"]]["lineage"] == want and lin[r["id"]]["seed_trial"] == parent["seed_trial"]


def test_seed_baselines_errors_name_the_field(tmp_path):
    space = NASRecSpace(EXT, 6)
    with pytest.raises(ValueError, match=r"search.seed_baselines\[1\]: 'autoint' is not a baseline the space"):
        baseline_seeds(["deepfm", "autoint"], space)
    with pytest.raises(ValueError, match=r"search.seed_baselines\[1\]: 'DeepFM' repeats search.seed_baselines\[0\]"):
        baseline_seeds(["deepfm", "DeepFM"], space)
    with pytest.raises(ValueError, match=r"search.seed_baselines \['deepfm'\] need space.kind 'full\+ext'.*'full'"):
        make_strategy(dataclasses.replace(CFG, seed_baselines=["deepfm"]), NASRecSpace("full", 6))
    with pytest.raises(ValueError, match=r"search.seed_baselines\[0\]: dcnv2: needs 6 blocks .*space.num_blocks is 4"):
        baseline_seeds(["dcnv2"], NASRecSpace(EXT, 4))
    with pytest.raises(ValueError, match=r"search.seed_baselines\[0\]: deepfm: .*space.extra.dense_widths"):
        baseline_seeds(["deepfm"], NASRecSpace(EXT, 6, dense_widths=[16, 128]))
    with pytest.raises(ValueError, match=r"search.seed_baselines needs search.strategy 'evolution'"):
        make_strategy(dataclasses.replace(CFG, strategy="random"), space)
    with pytest.raises(ValueError, match=r"field search.seed_baselines must be list"):
        NASRecConfig.from_dict({"search": {"seed_baselines": "deepfm"}})


def _row(i, seeded=False, parent=None, baseline=None):
    return {"id": i, "seeded": seeded, "parent": parent,
            "arch": {"meta": {"baseline": baseline} if baseline else {}}}


def test_seeding_report_lineage_and_non_seeded_wins():
    rows = [_row(0, True, baseline="deepfm"), _row(1, True, baseline="dcnv2"), _row(2), _row(3, parent=0),
            _row(4, parent=3), _row(5, parent=2)]

    def cand(trial, per_seed):
        return {"kind": "nasrec", "trial_id": trial, "val_logloss": float(np.mean(per_seed)),
                "per_seed": {str(s): {"val_logloss": v} for s, v in enumerate(per_seed)}}

    results = {"cand_5": cand(5, [0.40, 0.46, 0.41]), "cand_4": cand(4, [0.42, 0.41, 0.43]),
               "cand_1": cand(1, [0.44, 0.44, 0.40]), "deepfm": {"kind": "baseline", "val_logloss": 0.3}}
    text, data = seeding_report(rows, results)
    assert text.splitlines()[0] == ("seed lineage of the retrained top-k: cand_4 descendant of seed trial 0 "
                                    "(deepfm); cand_5 non-seeded; cand_1 seed (dcnv2)")
    assert text.splitlines()[1].startswith("a non-seeded architecture won 1 of 3 retrain seeds")
    assert "0 -> cand_5, 1 -> cand_4, 2 -> cand_1" in text
    assert data["winner_per_seed"] == {"0": "cand_5", "1": "cand_4", "2": "cand_1"}
    assert (data["non_seeded_wins"], data["retrain_seeds"], data["winner"], data["winner_lineage"]) == \
        (1, 3, "cand_4", "seed descendant")
    assert data["candidates"]["cand_4"] == {"trial_id": 4, "lineage": "seed descendant", "seed_trial": 0,
                                            "baseline": "deepfm"}


def test_ext_demo_config_loads_and_seeds_build():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = NASRecConfig.load(os.path.join(root, "configs", "nasrec_ext_demo.json"))
    space = NASRecSpace(cfg.space.kind, num_blocks=cfg.space.num_blocks, **cfg.space.extra)
    seeds = baseline_seeds(cfg.search.seed_baselines, space)
    assert [a.meta["baseline"] for a in seeds] == ["deepfm", "dcnv2"]
    make_strategy(cfg.search, space)
