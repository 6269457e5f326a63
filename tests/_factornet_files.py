"""FactorNet files the tests make from the real Keras 1 fixture: Kipoi's Keras 2 conversion, a
meta-feature variant, and the trained model's forward pass written out in NumPy.

Nothing here imports kipoi_deeplift: these are the independent side of the comparisons.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import h5py
import numpy as np


def keras1_weights(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"]
        for layer in g:
            for name in g[layer].attrs.get("weight_names", []):
                name = name.decode() if isinstance(name, bytes) else name
                out[name] = g[layer][name][()]
    return out


# -- the trained model's forward pass ----------------------------------------------------------
def theano_conv1d(z: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Theano's ``conv2d`` (filter_flip=True, 'valid') for a Keras 1 Convolution1D kernel
    (width, 1, channels, filters): a TRUE convolution, out[t] = sum_k z[t + k] w[width-1-k]."""
    kernel = w[:, 0]
    width = kernel.shape[0]
    flipped = kernel[::-1]
    return np.stack([np.einsum("nkc,kcf->nf", z[:, t:t + width], flipped)
                     for t in range(z.shape[1] - width + 1)], 1) + b


def hard_sigmoid(v):
    return np.clip(0.2 * v + 0.5, 0, 1)     # Keras 1 (Theano's T.nnet.hard_sigmoid)


def strand_features(w: dict, z: np.ndarray, pool: int = 17) -> np.ndarray:
    """One strand up to the first dense layer (dense_2, ReLU), float64."""
    t = np.maximum(theano_conv1d(z, w["convolution1d_1_W"], w["convolution1d_1_b"]), 0)
    t = np.maximum(t @ w["dense_1_W"] + w["dense_1_b"], 0)
    units = w["forward_lstm_1_U_i"].shape[0]
    steps = w["dense_2_W"].shape[0] // (2 * units)
    t = t[:, :steps * pool].reshape(len(z), steps, pool, -1).max(2)

    def lstm(prefix, reverse):
        h = np.zeros((len(z), units))
        c = np.zeros_like(h)
        outs = [None] * steps
        for s in (range(steps - 1, -1, -1) if reverse else range(steps)):
            g = {q: t[:, s] @ w[f"{prefix}_W_{q}"] + h @ w[f"{prefix}_U_{q}"] +
                 w[f"{prefix}_b_{q}"] for q in "ifco"}
            c = hard_sigmoid(g["f"]) * c + hard_sigmoid(g["i"]) * np.tanh(g["c"])
            h = hard_sigmoid(g["o"]) * np.tanh(c)
            outs[s] = h
        return np.stack(outs, 1)

    seq = np.concatenate([lstm("forward_lstm_1", False), lstm("backward_lstm_1", True)], -1)
    return np.maximum(seq.reshape(len(z), -1) @ w["dense_2_W"] + w["dense_2_b"], 0)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def factornet_numpy(w: dict, seq: np.ndarray, seq_rc: np.ndarray,
                    meta: np.ndarray | None = None) -> np.ndarray:
    """The trained FactorNet (both strands averaged), with the meta head when ``meta`` is
    given (FactorNet's make_meta_model: concat, Dense(ReLU), Dense(sigmoid))."""
    outs = []
    for z in (seq, seq_rc):
        h = strand_features(w, z.astype(np.float64))
        if meta is None:
            outs.append(sigmoid(h @ w["dense_3_W"] + w["dense_3_b"]))
        else:
            h = np.maximum(np.concatenate([h, meta], 1) @ w["dense_3_W"] + w["dense_3_b"], 0)
            outs.append(sigmoid(h @ w["dense_4_W"] + w["dense_4_b"]))
    return ((outs[0] + outs[1]) / 2).ravel()


# -- Kipoi's conversion, done the same way ------------------------------------------------------
def convert_like_kipoi(weights: Path, out_dir: Path, legacy_merge: bool = True
                       ) -> tuple[Path, Path]:
    """Kipoi's FactorNet Snakefile: a Keras 2 model with the Keras 1 weights, then
    ``convert_all_kernels_in_model`` (each convolution kernel reversed along its length), then
    ``to_json()`` and ``save_weights()``. tf_keras (the Keras 2 API) writes the files; with
    ``legacy_merge`` the final Average is spelled as Keras 2.0's legacy ``Merge(mode='ave')``."""
    import tf_keras

    w = keras1_weights(weights)
    L = tf_keras.layers
    conv_w = w["convolution1d_1_W"][:, 0]
    width, channels, filters = conv_w.shape
    units = w["forward_lstm_1_U_i"].shape[0]
    conv = L.Conv1D(filters, width, activation="relu", name="conv1d_1")
    td = L.TimeDistributed(L.Dense(w["dense_1_W"].shape[1], activation="relu"),
                           name="time_distributed_1")
    pool = L.MaxPooling1D(17, strides=17, name="max_pooling1d_1")
    bi = L.Bidirectional(L.LSTM(units, return_sequences=True,
                                recurrent_activation="hard_sigmoid"), name="bidirectional_1")
    d2 = L.Dense(w["dense_2_W"].shape[1], activation="relu", name="dense_2")
    d3 = L.Dense(1, activation="sigmoid", name="dense_3")
    drop1, drop2 = L.Dropout(0.1, name="dropout_1"), L.Dropout(0.5, name="dropout_2")
    flat = L.Flatten(name="flatten_1")
    ins = [L.Input((1002, channels), name=f"input_{k}") for k in (1, 2)]
    outs = [d3(d2(flat(drop2(bi(pool(td(drop1(conv(x))))))))) for x in ins]
    model = tf_keras.Model(ins, L.Average(name="merge_1")(outs))
    conv.set_weights([conv_w[::-1].copy(), w["convolution1d_1_b"]])   # convert_kernel
    td.set_weights([w["dense_1_W"], w["dense_1_b"]])

    def gates(prefix):
        return [np.concatenate([w[f"{prefix}_{k}_{g}"] for g in "ifco"], -1)
                for k in ("W", "U", "b")]

    bi.set_weights(gates("forward_lstm_1") + gates("backward_lstm_1"))
    d2.set_weights([w["dense_2_W"], w["dense_2_b"]])
    d3.set_weights([w["dense_3_W"], w["dense_3_b"]])
    out_dir.mkdir(parents=True, exist_ok=True)
    h5, js = out_dir / "best_model.hdf5", out_dir / "model.json"
    model.save_weights(h5)
    cfg = json.loads(model.to_json())
    if legacy_merge:
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "Average":
                layer["class_name"] = "Merge"
                layer["config"]["mode"] = "ave"
    js.write_text(json.dumps(cfg))
    return js, h5


