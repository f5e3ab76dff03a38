"""One federated round as TFF computations (tff.learning model wrapper, TFF optimisers, federated_mean).

`RoundProcess` builds, once per (model, algorithm settings), a `tff.federated_computation`
  next(global@SERVER, local@CLIENTS, opt_state@CLIENTS, data@CLIENTS)
      -> <global@SERVER, local@CLIENTS, opt_state@CLIENTS, loss@CLIENTS, n@CLIENTS>
whose client work wraps a fresh Keras estimator with `tff.learning.models.from_keras_model` (its loss is the
per-tile BCE plus the model's L2 terms) and steps a `tff.learning.optimizers` optimiser, whose state is explicit:
  * stateless (TFF's own behaviour): the client optimiser is initialised at the start of every round;
  * stateful (the reference's per-client Adam): the client's moments come in and go back out with the round.
FedProx adds mu * sum ||w - w_server||^2 (federated/fedprox.py, the right sign) to the client loss.
Partial-local: the variables of `local_layers` (e.g. the output conv "logit") are client state; they are never
broadcast, returned nor averaged. What the server averages (sample-weighted by training examples, i.e. FedAvg with
server learning rate 1) is the client's final global weights, non-trainable ones (BatchNorm statistics) included:
choice here, as otherwise RouteNet's server model would keep its initial BN statistics forever.
"""
from __future__ import annotations

import time

import numpy as np


class Layout:
    """How a Keras model's weights split into global (sent, averaged) and local (kept on the client) parts."""

    def __init__(self, model, local_layers=()):
        names = {layer.name for layer in model.layers}
        unknown = sorted(set(local_layers) - names)
        if unknown:
            raise ValueError(f"local_layers: no layer(s) {unknown} in model {model.name!r} (layers {sorted(names)})")
        local_ids = {id(w) for layer in model.layers if layer.name in local_layers for w in layer.weights}
        self.trainable_local = [id(w) in local_ids for w in model.trainable_weights]
        if any(id(w) in local_ids for w in model.non_trainable_weights):
            raise ValueError(f"local_layers {sorted(local_layers)}: a local layer cannot hold non-trainable state")
        self.n_non_trainable = len(model.non_trainable_weights)

    def split(self, trainable, non_trainable) -> tuple:
        """(global, local) lists from the model's trainable and non-trainable weight lists."""
        glob = [w for w, loc in zip(trainable, self.trainable_local) if not loc] + list(non_trainable)
        return glob, [w for w, loc in zip(trainable, self.trainable_local) if loc]

    def merge(self, glob, local) -> tuple:
        """(trainable, non_trainable) lists from (global, local)."""
        n_glob_tr = len(self.trainable_local) - sum(self.trainable_local)
        g, loc = iter(glob[:n_glob_tr]), iter(local)
        trainable = [next(loc) if is_local else next(g) for is_local in self.trainable_local]
        return trainable, list(glob[n_glob_tr:])

    def get(self, model) -> tuple:
        return self.split([w.numpy() for w in model.trainable_weights],
                          [w.numpy() for w in model.non_trainable_weights])

    def set(self, model, glob, local) -> None:
        trainable, non_trainable = self.merge(glob, local)
        for v, value in zip(model.trainable_weights + model.non_trainable_weights, trainable + non_trainable):
            v.assign(value)


def build_client_optimizer(name: str, lr: float):
    """A TFF optimiser (explicit state): "adam" or "sgd"."""
    from federated.runtime import import_tff

    tff = import_tff()
    if name == "adam":
        return tff.learning.optimizers.build_adam(learning_rate=lr)
    if name == "sgd":
        return tff.learning.optimizers.build_sgdm(learning_rate=lr)
    raise ValueError(f"client optimizer must be 'adam' or 'sgd', got {name!r}")


