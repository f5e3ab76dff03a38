"""TF Serving gRPC client side: PredictRequest from raw rows checked against the exported signature, fed through
the reloaded SavedModel in a fresh process; the warm-up file written with every CTR export parses back."""
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving")

from pipelines.ctr.baselines import build_baseline  # noqa: E402
from pipelines.ctr.features import CTRPreprocessor  # noqa: E402
from pipelines.ctr.schema import FeatureSpec  # noqa: E402
from tfnas.export import ctr  # noqa: E402
from tfnas.export import predict_request as P  # noqa: E402

SPEC = FeatureSpec(("I1", "I2"), ("C1", "C2", "C3"), (16, 30, 8))
ROWS = [{"I1": 3, "C1": "68fd1e64", "C2": "a"},
        {"I1": 0, "I2": 120, "C1": None, "C2": "", "C3": None},
        {"I1": -1, "I2": 7, "C1": "05db9164", "C2": "b", "C3": "x"},
        {"C1": "68fd1e64", "C2": "zz", "C3": "x"},
        {"I1": 45.0, "I2": "2", "C1": "ae82ea21", "C2": "a", "C3": "y"}]
RAW = {"dense": np.array([[3, np.nan], [0, 120], [-1, 7], [np.nan, np.nan], [45, 2]], np.float32),
       "categorical": np.array([["68fd1e64", "a", ""], ["", "", ""], ["05db9164", "b", "x"],
                                ["68fd1e64", "zz", "x"], ["ae82ea21", "a", "y"]], object)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfnas.train.seeding import seeded
    with seeded(0):
        net = build_baseline("dlrm", SPEC, embedding_dim=4, bottom=[8], top=[8])
        net({"dense": tf.zeros([1, 2]), "sparse": tf.zeros([1, 3], tf.int64)})
        for v in net.trainable_variables:
            v.assign(v + tf.random.normal(v.shape, stddev=0.3))
    root = tmp_path_factory.mktemp("saved_models")
    return net, ctr.export_saved_model(net, SPEC, "ctr", root=root), root


def _keras_prob(net, raw):
    proc = CTRPreprocessor(SPEC)({"dense": tf.constant(raw["dense"]),
                                  "categorical": tf.constant(raw["categorical"], tf.string)})
    return tf.sigmoid(net(proc, training=False)).numpy()


def test_request_through_the_reloaded_signature_in_a_fresh_process_equals_keras(exported):
    net, path, root = exported
    sig = P.signature_of_saved_model(path)
    assert sig == {"I1": ("float32", (None,)), "I2": ("float32", (None,)), "C1": ("string", (None,)),
                   "C2": ("string", (None,)), "C3": ("string", (None,))}
    request = P.predict_request(ROWS, SPEC, "ctr", signature=sig, version=1)
    assert request.model_spec.name == "ctr" and request.model_spec.signature_name == "serving_default"
    # the REST helper and the PredictRequest carry the same tensors (one mapping)
    rest = ctr.rest_request_to_inputs({"instances": ROWS}, SPEC)
    for k, v in P.request_to_arrays(request).items():
        np.testing.assert_array_equal(v, rest[k].numpy())
    # the warm-up file written with the export: one PredictionLog, two all-missing rows, fits the signature
    warm = P.read_warmup(path)
    assert len(warm) == 1 and warm[0].model_spec.name == "ctr"
    P.check_request(warm[0], sig, "warm-up")
    arrays = P.request_to_arrays(warm[0])
    assert arrays["I1"].shape == (2,) and np.isnan(arrays["I1"]).all() and arrays["C1"].tolist() == [b"", b""]
    served, served_warm = P.predict_request_in_subprocess(path, [request, warm[0]])
    ref = _keras_prob(net, RAW)
    np.testing.assert_allclose(served["probability"], ref, atol=1e-6)
    missing = {"dense": np.full((2, 2), np.nan, np.float32), "categorical": np.full((2, 3), "", object)}
    np.testing.assert_allclose(served_warm["probability"], _keras_prob(net, missing), atol=1e-6)
    assert served["logit"].shape == (5, 1)
    # the export left only its integer version behind (the staging folder is gone)
    assert os.listdir(os.path.join(root, "ctr")) == ["1"]


def test_request_checks_name_the_input(exported):
    sig = P.signature_of_saved_model(exported[1])
    request = P.predict_request(ROWS[:2], SPEC, "ctr")
    del request.inputs["C2"]
    with pytest.raises(ValueError, match=r"missing input\(s\) \['C2'\]"):
        P.check_request(request, sig)
    request = P.predict_request(ROWS[:2], SPEC, "ctr")
    with pytest.raises(ValueError, match="input 'I1' has dtype float32, the signature wants int64"):
        P.check_request(request, {**sig, "I1": ("int64", (None,))})
    with pytest.raises(ValueError, match="input 'C1' has shape \\[2\\], the signature wants rank 2"):
        P.check_request(request, {**sig, "C1": ("string", (None, 1))})
    with pytest.raises(ValueError, match=r"unknown input\(s\) \['C1'\]"):
        P.check_request(request, {k: v for k, v in sig.items() if k != "C1"})
    request.inputs["I2"].CopyFrom(tf.make_tensor_proto(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="differ in batch size"):
        P.check_request(request, sig)
    with pytest.raises(ValueError, match=r"instances\[1\].*unknown.*C9"):
        P.predict_request([{"I1": 1}, {"C9": "a"}], SPEC, "ctr")
    with pytest.raises(FileExistsError):
        ctr.export_saved_model(exported[0], SPEC, "ctr", version=1, root=exported[2])
    with pytest.raises(ValueError, match="no signature 'predict'"):
        P.signature_of_saved_model(exported[1], "predict")
