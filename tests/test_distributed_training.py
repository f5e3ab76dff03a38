"""MultiWorkerMirroredStrategy from TF_CONFIG (tfnas.distribute.cluster): 2 local worker processes train a small
CTR network (Keras-compiled RankingTask on the core `train()`) for the same global steps and global batch as
one process; the chief's weights match the single process's within 1e-4 (all-reduce sums in another order)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.abspath(__file__)
GLOBAL_BATCH, STEPS, TOL = 32, 6, 1e-4


def _worker(out_dir):
    """One process (single or a TF_CONFIG worker): build, train STEPS global steps, save the weights."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    import tensorflow as tf

    from pipelines.ctr.baselines import build_baseline
    from pipelines.ctr.schema import FeatureSpec
    from tfnas.distribute.cluster import cluster_info, data_sharded, strategy_from_env, worker_run_dir
    from tfnas.train.optimizers import make_optimizer
    from tfnas.train.seeding import seeded
    from tfnas.train.task import RankingTask
    from tfnas.train.trainer import train

    strategy = strategy_from_env()   # before any other TensorFlow op (collectives are set up at start)
    spec = FeatureSpec(("I1", "I2"), ("C1", "C2", "C3"), (16, 30, 8))
    rng = np.random.default_rng(0)
    n = GLOBAL_BATCH * STEPS
    feats = {"dense": rng.normal(size=(n, 2)).astype(np.float32),
             "sparse": np.stack([rng.integers(0, s, n) for s in spec.vocab_sizes], 1).astype(np.int64)}
    label = rng.integers(0, 2, (n, 1)).astype(np.float32)
    ds = data_sharded(tf.data.Dataset.from_tensor_slices((feats, label)).batch(GLOBAL_BATCH))
    with strategy.scope(), seeded(0):
        net = build_baseline("dlrm", spec, embedding_dim=4, bottom=[8], top=[8])
        net({"dense": tf.zeros([1, 2]), "sparse": tf.zeros([1, 3], tf.int64)})
        init = [w.numpy() for w in net.weights]
        out = train(net, RankingTask(), ds, epochs=1, optimizer=make_optimizer("plain_sgd", 0.5),
                    run_dir=worker_run_dir(out_dir), steps_per_epoch=STEPS, kind="ctr", save_model=False)
    info = cluster_info()
    np.savez(os.path.join(out_dir, f"init-{info['index']}.npz"), *init)
    np.savez(os.path.join(out_dir, f"weights-{info['index']}.npz"), *[w.numpy() for w in net.weights])
    with open(os.path.join(out_dir, f"info-{info['index']}.json"), "w") as f:
        json.dump({**info, "replicas": strategy.num_replicas_in_sync, "loss": out["history"]["loss"][-1]}, f)


def _load(path):
    with np.load(path) as z:
        return [z[k] for k in sorted(z.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.long   # 3-4 TF processes: ~50-60 CPU s, over the CI budget (make test-long)
def test_two_workers_match_one_process(tmp_path):
    from tfnas.distribute.cluster import launch_workers

    single, multi = tmp_path / "single", tmp_path / "multi"
    single.mkdir()
    multi.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    one = subprocess.Popen([sys.executable, HERE, str(single)], env=env)
    codes = launch_workers(2, [sys.executable, HERE, str(multi)], env=env, timeout=500, log_dir=str(multi))
    assert one.wait(timeout=500) == 0
    assert codes == [0, 0], open(multi / "worker-0.log").read()[-3000:]
    info = [json.loads((multi / f"info-{i}.json").read_text()) for i in (0, 1)]
    assert [i["replicas"] for i in info] == [2, 2] and [i["is_chief"] for i in info] == [True, False]
    ref, chief, other = _load(single / "weights-0.npz"), _load(multi / "weights-0.npz"), _load(multi / "weights-1.npz")
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, _load(single / "init-0.npz")))
    assert moved > 100 * TOL   # training changed the weights far more than the tolerance
    for r, c, o in zip(ref, chief, other):
        np.testing.assert_allclose(c, r, atol=TOL)
        np.testing.assert_array_equal(c, o)   # mirrored: both workers hold the same variables
    assert (multi / "history.csv").exists() and (multi / "worker-1" / "history.csv").exists()


def test_tf_config_and_cluster_info():
    from tfnas.distribute.cluster import cluster_info, tf_config
    cfg = tf_config([1111, 2222], 1)
    assert json.loads(cfg) == {"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]},
                               "task": {"type": "worker", "index": 1}}
    assert cluster_info({"TF_CONFIG": cfg}) == {"num_workers": 2, "index": 1, "is_chief": False}
    assert cluster_info({}) == {"num_workers": 1, "index": 0, "is_chief": True}
    with pytest.raises(ValueError, match="no task worker\\[2\\]"):
        tf_config([1111, 2222], 2)
    with pytest.raises(ValueError, match="TF_CONFIG: not a valid cluster spec"):
        cluster_info({"TF_CONFIG": "{\"task\": 1}"})


if __name__ == "__main__":
    _worker(sys.argv[1])
