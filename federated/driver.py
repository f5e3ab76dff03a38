"""The round loop around `RoundProcess`: client sampling and dropout, IFCA clusters, per-round evaluation and
atomic round checkpoints (server models + every client's persistent state) with exact resume.

Randomness is per round (numpy generators seeded by (seed, round, ...)), so a resumed run draws the same clients,
drop-outs and batch orders as an uninterrupted one. A client fails in a round either by simulated drop-out (a
`dropout` fraction of the sampled clients, at least one kept) or because its data raised while being read; either
way the round goes on with the others, its persistent state is kept as it was, and it is still evaluated.
IFCA: k server models (seeds seed, seed+1, ...); each present client joins the one with the lowest loss on its
validation set (the issue's rule; the IFCA paper uses training loss); fixed clusters map clients to models by a key.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

CHECKPOINT = "checkpoint.npz"


def _bce(y, logits) -> float:
    z = np.asarray(logits, np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


class Evaluator:
    """Plain Keras evaluation of (global, local) weights on a client's validation tiles (no TFF needed)."""

    def __init__(self, model_name: str, input_shape, layout, seed: int = 0):
        from tfnas.routability import estimators

        self.layout = layout
        self.model = estimators.build_estimator(model_name, tuple(input_shape), seed=seed)

    def logits(self, glob, local, x):
        self.layout.set(self.model, glob, local)
        return self.model(x, training=False).numpy()

    def evaluate(self, client, glob, local) -> dict:
        from tfnas.routability import protocol

        z = self.logits(glob, local, client.x_val)
        probs = np.exp(-np.logaddexp(0.0, -np.asarray(z, np.float64)))  # sigmoid without overflow
        out = protocol.evaluate(client.y_val, probs, client.n_failed_val)
        out["val_loss"] = _bce(client.y_val, z)
        return out


def read_checkpoint(run_dir: str) -> dict:
    """{"meta", "server": [[w, ...] per model], "local": {client: [w, ...]}, "arrays"} of a round checkpoint."""
    path = os.path.join(run_dir, CHECKPOINT)
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays["meta"]))
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a readable round checkpoint ({e})") from None

    def listed(prefix):
        n = sum(1 for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit())
        return [arrays[f"{prefix}{i}"] for i in range(n)]

    n_models = len({k.split("/")[1] for k in arrays if k.startswith("server/")})
    return {"meta": meta, "arrays": arrays, "server": [listed(f"server/{j}/") for j in range(n_models)],
            "local": {name: listed(f"client/{n}/local/") for n, name in enumerate(meta["clients"])}}


