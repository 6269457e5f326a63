"""FactorNet (Quang & Xie) rebuilt in Keras 3 from the files Kipoi has served.

Two forms are read, each an architecture JSON plus an HDF5 of weights:

* the original Keras 1.1.1 files (FactorNet's repository), trained on **Theano**, and
* Kipoi's conversion of them (its FactorNet Snakefile: Keras 2.0/2.1 loads the Keras 1 model,
  calls ``convert_all_kernels_in_model`` and saves ``to_json()`` + ``save_weights``).

Conventions of the trained model, each checked by a test against something independent:

* Convolution: Theano's ``conv2d`` is a true convolution (the kernel is flipped along its
  length); Keras 3 / TensorFlow compute a cross-correlation. Keras 1 kernels are therefore
  reversed along their length here; Kipoi's converted kernels were already reversed by
  ``convert_all_kernels_in_model``. (FactorNet's own ``inject_pwm`` writes ``pwm[::-1]`` into
  the kernel for the same reason.) Test: the EGR1 model prefers EGR1's motif GCGTGGGCG to its
  mirror image GCGGGTGCG only with the flip.
* Channels: A, C, G, T one-hot (genomelake's order) then the bigWig signals (DNase, ...).
* Strands: two inputs, the sequence and its reverse complement (signals reversed), made by the
  dataloader; shared layers; the two sigmoid outputs are averaged.
* LSTM gates: Keras 1/2's hard sigmoid clip(0.2 x + 0.5, 0, 1) (Keras 3's differs); gate
  order i, f, c, o; the backward layer's sequence output is reversed back before the concat;
  Flatten is (steps, 2 units) row-major, as on both backends.
* Meta variants (14 of the 30 zoo models) take a third input ``meta_features`` (6, 8 or 14
  values: gene-expression PCs and/or GENCODE annotations): it is concatenated to each strand's
  first dense layer's output, then a shared Dropout -> Dense (ReLU) -> Dense (sigmoid).

The architecture is read from the JSON (both Keras 1 and Keras 2 spellings) and rebuilt layer by
layer with shared layers where the JSON shares them; weights are read by layer with h5py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UserError
from ...io.hdf5 import text

GATES = "ifco"      # Keras 2/3 pack LSTM kernels as [i, f, c, o]
#: Kipoi's schema names of FactorNet's inputs, in the model's order.
INPUT_NAMES = ("seq", "seq_rc", "meta_features")


def keras1_hard_sigmoid(x):
    """Keras 1/2's hard sigmoid, clip(0.2 x + 0.5, 0, 1) (Keras 3's differs).

    Parameters
    ----------
    x : tensor
        Any shape.

    Returns
    -------
    tensor
        Of ``x``'s shape.
    """
    import keras

    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def _register():
    import keras

    keras.saving.register_keras_serializable(package="kipoi_deeplift")(keras1_hard_sigmoid)


def _text(v) -> str:
    return str(text(v))


def keras_version(weights: str | Path) -> str:
    """The ``keras_version`` attribute of an HDF5 file.

    Parameters
    ----------
    weights : str or Path
        The HDF5 file.

    Returns
    -------
    str
        The version; ``''`` when absent.
    """
    import h5py

    with h5py.File(weights, "r") as f:
        return _text(f.attrs.get("keras_version", ""))


def read_layer_weights(path: str | Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The stored weights of every layer, in stored order.

    Full-model files (weights under ``model_weights``) and weights-only files (layers at the
    root) alike.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.

    Returns
    -------
    dict of str to list of (str, numpy.ndarray)
        Layer name -> [(weight name, array)].
    """
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for layer in root:
            names = [_text(n) for n in root[layer].attrs.get("weight_names", [])]
            out[layer] = [(n, root[layer][n][()]) for n in names]
    return out


def _short(name: str) -> str:
    """'bidirectional_1/forward_lstm_1/kernel:0' -> 'kernel'; 'dense_2_W' stays."""
    return name.split("/")[-1].split(":")[0]


