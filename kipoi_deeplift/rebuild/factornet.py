"""FactorNet (Quang & Xie) rebuilt in Keras 3 from its Keras 1.1.1 files.

No Keras on this stack reads Keras 1 architectures, but FactorNet's weights are unambiguous by
name (each LSTM gate is stored on its own). The architecture, for both strands with shared
layers: Conv1D (ReLU) -> Dropout -> TimeDistributed Dense (ReLU) -> MaxPooling1D ->
Bidirectional LSTM (tanh, Keras 1's hard sigmoid 0.2x + 0.5 on the gates, sequences,
concatenated) -> Dropout -> Flatten -> Dense (ReLU) -> Dense (sigmoid); the two strands'
probabilities are averaged. Sizes come from the weights (and the pooling length from the
architecture JSON when given, else from the first dense layer's size).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError

GATES = "ifco"      # Keras 3 packs LSTM kernels as [i, f, c, o]


def keras1_hard_sigmoid(x):
    """Keras 1/2's hard sigmoid, clip(0.2 x + 0.5, 0, 1) (Keras 3's differs)."""
    import keras

    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def _register():
    import keras

    keras.saving.register_keras_serializable(package="kipoi_deeplift")(keras1_hard_sigmoid)


def read_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Every weight of the Keras 1 HDF5 file by its stored name (``convolution1d_1_W``, ...)."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        version = f.attrs.get("keras_version", b"")
        version = version.decode() if isinstance(version, bytes) else str(version)
        if not version.startswith("1"):
            raise UserError(f"{path} was written by Keras {version or '?'}, not Keras 1")
        g = f["model_weights"]
        for layer in g:
            for name in g[layer].attrs.get("weight_names", []):
                name = name.decode() if isinstance(name, bytes) else name
                out[name] = g[layer][name][()]
    return out


def _lstm_weights(w: dict, prefix: str) -> list[np.ndarray]:
    return [np.concatenate([w[f"{prefix}_{kind}_{g}"] for g in GATES], axis=-1)
            for kind in ("W", "U", "b")]


def _pool_length(arch: str | None, conv_out: int, steps: int) -> int:
    if arch:
        cfg = json.loads(Path(arch).read_text())
        kinds = [layer["class_name"] for layer in cfg["config"]["layers"]]
        expected = ["InputLayer", "InputLayer", "Convolution1D", "Dropout", "TimeDistributed",
                    "MaxPooling1D", "Bidirectional", "Dropout", "Flatten", "Dense", "Dense",
                    "Merge"]
        if kinds != expected:
            raise UserError(f"{arch}: a FactorNet variant this rebuild does not cover "
                            f"(layers {', '.join(kinds)})")
        pool = next(layer for layer in cfg["config"]["layers"]
                    if layer["class_name"] == "MaxPooling1D")["config"]["pool_length"]
        return int(pool)
    return conv_out // steps


def from_keras1(weights: str | Path, arch: str | None = None, length: int = 1002):
    """The FactorNet model (Keras 3) with the published weights of a Keras 1.1.1 HDF5 file."""
    import keras

    _register()
    w = read_weights(weights)
    conv_w = w["convolution1d_1_W"]                      # (width, 1, channels, filters)
    width, _, channels, filters = conv_w.shape
    td_w = next(v for k, v in w.items() if k.endswith("_W") and k.startswith("dense_")
                and v.shape[0] == filters and k not in ("dense_2_W", "dense_3_W"))
    td_name = next(k for k, v in w.items() if v is td_w)[: -len("_W")]
    units = w["forward_lstm_1_U_i"].shape[0]
    flat, hidden = w["dense_2_W"].shape
    steps = flat // (2 * units)
    conv_out = length - width + 1
    pool = _pool_length(arch, conv_out, steps)
    if conv_out // pool != steps:
        raise UserError(f"{weights}: {length} bp inputs give {conv_out // pool} LSTM steps, the "
                        f"dense layer expects {steps}")

    L = keras.layers
    conv = L.Conv1D(filters, width, activation="relu", name="conv")
    td = L.Dense(td_w.shape[1], activation="relu", name="td_dense")
    pooling = L.MaxPooling1D(pool, strides=pool, name="pool")
    lstm = L.Bidirectional(
        L.LSTM(units, return_sequences=True, recurrent_activation=keras1_hard_sigmoid),
        backward_layer=L.LSTM(units, return_sequences=True, go_backwards=True,
                              recurrent_activation=keras1_hard_sigmoid),
        merge_mode="concat", name="bilstm")
    dense = L.Dense(hidden, activation="relu", name="dense")
    out = L.Dense(1, activation="sigmoid", name="out")

    def strand(x):
        return out(dense(L.Flatten()(lstm(pooling(td(conv(x)))))))

    seq = keras.Input((length, channels), name="seq")
    seq_rc = keras.Input((length, channels), name="seq_rc")
    model = keras.Model([seq, seq_rc], L.Average(name="strands")([strand(seq), strand(seq_rc)]),
                        name="FactorNet")
    conv.set_weights([conv_w[:, 0], w["convolution1d_1_b"]])
    td.set_weights([td_w, w[f"{td_name}_b"]])
    lstm.forward_layer.set_weights(_lstm_weights(w, "forward_lstm_1"))
    lstm.backward_layer.set_weights(_lstm_weights(w, "backward_lstm_1"))
    dense.set_weights([w["dense_2_W"], w["dense_2_b"]])
    out.set_weights([w["dense_3_W"], w["dense_3_b"]])
    return model
