"""`tfnas routenas search | retrain | evaluate | export`: routability NAS (arXiv 2012.01737) on the core.

search   RUN/settings.json, RUN/supernet/ (core train() run), RUN/search/{state.json, topk.json, summary.json};
         re-running the same command resumes (supernet from its last epoch, evolution from its checkpoint).
retrain  the top-k cells from scratch with train() (and, with --baselines, the hand-made estimators on the same
         splits, seeds and budget) into RUN/retrain/<model>/<split>/seed<k>/; RUN/retrain/leaderboard.{json,md}.
         The split seed is the search's, so by-design test designs were never seen by the search. The row
         "routenas-found" is, per split and seed, the top-k cell with the best validation-design score (pick_found).
evaluate reloads every retrained model.keras, re-scores it on its test placements (must match the recorded
         figures), writes RUN/evaluation.{json,md}: leaderboard + relative gain of the best found cell.
export   the best found cell's first run (SavedModel with fresh-process reload check, optional TFLite); RUN/run.json
         points at it, so `tfnas export --run RUN` works too.
"""
from __future__ import annotations

import argparse
import json
import os
import time

BASELINES = ("routenet", "flnet", "pros", "logreg")
FOUND = "routenas-found"


def pick_found(results: list) -> list:
    """One "routenas-found" row per (split, seed): the retrained top-k cell with the best validation score
    (`search.score` on the validation designs, the search's own objective), never chosen on test figures."""
    from tfnas.routenas.search import score
    by: dict = {}
    for r in results:
        if r["model"].startswith("routenas-top") and "val_auc_pooled" in r:
            by.setdefault((r["split"], r["seed"]), []).append(r)
    out = []
    for rs in by.values():
        best = max(rs, key=lambda r: (score({"auc_pooled": r["val_auc_pooled"], "kendall_tau": r["val_kendall_tau"]}),
                                      -int(r["model"][len("routenas-top"):])))
        out.append({**best, "model": FOUND, "picked": best["model"]})
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser("routenas", help="routability NAS: supernet + regularized evolution + retrain")
    sub = p.add_subparsers(dest="routenas_command", metavar="SUBCOMMAND")
    s = sub.add_parser("search", help="train the supernet, evolve cells scored on validation designs (resumable)")
    s.add_argument("--data", required=True, help="dataset folder (with samples/) or a CircuitNet root")
    s.add_argument("--out", required=True, help="run folder")
    s.add_argument("--grid", type=int, nargs=2, default=[32, 32], metavar=("H", "W"))
    s.add_argument("--width", type=int, default=32, help="channels of the stem and every cell")
    s.add_argument("--supernet-epochs", type=int, default=10)
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--population", type=int, default=16)
    s.add_argument("--sample-size", type=int, default=4)
    s.add_argument("--children", type=int, default=4, help="children per generation")
    s.add_argument("--generations", type=int, default=6)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split-seed", type=int, default=0)
    s.add_argument("--top-k", type=int, default=2)
    s.add_argument("--bad-samples", choices=["error", "skip"], default="error")
    s.add_argument("--no-bn-recalibration", action="store_true",
                   help="score candidates with the supernet's shared BatchNorm statistics (no per-path recalibration)")
    s.set_defaults(func=_search, lock_arg="out")

    r = sub.add_parser("retrain", help="retrain the top-k cells from scratch (and the baselines) over seeds")
    r.add_argument("--run", required=True, help="a `routenas search` run folder")
    r.add_argument("--top-k", type=int, default=None,
                   help="how many of the best searched cells are retrained (default: the search's --top-k)")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--split", choices=["design", "loso"], default="design")
    r.add_argument("--group", choices=["suite", "family"], default="suite")
    r.add_argument("--hold-out", nargs="+", default=None)
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--batch-size", type=int, default=None, help="examples per training step (default: the search's)")
    r.add_argument("--lr", type=float, default=None, help="learning rate (default: the search's)")
    r.add_argument("--patience", type=int, default=5)
    r.add_argument("--baselines", nargs="*", default=[], choices=BASELINES,
                   help="also train these hand-made estimators on the same splits and seeds")
    r.set_defaults(func=_retrain, lock_arg="run")

    e = sub.add_parser("evaluate", help="re-score the retrained models from their saved files; leaderboard + gains")
    e.add_argument("--run", required=True)
    e.set_defaults(func=_evaluate, lock_arg="run")

    x = sub.add_parser("export", help="export the best found cell's model (SavedModel, reload check, TFLite)")
    x.add_argument("--run", required=True)
    x.add_argument("--name", required=True)
    x.add_argument("--version", type=int, default=None)
    x.add_argument("--root", default="saved_models")
    x.add_argument("--tflite", choices=("float32", "float16", "int8"), default=None)
    x.add_argument("--no-check", action="store_true")
    x.set_defaults(func=_export)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _settings(run: str):
    from tfnas.routenas.search import SETTINGS, SearchSettings
    path = os.path.join(run, SETTINGS)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: not a routenas search folder (run `tfnas routenas search` first)")
    with open(path) as f:
        try:
            return SearchSettings.from_dict(json.load(f))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: malformed settings ({exc})") from None


def _load(settings, out: str) -> dict:
    from tfnas.routability import data
    dirs = data.resolve_sample_dirs(settings.data, os.path.join(out, "circuitnet_samples"))
    return data.load_samples(dirs, tuple(settings.grid), bad_samples=settings.bad_samples)


def _search(args) -> int:
    from tfnas.commands.routability import check_data_dir
    check_data_dir(args.data)
    from tfnas.routenas import search
    from tfnas.runs import write_json_atomic
    settings = search.SearchSettings(
        data=os.path.abspath(args.data), grid=tuple(args.grid), width=args.width,
        supernet_epochs=args.supernet_epochs, batch_size=args.batch_size, lr=args.lr, population=args.population,
        sample_size=args.sample_size, children=args.children, generations=args.generations, seed=args.seed,
        split_seed=args.split_seed, top_k=args.top_k, bad_samples=args.bad_samples,
        bn_recalibration=not args.no_bn_recalibration)
    os.makedirs(args.out, exist_ok=True)
    search.check_settings(args.out, settings)
    ds = _load(settings, args.out)
    supernet, info = search.train_supernet(ds, settings, args.out)
    cpu0, t0 = time.process_time(), time.perf_counter()
    strategy = search.run_evolution(supernet, ds, settings, args.out)
    info.update(search_cpu_s=round(time.process_time() - cpu0, 2), search_wall_s=round(time.perf_counter() - t0, 2),
                trials=len(strategy.history), failed=len(strategy.failures()))
    info["total_cpu_s"] = round(info["supernet_cpu_s"] + info["search_cpu_s"], 2)
    top = search.top_k_records(strategy, settings.top_k)
    write_json_atomic(os.path.join(args.out, search.SEARCH, "topk.json"), top)
    write_json_atomic(os.path.join(args.out, search.SEARCH, "summary.json"),
                      {**info, "best_per_generation": strategy.best_per_generation(), "note":
                       "CPU seconds are this invocation's (a resumed search counts only its own part)"})
    for t in top:
        m = t["metrics"]
        print(f"top {t['rank']}: {t['key']} score={m['score']:.4f} val_auc={m['val_auc_pooled']:.4f} "
              f"val_tau={m['val_kendall_tau']:.4f} params={t['cost'].get('params', 0):.0f}")
    print(f"search: {info['trials']} trials, supernet {info['supernet_cpu_s']} CPU s + evolution "
          f"{info['search_cpu_s']} CPU s -> {os.path.join(args.out, search.SEARCH)}")
    return 0


def _retrain(args) -> int:
    from tfnas.commands.routability import run_models, write_leaderboard
    from tfnas.routability import estimators
    from tfnas.routenas import search
    from tfnas.routenas.space import Macro, build_subnet
    settings = _settings(args.run)
    top = search.load_top_k(args.run)[: args.top_k or settings.top_k]
    ds = _load(settings, args.run)
    macro = Macro(settings.width)
    models = {}
    for t in top:
        models[f"routenas-top{t['rank']}"] = (lambda arch: lambda shape, seed: build_subnet(arch, shape, macro, seed))(
            t["arch"])
    for b in args.baselines:
        name = "logistic" if b == "logreg" else b
        models[name] = (lambda n: lambda shape, seed: estimators.build_estimator(n, shape, seed))(name)
    ns = argparse.Namespace(seeds=args.seeds, split_seed=settings.split_seed, split=args.split, group=args.group,
                            hold_out=args.hold_out, epochs=args.epochs, patience=args.patience,
                            batch_size=args.batch_size or settings.batch_size, lr=args.lr or settings.lr)
    out = os.path.join(args.run, search.RETRAIN)
    os.makedirs(out, exist_ok=True)
    old = []
    path = os.path.join(out, "results.json")
    if os.path.exists(path):   # a second retrain (say --split loso after design) adds to the same table
        with open(path) as f:
            old = [r for r in json.load(f)["results"]
                   if not (r["model"] in models and r["split"].split("-")[0] == args.split.split("-")[0])]
    results = [r for r in old if r["model"] != FOUND or r["split"].split("-")[0] != args.split.split("-")[0]]
    new = run_models(ns, ds, models, out)
    results += new + pick_found(new)
    write_leaderboard(out, results, f"routenas top-{len(top)} vs baselines on {settings.data}", ds["skipped"])
    _point_run_json(args.run, results)
    return 0


def _point_run_json(run: str, results: list) -> None:
    from tfnas.runs import write_run_info
    best = [r for r in results if r["model"] == FOUND and r["split"] == "design"] or \
        [r for r in results if r["model"] == FOUND]
    if best:
        rel = os.path.relpath(os.path.join(best[0]["run_dir"], "model.keras"), os.path.abspath(run))
        write_run_info(run, "map", model=rel, task="tile_bce",
                       calibration=os.path.join(os.path.dirname(rel), "calibration.npz"))


def _evaluate(args) -> int:
    import math

    import tensorflow as tf

    import tfnas.builders.layers  # noqa: F401  (registers MixedDepthwiseConv2D, so model.keras reloads)
    from tfnas.routability import data, leaderboard, protocol
    from tfnas.routability.experiment import splits_for
    from tfnas.runs import write_json_atomic
    settings = _settings(args.run)
    path = os.path.join(args.run, "retrain", "results.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: nothing retrained; run `tfnas routenas retrain --run {args.run}` first")
    with open(path) as f:
        results = json.load(f)["results"]
    ds = _load(settings, args.run)
    worst = 0.0
    for r in results:
        how = "design" if r["split"] == "design" else "loso"
        group = r.get("group", "suite")
        split = splits_for(ds, how, r["split_seed"], group, [r["split"][5:]] if how == "loso" else None)[r["split"]]
        norm = data.Normalizer.fit(ds["x"][split["train"]])
        model = tf.keras.models.load_model(os.path.join(r["run_dir"], "model.keras"), compile=False)
        te = split["test"]
        prob = tf.sigmoid(model.predict(norm(ds["x"][te]), batch_size=64, verbose=0)).numpy()
        again = protocol.evaluate(ds["y"][te], prob, ds["n_failed"][te], r["count_scale"])
        for k in ("auc_pooled", "kendall_tau"):
            if not (math.isnan(again[k]) and math.isnan(r[k])):
                worst = max(worst, abs(again[k] - r[k]))
    rows = leaderboard.aggregate(results)
    gains = {}
    for split in sorted({r["split"] for r in rows}):
        if any(r["model"] == FOUND and r["split"] == split for r in rows) and \
                len({r["model"] for r in rows if r["split"] == split}) > 1:
            # the found model is picked on the validation designs (pick_found), never on the test figures
            base = [r["model"] for r in rows if r["split"] == split and not r["model"].startswith("routenas")]
            if base:
                gains[split] = {"found": FOUND, "baselines": base,
                                **leaderboard.relative_gain(rows, FOUND, split, base)}
    md = leaderboard.markdown(rows, "routenas evaluation (re-scored from saved models)")
    md += "\n| split | found | ROC-AUC gain % | τ gain % |\n|---|---|---:|---:|\n" + "".join(
        f"| {s} | {g['found']} | {g['auc_pooled']['gain_pct']:+.2f} | {g['kendall_tau']['gain_pct']:+.2f} |\n"
        for s, g in gains.items())
    md += "\n(paper, arXiv 2012.01737: +2.12 % ROC-AUC, +5.85 % τ)\n"
    write_json_atomic(os.path.join(args.run, "evaluation.json"),
                      {"rows": rows, "gains": gains, "rescore_max_abs_diff": worst})
    with open(os.path.join(args.run, "evaluation.md"), "w") as f:
        f.write(md)
    print(md)
    print(f"re-scored {len(results)} saved models: max |recorded - reloaded| = {worst:.3g}")
    if worst > 1e-4:
        raise RuntimeError(f"{args.run}: reloaded models disagree with the recorded figures (max diff {worst:.3g})")
    return 0


def _export(args) -> int:
    import tfnas.builders.layers  # noqa: F401  (registers MixedDepthwiseConv2D, so model.keras reloads)
    from tfnas.export.runs import export_run
    from tfnas.export.tflite import write_tflite
    path = os.path.join(args.run, "run.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no retrained model to export; run `tfnas routenas retrain` first")
    try:
        out = export_run(args.run, args.name, args.version, args.root, check=not args.no_check)
    except FileExistsError as exc:
        raise RuntimeError(str(exc)) from None
    print(f"exported {out['summary']} to {out['path']}")
    if out["reload_max_abs_diff"] is not None:
        print(f"reloaded in a fresh process: max |served - keras| = {out['reload_max_abs_diff']:.3g}")
        if not out["reload_max_abs_diff"] <= 1e-5:
            raise RuntimeError(f"{out['path']}: reloaded SavedModel disagrees (max diff {out['reload_max_abs_diff']})")
    if args.tflite:
        from tfnas.export.runs import load_run_model
        rm = load_run_model(args.run)
        t = write_tflite(rm.tflite_model, os.path.join(args.run, f"model_{args.tflite}.tflite"), args.tflite,
                         representative_data=rm.representative if args.tflite == "int8" else None)
        print(f"tflite ({args.tflite}): {t} ({os.path.getsize(t):,} bytes)")
    return 0
