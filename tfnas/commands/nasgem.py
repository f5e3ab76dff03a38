"""`tfnas nasgem ...`: convert the NB201 table, encode cells, run the resumable bootstrap search on it,
train GEMNet (a 30-node-space cell in the core DAG-cell builder) on digits and export it (SavedModel + TFLite).
"""
from __future__ import annotations

import os


def register(subparsers) -> None:
    """Add `tfnas nasgem {convert-nb201,fit-encoder,encode,search,train,export}`."""
    p = subparsers.add_parser("nasgem", help="NASGEM: WL-guided encodings and bootstrap search on cell DAGs")
    sub = p.add_subparsers(dest="nasgem_command", metavar="{convert-nb201,fit-encoder,encode,search,train,export}")
    sub.required = True

    c = sub.add_parser("convert-nb201", help="convert analog-nasbench's pickle once into a JSON table")
    c.add_argument("--cache", default=None, help="cache folder (default $TFNAS_NASBENCH_CACHE or ~/.cache/tfnas)")
    c.set_defaults(func=_convert)

    f = sub.add_parser("fit-encoder", help="train the graph encoder so embedding cosine follows the WL kernel")
    f.add_argument("--space", choices=("nb201", "gemnet"), default="nb201")
    f.add_argument("--cells", type=int, default=2000, help="sampled training cells (plus as many mutants)")
    f.add_argument("--pairs", type=int, default=20000, help="training pairs (half cell/mutant, half random)")
    f.add_argument("--epochs", type=int, default=10)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", required=True, help="output folder (encoder.keras + encoder.json with the fit report)")
    f.set_defaults(func=_fit_encoder, lock_arg="out")    # one writer per run folder (tfnas/runlock.py)

    e = sub.add_parser("encode", help="encode NB201 cells (adjacency, hashed WL or a fitted encoder) into an .npz")
    e.add_argument("--encoding", choices=("adjacency", "wl", "embedding"), default="wl")
    e.add_argument("--encoder", default=None, help="folder of `fit-encoder` (for --encoding embedding)")
    e.add_argument("--count", type=int, default=1000, help="number of sampled cells")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, help="output .npz (cells and encodings); a PCA picture beside it (.png), "
                   "coloured by accuracy when the NB201 table is converted")
    e.add_argument("--cache", default=None, help="NB201 table cache folder (for the PNG's colours)")
    e.set_defaults(func=_encode)

    s = sub.add_parser("search", help="bootstrap search on the NB201 table (resumable: rerun to continue)")
    s.add_argument("--space", choices=("nb201", "nb101", "gemnet"), default="nb201",
                   help="nb201: the analog-nasbench table; nb101: the --nb101 tfrecord table; gemnet: the 30-node "
                        "space, every cell trained briefly on digits")
    s.add_argument("--nb101", default=None, help="nasbench_only108.tfrecord (for --space nb101)")
    s.add_argument("--encoding", choices=("adjacency", "wl", "embedding"), default="wl")
    s.add_argument("--encoder", default=None, help="folder of `fit-encoder` (for --encoding embedding)")
    s.add_argument("--trials", type=int, default=300)
    s.add_argument("--metric", default="accuracy", help="evaluator metric (nb201 also: ptq_accuracy, qat_accuracy, "
                   "analog_accuracy; nb101: validation_accuracy; baseline_accuracy is nb201's accuracy)")
    s.add_argument("--proxy-epochs", type=int, default=1, help="gemnet: epochs of each cell's short training")
    s.add_argument("--proxy-filters", type=int, default=8, help="gemnet: first-stage filters of the short training")
    s.add_argument("--max-nodes", type=int, default=30, help="gemnet: node budget of the space (input included)")
    s.add_argument("--pool-size", type=int, default=1000)
    s.add_argument("--batch", type=int, default=10)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cache", default=None)
    s.add_argument("--run-dir", default="runs/nasgem/search")
    s.set_defaults(func=_search, lock_arg="run_dir")

    t = sub.add_parser("train", help="train GEMNet around a cell on the built-in digits data (core train())")
    t.add_argument("--cell", default=None, help="cell JSON (Architecture); default: a seeded sample of the space")
    t.add_argument("--max-nodes", type=int, default=30, help="GEMNet space node budget (input included)")
    t.add_argument("--data", default="digits", help="'digits' (built-in, 16x16), 'cifar10:<dir>' (python pickles) "
                   "or 'folders:<root>'")
    t.add_argument("--image-size", type=int, default=32, help="image size for cifar10 / folders data")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--filters", type=int, default=16, help="filters of the first stage (x2, x4 after)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    t.add_argument("--run-dir", default="runs/nasgem/gemnet")
    t.set_defaults(func=_train, lock_arg="run_dir")

    x = sub.add_parser("export", help="export a trained GEMNet run to SavedModel (serving layout) and TFLite")
    x.add_argument("--run-dir", default="runs/nasgem/gemnet")
    x.add_argument("--name", default="gemnet")
    x.add_argument("--root", default="saved_models", help="export root (name/version/ below it)")
    x.set_defaults(func=_export)


