"""FLNet clients: each owns whole design groups of an eda dataset (by family/suite x technology, as the reference's
9 clients by benchmark suite), split into train / validation by design inside the client (30 % of designs to
validation, seeded), and normalised with statistics of its own training data only (never pooled).

Grouping: a design's family is its suite name for ISCAS'85 / EPFL / banyan and its generator family for the
generated suite (pipelines/eda/suites.py), so ("family", "technology") is suite x technology with the generated
suite split further by family. Arrays are loaded once with tfnas.routability.data (0.99-quantile clip, resize).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

GROUP_KEYS = ("family", "technology", "source", "design")


@dataclass
class Client:
    """One federated participant: its normalised train / validation arrays and where they came from."""

    name: str
    group: dict
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_designs: list
    val_designs: list
    normalizer: dict
    val_ids: list = field(default_factory=list)
    n_failed_val: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    def round_data(self, batch_size: int, epochs: int, seed) -> list:
        """This client's training batches for one round (materialised here, so a failing loader fails before TFF
        runs and the round goes on without this client)."""
        return batches(self.x_train, self.y_train, batch_size, epochs, seed)

    def summary(self) -> dict:
        return {"name": self.name, "group": self.group, "n_train": self.n_train, "n_val": int(self.x_val.shape[0]),
                "train_designs": self.train_designs, "val_designs": self.val_designs,
                "hotspot_rate_train": float(self.y_train.mean()) if self.n_train else float("nan")}


def _design_sources(dataset_dir: str) -> dict:
    path = os.path.join(dataset_dir, "manifest.json")
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            manifest = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    return {name: d.get("source", "") for name, d in manifest.get("designs", {}).items()}


def _technologies(dirs) -> list:
    out = []
    for d in dirs:
        with open(os.path.join(d, "sample.json")) as f:
            out.append(json.load(f).get("meta", {}).get("technology", "unknown"))
    return out


def make_clients(dataset_dir: str, group_by=("family", "technology"), grid=(32, 32), val_fraction: float = 0.3,
                 seed: int = 0, min_designs: int = 2, bad_samples: str = "error") -> list:
    """Clients of `dataset_dir`, one per distinct value of `group_by` (sorted by name); groups with fewer than
    `min_designs` designs cannot be split by design and raise, naming the group."""
    from tfnas.routability import data, protocol

    bad = [k for k in group_by if k not in GROUP_KEYS]
    if bad or not group_by:
        raise ValueError(f"group_by: unknown key(s) {bad or group_by}; choose from {list(GROUP_KEYS)}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    dirs = data.sample_dirs(dataset_dir)
    loaded = data.load_samples(dirs, tuple(grid), bad_samples=bad_samples)
    kept = [d for d in dirs if not any(os.path.join(d, "") in s for s in loaded["skipped"])]
    sources = _design_sources(dataset_dir)
    attrs = {"family": loaded["family"], "design": loaded["design"], "technology": _technologies(kept),
             "source": [sources.get(d, "") for d in loaded["design"]]}
    keys = [tuple(str(attrs[k][i]) for k in group_by) for i in range(len(loaded["design"]))]
    clients = []
    for key in sorted(set(keys)):
        idx = [i for i, k in enumerate(keys) if k == key]
        designs = [loaded["design"][i] for i in idx]
        name = "/".join(key)
        if len(set(designs)) < min_designs:
            raise ValueError(f"{dataset_dir}: client {name!r} has {len(set(designs))} design(s); a by-design "
                             f"train/validation split needs at least {min_designs}")
        split = protocol.split_by_design(designs, fractions=(1.0 - val_fraction, val_fraction), seed=seed)
        tr, va = [idx[i] for i in split["train"]], [idx[i] for i in split["val"]]
        norm = data.Normalizer.fit(loaded["x"][tr])
        clients.append(Client(
            name=name, group=dict(zip(group_by, key)),
            x_train=norm(loaded["x"][tr]), y_train=loaded["y"][tr].astype(np.float32),
            x_val=norm(loaded["x"][va]), y_val=loaded["y"][va].astype(np.float32),
            train_designs=sorted({loaded["design"][i] for i in tr}),
            val_designs=sorted({loaded["design"][i] for i in va}),
            normalizer=norm.get_config(), val_ids=[loaded["id"][i] for i in va],
            n_failed_val=loaded["n_failed"][va]))
    return clients


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int = 1, seed=None) -> list:
    """The (x, y) batches of `epochs` passes, each pass shuffled by a numpy generator seeded with `seed` (a tuple
    such as (seed, round, client) keeps the order independent of how the run was interrupted); None: in order."""
    rng = np.random.default_rng(seed) if seed is not None else None
    out = []
    for _ in range(epochs):
        order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
        out += [(x[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(x), batch_size)]
    return out
