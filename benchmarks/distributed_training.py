"""Per-step training time of a CTR DLRM under ParameterServerStrategy (1 coordinator, 2 workers, 1-2 parameter
servers on localhost, tfnas/distribute/ps.py) against the same model trained in one process, as a ratio, plus
where the variables' memory went (bytes per PS, each table's shards).

Both runs: synthetic data (`--rows`), the same global batch per step, `--steps` warm-up steps (tracing,
connecting) then `--steps` timed ones.  On 2 shared cores the servers compete with the coordinator, so the
ratio measures the cost of the PS round trips here, not a speed-up.  A table over --min-shard-bytes is split
into one shard per PS (MinSizePartitioner); pass a huge value to keep tables whole.

    nice -n 10 .venv/bin/python benchmarks/distributed_training.py --quick
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ps_min_shard_bytes() -> int:
    """tfnas/distribute/ps.py's default minimum shard size (imported without TensorFlow)."""
    sys.path.insert(0, ROOT)
    from tfnas.distribute.ps import MIN_SHARD_BYTES
    return MIN_SHARD_BYTES


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20 steps, 3000 rows (about 2 min on 2 loaded cores)")
    p.add_argument("--steps", type=int, default=100, help="warm-up steps, then as many timed steps")
    p.add_argument("--rows", type=int, default=20000, help="synthetic training rows")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--ps", type=int, default=2, choices=(1, 2), help="parameter servers")
    p.add_argument("--embedding-dim", type=int, default=16)
    p.add_argument("--min-shard-bytes", type=int, default=ps_min_shard_bytes(),
                   help="variables split only into shards at least this large (one shard per PS at most)")
    p.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    steps, rows = (20, 3000) if args.quick else (args.steps, args.rows)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    from pipelines.ctr.synthetic import write_synthetic
    from tfnas.distribute import ps

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        write_synthetic(data, rows, seed=3)
        hp = {"embedding_dim": args.embedding_dim}
        one = ps.train_ctr(data, steps, args.batch_size, hparams=hp)          # before connecting to a cluster
        spec, procs = ps.start_cluster(workers=2, ps=args.ps, log_dir=tmp)
        try:
            ps.wait_ready(spec)
            strategy = ps.strategy(spec, args.ps, args.min_shard_bytes)
            dist = ps.train_ctr(data, steps, args.batch_size, hparams=hp, strategy_=strategy)
        finally:
            ps.stop_cluster(procs)
    out = {"steps_timed": steps, "batch_size": args.batch_size, "rows": rows, "ps": args.ps, "workers": 2,
           "one_process_s_per_step": one["seconds_per_step"], "ps_s_per_step": dist["seconds_per_step"],
           "ratio_ps_over_one": dist["seconds_per_step"] / one["seconds_per_step"],
           "bytes_per_ps": dist["shards"]["per_ps"], "tables": dist["shards"]["tables"],
           "loss_one": one["loss"], "loss_ps": dist["loss"]}
    print(json.dumps(out, indent=1))
    if args.out:
        tmp_out = args.out + ".tmp"
        with open(tmp_out, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp_out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
