"""ParameterServerStrategy on localhost (tfnas/distribute/ps.py): a coordinator, 2 workers and 2 parameter
servers train a small DLRM with Keras fit: its table is split in two shards of about V/2 rows, one per PS, training
lowers the loss below the coin-flip
logloss, and every server process is gone after."""
import os

import numpy as np
import pytest


def _data(path):
    from pipelines.ctr.dataset import load_info, load_spec
    from pipelines.ctr.schema import save_spec
    from pipelines.ctr.synthetic import write_synthetic
    write_synthetic(str(path), 3000, seed=3)
    save_spec(str(path), load_spec(str(path)).with_cap(32), load_info(str(path)))
    return str(path)


@pytest.mark.long   # 4 TF server processes + a coordinator: ~1-2 min on 2 loaded cores (make test-long)
def test_two_workers_two_ps_shard_the_table_and_train(tmp_path):
    from tfnas.distribute import ps

    data = _data(tmp_path / "data")
    spec, procs = ps.start_cluster(workers=2, ps=2, log_dir=str(tmp_path))
    try:
        ps.wait_ready(spec)
        strategy = ps.strategy(spec, 2, min_shard_bytes=1 << 10)
        out = ps.train_ctr(data, 10, 64, hparams={"embedding_dim": 8}, strategy_=strategy)
    finally:
        ps.stop_cluster(procs)
        os.environ.pop("TF_CONFIG", None)
    per_ps = out["shards"]["per_ps"]
    assert sorted(per_ps) == ["/job:ps/replica:0/task:0/device:CPU:0", "/job:ps/replica:0/task:1/device:CPU:0"]
    tables = [v for k, v in out["shards"]["tables"].items() if k.endswith("embedding/table")]
    assert len(tables) == 1, sorted(out["shards"]["tables"])
    shards = tables[0]
    from pipelines.ctr.dataset import load_spec
    rows = sum(load_spec(data).vocab_sizes)
    assert [r for _, r, _ in shards] == [rows - rows // 2, rows // 2]               # split in two, div-style
    assert sorted(d for d, _, _ in shards) == sorted(per_ps)                        # one shard per PS
    assert np.isfinite(out["loss"]) and out["loss"] < np.log(2)
    assert all(p.poll() is not None for p in procs)
