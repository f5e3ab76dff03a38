"""FLNet on TFF: the round computation against plain Keras, and the round loop's invariants (issue 17).

One TFF import for the module; tiny 8x8x3 maps with a planted per-tile rule so training has something to learn.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # editable install predates federated/

pytestmark = pytest.mark.federated
GRID = (8, 8, 3)


@pytest.fixture(scope="module", autouse=True)
def tff():
    from federated.runtime import import_tff, shutdown_workers

    yield import_tff()
    shutdown_workers()


def _client(name, seed, n_train=6, n_val=4, flip=False, cls=None):
    from federated.clients import Client

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_val, *GRID)).astype(np.float32)
    y = ((x[..., :1] + 0.5 * x[..., 1:2]) > 0.3).astype(np.float32)
    if flip:
        y = 1.0 - y
    return (cls or Client)(name=name, group={"family": name[0]}, x_train=x[:n_train], y_train=y[:n_train],
                           x_val=x[n_train:], y_val=y[n_train:], train_designs=[name + "_t"],
                           val_designs=[name + "_v"], normalizer={}, n_failed_val=np.zeros(n_val, np.float32))


def _keras(seed=0, weights=None):
    from tfnas.routability import estimators

    model = estimators.build_estimator("flnet", GRID, seed=seed)
    if weights is not None:
        model.set_weights(weights)
    return model


def _fit(model, batch_list, optimizer):
    """Keras fit on exactly these batches, in order (the TileBCE task loss + the model's L2 terms)."""
    import tensorflow as tf

    from tfnas.train.task import TileBCETask

    TileBCETask().compile(model, optimizer)
    ds = tf.data.Dataset.from_tensors(batch_list[0])
    for b in batch_list[1:]:
        ds = ds.concatenate(tf.data.Dataset.from_tensors(b))
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    return model


def _close(a, b, atol=1e-5):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, atol=atol, rtol=1e-4)


def _process(**kw):
    from federated.process import RoundProcess

    return RoundProcess("flnet", GRID, seed=0, **kw)


def test_one_client_fedavg_equals_keras_training_stateful_and_stateless():
    import tensorflow as tf

    c = _client("a", 1)
    rounds = [c.round_data(3, 1, (0, r, 0)) for r in range(2)]
    for stateful in (True, False):
        proc = _process(optimizer="adam", lr=1e-2, stateful=stateful)
        glob, local = proc.initial_weights()
        opt = proc.initial_opt_state()
        model, keras_opt = _keras(), tf.keras.optimizers.Adam(1e-2)
        for b in rounds:  # stateful: the reference's Adam lives across rounds; stateless: TFF's fresh Adam per round
            model.set_weights(glob)  # each round from the same start (Adam's first steps amplify float noise)
            _fit(model, b, keras_opt if stateful else tf.keras.optimizers.Adam(1e-2))
            out = proc.next(glob, [local], [opt], [b])
            glob, local, opt = out["global"], out["local"][0], out["opt_state"][0]
            _close(glob, model.get_weights())
        assert int(opt["step"]) == (4 if stateful else 2)
        if stateful:
            stateful_glob = glob
    assert max(float(np.abs(a - b).max()) for a, b in zip(stateful_glob, glob)) > 1e-4  # the two variants differ


