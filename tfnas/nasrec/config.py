"""One JSON config per NASRec run: every setting of the four stages, with the reference defaults.

Defaults follow facebookresearch/NasRec's Criteo scripts (supernet lr 0.12 / batch 512 / one epoch with 15k
warm-up steps, fine-tune last layer 500 steps at lr 0.04, evolution 128/64/8/240, top-15 retrain at lr 0.12).
"""
from __future__ import annotations

import dataclasses
import json
import os
import typing
from typing import Any


@dataclasses.dataclass
class DataConfig:
    """Where the CTR data lives. Planted synthetic data is asked for by name (`synthetic: true`), never a
    fallback: a folder without `spec.json` is an error unless `synthetic` is set."""

    dir: str = "data/generated/ctr_planted"
    fmt: str = "auto"
    synthetic: bool = False  # write planted synthetic data into `dir` when it has no spec.json yet
    synthetic_rows: int = 200_000
    synthetic_seed: int = 0
    vocab_cap: int = 0  # 0 = no cap; NASRec caps tables while searching
    train_split: str = "train"
    val_split: str = "valid"
    test_split: str = "test"
    bad_rows: str = "error"  # "error": stop at the first malformed row (file:line: field); "skip": drop and count


@dataclasses.dataclass
class SpaceConfig:
    """Which NASRec space: kind ("small" = NASRec-Small, "full" = NASRec-Full, "full+ext" = NASRec-Full plus what
    DeepFM / DCN-v2 need, beyond the paper and subnet-only: tfnas/nasrec/ext.py) and number of blocks."""

    kind: str = "full"
    num_blocks: int = 7
    extra: dict = dataclasses.field(default_factory=dict)  # e.g. dense_widths / sparse_widths lists


@dataclasses.dataclass
class SupernetConfig:
    """Supernet training: path sampler, steps and optimizer (reference: single-op any-connection,
    one epoch with the whole supernet trained during a 15k-step warm-up of decaying probability)."""

    sampler: str = "single_op_any_connection"
    steps: int = 0  # 0 = one pass over the training split (or `epochs` passes)
    warmup_steps: int = 15_000
    # Budget scaled with the data (an extension; the paper fixes one epoch): epochs > 0 sets steps = round(epochs x
    # batches per pass over train), i.e. epochs x rows / batch_size steps, and warmup_fraction > 0 sets warmup_steps
    # = round(warmup_fraction x steps); both override the fixed counts.
    epochs: float = 0.0
    warmup_fraction: float = 0.0
    batch_size: int = 512
    learning_rate: float = 0.12  # Adagrad (eps 1e-2), 10% warm-up then cosine, clip-norm 5
    seed: int = 0
    save_every: int = 100  # checkpoint every this many steps (a kill loses at most these)
    extra: dict = dataclasses.field(default_factory=dict)  # passed through to NASRecSupernet


@dataclasses.dataclass
class FinetuneConfig:
    """Per-candidate scoring: last layer fine-tuned for `steps`, then logloss on `eval_steps` val batches."""

    enabled: bool = True
    steps: int = 500
    batch_size: int = 512
    learning_rate: float = 0.04
    optimizer: str = "adagrad"
    clipnorm: float = 5.0
    eval_batch_size: int = 8192
    eval_steps: int = 150  # 0 = the whole validation split


@dataclasses.dataclass
class SearchConfig:
    """Regularized evolution settings (reference: 128 / 64 / 8 children / 240 generations / 6 -> 1)."""

    strategy: str = "evolution"  # or "random"
    population_size: int = 128
    sample_size: int = 64
    children_per_generation: int = 8
    generations: int = 240
    mutations_start: int = 6
    mutations_end: int = 1
    seed: int = 0
    objective: str = "logloss"
    # Architecture JSON files (paths from the working directory) placed first in evolution's initial
    # population (beyond the paper, which starts from random draws); empty = the paper's search.
    seed_architectures: list = dataclasses.field(default_factory=list)
    # Hand-made baselines ("deepfm", "dcnv2") put next in the initial population, written in the space by
    # tfnas/nasrec/baselines_in_space.py (needs space.kind "full+ext"; beyond the paper); empty = none.
    seed_baselines: list = dataclasses.field(default_factory=list)
    # How a candidate is scored: "supernet" (the paper: weight-sharing supernet, head fine-tuned; `finetune`) or
    # "scratch" (beyond the paper: trained briefly from scratch, `scratch`; needed by the subnet-only full+ext).
    scorer: str = "supernet"


SCORERS = ("supernet", "scratch")


@dataclasses.dataclass
class ScratchConfig:
    """search.scorer "scratch" (beyond the paper): each candidate built as a standalone subnet and trained from
    scratch for `steps` steps under the one CTR protocol (fit_ctr with retrain's optimizer and learning rates),
    weights seeded by `seed`, scored by logloss on `eval_steps` validation batches (0 = the whole split)."""

    steps: int = 0  # training steps per candidate; 0 = one pass over the training split
    batch_size: int = 512
    eval_batch_size: int = 8192
    eval_steps: int = 0
    seed: int = 0


