"""Evolution seeded with hand-made baselines (`search.seed_baselines`, beyond the paper) and the report of
where the retrained winners came from: a seed, a descendant of a seed (mutated from one, at any depth), or
non-seeded (its ancestry reaches only random draws).

"How often a non-seeded architecture won" counts the retrain seeds (retrain.seeds) in which a non-seeded
candidate had the lowest validation logloss among the retrained top-k NASRec candidates.
"""
from __future__ import annotations

from tfnas.graph import Architecture

SEED, DESCENDANT, NON_SEEDED = "seed", "seed descendant", "non-seeded"


def baseline_seeds(names, space) -> list[Architecture]:
    """The Architectures of search.seed_baselines in `space` (tfnas/nasrec/baselines_in_space.py); errors
    name the field (search.seed_baselines[i], space.kind, space.num_blocks, space.extra.dense_widths)."""
    from tfnas.nasrec.baselines_in_space import IN_SPACE, baseline_key, from_baseline
    from tfnas.nasrec.ext import EXT_KIND
    if not isinstance(names, list):
        raise ValueError(f"search.seed_baselines must be a list of names, got {names!r}")
    if names and not getattr(space, "ext", False):
        raise ValueError(f"search.seed_baselines {names} need space.kind {EXT_KIND!r} (the paper's spaces cannot "
                         f"express them), got space.kind {getattr(space, 'kind', None)!r}")
    out, seen = [], {}
    for i, name in enumerate(names):
        where = f"search.seed_baselines[{i}]"
        if not isinstance(name, str):
            raise ValueError(f"{where} must be a baseline name, got {name!r}")
        key = baseline_key(name)
        if key not in IN_SPACE:
            raise ValueError(f"{where}: {name!r} is not a baseline the space expresses; choose from {list(IN_SPACE)}")
        if key in seen:
            raise ValueError(f"{where}: {name!r} repeats search.seed_baselines[{seen[key]}]")
        seen[key] = i
        try:
            out.append(from_baseline(key, space))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return out


def lineage(rows: list[dict]) -> dict:
    """Trial id -> {"lineage": seed / seed descendant / non-seeded, "seed_trial": the seed at the root or
    None, "baseline": that seed's meta "baseline" or None}, following each row's "parent" links."""
    by_id = {r["id"]: r for r in rows}
    out: dict = {}
    for r in rows:
        cur, depth, visited = r, 0, set()
        while cur is not None and not cur.get("seeded") and cur.get("parent") is not None \
                and cur["id"] not in visited:
            visited.add(cur["id"])
            cur, depth = by_id.get(cur["parent"]), depth + 1
        root = cur if cur is not None and cur.get("seeded") else None
        meta = (root or {}).get("arch", {}).get("meta", {}) if root else {}
        out[r["id"]] = {"lineage": NON_SEEDED if root is None else (SEED if depth == 0 else DESCENDANT),
                        "seed_trial": None if root is None else root["id"], "baseline": meta.get("baseline")}
    return out


def _describe(info: dict) -> str:
    name = f" ({info['baseline']})" if info.get("baseline") else ""
    if info["lineage"] == SEED:
        return f"seed{name}"
    if info["lineage"] == DESCENDANT:
        return f"descendant of seed trial {info['seed_trial']}{name}"
    return NON_SEEDED


def seeding_report(rows: list[dict], results: dict, metric: str = "val_logloss") -> tuple[str, dict]:
    """(report lines, JSON-able dict): each retrained NASRec candidate's lineage and, per retrain seed, the
    candidate with the lowest `metric` and whether it was non-seeded."""
    lin = lineage(rows)
    cands = {k: v for k, v in results.items() if v.get("kind") == "nasrec" and "trial_id" in v}
    info = {k: {"trial_id": int(v["trial_id"]), **lin.get(int(v["trial_id"]), {"lineage": NON_SEEDED,
                                                                             "seed_trial": None, "baseline": None})}
            for k, v in cands.items()}
    seeds = sorted({s for v in cands.values() for s in v.get("per_seed", {})}, key=int)
    winners = {}
    for s in seeds:
        scored = {k: v["per_seed"][s][metric] for k, v in cands.items() if metric in v.get("per_seed", {}).get(s, {})}
        if scored:
            winners[s] = min(scored, key=scored.get)
    non_seeded = [s for s, k in winners.items() if info[k]["lineage"] == NON_SEEDED]
    mean = {k: v[metric] for k, v in cands.items() if metric in v}
    best = min(mean, key=mean.get) if mean else None
    data = {"metric": metric, "candidates": info, "winner_per_seed": winners,
            "non_seeded_wins": len(non_seeded), "retrain_seeds": len(winners),
            "winner": best, "winner_lineage": info[best]["lineage"] if best else None}
    lines = ["seed lineage of the retrained top-k: " +
             ("; ".join(f"{k} {_describe(info[k])}" for k in sorted(info, key=lambda k: mean.get(k, 0.0)))
              or "none retrained")]
    if winners:
        lines.append(f"a non-seeded architecture won {len(non_seeded)} of {len(winners)} retrain seeds "
                     f"(lowest {metric} among the retrained candidates; seed -> winner: "
                     + ", ".join(f"{s} -> {k}" for s, k in winners.items()) + ")")
    return "\n".join(lines), data