@pytest.mark.long  # a RouteNet build + first round: ~13 s on 2 loaded cores, run by `make test-long`
def test_one_client_fedavg_equals_keras_training_routenet_batchnorm():
    """RouteNet's BatchNorm statistics (non-trainable, averaged with the weights) move as in Keras fit; Adam at
    lr 1e-2 amplifies float noise in near-zero gradients (seen: 1 of 7776 kernel entries off by 8.5e-5), so the
    tolerance is 5e-4 against weights that move by more than 5e-3."""
    import tensorflow as tf

    from federated.process import RoundProcess
    from tfnas.routability import estimators

    b = _client("a", 8, n_train=5).round_data(2, 1, (0, 0, 0))  # batches of 2, 2 and 1
    proc = RoundProcess("routenet", GRID, optimizer="adam", lr=1e-2, seed=0)
    glob, local = proc.initial_weights()
    model = estimators.build_estimator("routenet", GRID, seed=0)
    proc.layout.set(model, glob, local)  # its transposed convs are not seeded: start from the same weights
    _fit(model, b, tf.keras.optimizers.Adam(1e-2))
    out = proc.next(glob, [local], [proc.initial_opt_state()], [b])
    _close(out["global"], proc.layout.get(model)[0], atol=5e-4)
    n_tr = len(model.trainable_weights)
    assert max(float(np.abs(a - w).max()) for a, w in zip(out["global"][:n_tr], glob[:n_tr])) > 5e-3
    assert max(float(np.abs(a - w).max()) for a, w in zip(out["global"][n_tr:], glob[n_tr:])) > 1e-3  # BN moved


def test_fedavg_equals_centralised():
    import tensorflow as tf

    proc = _process(optimizer="sgd", lr=0.1)
    glob0, local0 = proc.initial_weights()
    # identical data on three clients = centralised training on the pooled copies, batch by batch, over 2 rounds
    c = _client("a", 2)
    glob, model = glob0, _keras(weights=glob0)
    for r in range(2):
        b = c.round_data(3, 1, (0, r, 0))
        glob = proc.next(glob, [local0] * 3, [proc.initial_opt_state()] * 3, [b] * 3)["global"]
        pooled = [(np.concatenate([x] * 3), np.concatenate([y] * 3)) for x, y in b]
        _fit(model, pooled, tf.keras.optimizers.SGD(0.1))
    _close(glob, model.get_weights())
    # distinct data of unequal size, one full-batch step each: the sample-weighted mean is the centralised step
    clients = [_client("b", 3, n_train=2), _client("c", 4, n_train=6)]
    out = proc.next(glob0, [local0] * 2, [proc.initial_opt_state()] * 2,
                    [[(k.x_train, k.y_train)] for k in clients])
    assert out["n"] == [2.0, 6.0]
    x = np.concatenate([k.x_train for k in clients])
    y = np.concatenate([k.y_train for k in clients])
    _close(out["global"], _fit(_keras(weights=glob0), [(x, y)], tf.keras.optimizers.SGD(0.1)).get_weights())


def test_fedprox_round_matches_proximal_steps():
    import tensorflow as tf

    from federated.fedprox import proximal_step
    from tfnas.train.task import TileBCETask

    c = _client("a", 5)
    b = c.round_data(2, 2, (0, 0, 0))
    mu, lr = 0.5, 0.05
    ends = {}
    for m in (0.0, mu):
        proc = _process(optimizer="sgd", lr=lr, mu=m)
        glob0, local0 = proc.initial_weights()
        ends[m] = proc.next(glob0, [local0], [proc.initial_opt_state()], [b])["global"]
    model, opt, loss = _keras(weights=glob0), tf.keras.optimizers.SGD(lr), TileBCETask().loss()
    server = [tf.constant(w) for w in glob0]
    for x, y in b:  # the closed-form-checked step (tests/test_federated_fedprox.py), applied batch by batch
        proximal_step(opt, model.trainable_variables, server,
                      lambda: loss(y, model(x, training=True)) + tf.add_n(model.losses), mu)
    _close(ends[mu], model.get_weights())
    dist = {m: sum(float(np.sum((w - w0) ** 2)) for w, w0 in zip(ends[m], glob0)) for m in ends}
    assert dist[mu] < dist[0.0]  # the proximal term pulls towards the server model (TFF's own pushes away)


