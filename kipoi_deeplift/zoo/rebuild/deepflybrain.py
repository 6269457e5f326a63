"""DeepFlyBrain (Janssens et al. 2022) from Kipoi's Keras 2.2.4 JSON and HDF5.

``DeepFlyBrain.json`` (zenodo 5153337; the same file as RuiyuRayWang/DeepFlyBrain
miscs/DeepFlyBrain.json) makes the reverse complement inside the model with two Lambda layers,
``lambda_2`` = ``K.reverse(x, axes=1)`` on the input and ``lambda_1`` = ``K.reverse(x, axes=2)``
on that, whose functions are stored as Python 3.6/3.7 bytecode: no Keras on Python 3.11 can
read them. :func:`from_files` puts the same functions, written here, in their place (by layer
name, as the file has them) and reads the rest with tf_keras; everything else is the file's.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import UserError


def reverse_positions(x):
    """``K.reverse(x, axes=1)``: the sequence read backwards.

    Parameters
    ----------
    x : tf.Tensor of shape (N, L, 4)

    Returns
    -------
    tf.Tensor of shape (N, L, 4)
    """
    import tensorflow as tf

    return tf.reverse(x, axis=[1])


def reverse_bases(x):
    """``K.reverse(x, axes=2)``: ACGT -> TGCA (the complement, in ACGT order).

    Parameters
    ----------
    x : tf.Tensor of shape (N, L, 4)

    Returns
    -------
    tf.Tensor of shape (N, L, 4)
    """
    import tensorflow as tf

    return tf.reverse(x, axis=[2])


#: The file's Lambda layers, by name, and the functions they hold.
LAMBDAS = {"lambda_2": reverse_positions, "lambda_1": reverse_bases}


def _patched(config: dict) -> dict:
    """The model config with each Lambda's function named (one of :data:`LAMBDAS`) instead of
    held as bytecode; ``UserError`` for a Lambda this file should not have."""
    layers = config["config"]["layers"]
    for layer in layers:
        if layer["class_name"] != "Lambda":
            continue
        name = layer["config"]["name"]
        if name not in LAMBDAS:
            raise UserError(f"this DeepFlyBrain JSON has a Lambda layer {name!r} that the "
                            f"published file does not (it has {', '.join(sorted(LAMBDAS))}); "
                            "pass --zoo-config none to load it as it is")
        cfg = layer["config"]
        cfg["function_type"] = "function"
        cfg["function"] = LAMBDAS[name].__name__
        cfg.pop("module", None)
        if cfg.get("output_shape_type") == "lambda":    # bytecode too; reversing keeps shape
            cfg["output_shape_type"], cfg["output_shape"] = "raw", None
            cfg.pop("output_shape_module", None)
    return config


def from_files(weights: str, arch: str | None = None):
    """The tf_keras model of DeepFlyBrain's files, its Lambda layers' functions given by name.

    See the module for the Lambda layers.

    Parameters
    ----------
    weights : str
        The HDF5 weights file.
    arch : str
        The architecture JSON (``UserError`` when not given).

    Returns
    -------
    tf_keras.Model
    """
    if arch is None:
        raise UserError("DeepFlyBrain needs its architecture JSON (model.yaml args: arch)")
    import tf_keras

    config = _patched(json.loads(Path(arch).read_text()))
    objects = {fn.__name__: fn for fn in LAMBDAS.values()}
    model = tf_keras.models.model_from_json(json.dumps(config), custom_objects=objects)
    model.load_weights(weights)
    return model
