"""`tfnas routability train`: train a hand-made routability estimator on a sample dataset and evaluate it.

Training is a plain Keras `fit` with per-tile BCE on logits (EarlyStopping on validation loss); the by-design
split is seeded; the run folder gets run.json (kind "map"), model.keras, leaderboard.json, maps.png, roc.png.
"""
from __future__ import annotations

import os
import time


def register(subparsers) -> None:
    p = subparsers.add_parser("routability", help="routability estimators (RouteNet, FLNet, PROS, logistic)")
    sub = p.add_subparsers(dest="routability_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train", help="train + evaluate one estimator on a by-design split")
    t.add_argument("--model", required=True, choices=["routenet", "flnet", "pros", "logistic"])
    t.add_argument("--data", required=True, help="dataset folder (with samples/)")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--grid", type=int, nargs=2, default=[32, 32], metavar=("H", "W"))
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--bad-samples", choices=["error", "skip"], default="error")
    t.set_defaults(func=_train)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _train(args) -> int:
    import tensorflow as tf

    from tfnas import metrics
    from tfnas.routability import data, estimators, protocol, report
    from tfnas.runs import write_json_atomic, write_run_info

    ds = data.load_samples(data.sample_dirs(args.data), tuple(args.grid), bad_samples=args.bad_samples)
    split = protocol.split_by_design(ds["design"], seed=args.seed)
    norm = data.Normalizer.fit(ds["x"][split["train"]])
    x, y = norm(ds["x"]), ds["y"]
    model = estimators.build_estimator(args.model, x.shape[1:], seed=args.seed)
    model.compile(tf.keras.optimizers.Adam(args.lr), tf.keras.losses.BinaryCrossentropy(from_logits=True))
    tr, va, te = split["train"], split["val"], split["test"]
    os.makedirs(args.out, exist_ok=True)
    t0 = time.process_time()
    hist = model.fit(x[tr], y[tr], validation_data=(x[va], y[va]), epochs=args.epochs, batch_size=args.batch_size,
                     shuffle=True, verbose=0,
                     callbacks=[tf.keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)])
    cpu_s = time.process_time() - t0
    prob = tf.sigmoid(model.predict(x, verbose=0)).numpy()
    scale = protocol.fit_count_scale(prob[tr], ds["n_failed"][tr])
    result = protocol.evaluate(y[te], prob[te], ds["n_failed"][te], scale)
    result.update(model=args.model, params=metrics.count_params(model), grid=list(args.grid),
                  flops=metrics.flops_per_example(model), train_cpu_s=round(cpu_s, 2), epochs_run=len(hist.epoch),
                  seed=args.seed, test_designs=sorted({ds["design"][i] for i in te}),
                  skipped_samples=ds["skipped"], normalizer=norm.get_config())
    model.save(os.path.join(args.out, "model.keras"))
    write_json_atomic(os.path.join(args.out, "leaderboard.json"), result)
    report.plot_maps(x[te], y[te], prob[te], [ds["id"][i] for i in te], data.CHANNELS,
                     os.path.join(args.out, "maps.png"))
    report.plot_roc(y[te], prob[te], os.path.join(args.out, "roc.png"), args.model)
    write_run_info(args.out, kind="map", model="model.keras", task="tile_bce", data=os.path.abspath(args.data))
    print(f"{args.model}: auc_pooled={result['auc_pooled']:.4f} auc_per_placement={result['auc_per_placement']:.4f} "
          f"tau={result['kendall_tau']:.4f} params={result['params']} -> {args.out}")
    return 0