def test_partial_local_logit_stays_on_its_client():
    import tensorflow as tf

    from federated.driver import FederatedRun

    proc = _process(optimizer="sgd", lr=0.1, local_layers=("logit",))
    glob0, local0 = proc.initial_weights()
    assert [w.shape for w in local0] == [(9, 9, 64, 1), (1,)] and len(glob0) == 2
    clients = [_client("a", 6, n_train=2), _client("b", 7, n_train=4)]
    out = proc.next(glob0, [local0] * 2, [proc.initial_opt_state()] * 2,
                    [[(k.x_train, k.y_train)] for k in clients])
    trained = [_fit(_keras(weights=glob0 + local0), [(k.x_train, k.y_train)], tf.keras.optimizers.SGD(0.1))
               .get_weights() for k in clients]
    for i in range(2):  # each client keeps exactly its own trained output conv
        _close(out["local"][i], trained[i][2:])
    _close(out["global"], [(2 * a + 4 * b) / 6 for a, b in zip(trained[0][:2], trained[1][:2])])
    run = FederatedRun(proc, clients, None, rounds=2, batch_size=2)
    before = {c.name: [w.copy() for w in run.state[c.name]["local"]] for c in clients}
    run.run()
    assert all(len(s) == 2 for s in run.server)  # the server never holds the logit
    a, b = (run.state[c.name]["local"] for c in clients)
    assert not np.allclose(a[0], b[0]) and not np.allclose(a[0], before["a"][0])


def test_dropout_and_a_failing_client(tmp_path):
    from federated.clients import Client
    from federated.driver import FederatedRun

    class Broken(Client):
        def round_data(self, batch_size, epochs, seed):
            raise OSError("disk gone")

    proc = _process(optimizer="adam", lr=1e-2)
    clients = [_client(n, i) for i, n in enumerate("abc")] + [_client("d", 9, cls=Broken)]
    run = FederatedRun(proc, clients, str(tmp_path), rounds=3, batch_size=3, dropout=0.5)
    steps = {c.name: 0 for c in clients}
    for _ in range(3):
        rows = {h["client"]: h for h in run.step()}
        assert sum(h["status"] == "dropped" for h in rows.values()) == 2
        for name, h in rows.items():
            steps[name] += h["status"] == "present"
            assert int(run.state[name]["opt"]["step"]) == 2 * steps[name]  # absent: state kept as it was
            assert 0.0 <= h["auc_pooled"] <= 1.0  # every client is still evaluated
        if rows["d"]["status"] != "dropped":
            assert rows["d"]["status"] == "failed: OSError: disk gone"
    assert steps["d"] == 0 and sum(steps.values()) > 0
    # a round whose only sampled client fails keeps what the server had learned
    run1 = FederatedRun(proc, clients[3:], str(tmp_path / "one"), rounds=1, batch_size=3)
    server = [w.copy() for w in run1.server[0]]
    assert run1.step()[0]["status"].startswith("failed")
    _close(run1.server[0], server, atol=0)


def test_ifca_joins_lowest_validation_loss_and_resume_is_exact(tmp_path):
    from federated.driver import FederatedRun

    proc = _process(optimizer="adam", lr=2e-2)
    clients = [_client("a", 10), _client("b", 11), _client("c", 12, flip=True), _client("d", 13, flip=True)]
    kw = dict(rounds=3, batch_size=3, clusters=2, dropout=0.25, fingerprint={"t": 1})
    full = FederatedRun(proc, clients, str(tmp_path / "full"), **kw)
    for _ in range(3):
        expected = {c.name: int(np.argmin([full.evaluator.evaluate(c, s, full.state[c.name]["local"])["val_loss"]
                                           for s in full.server])) for c in clients}
        rows = full.step()
        for h in rows:
            if h["status"] == "present":
                assert h["cluster"] == expected[h["client"]]
    part_dir = str(tmp_path / "part")
    FederatedRun(proc, clients, part_dir, **kw).run(max_rounds=1)  # as if killed after round 1
    assert sorted(os.listdir(part_dir)) == ["checkpoint.npz", "tensorboard"]  # atomic write: no temp file left
    resumed = FederatedRun(proc, clients, part_dir, **kw)
    resumed.run()
    for s, t in zip(full.server, resumed.server):
        _close(s, t, atol=0)
    for c in clients:
        _close(full.state[c.name]["local"], resumed.state[c.name]["local"], atol=0)
        assert full.state[c.name]["cluster"] == resumed.state[c.name]["cluster"]
    untimed = lambda hs: [{k: v for k, v in h.items() if k != "round_seconds"} for h in hs]  # noqa: E731
    assert untimed(full.history) == untimed(resumed.history)
    with pytest.raises(ValueError, match="other settings"):
        FederatedRun(proc, clients, part_dir, **{**kw, "fingerprint": {"t": 2}}).run()