@dataclasses.dataclass
class RetrainConfig:
    """Top-k candidates and the hand-made baselines retrained from scratch under the one CTR protocol
    (tfnas/train/ctr.py `fit_ctr`, the same as `tfnas ctr leaderboard`): Adam (learning_rate) for dense
    layers + row-wise Adagrad (sparse_learning_rate) for embeddings, up to `epochs` with early stopping on
    validation logloss after `patience` epochs and the best epoch restored; each model over every seed in
    `seeds` (empty: [seed]), reported as mean +- std.  `references` adds scikit-learn reference rows."""

    top_k: int = 15
    epochs: int = 1
    steps_per_epoch: int = 0  # 0 = the whole training split each epoch
    batch_size: int = 512
    learning_rate: float = 1e-3
    optimizer: str = "adam+adagrad"
    sparse_learning_rate: float = 0.2
    patience: int = 2
    eval_batch_size: int = 8192
    baselines: list = dataclasses.field(default_factory=list)  # e.g. ["dlrm", "deepfm", ...]
    references: list = dataclasses.field(default_factory=list)  # e.g. ["logreg", "hgb"]
    seed: int = 0
    seeds: list = dataclasses.field(default_factory=list)

    def seed_list(self) -> list:
        return [int(s) for s in self.seeds] or [int(self.seed)]


@dataclasses.dataclass
class ExportConfig:
    """Where the best retrained model is exported (TF Serving layout: root/name/version/)."""

    name: str = "nasrec"
    root: str = "saved_models"
    version: int = 0  # 0 = next free version
    max_flops: float = 0.0  # FLOPs-per-example budget of the retrained and exported found net (0 = none)


@dataclasses.dataclass
class NASRecConfig:
    """All settings of one NASRec run; `run_dir` holds every stage's output (stages skip if done)."""

    run_dir: str = "runs/nasrec"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    space: SpaceConfig = dataclasses.field(default_factory=SpaceConfig)
    supernet: SupernetConfig = dataclasses.field(default_factory=SupernetConfig)
    finetune: FinetuneConfig = dataclasses.field(default_factory=FinetuneConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    scratch: ScratchConfig = dataclasses.field(default_factory=ScratchConfig)
    retrain: RetrainConfig = dataclasses.field(default_factory=RetrainConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str) -> None:
        """Write the full config (every field, defaults included) as JSON."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: dict, source: str = "<dict>") -> NASRecConfig:
        """Build from a (possibly partial) dict; unknown or mistyped fields raise naming `source` and field."""
        return _build(cls, d, source, "").check(source)

    def check(self, source: str = "<config>") -> NASRecConfig:
        """Settings that only make sense together (the scorer and the space kind); errors name the field.
        Runs at load, before any data is written."""
        from tfnas.nasrec.ext import EXT_KIND
        sc, kind = self.scratch, self.space.kind
        if self.search.scorer not in SCORERS:
            raise ValueError(f"{source}: search.scorer must be one of {list(SCORERS)}, got {self.search.scorer!r}")
        if self.search.scorer == "supernet" and kind == EXT_KIND:
            raise ValueError(f"{source}: search.scorer 'supernet' cannot score space.kind {kind!r} (its ops are "
                             "subnet-only: the weight-sharing supernet lacks them); set search.scorer to 'scratch'")
        for name, low in (("steps", 0), ("batch_size", 1), ("eval_batch_size", 1), ("eval_steps", 0)):
            if getattr(sc, name) < low:
                raise ValueError(f"{source}: scratch.{name} must be >= {low}, got {getattr(sc, name)}")
        return self

    @classmethod
    def load(cls, path: str) -> NASRecConfig:
        """Read a JSON config file; errors name the file, the line (for JSON syntax) and the field."""
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise ValueError(f"{path}: cannot read NASRec config: {e}") from e
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
        if not isinstance(d, dict):
            raise ValueError(f"{path}: top level must be a JSON object")
        return cls.from_dict(d, source=path)


def _build(cls, d: Any, source: str, prefix: str):
    """Recursively build dataclass `cls` from dict `d`, checking names and types."""
    if not isinstance(d, dict):
        raise ValueError(f"{source}: field {prefix.rstrip('.') or '<root>'} must be an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {[prefix + u for u in unknown]}; "
                         f"known: {sorted(fields)}")
    kwargs = {}
    for name, value in d.items():
        t = hints[name]
        where = prefix + name
        if dataclasses.is_dataclass(t):
            kwargs[name] = _build(t, value, source, where + ".")
        else:
            kwargs[name] = _check(t, value, source, where)
    return cls(**kwargs)


def _check(t, value, source: str, where: str):
    """Check (and lightly coerce int->float) one scalar/list/dict field value."""
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          list: lambda v: isinstance(v, list),
          dict: lambda v: isinstance(v, dict)}[t]
    if not ok(value):
        raise ValueError(f"{source}: field {where} must be {t.__name__}, got {value!r}")
    return float(value) if t is float else value