class RoundProcess:
    """TFF computations of one algorithm; `next()` runs a round on numpy values and returns numpy values."""

    def __init__(self, model_name: str, input_shape, *, optimizer: str = "adam", lr: float = 1e-3,
                 mu: float = 0.0, stateful: bool = True, local_layers=(), seed: int = 0):
        import tensorflow as tf

        from federated.fedprox import proximal_penalty
        from federated.runtime import import_tff
        from tfnas.routability import estimators
        from tfnas.train.task import TileBCETask

        if mu < 0:
            raise ValueError(f"mu must be >= 0, got {mu}")
        t0 = time.perf_counter()
        tff = import_tff()
        self.model_name, self.input_shape, self.seed = model_name, tuple(input_shape), seed
        self.mu, self.stateful, self.local_layers = float(mu), bool(stateful), tuple(local_layers)
        keras_fn = lambda: estimators.build_estimator(model_name, self.input_shape, seed=seed)  # noqa: E731
        with tf.Graph().as_default():
            probe = keras_fn()
            self.layout = layout = Layout(probe, self.local_layers)
            tr_specs = [tf.TensorSpec(w.shape, w.dtype) for w in probe.trainable_weights]
            nt_specs = [tf.TensorSpec(w.shape, w.dtype) for w in probe.non_trainable_weights]
        glob_specs, local_specs = layout.split(tr_specs, nt_specs)
        n_glob_tr = len(tr_specs) - len(local_specs)
        x_spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        y_spec = tf.TensorSpec((None, *self.input_shape[:2], 1), tf.float32)
        opt = build_client_optimizer(optimizer, lr)
        self._opt_init = lambda: opt.initialize(tuple(tr_specs))
        loss_obj = TileBCETask().loss

        def model_fn():
            return tff.learning.models.from_keras_model(keras_fn(), loss=loss_obj(), input_spec=(x_spec, y_spec))

        opt_type = tff.tensorflow.computation(self._opt_init).type_signature.result
        tt = lambda spec: tff.TensorType(spec.dtype.as_numpy_dtype, spec.shape.as_list())  # noqa: E731
        glob_type = tff.StructWithPythonType([tt(s) for s in glob_specs], tuple)
        local_type = tff.StructWithPythonType([tt(s) for s in local_specs], tuple)
        # A client's round data are three tensors (all its batches concatenated, and each batch's size), sliced
        # batch by batch inside the computation, so no dataset graph is serialised per client per round.
        data_type = tff.StructWithPythonType([tt(x_spec), tt(y_spec), tff.TensorType(np.int64, [None])], tuple)
        mu_value, stateful_flag = self.mu, self.stateful

        @tff.tensorflow.computation(glob_type, local_type, opt_type, data_type, np.int32)
        def client_update(glob, local, opt_state, data, client_id):
            batch_at = _batcher(*data, self.input_shape)
            model = model_fn()
            trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)
            tr_values, nt_values = layout.merge(list(glob), list(local))
            server_tr = list(glob)[:n_glob_tr]
            glob_tr_vars = [v for v, loc in zip(trainable, layout.trainable_local) if not loc]
            state0 = opt_state if stateful_flag else self._opt_init()

            # One tf.function: its automatic control dependencies order assign -> train -> read (a plain TFF graph
            # has none, and the weights were read before training ran).
            @tf.function
            def run(state0):
                for v, value in zip(trainable + non_trainable, tr_values + nt_values):
                    v.assign(value)

                def step(carry, batch):
                    state, n, loss_sum, n_batches = carry
                    with tf.GradientTape() as tape:
                        out = model.forward_pass(batch, training=True)
                        total = out.loss
                        if mu_value > 0:
                            total = total + proximal_penalty(glob_tr_vars, server_tr, mu_value)
                    grads = tape.gradient(total, trainable)
                    state, new = opt.next(state, tuple(trainable), tuple(grads))
                    for v, value in zip(trainable, new):
                        v.assign(value)
                    return (state, n + tf.cast(tf.shape(batch[0])[0], tf.float32), loss_sum + out.loss,
                            n_batches + 1.0)

                # A tf.while_loop over batch indices, not Dataset.reduce: the TFF worker runs a computation in a
                # TF session, where every reduce instantiated its step function anew (~0.05 s CPU per client per
                # round, measured); the loop body is part of the graph and is optimised once.
                n_total = tf.shape(data[2])[0]
                _, (state, n, loss_sum, n_batches) = tf.while_loop(
                    lambda i, carry: i < n_total, lambda i, carry: (i + 1, step(carry, batch_at(i))),
                    (tf.constant(0), (state0, tf.constant(0.0), tf.constant(0.0), tf.constant(0.0))))
                return (state, n, loss_sum, n_batches, [tf.identity(v) for v in trainable],
                        [tf.identity(v) for v in non_trainable])

            state, n, loss_sum, n_batches, new_tr, new_nt = run(state0)
            new_glob, new_local = layout.split(new_tr, new_nt)
            return (tuple(new_glob), tuple(new_local), state, loss_sum / tf.maximum(n_batches, 1.0), n,
                    tf.identity(client_id))

        @tff.federated_computation(tff.FederatedType(glob_type, tff.SERVER),
                                   tff.FederatedType(local_type, tff.CLIENTS),
                                   tff.FederatedType(opt_type, tff.CLIENTS),
                                   tff.FederatedType(data_type, tff.CLIENTS),
                                   tff.FederatedType(np.int32, tff.CLIENTS))
        def next_fn(glob, local, opt_state, data, client_id):
            out = tff.federated_map(client_update, (tff.federated_broadcast(glob), local, opt_state, data, client_id))
            new_glob = tff.federated_mean(out[0], weight=out[4])
            return new_glob, out[1], out[2], out[3], out[4], out[5]

        self._next = next_fn
        self.build_seconds = time.perf_counter() - t0

    def initial_weights(self, seed=None) -> tuple:
        """(global, local) numpy weights of a freshly built model (seeded initialisers)."""
        from tfnas.routability import estimators

        model = estimators.build_estimator(self.model_name, self.input_shape,
                                           seed=self.seed if seed is None else seed)
        return self.layout.get(model)

    def initial_opt_state(self):
        import tensorflow as tf

        return tf.nest.map_structure(lambda t: tf.convert_to_tensor(t).numpy(), self._opt_init())

    def next(self, glob, locals_, opt_states, client_batches) -> dict:
        """One round over the present clients: lists (one entry per client) of local weights, optimiser states and
        batch lists [(x, y), ...]. Returns the averaged global weights and each client's new state, loss and n."""
        import tensorflow as tf

        if not client_batches:
            raise ValueError("a round needs at least one present client")
        datasets = [_tensors(b) for b in client_batches]
        t0 = time.perf_counter()
        new_glob, new_local, new_opt, losses, ns, ids = self._next(
            tuple(glob), [tuple(x) for x in locals_], list(opt_states), datasets,
            [np.int32(i) for i in range(len(datasets))])
        # TFF's multi-worker (mergeable) context returns CLIENTS-placed values in the order its parts finish, not
        # the input order (seen here: [4, 5, 2, 3] for inputs [2, 3, 4, 5]): every client returns its own index.
        order = np.argsort([int(i) for i in ids])
        if sorted(int(i) for i in ids) != list(range(len(datasets))):
            raise RuntimeError(f"TFF returned client indices {sorted(int(i) for i in ids)} for {len(datasets)} clients")
        as_np = lambda s: tf.nest.map_structure(np.asarray, s)  # noqa: E731
        return {"global": [np.asarray(w) for w in new_glob],
                "local": [[np.asarray(w) for w in new_local[i]] for i in order],
                "opt_state": [as_np(new_opt[i]) for i in order], "loss": [float(losses[i]) for i in order],
                "n": [float(ns[i]) for i in order], "seconds": time.perf_counter() - t0}


def _tensors(batch_list) -> tuple:
    """(x, y, sizes): the batches concatenated, and each batch's size."""
    return (np.concatenate([b[0] for b in batch_list]).astype(np.float32),
            np.concatenate([b[1] for b in batch_list]).astype(np.float32),
            np.asarray([len(b[0]) for b in batch_list], np.int64))


def _batcher(x, y, sizes, input_shape):
    """batch_at(i) -> (x, y) of batch i (rows sizes[0] + ... + sizes[i-1] on, sizes[i] of them), traced in-graph."""
    import tensorflow as tf

    starts = tf.cumsum(sizes, exclusive=True)
    xs, ys = (None, *input_shape), (None, *input_shape[:2], 1)

    def batch_at(i):
        begin, size = tf.stack([starts[i], 0, 0, 0]), tf.stack([sizes[i], -1, -1, -1])
        return tf.ensure_shape(tf.slice(x, begin, size), xs), tf.ensure_shape(tf.slice(y, begin, size), ys)

    return batch_at