def _cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_two_local_worker_processes_give_the_in_process_result_and_are_cleaned_up():
    from federated.remote import LocalWorkers
    from federated.runtime import own_workers

    proc = _process(optimizer="sgd", lr=0.1)
    glob0, local0 = proc.initial_weights()
    clients = [_client(n, 20 + i, n_train=2 + i) for i, n in enumerate("abcd")]
    args = (glob0, [local0] * 4, [proc.initial_opt_state()] * 4, [[(k.x_train, k.y_train)] for k in clients])
    ref = proc.next(*args)
    with LocalWorkers(2) as workers:
        pids = workers.pids()
        assert set(pids) <= set(own_workers()) and len(set(pids)) == 2
        idle = [_cpu_ticks(p) for p in pids]
        out = proc.next(*args)
        assert all(_cpu_ticks(p) > t for p, t in zip(pids, idle))  # both processes did work in the round
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)  # killed and reaped
    _close(out["global"], ref["global"], atol=1e-6)
    assert out["n"] == ref["n"] and np.allclose(out["loss"], ref["loss"], atol=1e-6)
    _close(proc.next(*args)["global"], ref["global"], atol=0)  # the in-process context is back


def _gone(pids, timeout=20.0) -> bool:
    """True once every pid has exited (absent, or a zombie waiting for init to reap it)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        alive.append(p)
            except OSError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.long  # a second process importing TFF: run by `make test-long`
def test_a_killed_cli_run_resumes_to_the_uninterrupted_result(tmp_path):
    import json
    import signal
    import subprocess
    import time

    from federated.driver import read_checkpoint
    from federated.runtime import own_workers
    from tfnas.cli import main

    root = Path(__file__).resolve().parents[1]
    cfg = {"data": str(root / "data" / "eda_default"), "models": ["flnet"], "grid": [8, 8], "rounds": 30,
           "batch_size": 4, "algorithms": ["fedavg"]}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    killed, full = tmp_path / "killed", tmp_path / "full"
    child = subprocess.Popen([sys.executable, "-m", "tfnas.cli", "flnet", "run", "--config", str(path), "--out",
                              str(killed)], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck = killed / "flnet" / "seed0" / "fedavg"
    try:
        deadline = time.monotonic() + 300
        while not (ck / "checkpoint.npz").exists():
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        workers = own_workers(child.pid)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    at_kill = read_checkpoint(str(ck))["meta"]["round"]
    assert 1 <= at_kill < 30
    assert workers and _gone(workers)  # its TFF worker died with it
    assert main(["flnet", "run", "--config", str(path), "--out", str(killed)]) == 0  # takes over the dead lock
    assert main(["flnet", "run", "--config", str(path), "--out", str(full)]) == 0
    a, b = read_checkpoint(str(ck)), read_checkpoint(str(full / "flnet" / "seed0" / "fedavg"))
    assert a["meta"]["round"] == b["meta"]["round"] == 30
    for s, t in zip(a["server"][0], b["server"][0]):
        np.testing.assert_array_equal(s, t)
    untimed = lambda hs: [{k: v for k, v in h.items() if k != "round_seconds"} for h in hs]  # noqa: E731
    assert untimed(a["meta"]["history"]) == untimed(b["meta"]["history"])
