"""Versioned, atomic SavedModel writer in TF Serving's `root/name/version/` layout, for any Keras model.

A version is written to a hidden temporary folder beside its final place and renamed into it, so TF
Serving (which polls `root/name/`) never sees a half-written version; an existing version is never
overwritten.  Names are single path components: `..`, a separator or an absolute path is refused.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Any, Callable, Mapping

SERVING_KEY = "serving_default"
EXTRA_DIR = "assets.extra"


# --------------------------------------------------------------------------------------------- names / versions
def check_name(name: str) -> str:
    """`name` if it is one safe path component; else a ValueError saying why (TF Serving's model name)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"export name must be a non-empty string, got {name!r}")
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise ValueError(f"export name {name!r} is an absolute path; give a plain model name (root is separate)")
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"export name {name!r} contains a path separator; give a plain model name")
    if ".." in name or name == ".":
        raise ValueError(f"export name {name!r} contains '..' or is '.'; give a plain model name")
    if name.startswith("."):
        raise ValueError(f"export name {name!r} starts with '.' (hidden; TF Serving would skip it)")
    return name


def existing_versions(root, name: str) -> list[int]:
    """Sorted integer version directories under `root/name` (others are ignored, as TF Serving does)."""
    base = os.path.join(os.fspath(root), check_name(name))
    if not os.path.isdir(base):
        return []
    return sorted(int(d) for d in os.listdir(base) if d.isdigit() and os.path.isdir(os.path.join(base, d)))


def next_version(root, name: str) -> int:
    """The next free integer version of `name` (1 for a new model)."""
    versions = existing_versions(root, name)
    return versions[-1] + 1 if versions else 1


# --------------------------------------------------------------------------------------------- writer
def write_saved_model(obj, signatures: Mapping[str, Any], name: str, version: int | None = None,
                      root="saved_models", extra_files: Mapping[str, str] | None = None) -> str:
    """Save `obj` (a tf.Module / Keras model) with `signatures` to `root/name/version/`; returns the path.

    version: next free integer by default; an existing one raises FileExistsError.  extra_files:
    {relative path under assets.extra/: text} written into the version before the rename.
    """
    import tensorflow as tf

    root = os.fspath(root)
    check_name(name)
    version = next_version(root, name) if version is None else int(version)
    if version < 1:
        raise ValueError(f"export version must be a positive integer, got {version}")
    base = os.path.join(root, name)
    final = os.path.join(base, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; pick another version or omit it")
    os.makedirs(base, exist_ok=True)
    remove_stale_temps(base)
    tmp = tempfile.mkdtemp(prefix=f".{version}.tmp-{os.getpid()}-", dir=base)
    try:
        tf.saved_model.save(obj, tmp, signatures=dict(signatures))
        for rel, text in (extra_files or {}).items():
            target = os.path.normpath(os.path.join(tmp, EXTRA_DIR, rel))
            if not target.startswith(os.path.join(tmp, EXTRA_DIR) + os.sep):
                raise ValueError(f"extra file {rel!r} leaves {EXTRA_DIR}/")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(text)
        if os.path.exists(final):   # another writer took this version meanwhile
            raise FileExistsError(f"{final} already exists; pick another version or omit it")
        try:
            os.rename(tmp, final)
        except OSError as exc:      # rename onto a non-empty dir fails: never overwrite
            raise FileExistsError(f"{final}: could not claim the version ({exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def remove_stale_temps(base: str) -> list[str]:
    """Remove `.<version>.tmp-<pid>-*` folders under `base` whose writer process is dead (killed mid-write);
    a live writer's folder is left alone.  Returns the removed paths."""
    from tfnas.runlock import process_alive
    removed = []
    for entry in os.listdir(base):
        m = re.match(r"^\.\d+\.tmp-(\d+)-", entry)
        if m and not process_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(base, entry), ignore_errors=True)
            removed.append(os.path.join(base, entry))
    return removed


def keras_input_signature(model) -> dict:
    """{input name: TensorSpec} of a functional Keras model's inputs (batch dimension left open)."""
    import tensorflow as tf
    sig = {}
    for t in model.inputs:
        n = t.name.split(":")[0]
        sig[n] = tf.TensorSpec([None, *t.shape[1:]], t.dtype, name=n)
    return sig


def output_names(model) -> list[str]:
    """The names the serving signature gives a Keras model's outputs (its output layer names)."""
    return list(model.output_names)


def keras_serving_function(model, input_signature: Mapping[str, Any] | None = None,
                           postprocess: Callable | None = None):
    """A tf.function {name: tensor} -> {output name: tensor} running `model(..., training=False)`.

    input_signature defaults to the model's own inputs; `postprocess(outputs dict) -> dict` may add
    outputs (e.g. probabilities beside logits).
    """
    import tensorflow as tf
    sig = dict(input_signature) if input_signature is not None else keras_input_signature(model)
    keys = list(sig)
    names = output_names(model)

    @tf.function(input_signature=[sig])
    def serve(inputs):
        args = inputs if len(keys) > 1 else inputs[keys[0]]
        out = model(args, training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        result = dict(out) if isinstance(out, dict) else dict(zip(names, outs))
        return postprocess(result) if postprocess is not None else result
    return serve


def export_model(model, name: str, version: int | None = None, root="saved_models",
                 input_signature: Mapping[str, Any] | None = None, postprocess: Callable | None = None,
                 extra_files: Mapping[str, str] | None = None) -> str:
    """Write any Keras model as `root/name/version/` with a `serving_default` signature; returns the path.

    The signature takes the model's inputs by name (or `input_signature`) and returns its outputs by
    output-layer name; nothing of this project is needed to load or serve it.
    """
    import tensorflow as tf
    module = tf.Module()
    module.model = model
    module.serve = keras_serving_function(model, input_signature, postprocess)
    return write_saved_model(module, {SERVING_KEY: module.serve}, name, version, root, extra_files)


def describe_export(path) -> dict[str, Any]:
    """Signature summary of an exported SavedModel (input names/dtypes, output names) for reports."""
    import tensorflow as tf
    fn = tf.saved_model.load(os.fspath(path)).signatures[SERVING_KEY]
    inputs = fn.structured_input_signature[1]
    return {"inputs": {k: v.dtype.name for k, v in sorted(inputs.items())},
            "outputs": sorted(fn.structured_outputs)}
