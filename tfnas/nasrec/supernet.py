"""`NASRecSupernet`: the weight-sharing NASRec supernet as a subclassed Keras model.

The candidate is an int32 choice array (layout: `tfnas.nasrec.space.ChoiceLayout`).  `train_step` draws
one in-graph from its `PathSampler` each step; `fix(arch)` writes one into the `fixed_choice` variable that
`call` uses.  Either way the choice is a tensor, so no new subnet retraces a `tf.function`.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfnas.nasrec import ops
from tfnas.nasrec.elastic import ElasticBlock, ElasticHead
from tfnas.nasrec.space import (DENSE_OPS, DENSE_WIDTHS, EMBEDDING_DIM, MERGE_ROWS, SPARSE_OPS, SPARSE_WIDTHS,
                                NASRecSpace)
from tfnas.supernet.masking import pad_to
from tfnas.supernet.sampling import PathSampler
from tfnas.train.task import RankingTask

PATH_SEEDS = ("auto", "stream", "step")

# plain TF code with no tensor-dependent Python control flow: skip autograph (it costs
# most of the tracing time otherwise)
_no_autograph = tf.autograph.experimental.do_not_convert


def full_choice(space: NASRecSpace) -> np.ndarray:
    """The whole supernet: every input, every operator of the space, largest widths, both flags."""
    L = space.layout
    c = np.zeros((space.num_blocks, L.fields), np.int32)
    for b in range(space.num_blocks):
        c[b, L.dense_in.start:L.dense_in.start + b + 1] = 1
        c[b, L.sparse_in.start:L.sparse_in.start + b + 1] = 1
        for op in space.dense_ops:
            c[b, L.dense_ops.start + DENSE_OPS.index(op)] = 1
        for op in space.sparse_ops:
            c[b, L.sparse_ops.start + SPARSE_OPS.index(op)] = 1
        c[b, L.dense_width] = max(space.dense_widths)
        c[b, L.sparse_width] = max(space.sparse_widths)
        c[b, L.merge] = c[b, L.fm] = 1
    return c


class NASRecSupernet(tf.keras.Model):
    """NASRec supernet over a FeatureSpec: embeddings, `num_blocks` elastic blocks, a linear head.

    `sampler` is a `PathSampler` or a strategy name (then `warmup_steps`, `seed` and `path_seed` configure it:
    "stream" draws paths from one generator, "step" keys each step's path on (seed, step) so every worker of a
    multi-worker strategy trains the same one, "auto" is "step" under such a strategy, else "stream").
    Inputs: {"dense": float32 [B, n_dense], "sparse": int64 [B, n_sparse]}; output: logits [B, 1].
    """

    def __init__(self, spec, kind: str = "full", num_blocks: int = 7, sampler="single_op_any_connection",
                 warmup_steps: int = 0, seed: int = 0, dense_widths=DENSE_WIDTHS, sparse_widths=SPARSE_WIDTHS,
                 embedding_dim: int = EMBEDDING_DIM, balance_dot: bool = True, path_seed: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if spec.num_dense < 1 or spec.num_sparse < 1:
            raise ValueError(f"NASRecSupernet needs >= 1 dense and >= 1 sparse feature, spec has "
                             f"{spec.num_dense} / {spec.num_sparse}")
        if spec.num_dense > max(dense_widths):
            raise ValueError(f"NASRecSupernet: {spec.num_dense} dense features exceed the largest dense width")
        self.spec = spec
        # The sampling train_step cannot go through Keras's compiled loss, but it takes the CTR Task's.
        self.task_loss = RankingTask().loss()
        self.space = NASRecSpace(kind, num_blocks, dense_widths, sparse_widths, balance_dot)
        self.layout = self.space.layout
        self.embedding_dim = int(embedding_dim)
        self.max_dense, self.max_sparse = max(self.space.dense_widths), max(self.space.sparse_widths)
        if path_seed not in PATH_SEEDS:
            raise ValueError(f"supernet.extra.path_seed must be one of {list(PATH_SEEDS)}, got {path_seed!r}")
        distributed = tf.distribute.get_strategy().num_replicas_in_sync > 1
        if path_seed == "stream" and distributed:
            raise ValueError('supernet.extra.path_seed "stream" gives every worker its own paths; use "step" or '
                             '"auto" under a multi-worker strategy')
        keyed = path_seed == "step" or (path_seed == "auto" and distributed)
        self.sampler = sampler if isinstance(sampler, PathSampler) else PathSampler(sampler, warmup_steps, seed,
                                                                                    keyed=keyed)
        self.embedding = ops.FeatureEmbedding(spec.vocab_sizes, self.embedding_dim, name="embedding")
        self.blocks = [ElasticBlock(b, self.layout, self.space.dense_ops, self.space.sparse_ops, spec.num_dense,
                                    spec.num_sparse, self.max_dense, self.max_sparse, self.embedding_dim,
                                    self.space.fixed_dot_rows, name=f"block{b + 1}") for b in range(num_blocks)]
        self.head = ElasticHead(self.max_dense, self.max_sparse + MERGE_ROWS, self.embedding_dim, name="head")
        self.full = full_choice(self.space)
        self.fixed_choice = tf.Variable(self.full, trainable=False, name="fixed_choice")
        self.step = tf.Variable(0, trainable=False, dtype=tf.int64, name="supernet_step",
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.distribute_reduction_method = "first"   # the step's logs are global already (train_step)
        self.clipnorm = 5.0
        self.traces = 0   # incremented each time `forward` is traced (tests check that subnets don't retrace)

    # ------------------------------------------------------------------ candidate choice
    def fix(self, arch) -> None:
        """Make `call` compute candidate `arch` (an Architecture of this space)."""
        self.fixed_choice.assign(self.space.encode(arch))

    def fix_full(self) -> None:
        """Make `call` compute the whole supernet."""
        self.fixed_choice.assign(self.full)

    @_no_autograph
    def sample_choice(self, step) -> tf.Tensor:
        """One in-graph draw of the sampler's path (the whole supernet with the warm-up probability)."""
        s, L, sp = self.sampler, self.layout, self.space
        n_blocks = sp.num_blocks
        dw, sw = tf.constant(sp.dense_widths, tf.int32), tf.constant(sp.sparse_widths, tf.int32)
        d_idx = [DENSE_OPS.index(o) for o in sp.dense_ops]
        s_idx = [SPARSE_OPS.index(o) for o in sp.sparse_ops]
        rows = []
        s.at_step(step)
        for b in range(n_blocks):
            n = b + 1
            d_ops = tf.scatter_nd([[i] for i in d_idx], s.operators(len(d_idx)), [len(DENSE_OPS)])
            s_ops = tf.scatter_nd([[i] for i in s_idx], s.operators(len(s_idx)), [len(SPARSE_OPS)])
            rows.append(tf.concat([
                s.connections(n, n_blocks), s.connections(n, n_blocks), tf.stack([s.index(n), s.index(n)]),
                d_ops, s_ops,
                tf.stack([tf.gather(dw, s.index(len(sp.dense_widths))), tf.gather(sw, s.index(len(sp.sparse_widths))),
                          s.coin(), s.coin()])], axis=0))
        sampled = tf.stack(rows)
        lr = slice(L.left, L.right + 1)
        full = tf.concat([self.full[:, :L.left], sampled[:, lr], self.full[:, L.right + 1:]], axis=1)
        return tf.where(s.use_full(step), full, sampled)

    # ------------------------------------------------------------------ forward
    @_no_autograph
    def forward(self, features, choice) -> tf.Tensor:
        """Logits [B, 1] of the path `choice` (int32 [num_blocks, fields])."""
        self.traces += 1
        L = self.layout
        dense0 = tf.cast(features["dense"], tf.float32)
        sparse0 = self.embedding(features["sparse"])
        P = self.blocks[0].P
        dense_stack = pad_to(dense0, self.max_dense)[:, None]                               # [B, 1, D]
        sparse_stack = pad_to(tf.transpose(sparse0, [0, 2, 1]), P, axis=2)[:, :, None]      # [B, E, 1, P]
        widths = tf.constant([self.spec.num_dense], tf.int32)
        d = s = None
        for b, block in enumerate(self.blocks):
            row = choice[b]
            d, s = block(dense_stack, widths, sparse_stack, row)
            if b + 1 < len(self.blocks):
                dense_stack = tf.concat([dense_stack, d[:, None]], axis=1)
                sparse_stack = tf.concat([sparse_stack, pad_to(s, P, axis=2)[:, :, None]], axis=2)
                widths = tf.concat([widths, row[L.dense_width][None]], axis=0)
        return self.head(d, choice[-1, L.dense_width], s)

    def call(self, features, training=None, choice=None):
        """Logits of the fixed candidate (or of `choice` when given)."""
        return self.forward(features, self.fixed_choice if choice is None else choice)

    def head_variables(self) -> list:
        """The last layer's variables (NASRec fine-tunes only these when scoring a candidate)."""
        return list(self.head.trainable_variables)

    # ------------------------------------------------------------------ training
    @_no_autograph
    def train_step(self, data):
        """Sample a path in-graph, train it with the ranking Task's loss (BCE from logits), clip by global norm.

        Under a multi-replica strategy each replica's loss is its share of the global-batch mean and the gradients
        are all-reduced before clipping, so the step equals one process's step on the whole global batch."""
        x, y = split_batch(data)
        choice = self.sample_choice(self.step)
        ctx = tf.distribute.get_replica_context()
        distributed = ctx is not None and ctx.num_replicas_in_sync > 1
        if distributed:
            from tfnas.distribute.ranking import GlobalBatchBCE
        loss_fn = GlobalBatchBCE(from_logits=True) if distributed else self.task_loss
        with tf.GradientTape() as tape:
            logits = tf.reshape(self.forward(x, choice), [-1, 1])
            loss = loss_fn(tf.reshape(y, [-1, 1]), logits)
        variables = self.trainable_variables
        pairs = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
        if distributed:
            loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss)
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [g for g, _ in pairs])
            pairs = list(zip(grads, [v for _, v in pairs]))
        pairs = [(dedup(g), v) for g, v in pairs]
        if self.clipnorm:
            clipped, norm = tf.clip_by_global_norm([g for g, _ in pairs], self.clipnorm)
            pairs = list(zip(clipped, [v for _, v in pairs]))
        else:
            norm = tf.linalg.global_norm([g for g, _ in pairs])
        self.optimizer.apply_gradients(pairs, **({"experimental_aggregate_gradients": False} if distributed else {}))
        self.step.assign_add(1)
        return {"loss": loss, "grad_norm": norm, "full_prob": self.sampler.full_probability(self.step - 1)}

    @_no_autograph
    def test_step(self, data):
        x, y = split_batch(data)
        logits = tf.reshape(self(x, training=False), [-1, 1])
        return {"loss": self.task_loss(tf.reshape(y, [-1, 1]), logits)}


def dedup(g):
    """Sum duplicate rows of an IndexedSlices gradient, so clipping and Adagrad see the dense gradient."""
    if not isinstance(g, tf.IndexedSlices):
        return g
    idx, pos = tf.unique(g.indices)
    return tf.IndexedSlices(tf.math.unsorted_segment_sum(g.values, pos, tf.shape(idx)[0]), idx, g.dense_shape)


def split_batch(data):
    """(features, labels [B]) from a dict batch holding "label" or a (features, labels) pair."""
    if isinstance(data, (tuple, list)):
        x, y = data[0], data[1]
    else:
        x = {k: v for k, v in data.items() if k != "label"}
        y = data["label"]
    return x, tf.reshape(tf.cast(y, tf.float32), [-1])