def _space(name):
    from tfnas.nasgem.gemnet import GEMNetSpace
    from tfnas.nasgem.nasbench201 import NB201Space
    return NB201Space() if name == "nb201" else GEMNetSpace()


def _fit_encoder(args) -> int:
    for field in ("cells", "pairs", "epochs"):
        if getattr(args, field) < 1:
            raise ValueError(f"--{field} must be >= 1, got {getattr(args, field)}")
    import numpy as np

    from tfnas.nasgem.embedding import fit_wl_encoder
    from tfnas.nasgem.encoder import GraphFeaturizer
    space = _space(args.space)
    if args.space == "gemnet":
        fz = GraphFeaturizer(space.labels(), space.max_nodes)
    else:
        fz = GraphFeaturizer.from_samples([space.sample(np.random.default_rng(args.seed)) for _ in range(200)])
    held = max(10, args.cells // 4)
    import tensorflow as tf

    from tfnas.train.callbacks import epoch_bar
    board = tf.keras.callbacks.TensorBoard(os.path.join(args.out, "tensorboard", "encoder"), write_graph=False)
    emb = fit_wl_encoder(space, fz, n_cells=args.cells, n_pairs=args.pairs, epochs=args.epochs, seed=args.seed,
                         heldout_cells=held, heldout_pairs=max(20, args.pairs // 4),
                         callbacks=[epoch_bar(args.epochs, desc="encoder", keys=("loss",)), board])
    emb.save(args.out)
    h = emb.report["heldout"]
    print(f"{args.out}: held-out pairs {h['pairs']}: Pearson {h['pearson']:.3f}, Spearman {h['spearman']:.3f}, "
          f"MAE {h['mae']:.3f} (embedding cosine vs WL kernel)")
    return 0


def _encoding(name, space, encoder=None):
    import numpy as np

    from tfnas.nasgem.encoding import AdjacencyEncoding, WLFeatureEncoding
    if name == "wl":
        return WLFeatureEncoding()
    if name == "embedding":
        from tfnas.nasgem.embedding import WLEmbedding
        if not encoder:
            raise ValueError("--encoding embedding needs --encoder FOLDER (from `tfnas nasgem fit-encoder`)")
        return WLEmbedding.load(encoder)
    rng = np.random.default_rng(0)
    return AdjacencyEncoding.from_samples([space.sample(rng) for _ in range(200)])


def _convert(args) -> int:
    from pipelines.nasbench.nb201 import convert_nb201
    print(convert_nb201(args.cache))
    return 0


def _encode(args) -> int:
    import numpy as np

    from tfnas.nasgem.nasbench201 import NB201Space, arch_to_cell
    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    space = NB201Space()
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.count)]
    x = _encoding(args.encoding, space, args.encoder).encode(archs)
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, cells=np.array([arch_to_cell(a) for a in archs]), x=x)
    os.replace(tmp, args.out)
    from pipelines.nasbench.nb201 import load_nb201
    from tfnas.nasgem.plots import plot_projection
    try:
        table = load_nb201(args.cache, convert=False)
        accuracy = [table[arch_to_cell(a)]["baseline_accuracy"] for a in archs]
    except (FileNotFoundError, KeyError):
        accuracy = None
    png = plot_projection(x, os.path.splitext(args.out)[0] + ".png", accuracy, title=f"NB201 cells, {args.encoding}")
    print(f"{args.out}: {x.shape[0]} cells x {x.shape[1]} features ({args.encoding}); picture {png}")
    return 0


def _search_setup(args):
    """(space, evaluator, objective metric, how to print a cell) of `--space`."""
    if args.space == "nb101":
        from pipelines.nasbench.nb101 import read_nb101
        from tfnas.nasgem.nasbench101 import NB101Evaluator, NB101TableSpace, prune
        evaluator = NB101Evaluator(read_nb101(args.nb101))
        return NB101TableSpace(evaluator.table), evaluator, args.metric, lambda a: prune(a).to_dict()
    if args.space == "gemnet":
        from tfnas.nasgem.gemnet import GEMNetSpace
        from tfnas.nasgem.gemnet_train import DigitsShortTraining
        evaluator = DigitsShortTraining(os.path.join(args.run_dir, "proxy"), args.proxy_epochs, args.proxy_filters,
                                        args.seed)
        space = GEMNetSpace(max_nodes=args.max_nodes, min_nodes=min(4, args.max_nodes))
        return space, evaluator, "accuracy", lambda a: f"{len(a)} nodes, {a.num_edges()} edges"
    from tfnas.nasgem.nasbench201 import NB201Evaluator, NB201Space, arch_to_cell
    metric = "accuracy" if args.metric == "baseline_accuracy" else args.metric
    return NB201Space(), NB201Evaluator(cache_dir=args.cache), metric, lambda a: list(arch_to_cell(a))


