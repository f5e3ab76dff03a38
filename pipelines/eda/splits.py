"""Deterministic dataset splits: by design (no design in two splits) and federated clients by design family.

Placements of one design are near-duplicates of each other, so a random split by sample leaks; splitting by
design (and, for the federated setting, giving each client whole families) measures generalisation honestly.
"""
from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from pathlib import Path


def read_meta(sample_dir) -> dict:
    """The `meta` dict of a sample directory's sample.json (errors name the file)."""
    path = Path(sample_dir) / "sample.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no sample.json") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
    meta = doc.get("meta", doc)
    for key in ("design", "family"):
        if key not in meta:
            raise ValueError(f"{path}: meta has no field {key!r}")
    return meta


def index(dataset_dir) -> list[dict]:
    """One record per complete sample under `dataset_dir/samples` (or `dataset_dir` itself): dir, design, family."""
    root = Path(dataset_dir)
    base = root / "samples" if (root / "samples").is_dir() else root
    recs = []
    for d in sorted(p for p in base.iterdir() if p.is_dir() and (p / "sample.json").is_file()):
        m = read_meta(d)
        recs.append({"sample_dir": str(d), "design": m["design"], "family": m["family"],
                     "technology": m.get("technology"), "routed": m.get("routed")})
    if not recs:
        raise ValueError(f"{base}: no samples (expected <dir>/sample.json)")
    return recs


def _group(records, key) -> dict:
    groups = defaultdict(list)
    for r in records:
        groups[r[key]].append(r["sample_dir"])
    return {k: sorted(v) for k, v in sorted(groups.items())}


def split_by_design(records: list[dict], fractions=(0.7, 0.15, 0.15), seed: int = 0,
                    names=("train", "val", "test")) -> dict:
    """Split samples so every design lies in exactly one split; design counts follow `fractions` (seeded shuffle)."""
    if len(fractions) != len(names) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions {fractions} must be {len(names)} non-negative numbers")
    by_design = _group(records, "design")
    designs = list(by_design)
    random.Random(seed).shuffle(designs)
    total = sum(fractions)
    n = len(designs)
    counts = [int(round(n * f / total)) for f in fractions]
    # every split asked for gets at least one design while designs remain; the rest goes to the first split
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0 and sum(counts) < n:
            counts[i] = 1
    while sum(counts) > n:
        i = max(range(len(counts)), key=lambda k: counts[k])
        counts[i] -= 1
    counts[0] += n - sum(counts)
    out, start = {}, 0
    for name, c in zip(names, counts):
        chosen = sorted(designs[start:start + c])
        out[name] = {"designs": chosen, "samples": [s for d in chosen for s in by_design[d]]}
        start += c
    return out


def client_split_by_family(records: list[dict], n_clients: int, seed: int = 0, test_fraction: float = 0.25) -> dict:
    """Give each of `n_clients` whole design families (balanced by sample count); inside a client, split by design."""
    by_family = _group(records, "family")
    if n_clients < 1:
        raise ValueError("n_clients must be >= 1")
    if n_clients > len(by_family):
        raise ValueError(f"{n_clients} clients but only {len(by_family)} design families ({', '.join(by_family)})")
    fams = list(by_family)
    random.Random(seed).shuffle(fams)
    fams.sort(key=lambda f: -len(by_family[f]))          # stable: ties keep the seeded order
    load = [0] * n_clients
    owned = [[] for _ in range(n_clients)]
    for f in fams:                                        # largest family to the least-loaded client
        c = min(range(n_clients), key=lambda k: (load[k], k))
        owned[c].append(f)
        load[c] += len(by_family[f])
    out = {}
    for c in range(n_clients):
        recs = [r for r in records if r["family"] in owned[c]]
        inner = split_by_design(recs, (1 - test_fraction, test_fraction), seed=seed + c, names=("train", "test"))
        out[f"client_{c}"] = {"families": sorted(owned[c]), **inner}
    return out


def save_splits(splits: dict, path) -> str:
    """Write a split dict as JSON (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(splits, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return str(path)
