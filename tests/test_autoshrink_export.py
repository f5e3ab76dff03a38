"""ShrinkCNN TFLite export: int8 keeps the Keras accuracy (stated tolerance) and runs wholly in XNNPACK;
latency helpers; the SavedModel goes through the core versioned writer."""
import numpy as np
import pytest

INT8_TOLERANCE = 0.05   # accuracy points (fraction) the int8 model may lose on the 360-image digits test split


@pytest.fixture(scope="module")
def trained():
    import tensorflow as tf
    from tfnas.autoshrink.cell import full_cnn_cell
    from tfnas.autoshrink.cnn import build_cnn, small_shrink_cnn
    from tfnas.autoshrink.data import load_images
    from tfnas.autoshrink.deploy import FinalTraining, train_final
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)   # the same trained model whichever tests ran before in this process
    data = load_images("digits", 8)
    model = build_cnn(full_cnn_cell(4, seed=0), data.input_shape, data.num_classes,
                      small_shrink_cnn(width=0.25, depth=(1, 1, 1, 1, 1), head_filters=32))
    out = train_final(model, data, FinalTraining(epochs=4, batch_size=64))
    return model, data, out


def test_int8_tflite_accuracy_close_to_keras_and_all_ops_in_xnnpack(trained, tmp_path):
    from tfnas.autoshrink.deploy import export_and_measure
    from tfnas.export.latency import interpreter
    model, data, out = trained
    assert out["test_accuracy"] > 0.5, out          # the model learned something real
    report = export_and_measure(model, data, str(tmp_path), "tiny", modes=("float32", "int8"), threads=(1,),
                                runs=5, save_model=False, measure_macs=False)
    keras_acc, int8_acc = report["keras"]["test_accuracy"], report["int8"]["test_accuracy"]
    assert keras_acc == pytest.approx(out["test_accuracy"])
    assert int8_acc >= keras_acc - INT8_TOLERANCE, report
    assert abs(report["int8"]["test_accuracy_builtin"] - int8_acc) <= 0.01, report   # same model, other kernels
    assert report["float32"]["test_accuracy"] == pytest.approx(keras_acc, abs=0.01), report
    assert report["int8"]["bytes"] > 0 and report["int8"]["latency_ms"]["1"] > 0
    with open(report["int8"]["path"], "rb") as f:
        blob = f.read()
    from tfnas.export import tflite_predict
    logits = tflite_predict(blob, data.x_test[:16].astype(np.float32) / 255.0)
    keras_logits = model.predict(data.x_test[:16].astype(np.float32) / 255.0, verbose=0)
    agree = np.mean(np.argmax(logits, -1) == np.argmax(keras_logits, -1))
    assert agree >= 0.8, agree
    for mode in ("float32", "int8"):
        r = report[mode]
        assert r["delegation"]["fully_delegated"] and r["delegation"]["partitions"] == 1, r["delegation"]
        assert r["delegation"]["ops"]["CONV_2D"] > 0 and "DEQUANTIZE" not in r["delegation"]["ops"]
        assert r["latency_ms"]["1"] > 0 and r["latency_builtin_ms"]["1"] > 0
        with open(r["path"], "rb") as f:
            interp = interpreter(f.read(), xnnpack=False)
        assert "DELEGATE" not in {d["op_name"] for d in interp._get_ops_details()}   # builtin timing: no XNNPACK
        if mode == "int8":   # int8 in and out: no float quantize / dequantize around the network
            assert interp.get_input_details()[0]["dtype"] == np.int8
            assert interp.get_output_details()[0]["dtype"] == np.int8


def test_delegation_reports_an_op_xnnpack_does_not_take():
    import tensorflow as tf
    from tfnas.export.latency import delegation, invoke_latency
    from tfnas.export import to_tflite
    tf.keras.backend.clear_session()
    x = tf.keras.Input((8,))
    h = tf.keras.layers.Dense(8)(x)
    h = tf.keras.layers.Lambda(lambda t: tf.math.cumsum(t, axis=-1))(h)   # CUMSUM: a builtin, not in XNNPACK
    blob = to_tflite(tf.keras.Model(x, tf.keras.layers.Dense(4)(h)), "float32")
    d = delegation(blob)
    assert not d["fully_delegated"] and "CUMSUM" in d["outside"], d
    assert invoke_latency(blob, np.ones((1, 8), np.float32), runs=3)["median_ms"] > 0
    with pytest.raises(ValueError, match="shape"):
        invoke_latency(blob, np.ones((1, 9), np.float32), runs=1)


def test_at_input_size_keeps_weights_and_rejects_non_images(trained):
    import tensorflow as tf
    from tfnas.export.latency import at_input_size
    model, data, _ = trained
    big = at_input_size(model, 16)
    assert big.input_shape == (None, 16, 16, 3) and model.input_shape == (None, 8, 8, 3)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), big.get_weights()))
    x = data.x_test[:4].astype(np.float32) / 255.0
    up = tf.image.resize(x, (16, 16), method="nearest").numpy()
    assert big.predict(up, verbose=0).shape == (4, data.num_classes)
    flat = tf.keras.Sequential([tf.keras.Input((5,)), tf.keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="image batch|InputLayer"):
        at_input_size(tf.keras.Model(flat.inputs, flat.outputs), 16)


def test_export_and_measure_saved_model_goes_through_the_versioned_writer(trained, tmp_path):
    from tfnas.autoshrink.deploy import export_and_measure
    from tfnas.export import check_model_reload
    model, data, _ = trained
    reports = [export_and_measure(model, data, str(tmp_path), "tiny", modes=(), threads=(1,), runs=1,
                                  measure_macs=False) for _ in range(2)]
    paths = [r["saved_model"] for r in reports]
    assert paths == [str(tmp_path / "saved_models" / "tiny" / v) for v in ("1", "2")]   # a new version each time
    x = data.x_test[:8].astype(np.float32) / 255.0
    assert check_model_reload(model, paths[1], {model.inputs[0].name.split(":")[0]: x}) < 1e-5
