"""DeepFM and DCN-v2 (pipelines/ctr/baselines) written as Architectures of the `full+ext` space.

`from_baseline(name, space)` gives the Architecture whose subnet computes the baseline's function: the same
layers in the same order, so `weights_from_baseline` can copy a trained baseline's weights into the subnet
and both give the same predictions (tests/test_nasrec_ext.py).  The baseline's blocks are the space's last
blocks; the blocks before them are dead fillers (nothing reads them, so the subnet drops them and the
canonical key ignores them).  Hyper-parameters default to the baseline classes' own defaults.

What differs from the hand-made baselines, by construction: initial values of the embedding table (the
subnet's FeatureEmbedding draws U(+-0.05); DeepFM draws U(+-0.01), DCN-v2 U(+-0.25)) and the bias layout
(DeepFM's two output biases, dense_linear's and deep_logit's, are the head's one bias); the functions
expressible are the same.
"""
from __future__ import annotations

import inspect

import tensorflow as tf

from tfnas.graph import Architecture
from tfnas.nasrec.ext import EXT_KIND, ExtOptions
from tfnas.nasrec.space import EMBEDDING_DIM, BlockSpec, NASRecSpace

IN_SPACE = ("deepfm", "dcnv2")


def baseline_key(name: str) -> str:
    """`name` normalised as `pipelines.ctr.baselines.build_baseline` does ("DCN-v2", "dcn_v2", "dcn" -> "dcnv2")."""
    key = str(name).lower().replace("-", "").replace("_", "")
    return "dcnv2" if key == "dcn" else key


def baseline_hparams(name: str, **overrides) -> dict:
    """The baseline class's default hyper-parameters with `overrides`; refuses settings the space lacks."""
    from pipelines.ctr.baselines import BASELINES
    key = baseline_key(name)
    if key not in IN_SPACE:
        raise ValueError(f"baseline {name!r} is not expressible in space {EXT_KIND!r}; choose from {list(IN_SPACE)}")
    params = inspect.signature(BASELINES[key].__init__).parameters
    hp = {k: p.default for k, p in params.items() if k not in ("self", "spec", "name")}
    unknown = sorted(set(overrides) - set(hp))
    if unknown:
        raise ValueError(f"{key}: unknown hyper-parameter(s) {unknown}; known {sorted(hp)}")
    hp.update(overrides)
    if int(hp["embedding_dim"]) != EMBEDDING_DIM:
        raise ValueError(f"{key}: embedding_dim {hp['embedding_dim']} != the space's {EMBEDDING_DIM}")
    if hp.get("dropout"):
        raise ValueError(f"{key}: dropout {hp['dropout']} is not in the space (its MLP layers have no dropout)")
    if hp.get("projection_dim") is not None:
        raise ValueError(f"{key}: projection_dim {hp['projection_dim']} (low-rank cross) is not in the space "
                         "(its cross op is full rank)")
    hp["hidden"] = [int(h) for h in hp["hidden"]]
    return hp


