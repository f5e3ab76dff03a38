"""The generic exporter on non-CTR models: an image classifier and a per-tile map model export, reload in a
fresh process and match; TFLite float32 / float16 / int8 of each; unsafe names refused; versions never
overwritten; `tfnas export --run` on a map run (run.json) and an AutoShrink-style folder (no run.json)."""
import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfnas import export as E  # noqa: E402
from tfnas.export import runs as R  # noqa: E402
from tfnas.export.reload import keras_outputs  # noqa: E402

L = tf.keras.layers


def _init(i):
    return tf.keras.initializers.GlorotUniform(seed=i)


def image_classifier():
    """Conv + BatchNorm (non-trivial moving statistics, so training=False matters) + pooling + logits."""
    x = tf.keras.Input((8, 8, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", kernel_initializer=_init(1))(x)
    bn = L.BatchNormalization()
    h = L.ReLU()(bn(h))
    h = L.DepthwiseConv2D(3, strides=2, padding="same", depthwise_initializer=_init(2))(h)
    h = L.GlobalAveragePooling2D()(h)
    model = tf.keras.Model(x, L.Dense(5, kernel_initializer=_init(3), name="logits")(h), name="tiny_classifier")
    bn.moving_mean.assign(np.linspace(-0.2, 0.3, 8).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 8).astype(np.float32))
    return model


def map_model():
    """Fully convolutional: HxWxC features -> per-tile logits HxWx1 (down-sample, up-sample, skip concat)."""
    x = tf.keras.Input((16, 16, 4), name="features")
    a = L.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=_init(4))(x)
    b = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", kernel_initializer=_init(5))(a)
    u = L.Conv2DTranspose(8, 3, strides=2, padding="same", kernel_initializer=_init(6))(b)
    h = L.Concatenate()([a, u])
    out = L.Conv2D(1, 1, kernel_initializer=_init(7), bias_initializer=tf.keras.initializers.Constant(0.1),
                   name="tile_logits")(h)
    return tf.keras.Model(x, out, name="tiny_map")


MODELS = {"image_classifier": image_classifier, "map": map_model}


@pytest.fixture(scope="module", params=sorted(MODELS))
def built(request):
    model = MODELS[request.param]()
    inputs = E.sample_inputs(model, batch=6, seed=1)
    return request.param, model, inputs


def test_export_reloads_in_a_fresh_process_and_matches(built, tmp_path):
    kind, model, inputs = built
    path = E.export_model(model, kind, root=tmp_path)
    assert path == os.path.join(tmp_path, kind, "1")
    sig = E.describe_export(path)
    assert sig["inputs"] == {next(iter(inputs)): "float32"} and sig["outputs"] == list(model.output_names)
    ref = keras_outputs(model, inputs)
    out = E.predict_in_subprocess(path, inputs)
    name = model.output_names[0]
    assert out[name].shape == ref[name].shape == (6, *model.output_shape[1:])
    assert np.ptp(ref[name]) > 1e-3                       # outputs differ: the comparison means something
    diff = E.check_model_reload(model, path, inputs)
    assert diff < 1e-5, diff
    print(f"{kind}: reload max |served - keras| = {diff:.3g}")
    # the check can fail: a model that changed after export disagrees with its SavedModel
    changed = tf.keras.models.clone_model(model)
    changed.set_weights([w + 0.5 for w in model.get_weights()])
    assert E.check_model_reload(changed, path, inputs) > 1e-2


def test_tflite_modes_match_keras(built):
    kind, model, inputs = built
    x = next(iter(inputs.values()))
    ref = model(x, training=False).numpy()
    fp32 = E.to_tflite(model, "float32")
    np.testing.assert_allclose(E.tflite_predict(fp32, x), ref, atol=1e-5)
    fp16 = E.to_tflite(model, "float16")
    np.testing.assert_allclose(E.tflite_predict(fp16, x), ref, atol=2e-2)
    rng = np.random.default_rng(2)
    rep = [rng.uniform(0, 1, (1, *x.shape[1:])).astype(np.float32) for _ in range(32)]
    q = E.to_tflite(model, "int8", representative_data=rep)
    interp = E.tflite_interpreter(q)
    assert interp.get_input_details()[0]["dtype"] == np.int8 and interp.get_output_details()[0]["dtype"] == np.int8
    got = E.tflite_predict(q, x)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) < 0.1 * float(np.ptp(ref)) + 0.02, (kind, np.max(np.abs(got - ref)))


@pytest.mark.parametrize("bad", ["", ".", "..", "../escape", "a/../b", "a/b", "/abs/model", "a\\b", ".hidden"])
def test_unsafe_names_are_refused(bad, tmp_path):
    model = image_classifier()
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="export name"):
        E.export_model(model, bad, root=root)
    with pytest.raises(ValueError, match="export name"):
        E.next_version(root, bad)
    assert not root.exists()                                  # nothing written anywhere


