"""ShrinkCNN TFLite export: the full-integer int8 model keeps the Keras model's accuracy (stated tolerance)."""
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
    data = load_images("digits", 8)
    model = build_cnn(full_cnn_cell(4, seed=0), data.input_shape, data.num_classes,
                      small_shrink_cnn(width=0.25, depth=(1, 1, 1, 1, 1), head_filters=32))
    out = train_final(model, data, FinalTraining(epochs=4, batch_size=64))
    return model, data, out


def test_int8_tflite_accuracy_close_to_keras(trained, tmp_path):
    from tfnas.autoshrink.deploy import export_and_measure
    model, data, out = trained
    assert out["test_accuracy"] > 0.5, out          # the model learned something real
    report = export_and_measure(model, data, str(tmp_path), "tiny", modes=("int8",), threads=(1,), runs=5,
                                save_model=False, measure_macs=False)
    keras_acc, int8_acc = report["keras"]["test_accuracy"], report["int8"]["test_accuracy"]
    assert keras_acc == pytest.approx(out["test_accuracy"])
    assert int8_acc >= keras_acc - INT8_TOLERANCE, report
    assert report["int8"]["bytes"] > 0 and report["int8"]["latency_ms"]["1"] > 0
    with open(report["int8"]["path"], "rb") as f:
        blob = f.read()
    from tfnas.export import tflite_predict
    logits = tflite_predict(blob, data.x_test[:16].astype(np.float32) / 255.0)
    keras_logits = model.predict(data.x_test[:16].astype(np.float32) / 255.0, verbose=0)
    agree = np.mean(np.argmax(logits, -1) == np.argmax(keras_logits, -1))
    assert agree >= 0.8, agree