def from_baseline(name: str, space: NASRecSpace, **hparams) -> Architecture:
    """The `full+ext` Architecture (of `space`) that computes baseline `name` ("deepfm" / "dcnv2");
    meta "baseline" records which one.  Errors name the space field that cannot hold it."""
    key = baseline_key(name)
    hp = baseline_hparams(key, **hparams)
    if not space.ext:
        raise ValueError(f"space.kind {space.kind!r} cannot express {key}: it needs kind {EXT_KIND!r}")
    missing = [h for h in hp["hidden"] if h not in space.dense_widths]
    if missing:
        raise ValueError(f"{key}: hidden width(s) {missing} not in space.extra.dense_widths "
                         f"{list(space.dense_widths)}")
    d0, s0 = min(space.dense_widths), min(space.sparse_widths)

    def block(op, **kw):
        return BlockSpec(op, "efc", kw.pop("width", d0), s0, False, False, sparse_in=(0,), **kw)

    # positions relative to the first baseline block (1); shifted below
    if key == "deepfm":
        core = [block("concat")]                                           # flat [x_i v_i; embeddings]
        options = ExtOptions(dense_fields=True, head_sparse=False, head_fm=True, head_linear=True)
    else:
        core = [block("concat", dense_in=(0,))]                            # x0 = [dense; flat embeddings]
        core += [block("cross", left=1, right=c + 1) for c in range(int(hp["num_cross"]))]
        options = ExtOptions(dense_fields=False, head_sparse=False, head_fm=False, head_linear=False)
    # hidden layer k (1-based) is block len(core) + k, reading the block before it
    core += [block("fc_noln", width=h, dense_in=(len(core) + k - 1,)) for k, h in enumerate(hp["hidden"], start=1)]
    pad = space.num_blocks - len(core)
    if pad < 0:
        raise ValueError(f"{key}: needs {len(core)} blocks ({_count(key, hp)}), space.num_blocks is "
                         f"{space.num_blocks}")

    def shift(b: BlockSpec) -> BlockSpec:
        move = lambda j: j + pad if j else j  # output 0 stays the input
        return BlockSpec(b.dense_op, b.sparse_op, b.dense_width, b.sparse_width, b.merge, b.fm,
                         tuple(move(j) for j in b.dense_in), b.sparse_in,
                         None if b.left is None else move(b.left), None if b.right is None else move(b.right))

    fillers = [BlockSpec("fc", "efc", d0, s0, False, False, (0,), (0,)) for _ in range(pad)]
    arch = space.from_blocks(fillers + [shift(b) for b in core], options).with_meta(baseline=key)
    space.check(arch)
    return arch


def _count(key: str, hp: dict) -> str:
    cross = f"{hp['num_cross']} cross + " if key == "dcnv2" else ""
    return f"1 concat + {cross}{len(hp['hidden'])} hidden"


def weights_from_baseline(network, subnet) -> None:
    """Copy a built DeepFM / DCNv2 network's weights into the subnet of `from_baseline` (same predictions)."""
    from pipelines.ctr.baselines import DCNv2, DeepFM
    def by_op(op):   # the subnet's layers of dense op `op`, in block order ("block<i>_<op>")
        return sorted((layer for layer in subnet.layers if layer.name.endswith("_" + op)),
                      key=lambda layer: int(layer.name[len("block"):].split("_")[0]))

    subnet.get_layer("embedding").set_weights([network.embedding.table.numpy()])
    mlp = [layer for layer in (network.deep._layers if network.deep is not None else [])
           if isinstance(layer, tf.keras.layers.Dense)]
    fcs = by_op("fc_noln")
    if len(fcs) != len(mlp):
        raise ValueError(f"subnet has {len(fcs)} fc_noln layers, the baseline's MLP {len(mlp)}")
    for layer, dense in zip(fcs, mlp):
        layer.set_weights(dense.get_weights())
    if isinstance(network, DeepFM):
        subnet.get_layer("dense_fields").set_weights([network.dense_fields.v.numpy()])
        subnet.get_layer("first_order").set_weights([network.dense_linear.kernel.numpy(),
                                                     network.first_order.table.numpy()])
        kernel, bias = network.deep_head.get_weights()
        subnet.get_layer("head").set_weights([kernel, bias + network.dense_linear.bias.numpy()])
    elif isinstance(network, DCNv2):
        crosses = by_op("cross")
        if len(crosses) != len(network.crosses):
            raise ValueError(f"subnet has {len(crosses)} cross layers, the baseline {len(network.crosses)}")
        for layer, c in zip(crosses, network.crosses):
            layer.set_weights(c._dense.get_weights())
        subnet.get_layer("head").set_weights(network.head.get_weights())
    else:
        raise ValueError(f"weights_from_baseline: {type(network).__name__} is not DeepFM or DCNv2")