def _check_search(args) -> None:
    for field in ("trials", "pool_size", "batch", "proxy_epochs", "proxy_filters", "max_nodes"):
        if getattr(args, field) < 1:
            raise ValueError(f"--{field.replace('_', '-')} must be >= 1, got {getattr(args, field)}")
    if args.encoding == "embedding" and not args.encoder:
        raise ValueError("--encoding embedding needs --encoder FOLDER (from `tfnas nasgem fit-encoder`)")
    if args.encoder and not os.path.isdir(args.encoder):
        raise FileNotFoundError(f"--encoder {args.encoder}: no such folder (from `tfnas nasgem fit-encoder`)")
    if args.space == "nb101" and not args.nb101:
        raise ValueError("--space nb101 needs --nb101 nasbench_only108.tfrecord")
    if args.nb101 and not os.path.exists(args.nb101):
        raise FileNotFoundError(f"--nb101 {args.nb101}: no such file")
    if args.space == "nb101" and args.metric not in ("accuracy", "validation_accuracy"):
        raise ValueError(f"--metric {args.metric!r}: nb101 has accuracy (test) and validation_accuracy")
    if args.space == "gemnet" and args.metric != "accuracy":
        raise ValueError(f"--metric {args.metric!r}: gemnet cells report accuracy (validation, digits)")


def _search(args) -> int:
    _check_search(args)
    from tfnas.nasgem.search import BootstrapSearch
    from tfnas.runs import write_json_atomic, write_run_info
    from tfnas.search.loop import run_search
    from tfnas.space import Objective

    space, evaluator, metric, describe = _search_setup(args)
    if args.space == "gemnet" and args.encoding == "adjacency":
        from tfnas.nasgem.encoding import AdjacencyEncoding
        encoding = AdjacencyEncoding(space.labels(), space.max_nodes)
    else:
        encoding = _encoding(args.encoding, space, args.encoder)
    strategy = BootstrapSearch(space, Objective(metric, "max"), encoding, args.trials, pool_size=args.pool_size,
                               batch=args.batch, seed=args.seed)
    os.makedirs(args.run_dir, exist_ok=True)
    write_run_info(args.run_dir, "nasgem_search", task=f"{args.space}", space=args.space, metric=metric)
    run_search(strategy, evaluator, os.path.join(args.run_dir, "state.json"))   # resumes from state.json
    best = strategy.best()
    best.trial.arch.save(os.path.join(args.run_dir, "best_cell.json"))
    write_json_atomic(os.path.join(args.run_dir, "best.json"), {"metric": metric, "value": best.result.get(metric),
                                                                  "trials": len(strategy.history)})
    print(f"best {metric} {best.result.get(metric):.4g} of {len(strategy.history)} cells: "
          f"cell {describe(best.trial.arch)} -> {args.run_dir}/best_cell.json")
    return 0


def _train(args) -> int:
    for field in ("epochs", "filters", "max_nodes"):
        if getattr(args, field) < 1:
            raise ValueError(f"--{field.replace('_', '-')} must be >= 1, got {getattr(args, field)}")
    if args.cell is not None and not os.path.exists(args.cell):
        raise FileNotFoundError(f"--cell {args.cell}: no such file")
    kind, _, where = args.data.partition(":")
    if kind not in ("digits", "cifar10", "folders") or (kind != "digits" and not where):
        raise ValueError(f"--data {args.data!r}: use 'digits', 'cifar10:<dir>' or 'folders:<root>'")
    if where and not os.path.isdir(where):
        raise FileNotFoundError(f"--data {args.data}: no such folder {where}")
    import numpy as np

    from tfnas.graph import Architecture
    from tfnas.nasgem.gemnet import GEMNetSpace
    from tfnas.nasgem.gemnet_train import train_gemnet
    space = GEMNetSpace(max_nodes=args.max_nodes, min_nodes=min(4, args.max_nodes))
    if args.cell is not None:
        arch = Architecture.load(args.cell)
        space.check(arch)
    else:
        arch = space.sample(np.random.default_rng(args.seed))
    r = train_gemnet(arch, args.run_dir, args.epochs, args.filters, args.seed, resume=args.resume, data=args.data,
                     image_size=args.image_size, progress=True)
    test = f", test accuracy {r['test_accuracy']:.4f}" if "test_accuracy" in r else ""
    print(f"GEMNet {r['nodes']}-node cell on {args.data}: val accuracy {r['val_accuracy']:.4f}{test}, "
          f"{r['params']} params, {r['macs']} MACs, {r['seconds']:.0f}s -> {args.run_dir}")
    return 0


def _export(args) -> int:
    model_path = os.path.join(args.run_dir, "model.keras")
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"{model_path}: no trained model (run `tfnas nasgem train --run-dir {args.run_dir}`)")
    import tensorflow as tf

    from tfnas.export.serving import export_model
    from tfnas.export.tflite import write_tflite
    model = tf.keras.models.load_model(model_path, compile=False)
    path = export_model(model, args.name, root=args.root)
    lite = write_tflite(model, path.rstrip(os.sep) + ".tflite")  # beside the version folder: Serving ignores it
    print(f"SavedModel {path}; TFLite {lite} ({os.path.getsize(lite)} bytes)")
    return 0
