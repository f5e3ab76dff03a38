"""`tfnas autoshrink ...`: shrink CNN / RNN cells (resumable), train ShrinkCNN, export it to TFLite."""
from __future__ import annotations

import argparse
import json
import os


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def register(subparsers) -> None:
    """Add `tfnas autoshrink {search-cnn,search-rnn,train,export}`."""
    p = subparsers.add_parser("autoshrink", help="AutoShrink: shrink a dense DAG cell edge by edge")
    sub = p.add_subparsers(dest="autoshrink_command", metavar="{search-cnn,search-rnn,train,export}")
    sub.required = True

    s = sub.add_parser("search-cnn", help="shrink an N-node CNN cell on a class-balanced image proxy (resumable)")
    _common_search(s, "runs/autoshrink/cnn", nodes=8, keep=0.01)
    _image_args(s, size=16)
    s.add_argument("--filters", type=int, default=16, help="filters of every cell node at scale 1")
    s.add_argument("--train-per-class", type=int, default=500)
    s.add_argument("--val-per-class", type=int, default=100)
    s.add_argument("--epochs", type=int, default=20)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=4e-3)
    s.set_defaults(func=_search_cnn)

    r = sub.add_parser("search-rnn", help="shrink a 6-node RNN cell on a word-level LM proxy (resumable)")
    _common_search(r, "runs/autoshrink/rnn", nodes=6, keep=0.25)
    r.add_argument("--text", default="pydocs", help="'pydocs' (built-in real English) or 'ptb:<dir>'")
    r.add_argument("--train-tokens", type=int, default=0, help="use only the first N train tokens (0: all)")
    r.add_argument("--units", type=int, default=100)
    r.add_argument("--embedding", type=int, default=100)
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--batch-size", type=int, default=128)
    r.add_argument("--bptt", type=int, default=35)
    r.add_argument("--lr", type=float, default=20.0)
    r.add_argument("--clip", type=float, default=0.25)
    r.set_defaults(func=_search_rnn)

    t = sub.add_parser("train", help="train ShrinkCNN around a cell (or the MobileNetV2 reference)")
    t.add_argument("--cell", default=None, help="cell JSON (e.g. a search's best_cell.json); default: full 8-node")
    t.add_argument("--mobilenet", type=float, default=None, metavar="ALPHA",
                   help="train keras.applications.MobileNetV2(alpha=ALPHA) instead of ShrinkCNN")
    _image_args(t, size=32)
    t.add_argument("--width", type=float, default=1.0, help="width multiplier on top of ShrinkCNN's 1.4")
    t.add_argument("--depth", type=_ints, default=(1, 3, 4, 6, 4), help="cells per stage, e.g. 1,3,4,6,4")
    t.add_argument("--head", type=int, default=1280, help="filters of the 1x1 head conv")
    t.add_argument("--stem-strides", type=int, default=2)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=4e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs/autoshrink/shrinkcnn",
                   help="run folder: model.keras, train.json, run.json, history.csv, curves.png, tensorboard/")
    t.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity (0: one epoch progress bar)")
    t.set_defaults(func=_train, lock_arg="out")

    e = sub.add_parser("export", help="SavedModel + TFLite float32/float16/int8 with accuracy and latency")
    e.add_argument("--model", required=True, help="a trained model.keras")
    e.add_argument("--quiet", action="store_true", help="no stage lines on stderr")
    _image_args(e, size=32)
    e.add_argument("--out", default=None, help="output folder (default: next to the model)")
    e.add_argument("--name", default="shrinkcnn", help="file stem of <name>_<mode>.tflite, <name>_export.json/.png")
    e.add_argument("--modes", default="float32,float16,int8", help="TFLite modes, comma-separated")
    e.add_argument("--threads", type=_ints, default=(1, 2), help="interpreter thread counts to time (default: 1,2)")
    e.add_argument("--runs", type=int, default=200, help="timed runs per latency figure")
    e.add_argument("--deploy-size", type=int, default=0,
                   help="also time float32/int8 of the same weights rebuilt for SIZExSIZE inputs (0: skip)")
    e.set_defaults(func=_export)


def _common_search(p, out: str, nodes: int, keep: float) -> None:
    p.add_argument("--out", default=out, help="run folder: search.json checkpoint, steps/, PNGs, best_cell.json")
    p.add_argument("--nodes", type=int, default=nodes)
    p.add_argument("--candidates", type=int, default=10, help="k: candidate edges trained per step")
    p.add_argument("--keep-fraction", type=float, default=keep, help="stop at round(fraction × edges)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-trials", type=int, default=None, help="stop after this many more trials")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity per candidate")


def _image_args(p, size: int) -> None:
    p.add_argument("--data", default="digits", help="'digits' (scikit-learn, real), 'cifar10:<dir>', 'folders:<root>'")
    p.add_argument("--image-size", type=int, default=size)


