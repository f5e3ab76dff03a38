"""`tfnas export`: turn a trained CTR run into a TF Serving SavedModel (raw-feature inputs) and/or TFLite."""
from __future__ import annotations

import os


def register(subparsers) -> None:
    """Add the `export` command (a single leaf)."""
    p = subparsers.add_parser(
        "export", help="export a trained run (SavedModel in TF Serving layout; optional TFLite)",
        description="Export the last checkpoint of a `tfnas ctr train` run to saved_models/<name>/<version>/.")
    p.add_argument("--run", required=True, help="run directory written by `tfnas ctr train`")
    p.add_argument("--name", required=True, help="model name under --root")
    p.add_argument("--version", type=int, default=None, help="integer version (default: next free)")
    p.add_argument("--root", default="saved_models")
    p.add_argument("--tflite", choices=("float32", "float16", "int8"), default=None,
                   help="also write <run>/model_<mode>.tflite of the processed-input network "
                        "(string hashing stays outside: it is not a TFLite builtin)")
    p.add_argument("--calibration-batches", type=int, default=20,
                   help="training batches used as the int8 representative data set")
    p.set_defaults(func=_export)


def _export(args) -> int:
    from pipelines.ctr.train import load_run
    from tfnas.export import describe_export, export_saved_model

    network, spec, run = load_run(args.run)
    try:
        path = export_saved_model(network, spec, args.name, version=args.version, root=args.root)
    except FileExistsError as exc:
        raise RuntimeError(str(exc)) from None
    sig = describe_export(path)
    print(f"exported {run['config']['model']} from {args.run} to {path}")
    print(f"serving_default: {len(sig['inputs'])} raw inputs "
          f"({spec.num_dense} float32, {spec.num_sparse} string) -> {sig['outputs']}")
    if args.tflite:
        out = _write_tflite(network, spec, run, args)
        print(f"tflite ({args.tflite}): {out} ({os.path.getsize(out):,} bytes)")
    return 0


def _write_tflite(network, spec, run, args) -> str:
    from pipelines.ctr.dataset import make_split_dataset
    from tfnas.export import processed_input_model, to_tflite

    model = processed_input_model(network, spec)
    rep = None
    if args.tflite == "int8":
        ds = make_split_dataset(run["config"]["data"], "train", 1).take(args.calibration_batches)
        rep = [{"dense": b["dense"].numpy(), "sparse": b["sparse"].numpy()} for b in ds]
    out = os.path.join(args.run, f"model_{args.tflite}.tflite")
    with open(out, "wb") as f:
        f.write(to_tflite(model, args.tflite, representative_data=rep))
    return out