class FederatedRun:
    """One algorithm on one set of clients; `run()` trains (resuming from `run_dir`) and returns the history."""

    def __init__(self, process, clients, run_dir: str, *, rounds: int, local_epochs: int = 1, batch_size: int = 8,
                 seed: int = 0, clients_per_round=None, dropout: float = 0.0, clusters: int = 1,
                 fixed_clusters=None, fingerprint=None):
        if rounds < 1 or local_epochs < 1 or batch_size < 1:
            raise ValueError("rounds, local_epochs and batch_size must be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        names = [c.name for c in clients]
        if len(set(names)) != len(names):
            raise ValueError(f"client names must be unique, got {names}")
        self.process, self.clients, self.run_dir = process, list(clients), run_dir
        self.rounds, self.local_epochs, self.batch_size, self.seed = rounds, local_epochs, batch_size, seed
        self.clients_per_round = clients_per_round or len(clients)
        self.dropout, self.fixed = dropout, fixed_clusters
        self.k = len(set(fixed_clusters.values())) if fixed_clusters else clusters
        self.fingerprint = json.dumps(fingerprint or {}, sort_keys=True)
        self.evaluator = Evaluator(process.model_name, process.input_shape, process.layout, seed)
        self.round = 0
        self.server = [process.initial_weights(seed + j)[0] for j in range(self.k)]
        local0 = process.initial_weights(seed)[1]
        self.state = {c.name: {"local": [w.copy() for w in local0], "opt": process.initial_opt_state(),
                               "cluster": self._fixed_cluster(c)} for c in self.clients}
        self.history = []

    def _fixed_cluster(self, client) -> int:
        if not self.fixed:
            return 0
        ids = {v: i for i, v in enumerate(sorted(set(self.fixed.values())))}
        return ids[self.fixed[client.name]]

    # -- one round --------------------------------------------------------------------------------------------
    def _participants(self, r: int) -> tuple:
        rng = np.random.default_rng((self.seed, r, 0))
        n = min(self.clients_per_round, len(self.clients))
        sampled = sorted(rng.choice(len(self.clients), size=n, replace=False).tolist())
        n_drop = min(int(round(self.dropout * len(sampled))), len(sampled) - 1)
        dropped = set(rng.choice(sampled, size=n_drop, replace=False).tolist()) if n_drop else set()
        return sampled, dropped

    def _choose_cluster(self, client) -> int:
        if self.fixed or self.k == 1:
            return self.state[client.name]["cluster"]
        losses = [self.evaluator.evaluate(client, self.server[j], self.state[client.name]["local"])["val_loss"]
                  for j in range(self.k)]
        return int(np.argmin(losses))

    def step(self) -> list:
        """Run round `self.round`, evaluate every client, checkpoint; returns this round's history rows."""
        r = self.round
        sampled, dropped = self._participants(r)
        status, batches, train_loss = {}, {}, {}
        for i in sampled:
            c = self.clients[i]
            if i in dropped:
                status[c.name] = "dropped"
                continue
            try:
                batches[c.name] = c.round_data(self.batch_size, self.local_epochs, (self.seed, r, i))
                status[c.name] = "present"
            except Exception as e:  # noqa: BLE001 - a client's failure must not stop the federation
                status[c.name] = f"failed: {type(e).__name__}: {e}"
        for c in self.clients:
            if c.name in batches:
                self.state[c.name]["cluster"] = self._choose_cluster(c)
        seconds = 0.0
        for j in range(self.k):
            members = [c.name for c in self.clients if c.name in batches and self.state[c.name]["cluster"] == j]
            if not members:
                continue
            out = self.process.next(self.server[j], [self.state[m]["local"] for m in members],
                                    [self.state[m]["opt"] for m in members], [batches[m] for m in members])
            self.server[j] = out["global"]
            seconds += out["seconds"]
            for m, local, opt, loss in zip(members, out["local"], out["opt_state"], out["loss"]):
                self.state[m].update(local=local, opt=opt)
                train_loss[m] = loss
        rows = []
        for c in self.clients:
            st = self.state[c.name]
            ev = self.evaluator.evaluate(c, self.server[st["cluster"]], st["local"])
            rows.append({"round": r + 1, "client": c.name, "status": status.get(c.name, "not sampled"),
                         "cluster": st["cluster"], "train_loss": train_loss.get(c.name), "round_seconds": seconds,
                         **{k: ev[k] for k in ("auc_pooled", "auc_per_placement", "val_loss", "n_placements")}})
        self.history += rows
        self.round += 1
        self.save()
        return rows

    def run(self, max_rounds=None, resume: bool = True, progress: bool = True) -> list:
        """Train up to `rounds` (or stop after `max_rounds` more, as a kill would); resumes from the checkpoint.
        A round bar (total = rounds) shows the client-mean validation ROC-AUC; every round's per-client and mean
        ROC-AUC, validation and training loss go to TensorBoard under `run_dir/tensorboard` (step = round)."""
        import tensorflow as tf
        from tqdm.auto import tqdm
        if resume:
            self.load()
        todo = self.rounds - self.round if max_rounds is None else min(max_rounds, self.rounds - self.round)
        if todo <= 0:
            return self.history
        label = (os.sep.join(os.path.normpath(self.run_dir).split(os.sep)[-3:]) if self.run_dir   # model/seed/algo
                 else "federation")
        bar = tqdm(total=self.rounds, initial=self.round, desc=label, unit="round", disable=not progress)
        writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "tensorboard")) if self.run_dir else None
        try:
            for _ in range(todo):
                rows = self.step()
                mean_auc = _round_scalars(writer, rows)
                bar.set_postfix({"mean_auc": f"{mean_auc:.4f}"} if mean_auc == mean_auc else {}, refresh=False)
                bar.update(1)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        return self.history

    def final(self) -> dict:
        """{client: (global, local)} of the current models."""
        return {c.name: (self.server[self.state[c.name]["cluster"]], self.state[c.name]["local"])
                for c in self.clients}

    # -- checkpoint -------------------------------------------------------------------------------------------
    def save(self) -> None:
        """Write server models, every client's state and the history atomically (temp file + rename)."""
        import tensorflow as tf

        if self.run_dir is None:
            return
        arrays = {f"server/{j}/{i}": w for j, ws in enumerate(self.server) for i, w in enumerate(ws)}
        for n, (name, st) in enumerate(sorted(self.state.items())):
            arrays.update({f"client/{n}/local/{i}": w for i, w in enumerate(st["local"])})
            arrays.update({f"client/{n}/opt/{i}": np.asarray(w) for i, w in enumerate(tf.nest.flatten(st["opt"]))})
        meta = {"round": self.round, "fingerprint": self.fingerprint, "history": self.history,
                "clients": sorted(self.state), "clusters": {k: v["cluster"] for k, v in self.state.items()}}
        arrays["meta"] = np.asarray(json.dumps(meta))
        os.makedirs(self.run_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{CHECKPOINT}.", suffix=".tmp.npz", dir=self.run_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, os.path.join(self.run_dir, CHECKPOINT))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self) -> bool:
        import tensorflow as tf

        if self.run_dir is None or not os.path.exists(os.path.join(self.run_dir, CHECKPOINT)):
            return False
        ck = read_checkpoint(self.run_dir)
        meta, arrays = ck["meta"], ck["arrays"]
        if meta["fingerprint"] != self.fingerprint or meta["clients"] != sorted(self.state):
            raise ValueError(f"{os.path.join(self.run_dir, CHECKPOINT)}: checkpoint of other settings or clients; "
                             "use another run folder")
        self.round, self.history, self.server = meta["round"], meta["history"], ck["server"]
        for n, (name, st) in enumerate(sorted(self.state.items())):
            st["local"] = ck["local"][name]
            flat = tf.nest.flatten(st["opt"])
            st["opt"] = tf.nest.pack_sequence_as(st["opt"], [arrays[f"client/{n}/opt/{i}"] for i in range(len(flat))])
            st["cluster"] = meta["clusters"][name]
        return True


def _round_scalars(writer, rows: list) -> float:
    """Write one round's rows as TensorBoard scalars (none without a writer); returns the mean pooled ROC-AUC over
    the clients that have one."""
    import contextlib

    import tensorflow as tf
    step = int(rows[0]["round"])
    means = {}
    with writer.as_default() if writer is not None else contextlib.nullcontext():
        for key in ("auc_pooled", "auc_per_placement", "val_loss", "train_loss"):
            present = [r for r in rows if r.get(key) is not None and r[key] == r[key]]   # not None, not nan
            if writer is not None:
                for r in present:
                    tf.summary.scalar(f"{key}/{r['client']}", float(r[key]), step=step)
            values = [r[key] for r in present]
            if values:
                means[key] = float(np.mean(values))
                if writer is not None:
                    tf.summary.scalar(f"mean/{key}", means[key], step=step)
    if writer is not None:
        writer.flush()
    return means.get("auc_pooled", float("nan"))