# Options that change how a run is shown or how far it goes, not what it computes: a resume may differ there.
_RUNTIME_ONLY = {"func", "max_trials", "no_progress", "verbose", "tf_verbose", "debug", "lock_arg"}


def _check_config(out: str, config: dict) -> None:
    """Write out/config.json (atomically), or check that a resumed run uses the same settings."""
    from tfnas.runs import write_json_atomic
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items() if k not in _RUNTIME_ONLY}
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "config.json")
    if os.path.exists(path):
        try:
            with open(path) as f:
                old = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: corrupt run settings: {exc.msg}") from None
        diff = [k for k in config if k in old and old[k] != config[k]]
        if diff:
            raise ValueError(f"{path}: run folder was made with different settings for {diff}; "
                             f"use another --out or the same settings")
    write_json_atomic(path, config)


def _finish(strategy, out: str) -> int:
    best = strategy.best()
    state = "finished" if strategy.done else "paused"
    print(f"search {state}: {len(strategy.steps)} steps, {len(strategy.history)} trials, "
          f"current cell {strategy.current.num_edges()} edges; results in {out}")
    if best is not None:
        print(f"best: trial {best.trial.id} ({best.trial.arch.num_edges()} edges) "
              + ", ".join(f"{k}={v:.4g}" for k, v in {**best.result.metrics, **best.result.cost}.items()))
    return 0


def _loading(args) -> None:
    if not args.no_progress:
        from tfnas.stages import Stages
        Stages()(f"loading TensorFlow and the data; checkpoint and results in {args.out}")


