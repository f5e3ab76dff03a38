"""Check that two generated datasets hold the same samples (same maps, same labels, same meta apart from timings).

graywolf and qrouter are deterministic for a fixed seed, so regenerating a dataset with the same command and seed
must give identical samples; this module is how that claim is checked (`python -m pipelines.eda.reproduce A B`).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

VOLATILE_META = ("timings_s", "cpu_s", "seconds")


_WORKDIR_RX = re.compile(r"(?:/[^\s/:]+)+/(?=[^\s/:]+\.(?:def|lef|txt)\b)")


def _normalise(obj):
    """Drop directories from file paths inside strings (the per-placement temp dir has a random name)."""
    if isinstance(obj, dict):
        return {k: _normalise(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_normalise(v) for v in obj]
    if isinstance(obj, str):
        return _WORKDIR_RX.sub("", obj)
    return obj


def _strip(meta: dict) -> dict:
    return _normalise({k: v for k, v in meta.items() if k not in VOLATILE_META})


def compare_samples(a: Path, b: Path) -> list[str]:
    """Differences between two sample directories (empty list when identical up to timings)."""
    diffs = []
    ja, jb = json.loads((a / "sample.json").read_text()), json.loads((b / "sample.json").read_text())
    ma, mb = _strip(ja.get("meta", {})), _strip(jb.get("meta", {}))
    for k in sorted(set(ma) | set(mb)):
        if ma.get(k) != mb.get(k):
            diffs.append(f"{a.name}: meta[{k!r}] differs: {str(ma.get(k))[:80]} != {str(mb.get(k))[:80]}")
    with np.load(a / "sample.npz") as za, np.load(b / "sample.npz") as zb:
        if set(za.files) != set(zb.files):
            diffs.append(f"{a.name}: arrays {sorted(set(za.files) ^ set(zb.files))} only in one")
        for k in sorted(set(za.files) & set(zb.files)):
            x, y = za[k], zb[k]
            if x.shape != y.shape or not np.array_equal(x, y):
                diffs.append(f"{a.name}: array {k} differs (max |d| = "
                             f"{float(np.max(np.abs(x - y))) if x.shape == y.shape else 'shape'})")
    return diffs


def compare_datasets(dir_a, dir_b) -> dict:
    """Compare every sample present in both datasets; returns counts and the list of differences."""
    sa = {p.name: p for p in (Path(dir_a) / "samples").iterdir() if (p / "sample.json").is_file()}
    sb = {p.name: p for p in (Path(dir_b) / "samples").iterdir() if (p / "sample.json").is_file()}
    common = sorted(set(sa) & set(sb))
    diffs = [d for name in common for d in compare_samples(sa[name], sb[name])]
    identical = sum(1 for name in common if not compare_samples(sa[name], sb[name]))
    return {"compared": len(common), "identical": identical, "only_in_a": sorted(set(sa) - set(sb)),
            "only_in_b": sorted(set(sb) - set(sa)), "differences": diffs}


def main(argv=None) -> int:
    """CLI: compare two datasets; exit 0 when every common sample is identical."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset_a")
    ap.add_argument("dataset_b")
    args = ap.parse_args(argv)
    r = compare_datasets(args.dataset_a, args.dataset_b)
    print(f"compared {r['compared']} samples: {r['identical']} identical; only in A: {len(r['only_in_a'])}, "
          f"only in B: {len(r['only_in_b'])}")
    for d in r["differences"][:50]:
        print("  " + d)
    return 0 if r["compared"] and r["identical"] == r["compared"] else 1


if __name__ == "__main__":
    sys.exit(main())