# -- the architecture, read from either spelling ------------------------------------------------
def _cfg(layer: dict, *keys, default=None):
    for k in keys:
        if k in layer["config"]:
            v = layer["config"][k]
            return v[0] if isinstance(v, list) and len(v) == 1 else v
    return default


def _inbound(layer: dict) -> list[list[tuple[str, int]]]:
    """Per call of the layer, (layer name, which call of it) for each tensor it reads
    (Keras 1 edges are [name, call, tensor]; Keras 2 ones add kwargs)."""
    return [[(edge[0], int(edge[1])) for edge in node] for node in layer.get("inbound_nodes", [])]


def _lstm(inner: dict, go_backwards: bool):
    import keras

    c = inner["config"]
    units = c.get("units", c.get("output_dim"))
    gate = c.get("recurrent_activation", c.get("inner_activation", "hard_sigmoid"))
    if gate != "hard_sigmoid":
        raise UserError(f"LSTM gate activation {gate!r}: this rebuild covers FactorNet's "
                        "hard sigmoid")
    return keras.layers.LSTM(int(units), return_sequences=bool(c.get("return_sequences")),
                             activation=c.get("activation", "tanh"),
                             recurrent_activation=keras1_hard_sigmoid,
                             go_backwards=go_backwards)


def _layer(spec: dict, theano: bool):
    """The Keras 3 layer for one layer of the JSON, and how to set its weights."""
    import keras

    L = keras.layers
    kind, name = spec["class_name"], spec["name"]
    if kind in ("Convolution1D", "Conv1D"):
        filters = _cfg(spec, "filters", "nb_filter")
        width = _cfg(spec, "kernel_size", "filter_length")
        padding = _cfg(spec, "padding", "border_mode", default="valid")
        stride = _cfg(spec, "strides", "subsample_length", default=1)
        if padding != "valid" or int(stride) != 1:
            raise UserError(f"{name}: padding {padding!r}, stride {stride}: not FactorNet's")
        layer = L.Conv1D(int(filters), int(width), activation=_cfg(spec, "activation"),
                         name=name)

        def setter(arrays):
            w = dict((_short(n), a) for n, a in arrays)
            kernel = w.get("kernel", w.get(f"{name}_W"))
            if kernel.ndim == 4:               # Keras 1: (width, 1, channels, filters)
                kernel = kernel[:, 0]
            if theano:                         # a true convolution: flip along the length
                kernel = kernel[::-1]
            layer.set_weights([kernel, w.get("bias", w.get(f"{name}_b"))])
        return layer, setter
    if kind == "Dense" or (kind == "TimeDistributed" and spec["config"]["layer"]["class_name"]
                           == "Dense"):
        inner = spec if kind == "Dense" else spec["config"]["layer"]
        units = inner["config"].get("units", inner["config"].get("output_dim"))
        layer = L.Dense(int(units), activation=inner["config"].get("activation"), name=name)

        def setter(arrays):
            kernel = next(a for n, a in arrays if _short(n) in ("kernel",) or n.endswith("_W"))
            bias = next(a for n, a in arrays if _short(n) in ("bias",) or n.endswith("_b"))
            layer.set_weights([kernel, bias])
        return layer, setter
    if kind == "Bidirectional":
        inner = spec["config"]["layer"]
        if inner["class_name"] != "LSTM" or spec["config"].get("merge_mode", "concat") \
                != "concat":
            raise UserError(f"{name}: a Bidirectional {inner['class_name']} this rebuild does "
                            "not cover")
        layer = L.Bidirectional(_lstm(inner, False), backward_layer=_lstm(inner, True),
                                merge_mode="concat", name=name)

        def setter(arrays):
            layer.forward_layer.set_weights(_lstm_weights(arrays, "forward"))
            layer.backward_layer.set_weights(_lstm_weights(arrays, "backward"))
        return layer, setter
    if kind == "Dropout":
        return L.Dropout(float(_cfg(spec, "rate", "p", default=0.0)), name=name), None
    if kind == "MaxPooling1D":
        size = int(_cfg(spec, "pool_size", "pool_length"))
        stride = _cfg(spec, "strides", "stride") or size
        return L.MaxPooling1D(size, strides=int(stride), name=name), None
    if kind == "GlobalMaxPooling1D":
        return L.GlobalMaxPooling1D(name=name), None
    if kind == "Flatten":
        return L.Flatten(name=name), None
    if kind in ("Average",) or (kind == "Merge" and _cfg(spec, "mode") == "ave"):
        return L.Average(name=name), None
    if kind in ("Concatenate",) or (kind == "Merge" and _cfg(spec, "mode") == "concat"):
        return L.Concatenate(name=name), None
    raise UserError(f"layer {name!r} ({kind}) is not part of the FactorNet architectures this "
                    "rebuild covers")


