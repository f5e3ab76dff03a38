"""A binary cache of a CTR data folder (`tfnas data cache`): parsing and hashing done once, training reads
memory-mapped .npy shards.

    DIR2/{train,valid,test}/NNNNN.{dense,sparse,label}.npy   raw dense float32 (NaN kept), hashed ids int64
                                                             (the folder's spec), labels float32
    DIR2/cache.json    {"source", "shard_rows", "splits": {split: {"shards", "rows"}}}; written last: a folder
                       without it is a partial cache that `write_cache` resumes (finished shards are kept)
    DIR2/spec.json, DIR2/dataset.json ({"format": "cache", ...})
Dense values are stored raw so any dense encoding (log1p, quantile) applies at read time; ids cannot be
re-hashed, so a spec with other table sizes is refused.  Raw rows (export checks) come from the source folder.
"""
from __future__ import annotations

import json
import os

import numpy as np

from pipelines.ctr.folder import SPLITS, load_info, load_spec, split_paths
from pipelines.ctr.schema import _write_atomic, save_spec

MANIFEST = "cache.json"
FORMAT = "cache"
KEYS = ("dense", "sparse", "label")


def is_cache(data_dir) -> bool:
    return load_info(data_dir).get("format") == FORMAT and os.path.exists(os.path.join(data_dir, MANIFEST))


def _save_npy(path: str, array: np.ndarray) -> None:
    tmp = f"{path}.tmp-{os.getpid()}.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def write_cache(data_dir: str, out_dir: str, shard_rows: int = 262_144, bad_rows: str = "error",
                progress=None) -> dict:
    """Write the cache of `data_dir` into `out_dir` (module doc); resumes a partial one; returns cache.json."""
    from pipelines.ctr.dataset import make_split_dataset
    from pipelines.ctr.features import hash_categorical, field_salt

    data_dir, out_dir = os.path.abspath(data_dir), os.path.abspath(out_dir)
    if data_dir == out_dir:
        raise ValueError(f"--out {out_dir} is the input folder; a cache never writes into its input")
    if os.path.exists(os.path.join(out_dir, MANIFEST)):
        raise FileExistsError(f"{out_dir} already holds a finished cache")
    if is_cache(data_dir):
        raise ValueError(f"{data_dir} is already a cache")
    spec, paths = load_spec(data_dir), split_paths(data_dir)
    salts = [field_salt(n) for n in spec.sparse_names]
    splits = {}
    for split in SPLITS:
        if not paths.get(split):
            continue
        folder = os.path.join(out_dir, split)
        os.makedirs(folder, exist_ok=True)
        shards, rows = 0, 0
        for k, batch in enumerate(make_split_dataset(data_dir, split, shard_rows, spec=spec, processed=False,
                                                     bad_rows=bad_rows)):
            n = int(batch["label"].shape[0])
            stem = os.path.join(folder, f"{k:05d}")
            if not os.path.exists(f"{stem}.label.npy"):           # resume: a finished shard is kept
                sparse = (hash_categorical(batch["categorical"], spec.vocab_sizes, salts).numpy()
                          if spec.num_sparse else np.zeros([n, 0], np.int64))
                _save_npy(f"{stem}.dense.npy", batch["dense"].numpy().astype(np.float32))
                _save_npy(f"{stem}.sparse.npy", sparse.astype(np.int64))
                _save_npy(f"{stem}.label.npy", batch["label"].numpy().astype(np.float32))  # last: marks done
            shards, rows = shards + 1, rows + n
            if progress:
                progress(split, rows)
        splits[split] = {"shards": shards, "rows": rows}
    info = dict(load_info(data_dir), format=FORMAT, source=data_dir)
    save_spec(out_dir, spec, info)
    if os.path.exists(os.path.join(data_dir, "bayes.json")):       # planted data: the Bayes row still shows
        import shutil
        shutil.copyfile(os.path.join(data_dir, "bayes.json"), os.path.join(out_dir, "bayes.json"))
    manifest = {"source": data_dir, "shard_rows": int(shard_rows), "splits": splits}
    _write_atomic(os.path.join(out_dir, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    return manifest


def cache_split_files(data_dir) -> dict[str, list[str]]:
    """{split: [label shard paths]} of a finished cache."""
    with open(os.path.join(os.fspath(data_dir), MANIFEST)) as f:
        manifest = json.load(f)
    return {s: [os.path.join(data_dir, s, f"{k:05d}.label.npy") for k in range(v["shards"])]
            for s, v in manifest["splits"].items()}


def cache_dataset(data_dir, split: str, spec, batch_size: int, *, shuffle: bool = False, repeat: bool = False,
                  seed: int = 0, processed: bool = True):
    """Processed batches {"dense", "sparse", "label"} of one cached split (memory-mapped shards, shuffled by
    row within the split with `seed`, a new permutation each epoch; the last batch may be short)."""
    import tensorflow as tf

    from pipelines.ctr.features import encode_dense
    data_dir = os.fspath(data_dir)
    if not processed:
        from pipelines.ctr.dataset import make_split_dataset
        return make_split_dataset(load_info(data_dir)["source"], split, batch_size, spec=spec, processed=False)
    cached = load_spec(data_dir)
    if tuple(spec.vocab_sizes) != tuple(cached.vocab_sizes) or spec.sparse_names != cached.sparse_names:
        raise ValueError(f"{data_dir}: the cache hashed ids for table sizes {list(cached.vocab_sizes)}; spec asks "
                         f"{list(spec.vocab_sizes)} (re-cache, or train on the source folder)")
    files = cache_split_files(data_dir).get(split)
    if not files:
        raise FileNotFoundError(f"{data_dir}: no cached shards for split {split!r}")
    arrays = {key: np.concatenate([np.load(f.replace(".label.npy", f".{key}.npy"), mmap_mode="r") for f in files])
              for key in KEYS}
    # whole batches are gathered by index (a per-epoch permutation when shuffling): per-row tf.data elements
    # through shuffle + batch cost more than the training step of a small model (measured, ctr_throughput.py)
    tensors = {key: tf.constant(value) for key, value in arrays.items()}
    if spec.num_dense:                                         # encoded once here, not once per batch
        tensors["dense"] = encode_dense(tensors["dense"], spec)
    n = int(arrays["label"].shape[0])
    batches = -(-n // batch_size)

    def epoch(e):
        order = (tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64), e])))
                 if shuffle else tf.range(n))
        return tf.data.Dataset.range(batches).map(lambda i: order[i * batch_size:(i + 1) * batch_size])

    def gather(index):
        return {key: tf.gather(t, index) for key, t in tensors.items()}
    epochs = tf.data.Dataset.range(2 ** 62 if repeat else 1)
    return epochs.flat_map(epoch).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
