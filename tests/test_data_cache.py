"""`tfnas data cache`: parsed + hashed .npy shards that read back as the very batches of the source folder,
written atomically per shard, resumable, never touching the input; any dense encoding applies on read."""
import dataclasses
import os

import numpy as np
import pytest


def _batches(ds):
    out = {k: [] for k in ("dense", "sparse", "label")}
    for b in ds:
        for k in out:
            out[k].append(b[k].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def test_cache_reads_back_the_source_batches_and_resumes(tmp_path):
    from pipelines.ctr.cache import MANIFEST, write_cache
    from pipelines.ctr.dataset import load_spec, make_split_dataset, split_paths
    from pipelines.ctr.dense_encoding import fit_spec
    from pipelines.ctr.synthetic import write_synthetic

    src, out = str(tmp_path / "d"), str(tmp_path / "c")
    write_synthetic(src, 2500, seed=0)
    stamp = {p: os.stat(os.path.join(src, p)).st_mtime_ns for p in os.listdir(src)}
    manifest = write_cache(src, out, shard_rows=700)
    assert manifest["splits"]["train"]["shards"] == 3 and manifest["splits"]["train"]["rows"] > 1900
    assert {p: os.stat(os.path.join(src, p)).st_mtime_ns for p in os.listdir(src)} == stamp   # input untouched
    assert len(split_paths(out)["valid"]) == 1
    for spec in (load_spec(src), fit_spec(src, load_spec(src), "quantile", 8)):
        want = _batches(make_split_dataset(src, "train", 512, spec=spec))
        got = _batches(make_split_dataset(out, "train", 512, spec=spec))
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-6)
    shuffled = _batches(make_split_dataset(out, "train", 512, shuffle=True, seed=1))
    assert sorted(shuffled["label"]) == sorted(want["label"]) and not np.array_equal(shuffled["dense"], want["dense"])
    # a cut-off run: no manifest, one shard missing -> the rerun writes only that one and finishes
    os.remove(os.path.join(out, MANIFEST))
    os.remove(os.path.join(out, "train", "00001.label.npy"))
    kept = os.stat(os.path.join(out, "train", "00000.label.npy")).st_mtime_ns
    assert write_cache(src, out, shard_rows=700) == manifest
    assert os.stat(os.path.join(out, "train", "00000.label.npy")).st_mtime_ns == kept
    np.testing.assert_allclose(_batches(make_split_dataset(out, "train", 512))["dense"],
                               _batches(make_split_dataset(src, "train", 512))["dense"])
    with pytest.raises(FileExistsError, match="finished cache"):
        write_cache(src, out)
    with pytest.raises(ValueError, match="never writes into its input"):
        write_cache(src, src)
    capped = dataclasses.replace(load_spec(src), vocab_sizes=(7,) * load_spec(src).num_sparse)
    with pytest.raises(ValueError, match="re-cache"):
        make_split_dataset(out, "train", 512, spec=capped)
