"""Hand-made CTR ranking baselines (DLRM, DeepFM, DCN-v2, AutoInt, MLP), each built from a FeatureSpec.

Every network maps a processed batch {"dense": f32 [B, nd], "sparse": int64 [B, ns]} to logits [B, 1]
and is wrapped for training by `pipelines.ctr.ranking.RankingModel`.
"""
from __future__ import annotations

from pipelines.ctr.baselines.autoint import AutoInt
from pipelines.ctr.baselines.dcn import DCNv2
from pipelines.ctr.baselines.deepfm import DeepFM
from pipelines.ctr.baselines.dlrm import DLRM
from pipelines.ctr.baselines.layers import CTRNetwork
from pipelines.ctr.baselines.mlp import MLPRanker
from pipelines.ctr.schema import FeatureSpec

BASELINES: dict[str, type[CTRNetwork]] = {
    "dlrm": DLRM, "deepfm": DeepFM, "dcnv2": DCNv2, "autoint": AutoInt, "mlp": MLPRanker,
}


def build_baseline(name: str, spec: FeatureSpec, **hparams) -> CTRNetwork:
    """The baseline called `name` (one of BASELINES) for `spec`, with hyper-parameters overriding defaults."""
    key = name.lower().replace("-", "").replace("_", "")
    if key == "dcn":
        key = "dcnv2"
    if key not in BASELINES:
        raise ValueError(f"unknown CTR baseline {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[key](spec, **hparams)


__all__ = ["AutoInt", "BASELINES", "CTRNetwork", "DCNv2", "DeepFM", "DLRM", "MLPRanker",
           "build_baseline"]