# -- a meta-feature variant, written as FactorNet's Keras 1 code would -------------------------
def write_meta_variant(weights: Path, arch: Path, out_dir: Path, n_meta: int = 8,
                       seed: int = 0) -> tuple[Path, Path, dict]:
    """The EGR1 model with FactorNet's meta head (make_meta_model) in Keras 1 form: a third
    input of ``n_meta`` values concatenated to each strand's dense_2 output, then shared
    Dropout -> dense_3 (ReLU, 64) -> Dropout -> dense_4 (sigmoid). The trunk's weights are
    the real ones; the head's are random. Returns (json, hdf5, all weights by name)."""
    rng = np.random.default_rng(seed)
    w = keras1_weights(weights)
    cfg = json.loads(arch.read_text())
    layers = cfg["config"]["layers"]
    head = [lay for lay in layers if lay["name"] in ("dense_3", "merge_1")]
    layers[:] = [lay for lay in layers if lay not in head]
    meta = {"class_name": "InputLayer", "name": "input_3", "inbound_nodes": [],
            "config": {"batch_input_shape": [None, n_meta], "name": "input_3",
                       "input_dtype": "float32", "sparse": False}}
    layers.insert(2, meta)

    def node(name, *calls):
        return [[[name, c, 0]] for c in calls]

    dense = head[0]
    layers += [
        {"class_name": "Merge", "name": "merge_1", "config": {"name": "merge_1",
         "mode": "concat", "concat_axis": -1},
         "inbound_nodes": [[["dense_2", 0, 0], ["input_3", 0, 0]]]},
        {"class_name": "Merge", "name": "merge_2", "config": {"name": "merge_2",
         "mode": "concat", "concat_axis": -1},
         "inbound_nodes": [[["dense_2", 1, 0], ["input_3", 0, 0]]]},
        {"class_name": "Dropout", "name": "dropout_3", "config": {"name": "dropout_3", "p": 0.1},
         "inbound_nodes": node("merge_1", 0) + node("merge_2", 0)},
        {**copy.deepcopy(dense), "name": "dense_3",
         "config": {**dense["config"], "name": "dense_3", "output_dim": 64,
                    "activation": "relu"}, "inbound_nodes": node("dropout_3", 0, 1)},
        {"class_name": "Dropout", "name": "dropout_4", "config": {"name": "dropout_4", "p": 0.5},
         "inbound_nodes": node("dense_3", 0, 1)},
        {**copy.deepcopy(dense), "name": "dense_4",
         "config": {**dense["config"], "name": "dense_4", "output_dim": 1,
                    "activation": "sigmoid"}, "inbound_nodes": node("dropout_4", 0, 1)},
        {"class_name": "Merge", "name": "merge_3", "config": {"name": "merge_3", "mode": "ave"},
         "inbound_nodes": [[["dense_4", 0, 0], ["dense_4", 1, 0]]]},
    ]
    cfg["config"]["input_layers"].append(["input_3", 0, 0])
    cfg["config"]["output_layers"] = [["merge_3", 0, 0]]
    w = {k: v for k, v in w.items() if not k.startswith("dense_3")}
    w["dense_3_W"] = rng.normal(0, 0.2, (64 + n_meta, 64)).astype(np.float32)
    w["dense_3_b"] = rng.normal(0, 0.1, 64).astype(np.float32)
    w["dense_4_W"] = rng.normal(0, 0.3, (64, 1)).astype(np.float32)
    w["dense_4_b"] = np.zeros(1, np.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, h5 = out_dir / "model.json", out_dir / "best_model.hdf5"
    js.write_text(json.dumps(cfg))
    with h5py.File(weights, "r") as src, h5py.File(h5, "w") as dst:
        dst.attrs["keras_version"] = src.attrs["keras_version"]
        g = dst.create_group("model_weights")
        by_layer: dict[str, list[str]] = {}
        for name in w:
            if name.startswith(("forward_", "backward_")):
                layer = "bidirectional_1"
            elif name.startswith("dense_1_"):
                layer = "timedistributed_1"
            else:
                layer = name.rsplit("_", 1)[0]        # convolution1d_1_W -> convolution1d_1
            by_layer.setdefault(layer, []).append(name)
        for layer, names in by_layer.items():
            grp = g.create_group(layer)
            grp.attrs["weight_names"] = [n.encode() for n in names]
            for n in names:
                grp[n] = w[n]
    return js, h5, w
