"""`tfnas export --run DIR`: any run folder (CTR, NASRec, AutoShrink, map / image models) to a TF Serving
SavedModel (`root/name/version/`), checked by a fresh-process reload, and optionally to TFLite.

The run's kind comes from its own metadata (`tfnas.export.runs.run_info`); this module registers the
NASRec loader (the CLI may import methods, the core exporter may not).
"""
from __future__ import annotations

import json
import os


def register(subparsers) -> None:
    """Add the `export` command (a single leaf)."""
    p = subparsers.add_parser(
        "export", help="export a trained run (SavedModel in TF Serving layout; optional TFLite)",
        description="Export the model of a run folder (run.json, or an older CTR / NASRec / AutoShrink folder) "
                    "to <root>/<name>/<version>/ and check it reloaded in a fresh process.")
    p.add_argument("--run", required=True, help="run folder (tfnas ctr train --logdir, nasrec run_dir, "
                                                "autoshrink train --out, or any folder with run.json)")
    p.add_argument("--name", required=True, help="model name under --root (one path component)")
    p.add_argument("--version", type=int, default=None, help="integer version (default: next free)")
    p.add_argument("--root", default="saved_models")
    p.add_argument("--tflite", choices=("float32", "float16", "int8"), default=None,
                   help="also write <run>/model_<mode>.tflite (for CTR: the processed-input network, "
                        "string hashing stays outside: it is not a TFLite builtin)")
    p.add_argument("--no-check", action="store_true", help="skip the fresh-process reload check")
    p.add_argument("--tolerance", type=float, default=1e-5,
                   help="largest allowed reload max |served - keras| (default 1e-5)")
    p.set_defaults(func=_export)


def _export(args) -> int:
    from tfnas.stages import Stages
    stage = Stages()
    if not os.path.isdir(args.run):          # before numpy/TensorFlow load
        raise FileNotFoundError(f"--run {args.run}: no such run folder")
    stage(f"loading TensorFlow and the run {args.run}")
    from tfnas.export.runs import load_run_model
    from tfnas.export.serving import describe_export

    _register_method_loaders()
    rm = load_run_model(args.run)
    stage(f"writing the SavedModel ({rm.summary})")
    try:
        path = rm.save(args.name, args.version, args.root)
    except FileExistsError as exc:
        raise RuntimeError(str(exc)) from None
    sig = describe_export(path)
    print(f"exported {rm.summary} from {args.run} to {path}")
    print(f"serving_default: {len(sig['inputs'])} inputs {sig['inputs']} -> {sig['outputs']}")
    if not args.no_check:
        stage("reloading it in a fresh process and comparing with the Keras model")
        diff = rm.check(path)
        print(f"reloaded {path} in a fresh process: max |served - keras| = {diff:.3g}")
        if not diff <= args.tolerance:
            raise RuntimeError(f"{path}: the reloaded SavedModel disagrees with the model "
                               f"(max |diff| {diff:.3g} > --tolerance {args.tolerance:g})")
    if args.tflite:
        stage(f"converting to TFLite ({args.tflite})")
        from tfnas.export.tflite import write_tflite
        out = write_tflite(rm.tflite_model, os.path.join(args.run, f"model_{args.tflite}.tflite"), args.tflite,
                           representative_data=rm.representative if args.tflite == "int8" else None)
        print(f"tflite ({args.tflite}): {out} ({os.path.getsize(out):,} bytes)")
    stage("done")
    return 0


def _register_method_loaders() -> None:
    from tfnas.export.runs import LOADERS, register_loader
    if "nasrec" not in LOADERS:
        register_loader("nasrec", _nasrec_run_model)


def _nasrec_run_model(run_dir: str, info: dict):
    """A NASRec run dir: the best retrained candidate (by val logloss), raw-feature CTR signature."""
    from tfnas.export.ctr import check_reload, export_saved_model, processed_input_model
    from tfnas.export.runs import RunModel
    from tfnas.graph import Architecture
    from tfnas.nasrec.config import NASRecConfig
    from tfnas.nasrec.pipeline import RunData
    from tfnas.nasrec.retrain import RESULTS_FILE, Retrainer, best_candidate
    from tfnas.nasrec.subnet import build_subnet

    cfg = NASRecConfig.load(os.path.join(run_dir, info.get("config", "config.json")))
    cfg.run_dir = run_dir
    results_path = os.path.join(run_dir, "retrain", RESULTS_FILE)
    if not os.path.exists(results_path):
        raise FileNotFoundError(f"{results_path}: no retrained candidates; run `tfnas nasrec retrain` first")
    with open(results_path) as f:
        results = json.load(f)
    name, res = best_candidate(results)
    data = RunData(cfg)
    network = build_subnet(Architecture.from_dict(res["arch"]), data.spec)
    network.load_weights(Retrainer.weights_path_for(os.path.join(run_dir, "retrain"), name))

    def check(path):
        raw = next(iter(data.dataset("test" if data.has("test") else "val", 256, raw=True)))
        return check_reload(network, data.spec, path, raw)

    def representative():
        for b in data.dataset("train", 1).take(20):
            yield {"dense": b["dense"].numpy(), "sparse": b["sparse"].numpy()}

    return RunModel(kind="nasrec", save=lambda n, v, r: export_saved_model(network, data.spec, n, v, r),
                    check=check, tflite_model=processed_input_model(network, data.spec),
                    representative=representative, summary=f"nasrec {name} (val logloss {res['val_logloss']:.5f})")
