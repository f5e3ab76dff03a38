"""Synthetic Criteo-format click logs from a planted click model, with the Bayes-optimal logloss recorded.

This is the project's embedded default data.  Rows have 13 integer and 26 hex categorical fields; the true
click probability is sigmoid(bias + first-order value effects + pairwise field interactions + one triple
interaction + dense effects), categorical values follow Zipf-like frequencies and some dense features are
driven by categorical values.  Since the true p of every row is known, each split's Bayes logloss (mean
binary entropy of p) is the floor any model can reach; the realised-label logloss of p is recorded too.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from pipelines.ctr.schema import FeatureSpec, save_spec
from pipelines.ctr.split import SPLITS, StratifiedAssigner

NUM_DENSE, NUM_SPARSE = 13, 26
# Field cardinalities: a Criteo-like mix of tiny, medium and long-tailed fields.
CARDINALITIES = (4, 6, 10, 16, 24, 40, 60, 100, 150, 250, 400, 600, 1000, 1500, 2500, 4000, 6000, 10000,
                 15000, 25000, 40000, 60000, 100000, 8, 30, 300)
CHUNK_ROWS = 50_000


@dataclasses.dataclass(frozen=True)
class ClickModelConfig:
    """Tunable strengths of the planted click model (std of the logit contributions of each part)."""

    base_ctr: float = 0.22
    zipf: float = 1.1                 # value frequency ~ (rank + 1) ** -zipf
    first_order: float = 0.45         # per-value effect std on the fields that matter
    first_order_fields: int = 14      # how many categorical fields carry first-order effects ...
    first_order_max_card: int = 5000  # ... chosen among fields with at most this many values (the long-
                                      # tailed id-like fields are pure noise a model must learn to ignore)
    pairwise: float = 0.7             # per-value-pair effect std
    pairs: tuple = ((0, 5), (2, 8), (3, 6), (1, 23))  # field pairs (indices) with pairwise effects
    triple: float = 0.8               # per-value-triple effect std
    triple_fields: tuple = (0, 2, 23)
    dense: float = 0.35               # weight std of standardised log dense features
    dense_pair: float = 0.3           # one dense x dense interaction
    max_missing: float = 0.3          # per-field missing rates are drawn in [0, max_missing]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pairs"] = [list(p) for p in self.pairs]
        d["triple_fields"] = list(self.triple_fields)
        return d


class PlantedClickModel:
    """Draws the planted model's tables from a seed, then samples rows and their true click probabilities."""

    def __init__(self, config: ClickModelConfig = ClickModelConfig(), seed: int = 0):
        self.config = c = config
        rng = np.random.default_rng([seed, 0])
        self.cards = np.array(CARDINALITIES)
        self.value_p = [self._zipf(n, c.zipf, rng) for n in self.cards]
        self.cat_missing = np.where(rng.random(NUM_SPARSE) < 0.4, rng.uniform(0, c.max_missing, NUM_SPARSE), 0)
        self.dense_missing = np.where(rng.random(NUM_DENSE) < 0.5, rng.uniform(0, c.max_missing, NUM_DENSE), 0)
        fo = rng.choice(np.flatnonzero(self.cards <= c.first_order_max_card), c.first_order_fields,
                        replace=False)
        # Effect tables get one extra slot (index = card) for "missing".
        self.first = {int(j): rng.normal(0, c.first_order, self.cards[j] + 1) for j in fo}
        self.pair = {(a, b): rng.normal(0, c.pairwise, (self.cards[a] + 1, self.cards[b] + 1))
                     for a, b in c.pairs}
        a, b, t = c.triple_fields
        self.trip = rng.normal(0, c.triple, (self.cards[a] + 1, self.cards[b] + 1, self.cards[t] + 1))
        # Dense: first 7 features are Poisson counts whose rate depends on a categorical field's value.
        self.dense_src = rng.choice(np.flatnonzero(self.cards <= 1000), 7, replace=False)
        self.dense_rate = [rng.normal(0, 0.8, self.cards[s] + 1) for s in self.dense_src]
        self.dense_mu = rng.uniform(0.0, 3.0, NUM_DENSE)
        self.dense_w = rng.normal(0, c.dense, NUM_DENSE) * (rng.random(NUM_DENSE) < 0.6)
        self.dense_pair = rng.choice(NUM_DENSE, 2, replace=False)
        self.hex_salt = int(rng.integers(0, 1 << 32))
        # Standardise dense terms and set the bias from a calibration sample.
        cal = np.random.default_rng([seed, 2])
        cats, dense = self._sample_features(20_000, cal)
        z = np.log1p(np.maximum(np.nan_to_num(dense, nan=0.0), 0))
        self.z_mean, self.z_std = z.mean(0), z.std(0) + 1e-6
        self.bias = 0.0
        self.bias = self._solve_bias(self._logit(cats, dense), c.base_ctr)

    @staticmethod
    def _zipf(n: int, a: float, rng) -> np.ndarray:
        p = (np.arange(n) + 1.0) ** -a
        return p[rng.permutation(n)] / p.sum() if n > 50 else p / p.sum()

    @staticmethod
    def _solve_bias(logit: np.ndarray, target: float) -> float:
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if np.mean(1 / (1 + np.exp(-(logit + mid)))) < target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def _sample_features(self, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """Categorical value indices [n, 26] (card = missing) and dense floats [n, 13] (NaN = missing)."""
        cats = np.empty((n, NUM_SPARSE), np.int64)
        for j in range(NUM_SPARSE):
            cats[:, j] = rng.choice(self.cards[j], n, p=self.value_p[j])
            cats[rng.random(n) < self.cat_missing[j], j] = self.cards[j]
        dense = np.empty((n, NUM_DENSE))
        for k in range(NUM_DENSE):
            log_rate = self.dense_mu[k] + rng.normal(0, 0.4, n)
            if k < len(self.dense_src):
                log_rate = log_rate + self.dense_rate[k][cats[:, self.dense_src[k]]]
            dense[:, k] = rng.poisson(np.exp(np.minimum(log_rate, 12)))
        dense[:, 1] -= 1  # like Criteo's I2, a feature that can be -1
        dense[rng.random((n, NUM_DENSE)) < self.dense_missing] = np.nan
        return cats, dense

    def _logit(self, cats: np.ndarray, dense: np.ndarray) -> np.ndarray:
        out = np.full(len(cats), self.bias)
        for j, table in self.first.items():
            out += table[cats[:, j]]
        for (a, b), table in self.pair.items():
            out += table[cats[:, a], cats[:, b]]
        a, b, t = self.config.triple_fields
        out += self.trip[cats[:, a], cats[:, b], cats[:, t]]
        z = (np.log1p(np.maximum(np.nan_to_num(dense, nan=0.0), 0)) - self.z_mean) / self.z_std
        out += z @ self.dense_w
        out += self.config.dense_pair * z[:, self.dense_pair[0]] * z[:, self.dense_pair[1]]
        return out

    def sample(self, n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(labels, true p, categorical indices, dense) for n fresh rows."""
        cats, dense = self._sample_features(n, rng)
        p = 1 / (1 + np.exp(-self._logit(cats, dense)))
        return (rng.random(n) < p).astype(np.int64), p, cats, dense

    def hex_tables(self) -> list[list[str]]:
        """Per field, the Criteo-like 8-hex string of every value index ("" for missing)."""
        tables = []
        for j, n in enumerate(self.cards):
            v = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.uint64(j * 0x85EBCA77 + self.hex_salt))
            tables.append([f"{int(x) & 0xFFFFFFFF:08x}" for x in v] + [""])
        return tables


def synthetic_spec(vocab_cap: int = 500_000) -> FeatureSpec:
    """FeatureSpec of the synthetic data: tables of 2x each field's cardinality (few hash collisions)."""
    return FeatureSpec(tuple(f"I{i + 1}" for i in range(NUM_DENSE)), tuple(f"C{i + 1}" for i in range(NUM_SPARSE)),
                       tuple(min(2 * c + 1, vocab_cap) for c in CARDINALITIES))


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def _format_rows(labels, cats, dense, hex_tables) -> list[str]:
    cols = [[str(v) for v in labels.tolist()]]
    for k in range(NUM_DENSE):
        col = dense[:, k]
        cols.append(["" if np.isnan(v) else str(int(v)) for v in col.tolist()])
    for j in range(NUM_SPARSE):
        table = hex_tables[j]
        cols.append([table[v] for v in cats[:, j].tolist()])
    return ["\t".join(row) + "\n" for row in zip(*cols)]


def write_synthetic(out_dir, n_rows: int, seed: int = 0, config: ClickModelConfig = ClickModelConfig(),
                    ratios=(8, 1, 1), progress: bool = False) -> dict:
    """Write out_dir/{train,valid,test}.txt (Criteo format, stratified 8:1:1), spec.json, dataset.json and
    bayes.json; returns the bayes.json dict.  Deterministic in (n_rows, seed, config, ratios)."""
    if n_rows < 10:
        raise ValueError(f"n_rows must be >= 10, got {n_rows}")
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    model = PlantedClickModel(config, seed)
    hex_tables = model.hex_tables()
    assigner = StratifiedAssigner(ratios, seed)
    stats = {s: np.zeros(4) for s in SPLITS}  # rows, positives, sum entropy, sum realised logloss
    files = {s: open(os.path.join(out_dir, f"{s}.txt"), "w") for s in SPLITS}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_rows, unit=" rows", desc="synth")
    try:
        for chunk, start in enumerate(range(0, n_rows, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, n_rows - start)
            labels, p, cats, dense = model.sample(n, np.random.default_rng([seed, 1, chunk]))
            lines = _format_rows(labels, cats, dense, hex_tables)
            split = assigner.assign(labels)
            pc = np.clip(p, 1e-12, 1 - 1e-12)
            realised = -(labels * np.log(pc) + (1 - labels) * np.log(1 - pc))
            ent = _entropy(p)
            for s_id, s in enumerate(SPLITS):
                sel = split == s_id
                files[s].writelines(line for line, keep in zip(lines, sel) if keep)
                stats[s] += [sel.sum(), labels[sel].sum(), ent[sel].sum(), realised[sel].sum()]
            if bar is not None:
                bar.update(n)
    finally:
        for f in files.values():
            f.close()
        if bar is not None:
            bar.close()
    bayes = {}
    for s, (rows, pos, ent, real) in stats.items():
        rows_ = max(rows, 1)
        ctr = pos / rows_
        bayes[s] = {"rows": int(rows), "ctr": float(ctr), "bayes_logloss": float(ent / rows_),
                    "true_p_logloss": float(real / rows_),
                    "base_rate_logloss": float(_entropy(np.array([ctr]))[0]) if rows else float("nan")}
    save_spec(out_dir, synthetic_spec(), {
        "format": "criteo", "generator": "planted_click_model", "seed": int(seed), "rows": int(n_rows),
        "ratios": list(ratios), "config": config.to_dict(),
        "splits": {s: bayes[s]["rows"] for s in SPLITS}})
    with open(os.path.join(out_dir, "bayes.json"), "w") as f:
        json.dump(bayes, f, indent=1)
        f.write("\n")
    return bayes


def bayes_logloss(data_dir, split: str) -> float:
    """The Bayes-optimal logloss (mean binary entropy of the true p) of one split of a synthetic data dir."""
    path = os.path.join(os.fspath(data_dir), "bayes.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no bayes.json (only `tfnas data synth` output has one)")
    with open(path) as f:
        data = json.load(f)
    if split not in data:
        raise KeyError(f"{path}: no split {split!r}; have {sorted(data)}")
    return float(data[split]["bayes_logloss"])
