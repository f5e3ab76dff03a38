"""CircuitNet layout reader: small .npy files in the released folder layout round-trip into Sample dirs."""
import os

import numpy as np
import pytest

from pipelines.eda import circuitnet as cn
from pipelines.eda.sample import Sample

NAMES = ["1-RISCY-a-1-c2-u0.7-m1-p1-f0", "2-RISCY-b-1-c2-u0.8-m2-p2-f1", "3-zero-riscy-a-1-c5-u0.9-m1-p3-f0"]
SHAPE_XY = (8, 6)    # CircuitNet maps are [x, y]


def _layout(root, names, with_egr=True):
    rng = np.random.default_rng(0)
    written = {}
    subs = dict(cn.FEATURE_DIRS, **cn.LABEL_DIRS)
    if not with_egr:
        subs = {k: v for k, v in subs.items() if "egr" not in k}
    for name in names:
        written[name] = {}
        for key, sub in subs.items():
            arr = rng.random(SHAPE_XY).astype(np.float32)
            if key == "drc":
                arr = np.where(arr > 0.8, np.floor(arr * 5), 0).astype(np.float32)
            os.makedirs(root / sub, exist_ok=True)
            np.save(root / sub / f"{name}.npy", arr)
            written[name][key] = arr
    return written


def _csv(path, names):
    path.write_text("".join(f"feature/{n}.npy,label/{n}.npy\n" for n in names))
    return str(path)


def test_split_csv_and_round_trip(tmp_path):
    root = tmp_path / "routability_features_decompressed"
    written = _layout(root, NAMES)
    train_csv, test_csv = _csv(tmp_path / "train_N28.csv", NAMES[:2]), _csv(tmp_path / "test_N28.csv", NAMES[2:])
    assert cn.read_split_csv(train_csv) == NAMES[:2]
    assert cn.available_names(str(root)) == sorted(NAMES)
    dirs = cn.convert(str(root), str(tmp_path / "train"), csv_path=train_csv)
    assert [os.path.basename(d) for d in dirs] == NAMES[:2]
    s = Sample.load(dirs[1])
    w = written[NAMES[1]]
    np.testing.assert_array_equal(s.features["cell_density"], w["cell_density"].T)       # [x,y] -> [y,x]
    np.testing.assert_array_equal(s.features["pin_rudy"], w["pin_rudy"].T)
    np.testing.assert_allclose(s.features["congestion"],
                               (w["congestion_egr_horizontal"] + w["congestion_egr_vertical"]).T)
    np.testing.assert_allclose(s.labels["congestion"],
                               (w["congestion_gr_horizontal"] + w["congestion_gr_vertical"]).T)
    np.testing.assert_allclose(s.labels["utilisation_max"],
                               np.maximum(w["util_gr_horizontal"], w["util_gr_vertical"]).T)
    np.testing.assert_array_equal(s.labels["hotspot_drc"], (w["drc"].T > 0).astype(np.float32))
    assert float(s.labels["n_drc"]) == pytest.approx(float(w["drc"].sum()))
    assert s.features["rudy"].shape == (SHAPE_XY[1], SHAPE_XY[0])
    assert s.meta["source"] == "circuitnet" and s.meta["maps"]["congestion_present"]
    assert s.meta["design"] == "RISCY-b-1-c2"
    # converting again keeps finished samples (resumable) and the test split goes elsewhere
    assert cn.convert(str(root), str(tmp_path / "train"), csv_path=train_csv) == dirs
    assert len(cn.convert(str(root), str(tmp_path / "test"), csv_path=test_csv)) == 1


def test_missing_egr_is_flagged_not_invented(tmp_path):
    root = tmp_path / "cn"
    _layout(root, NAMES[:1], with_egr=False)
    s = cn.load_sample(str(root), NAMES[0])
    assert not s.meta["maps"]["congestion_present"] and not s.features["congestion"].any()


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("feature/a.npy,label/a.npy\nfeature/b.npy\n")
    with pytest.raises(ValueError, match=r"bad.csv:2:"):
        cn.read_split_csv(str(bad))
    with pytest.raises(FileNotFoundError, match="not a CircuitNet root"):
        cn.available_names(str(tmp_path))
    root = tmp_path / "cn"
    _layout(root, NAMES[:1])
    np.save(root / "cell_density" / f"{NAMES[0]}.npy", np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="different shapes"):
        cn.load_sample(str(root), NAMES[0])


def test_circuitnet_samples_feed_the_dataset(tmp_path):
    from pipelines.eda.dataset import FeatureStats, make_dataset
    root = tmp_path / "cn"
    _layout(root, NAMES)
    dirs = cn.convert(str(root), str(tmp_path / "samples"))
    channels = ["macro_region", "cell_density", "rudy", "pin_rudy"]
    stats = FeatureStats.fit(dirs[:2], channels, size=(16, 16), targets=cn.CIRCUITNET_TARGETS)
    feats, targets = next(iter(make_dataset(dirs[2:], stats, targets=cn.CIRCUITNET_TARGETS)))
    assert feats.shape == (16, 16, 4) and targets["hotspot"].shape == (16, 16, 1)
    assert float(targets["n_failed"]) == pytest.approx(float(Sample.load(dirs[2]).labels["n_drc"]))
