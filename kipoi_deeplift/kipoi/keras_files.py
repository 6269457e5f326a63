"""Keras files read for Kipoi's ``keras`` model arguments (``weights``, ``arch``,
``custom_objects``): the file's kind sniffed (JSON architecture, full HDF5, native ``.keras``
archive; the Keras version that wrote it) and read by the Keras that can, since Kipoi 0.8's
own Keras loader fails on Keras 3.

Legacy files (Keras 1/2 JSON architectures, weights-only or full HDF5) are read with tf_keras;
native ``.keras`` files with Keras 3. :mod:`kipoi_deeplift.kipoi.loading` hands
:func:`load_keras` to Kipoi.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

from ..errors import UserError, describe
from ..io.hdf5 import text

ZOO_HINT = "see `kipoi-deeplift zoo list` for rebuilt published models"


def _keras_objects(custom_objects: str | None) -> dict:
    """The ``OBJECTS`` dict of a model's custom_objects file (Kipoi's convention)."""
    if not custom_objects or not os.path.exists(custom_objects):
        return {}
    from kipoi_utils.utils import load_module

    return dict(getattr(load_module(custom_objects), "OBJECTS", {}))


def _is_legacy_json(text: str) -> bool:
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError:
        return True
    version = str(cfg.get("keras_version", "2"))
    return not version.startswith("3") and "module" not in cfg


def _hdf5_keras_version(path: str) -> str:
    """The ``keras_version`` a full-model HDF5 file was written with ('' if unknown)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            v = f.attrs.get("keras_version", "")
    except OSError:
        return ""
    return str(text(v))


@contextlib.contextmanager
def _named(path: str, suffix: str):
    """``path`` under a name ending in ``suffix`` (a link in a temporary directory): Keras 3
    reads files by their extension, and Kipoi stores downloads under their md5."""
    if str(path).endswith(suffix):
        yield str(path)
        return
    with tempfile.TemporaryDirectory() as d:
        link = Path(d) / f"model{suffix}"
        link.symlink_to(Path(path).resolve())
        yield str(link)


def _load_keras_archive(path: str, objects: dict):
    """A native .keras archive, whatever its file name."""
    import keras

    from ..zoo import layers  # noqa: F401  (registers the zoo's layers for Keras)

    with _named(path, ".keras") as named:
        return keras.saving.load_model(named, custom_objects=objects, compile=False)


def _refuse_keras1(text: str, arch: str) -> None:
    """Keras 1 configs (FactorNet) are read by no Keras on this stack: say so by name."""
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError:
        return
    version = str(cfg.get("keras_version", ""))
    if not version.startswith("1"):
        return
    kinds = {layer.get("class_name", "") for layer in cfg.get("config", {}).get("layers", [])}
    recurrent = sorted(k for k in kinds if any(r in k for r in ("LSTM", "GRU", "Bidirectional")))
    also = (f"; its recurrent layers ({', '.join(recurrent)}) have no DeepLIFT rule yet"
            if recurrent else "")
    raise UserError(f"{arch} is a Keras {version} architecture, which neither tf_keras nor "
                    f"Keras 3 can read{also}; {ZOO_HINT}")


def _keras3_layers(objects: dict) -> bool:
    """Whether a custom_objects file defines Keras 3 layers: a file written for tf.keras 2
    (``tf.keras.layers.Layer``) does on TensorFlow 2.16+, where ``tf.keras`` is Keras 3."""
    import keras

    return any(isinstance(o, type) and issubclass(o, keras.layers.Layer)
               for o in objects.values())


def _legacy_json_keras3(text: str, objects: dict):
    """A tf.keras 2 JSON architecture built by Keras 3's reader of legacy configs, so that the
    model's own custom layers (Keras 3 classes today, see :func:`_keras3_layers`) can be used;
    tf_keras would refuse them. Keras 3 reads the legacy HDF5 weights of such a model by layer
    order, as tf.keras wrote them."""
    from keras.src.legacy.saving import saving_utils  # Keras 3's own reader of Keras 2 configs

    return saving_utils.model_from_config(json.loads(text), custom_objects=objects)


def load_keras(weights: str, arch: str | None = None, custom_objects: str | None = None):
    """A Keras model from Kipoi's ``keras`` model arguments (no compilation).

    Parameters
    ----------
    weights : str
        The weights file: weights-only HDF5 (with ``arch``), a full-model HDF5 (tf_keras, or
        Keras 3 when its ``keras_version`` says 3) or a native ``.keras`` archive, whatever
        its file name (Kipoi stores downloads under their md5).
    arch : str, optional
        A JSON architecture file: Keras 2 configs are built by tf_keras (by Keras 3's reader of
        legacy configs when ``custom_objects`` defines Keras 3 layers), Keras 3 configs by
        Keras 3; Keras 1 configs are refused by name.
    custom_objects : str, optional
        A Python file whose ``OBJECTS`` dict names the model's custom layers and functions
        (Kipoi's convention).

    Returns
    -------
    keras.Model or tf_keras.Model
        The model with its weights, not compiled. Or ``UserError``: a file no Keras on this
        stack can read (Keras 1, Lambda layers stored as another Python's bytecode or as
        Python code), or any other failure, in one line.
    """
    objects = _keras_objects(custom_objects)
    try:
        if arch is not None:
            text = Path(arch).read_text()
            _refuse_keras1(text, arch)
            if _is_legacy_json(text) and _keras3_layers(objects):
                model = _legacy_json_keras3(text, objects)
                with _named(weights, ".h5") as named:
                    model.load_weights(named)
                return model
            if _is_legacy_json(text):
                import tf_keras

                model = tf_keras.models.model_from_json(text, custom_objects=objects)
            else:
                import keras

                model = keras.models.model_from_json(text, custom_objects=objects)
            model.load_weights(weights)
            return model
        if zipfile.is_zipfile(weights):       # a native .keras archive
            return _load_keras_archive(weights, objects)
        if _hdf5_keras_version(weights).startswith("3"):
            import keras

            return keras.models.load_model(weights, custom_objects=objects, compile=False)
        import tf_keras

        return tf_keras.models.load_model(weights, custom_objects=objects, compile=False)
    except UserError:
        raise
    except (ValueError, TypeError, SystemError, EOFError) as e:
        text = str(e)
        if "bad marshal" in text or "code" in text and "marshal" in text or \
                isinstance(e, (SystemError, EOFError)):
            raise UserError(f"{weights} holds Lambda layers stored as Python bytecode of "
                            "another Python version (2.7 in Kipoi's 2018 DeepBind files, 3.6/3.7 "
                            f"in Keras 2.2 files), which this Python cannot read; {ZOO_HINT}") \
                from e
        if "Lambda layer with a Python `lambda`" in text:
            raise UserError(f"{arch or weights} holds Lambda layers with Python code, which "
                            "Keras runs only from files marked as trusted (safe_mode) and which "
                            f"need the Python that wrote them; {ZOO_HINT}") from e
        raise UserError(f"cannot load the Keras model from {weights}: {describe(e)}") from e
