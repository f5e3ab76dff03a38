"""AutoShrink cells: construction from any edge set, pruning, Keras CNN/RNN builders, official-format readers."""
import itertools
import os

import numpy as np
import pytest

from tfnas.autoshrink.cell import (active_edges, cell_from_edges, check_cell, full_cnn_cell, full_rnn_cell,
                                   leaf_nodes, prune_unreachable)
from tfnas.graph import Architecture


def test_full_cell_has_every_forward_edge_and_balanced_ops():
    arch = full_cnn_cell(8, seed=3)
    assert arch.num_edges() == 28
    ops = [arch.op(n) for n in range(1, 8)]
    assert abs(ops.count("sep_conv_3x3") - ops.count("conv_1x1")) <= 1
    assert arch.op(0) == "input"
    assert full_cnn_cell(8, seed=3) == arch and Architecture.from_json(arch.to_json()) == arch
    rnn = full_rnn_cell(6, seed=1)
    assert rnn.num_edges() == 15 and {rnn.op(n) for n in range(1, 6)} <= {"relu", "sigmoid", "tanh", "identity"}


def test_pruning_drops_edges_of_unreachable_nodes():
    arch = cell_from_edges(full_cnn_cell(5), [(0, 2), (1, 3), (1, 4), (2, 4)])
    pruned = prune_unreachable(arch)
    assert sorted(pruned.edges) == [(0, 2), (2, 4)]      # node 1 has no input: its edges carry nothing
    assert leaf_nodes(pruned) == [4]
    assert leaf_nodes(cell_from_edges(arch, [])) == [0]   # empty cell = identity
    with pytest.raises(ValueError, match="forward"):
        check_cell(Architecture([(0, {"op": "input"}), (1, {"op": "conv_1x1"})], [(1, 0)]))


def _conv_layers(model):
    return [layer for layer in model.layers if type(layer).__name__ in ("Conv2D", "SeparableConv2D")]


@pytest.mark.parametrize("strides", [1, 2])
def test_cnn_cell_builds_from_any_edge_set(strides):
    import tensorflow as tf
    from tfnas.autoshrink.cnn import Macro, build_cnn
    template = full_cnn_cell(5, seed=0)
    all_edges = sorted(template.edges)
    rng = np.random.default_rng(strides)
    subsets = [all_edges, []] + [[e for e in all_edges if rng.random() < 0.5] for _ in range(4)]
    macro = Macro(scales=(1.0,), replicate=(1,), pools=(strides,), stem_filters=8)
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    for edges in subsets:
        arch = prune_unreachable(cell_from_edges(template, edges))
        model = build_cnn(arch, (8, 8, 3), 10, macro)
        active = {v for _, v in active_edges(arch)}
        cell_convs = [layer for layer in _conv_layers(model) if layer.name.startswith("s1c0_n")]
        assert len(cell_convs) == len(active), (edges, [layer.name for layer in cell_convs])
        assert model(x).shape == (2, 10)
        clone = tf.keras.Model.from_config(model.get_config())
        assert clone.count_params() == model.count_params()


def test_shrink_cnn_macro_filters_and_small_variant():
    from tfnas.autoshrink.cnn import SHRINK_CNN, build_cnn, small_shrink_cnn
    assert SHRINK_CNN.stage_filters(16) == [12, 24, 44, 88, 180]
    arch = full_cnn_cell(4, seed=0)
    model = build_cnn(arch, (16, 16, 3), 10, small_shrink_cnn(width=0.25, depth=(1, 1, 1, 1, 1), head_filters=32))
    names = [layer.name for layer in model.layers]
    assert "head_conv" in names and sum(n.endswith("_n0_pool") for n in names) == 4
    assert model.output_shape == (None, 10)