def test_an_existing_version_is_never_overwritten(tmp_path):
    model = map_model()
    first = E.export_model(model, "m", root=tmp_path)
    marker = os.path.join(first, "assets.extra", "marker.txt")
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w") as f:
        f.write("v1")
    with pytest.raises(FileExistsError, match="already exists"):
        E.export_model(model, "m", version=1, root=tmp_path)
    os.makedirs(os.path.join(tmp_path, "m", "3"))             # even an empty version folder is kept
    with pytest.raises(FileExistsError):
        E.export_model(model, "m", version=3, root=tmp_path)
    assert E.export_model(model, "m", root=tmp_path) == os.path.join(tmp_path, "m", "4")
    with open(marker) as f:
        assert f.read() == "v1"
    assert E.existing_versions(tmp_path, "m") == [1, 3, 4]
    assert not [d for d in os.listdir(os.path.join(tmp_path, "m")) if not d.isdigit()]   # no temp leftovers
    with pytest.raises(ValueError, match="positive"):
        E.export_model(model, "m", version=0, root=tmp_path)


def test_a_failed_write_leaves_no_version(tmp_path):
    model = map_model()
    with pytest.raises(ValueError, match="leaves"):
        E.export_model(model, "m", root=tmp_path, extra_files={"../../evil.txt": "x"})
    assert E.existing_versions(tmp_path, "m") == [] and os.listdir(os.path.join(tmp_path, "m")) == []


def _cli(argv, capsys):
    from tfnas.cli import main
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def test_export_cli_map_run_from_run_json(tmp_path, capsys):
    from tfnas.runs import write_run_info
    run = str(tmp_path / "maprun")
    os.makedirs(run)
    model = map_model()
    model.save(os.path.join(run, "model.keras"))
    write_run_info(run, "map", model="model.keras", task="tile_bce")
    root = str(tmp_path / "sm")
    rc, out = _cli(["export", "--run", run, "--name", "routability", "--root", root, "--tflite", "int8"], capsys)
    assert rc == 0, out
    path = os.path.join(root, "routability", "1")
    assert f"to {path}" in out and "max |served - keras|" in out
    diff = float(out.split("max |served - keras| = ")[1].split()[0])
    assert diff < 1e-5
    x = E.sample_inputs(model, batch=3, seed=9)
    served = E.predict_in_subprocess(path, x)["tile_logits"]
    np.testing.assert_allclose(served, model(x["features"]).numpy(), atol=1e-5)
    blob = open(os.path.join(run, "model_int8.tflite"), "rb").read()
    assert E.tflite_interpreter(blob).get_input_details()[0]["dtype"] == np.int8
    rc, out = _cli(["export", "--run", run, "--name", "routability", "--root", root, "--version", "1"], capsys)
    assert rc == 1 and "already exists" in out
    rc, out = _cli(["export", "--run", run, "--name", "../up", "--root", root], capsys)
    assert rc == 1 and "export name" in out


def test_export_cli_autoshrink_style_folder_without_run_json(tmp_path, capsys):
    run = str(tmp_path / "shrinkcnn")
    os.makedirs(run)
    image_classifier().save(os.path.join(run, "model.keras"))
    with open(os.path.join(run, "train.json"), "w") as f:
        json.dump({"test_accuracy": 0.5}, f)
    assert R.run_info(run)["kind"] == "image_classifier"
    root = str(tmp_path / "sm")
    rc, out = _cli(["export", "--run", run, "--name", "shrinkcnn", "--root", root, "--tflite", "float32"], capsys)
    assert rc == 0, out
    assert os.path.isdir(os.path.join(root, "shrinkcnn", "1")) and "image_classifier model model.keras" in out
    assert os.path.getsize(os.path.join(run, "model_float32.tflite")) > 1000


def test_run_metadata_errors_are_clear(tmp_path):
    from tfnas.runs import write_run_info
    write_run_info(str(tmp_path), "map", model="../elsewhere.keras")
    with pytest.raises(ValueError, match="field 'model'.*inside the run"):
        R.load_run_model(str(tmp_path))
    write_run_info(str(tmp_path), "mystery")
    info = json.load(open(tmp_path / "run.json"))
    del info["model"]
    json.dump(info, open(tmp_path / "run.json", "w"))
    with pytest.raises(ValueError, match="kind 'mystery' has no export loader"):
        R.load_run_model(str(tmp_path))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no run metadata"):
        R.run_info(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        R.run_info(str(tmp_path / "missing"))