def _lstm_weights(arrays: list[tuple[str, np.ndarray]], direction: str) -> list[np.ndarray]:
    mine = [(n, a) for n, a in arrays if f"{direction}_" in n]
    keras1 = {n.split(f"{direction}_", 1)[1].split("_", 2)[-1]: a for n, a in mine
              if "_W_" in n or "_U_" in n or "_b_" in n}
    if keras1:                       # Keras 1 stores each gate on its own: W_i, U_i, b_i, ...
        return [np.concatenate([keras1[f"{kind}_{g}"] for g in GATES], axis=-1)
                for kind in ("W", "U", "b")]
    by = {_short(n): a for n, a in mine}
    return [by["kernel"], by["recurrent_kernel"], by["bias"]]


def _architecture(arch: str | Path | None, weights: str | Path) -> dict:
    if arch is not None:
        return json.loads(Path(arch).read_text())
    import h5py

    with h5py.File(weights, "r") as f:
        if "model_config" not in f.attrs:
            raise UserError(f"{weights} holds weights only: give the architecture JSON too "
                            "(Kipoi's arch argument)")
        return json.loads(_text(f.attrs["model_config"]))


def from_files(weights: str | Path, arch: str | Path | None = None, length: int | None = None):
    """The FactorNet model (Keras 3) of an architecture JSON + weights file.

    The JSON is a Keras 1.1.1 (Theano-trained) or a Kipoi-converted Keras 2 one.

    Parameters
    ----------
    weights : str or Path
        The HDF5 weights file.
    arch : str or Path, optional
        The architecture JSON.
    length : int, optional
        Overrides the stored input length.

    Returns
    -------
    keras.Model
        Inputs ``seq`` and ``seq_rc`` of shape ``(N, L, C)`` (A, C, G, T then the signals),
        and ``meta_features`` for the meta variants; one output, the strands' sigmoids averaged.
    """
    import keras

    _register()
    cfg = _architecture(arch, weights)
    version = keras_version(weights) or str(cfg.get("keras_version", ""))
    theano = version.startswith("1")
    stored = read_layer_weights(weights)
    layers = cfg["config"]["layers"]
    input_specs = [lay for lay in layers if lay["class_name"] == "InputLayer"]
    if not 2 <= len(input_specs) <= 3:
        raise UserError(f"{arch or weights}: {len(input_specs)} inputs; FactorNet has 2 (the "
                        "two strands) or 3 (with meta features)")
    tensors: dict[str, list[Any]] = {}
    for k, spec in enumerate(input_specs):
        shape = list(spec["config"]["batch_input_shape"][1:])
        if length is not None and len(shape) == 2:
            shape[0] = length
        tensors[spec["name"]] = [keras.Input(tuple(shape), name=INPUT_NAMES[k])]
    for spec in layers:
        if spec["class_name"] == "InputLayer":
            continue
        layer, setter = _layer(spec, theano)
        outs = []
        for sources in _inbound(spec):
            args = [tensors[name][call] for name, call in sources]
            outs.append(layer(args if len(args) > 1 else args[0]))
        tensors[spec["name"]] = outs        # one output per call, in call order
        if setter is not None:
            if spec["name"] not in stored:
                raise UserError(f"{weights} has no weights for layer {spec['name']!r}")
            setter(stored[spec["name"]])
    out_name = cfg["config"]["output_layers"][0][0]
    model = keras.Model([tensors[s["name"]][0] for s in input_specs], tensors[out_name][0],
                        name="FactorNet")
    return model