def test_rnn_cell_runs_inside_keras_rnn_and_round_trips():
    import tensorflow as tf
    from tfnas.autoshrink.rnn import DagRNNCell, rnn_cell_flops
    arch = prune_unreachable(full_rnn_cell(5, seed=2).with_edge_removed(0, 1))
    layer = tf.keras.layers.RNN(DagRNNCell(6, arch), return_sequences=True, return_state=True)
    x = np.random.default_rng(0).random((3, 7, 4)).astype("float32")
    seq, state = layer(x)
    assert seq.shape == (3, 7, 6) and np.allclose(seq[:, -1].numpy(), state.numpy())
    clone = tf.keras.layers.RNN.from_config(layer.get_config(), custom_objects={"DagRNNCell": DagRNNCell})
    clone(x)
    clone.set_weights(layer.get_weights())
    assert np.allclose(clone(x)[0].numpy(), seq.numpy(), atol=1e-6)
    n_edges = len(active_edges(arch))
    assert len(layer.cell.weights) == 1 + n_edges
    assert rnn_cell_flops(arch, 6, 4) == 2 * (10 * 12 + n_edges * 6 * 12)


def test_cifar_reader_official_pickles(tmp_path):
    from pipelines.vision.cifar import read_cifar10, write_cifar_batch
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        write_cifar_batch(str(tmp_path / name), rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
                          [(i + j) % 10 for j in range(4)])
    (x, y), (xt, yt) = read_cifar10(str(tmp_path))
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,) and xt.shape == (4, 32, 32, 3)
    import pickle
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="data_batch_3.*'data'"):
        read_cifar10(str(tmp_path))


def test_image_folder_reader(tmp_path):
    from PIL import Image
    from pipelines.vision.folders import read_image_folders
    for cls, color in [("cat", (255, 0, 0)), ("dog", (0, 0, 255))]:
        os.makedirs(tmp_path / cls)
        for k in range(2):
            Image.new("RGB", (20, 12), color).save(tmp_path / cls / f"{k}.png")
    x, y, classes = read_image_folders(str(tmp_path), 8)
    assert classes == ["cat", "dog"] and x.shape == (4, 8, 8, 3) and list(y) == [0, 0, 1, 1]
    assert x[0, 0, 0, 0] == 255 and x[-1, 0, 0, 2] == 255
    (tmp_path / "dog" / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="bad.png"):
        read_image_folders(str(tmp_path), 8)


def test_ptb_reader_and_builtin_corpus(tmp_path):
    from pipelines.text.ptb import read_ptb, write_ptb
    write_ptb(str(tmp_path), {"train": ["the cat sat", "a dog <unk>"], "valid": ["the dog"], "test": ["a cat"]})
    corpus = read_ptb(str(tmp_path))
    assert corpus.vocab[:4] == ["the", "cat", "sat", "<eos>"]
    assert len(corpus.train) == 8 and len(corpus.valid) == 3
    (tmp_path / "ptb.test.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="ptb.test.txt"):
        read_ptb(str(tmp_path))
    from pipelines.text.pydocs import python_docs_ptb
    splits = python_docs_ptb()
    words = sum(len(line.split()) for line in itertools.chain(*splits.values()))
    assert words > 50_000 and all(splits[s] for s in ("train", "valid", "test"))


def test_image_pipeline_lives_in_pipelines_vision():
    import pipelines.vision.images as images
    import tfnas.autoshrink.data as data
    import tfnas.autoshrink.train as train
    from pipelines.vision.dataset import image_dataset
    assert data.load_images is images.load_images and data.proxy_subset is images.proxy_subset
    assert train.image_dataset is image_dataset
    full = images.load_images("digits", 8, seed=0)
    proxy = images.proxy_subset(full, train_per_class=7, val_per_class=3, seed=1)
    assert np.bincount(proxy.y_train).tolist() == [7] * full.num_classes
    assert np.bincount(proxy.y_val).tolist() == [3] * full.num_classes
    x, y = next(iter(image_dataset(proxy.x_train, proxy.y_train, 5)))
    assert x.dtype.name == "float32" and float(x.numpy().max()) <= 1.0 and y.shape == (5,)
    np.testing.assert_allclose(x.numpy(), proxy.x_train[:5] / 255.0, atol=1e-7)
    big = images.resize_images(proxy.x_train[:2], 16)
    assert big.shape == (2, 16, 16, 3) and big.dtype == np.uint8