def _search_cnn(args) -> int:
    from tfnas.autoshrink import checks
    checks.search_args(args)
    checks.image_source(args.data)
    for name in ("filters", "image_size", "train_per_class", "val_per_class"):
        checks.positive(f"--{name.replace('_', '-')}", getattr(args, name))
    _check_config(args.out, vars(args))
    _loading(args)
    from tfnas.autoshrink.cell import full_cnn_cell
    from tfnas.autoshrink.data import load_images, proxy_subset
    from tfnas.autoshrink.shrink import CnnProxyEvaluator, run_shrinking
    from tfnas.autoshrink.stopping import ExactEdgeShrinking
    from tfnas.autoshrink.train import ProxyTraining
    data = proxy_subset(load_images(args.data, args.image_size, seed=args.seed), args.train_per_class,
                        args.val_per_class, seed=args.seed)
    print(data.summary())
    training = ProxyTraining(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    strategy = ExactEdgeShrinking(full_cnn_cell(args.nodes, seed=args.seed, filters=args.filters),
                             candidates_per_step=args.candidates, keep_fraction=args.keep_fraction, seed=args.seed)
    run_shrinking(strategy, CnnProxyEvaluator(data, training=training, verbose=args.verbose), args.out,
                  max_trials=args.max_trials, progress=not args.no_progress)
    return _finish(strategy, args.out)


def _search_rnn(args) -> int:
    import dataclasses

    from tfnas.autoshrink import checks
    checks.search_args(args)
    checks.text_source(args.text)
    for name in ("units", "embedding", "bptt", "clip"):
        checks.positive(f"--{name}", getattr(args, name))
    checks.positive("--train-tokens", args.train_tokens, allow_zero=True)
    _check_config(args.out, vars(args))
    _loading(args)
    from tfnas.autoshrink.cell import full_rnn_cell
    from tfnas.autoshrink.data import load_text
    from tfnas.autoshrink.rnn import LMTraining, RnnProxyEvaluator
    from tfnas.autoshrink.shrink import run_shrinking
    from tfnas.autoshrink.stopping import ExactEdgeShrinking
    corpus = load_text(args.text)
    if args.train_tokens:
        corpus = dataclasses.replace(corpus, train=corpus.train[: args.train_tokens])
    print(f"text {args.text}: vocab {corpus.vocab_size}, train {len(corpus.train)} / valid {len(corpus.valid)} tokens")
    cfg = LMTraining(units=args.units, embedding=args.embedding, epochs=args.epochs, batch_size=args.batch_size,
                     bptt=args.bptt, learning_rate=args.lr, clip=args.clip, seed=args.seed)
    strategy = ExactEdgeShrinking(full_rnn_cell(args.nodes, seed=args.seed), candidates_per_step=args.candidates,
                                  keep_fraction=args.keep_fraction, seed=args.seed)
    run_shrinking(strategy, RnnProxyEvaluator(corpus, cfg, verbose=args.verbose), args.out,
                  max_trials=args.max_trials, progress=not args.no_progress, quality="perplexity", cost="flops")
    return _finish(strategy, args.out)


def _train(args) -> int:
    import dataclasses

    from tfnas.autoshrink import checks
    if args.cell is not None and args.mobilenet is not None:
        raise ValueError("--cell and --mobilenet exclude each other: train a ShrinkCNN or a MobileNetV2")
    cell = checks.cell_file(args.cell)
    checks.image_source(args.data)
    if len(args.depth) != 5:
        raise ValueError(f"--depth needs 5 stage sizes (ShrinkCNN has 5 stages), got {list(args.depth)}")
    for name in ("mobilenet", "width", "head", "stem_strides", "epochs", "batch_size", "lr", "image_size"):
        checks.positive(f"--{name.replace('_', '-')}", getattr(args, name))
    from tfnas.stages import Stages
    stage = Stages()
    stage("loading TensorFlow and the data")
    from tfnas.autoshrink.cell import full_cnn_cell
    from tfnas.autoshrink.cnn import SHRINK_CNN, build_cnn
    from tfnas.autoshrink.data import load_images
    from tfnas.autoshrink.deploy import FinalTraining, mobilenet_v2, train_final
    from tfnas.train.callbacks import epoch_bar
    from tfnas.metrics import count_params, macs_per_example
    from tfnas.runs import write_json_atomic
    data = load_images(args.data, args.image_size, seed=args.seed)
    print(data.summary())
    stage("building the model")
    if args.mobilenet is not None:
        model = mobilenet_v2(data.input_shape, data.num_classes, args.mobilenet)
    else:
        cell = cell if cell is not None else full_cnn_cell(8, seed=args.seed)
        macro = dataclasses.replace(SHRINK_CNN, channel_scale=SHRINK_CNN.channel_scale * args.width,
                                    replicate=args.depth, head_filters=args.head, stem_strides=args.stem_strides)
        model = build_cnn(cell, data.input_shape, data.num_classes, macro, name="shrinkcnn")
    cfg = FinalTraining(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    stage(f"training {model.name} ({count_params(model):,} params) for up to {cfg.epochs} epochs "
          f"into {args.out} (TensorBoard: {os.path.join(args.out, 'tensorboard')})")
    bars = [epoch_bar(cfg.epochs)] if args.verbose == 0 else []
    out = train_final(model, data, cfg, verbose=args.verbose, run_dir=args.out, callbacks=bars)
    stage("training done; counting MACs")
    report = {**out, "params": count_params(model), "macs": macs_per_example(model), "data": data.source,
              "training": cfg.to_dict(),
              "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k != "func"}}
    write_json_atomic(os.path.join(args.out, "train.json"), report)
    stage(f"wrote {args.out}: model.keras, train.json, run.json, history.csv, curves.png, tensorboard/")
    print(json.dumps({k: report[k] for k in ("test_accuracy", "val_accuracy", "params", "macs", "epochs")}))
    return 0


_MODES = ("float32", "float16", "int8")


def _export(args) -> int:
    from tfnas.autoshrink import checks
    checks.model_file(args.model)
    checks.image_source(args.data)
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = [m for m in modes if m not in _MODES]
    if unknown or not modes:
        raise ValueError(f"--modes {args.modes}: unknown or no modes {unknown}; known: {','.join(_MODES)}")
    for t in args.threads:
        checks.positive("--threads", t)
    checks.positive("--runs", args.runs)
    checks.positive("--deploy-size", args.deploy_size, allow_zero=True)
    from tfnas.stages import Stages
    stage = Stages(quiet=args.quiet)
    stage("loading TensorFlow")
    import tensorflow as tf
    from tfnas.autoshrink.data import load_images
    from tfnas.autoshrink.deploy import deployment_latency, export_and_measure
    from tfnas.autoshrink.plots import plot_export
    from tfnas.runs import write_json_atomic
    stage(f"loading {args.model} and the {args.data} images")
    model = tf.keras.models.load_model(args.model, compile=False)
    data = load_images(args.data, args.image_size)
    if tuple(model.input_shape[1:]) != data.input_shape:
        raise ValueError(f"{args.model}: model input {model.input_shape[1:]} does not match data {data.input_shape}; "
                         f"pass the --image-size the model was trained with")
    out = args.out or os.path.dirname(os.path.abspath(args.model))
    quiet = not getattr(args, "tf_verbose", False)
    report = export_and_measure(model, data, out, args.name, modes=modes, threads=args.threads, runs=args.runs,
                                log=stage, filter_native=quiet)
    if args.deploy_size:
        stage(f"timing the model rebuilt for {args.deploy_size}x{args.deploy_size} inputs")
        report["deploy"] = deployment_latency(model, data, args.deploy_size, threads=args.threads,
                                              runs=max(20, args.runs // 4), filter_native=quiet)
    report["load_average"] = list(os.getloadavg())
    write_json_atomic(os.path.join(out, f"{args.name}_export.json"), report)
    plot_export(report, os.path.join(out, f"{args.name}_export.png"))
    stage(f"wrote {out}: {args.name}_<mode>.tflite, {args.name}_export.json, {args.name}_export.png, saved_models/")
    print(json.dumps(report, indent=1))
    return 0
