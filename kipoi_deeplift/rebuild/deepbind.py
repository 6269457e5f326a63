"""DeepBind (Alipanahi et al. 2015) rebuilt in Keras 3 from its published files.

Two published forms are read:

* the original parameter files (``params/DXXXXX.YYY.txt``, BSD licensed), and
* Kipoi's 2018 HDF5 files, whose Lambda layers are Python 2 bytecode: the architecture is
  rebuilt here and the weights are read by layer with h5py.

The architecture is DeepBind's scoring as the DeepBindToKeras conversion (and the Kipoi models)
compute it: the sequence is padded with detector_len - 1 N's (0.25 per channel) on each side,
the detectors are a ReLU convolution, each window of int(1.5 * detector_len) bases is
max-pooled (and average-pooled for models with average pooling) over the featuremap positions
that overlap it, a dense head (with an optional hidden ReLU layer) scores each window, the score
is the max over windows, and DNA models take the max over both strands. For sequences no longer
than a window this is exactly the published deepbind executable; for longer ones, windows see
the adjacent sequence instead of N's (the variant whose scores README.TXT lists).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass
class DeepBindParams:
    """The numbers of one DeepBind model, in Keras kernel layouts."""

    reverse_complement: bool
    detectors: np.ndarray          # (detector_len, 4, num_detectors)
    thresholds: np.ndarray         # (num_detectors,)
    weights1: np.ndarray           # (num_features, num_hidden or 1), features max then avg
    biases1: np.ndarray
    has_avg_pooling: bool
    weights2: np.ndarray | None = None   # (num_hidden, 1)
    biases2: np.ndarray | None = None

    @property
    def detector_len(self) -> int:
        return int(self.detectors.shape[0])

    @property
    def num_hidden(self) -> int:
        return 0 if self.weights2 is None else int(self.weights2.shape[0])


def read_params(path: str | Path) -> DeepBindParams:
    """A DeepBind parameter file (``# deepbind 0.1`` format)."""
    text = Path(path).read_text().splitlines()
    if not text or not text[0].startswith("# deepbind 0.1"):
        raise UserError(f"{path} is not a DeepBind 0.1 parameter file")
    values = {}
    for line in text[1:]:
        if "=" in line:
            key, _, raw = line.partition("=")
            raw = raw.strip()
            values[key.strip()] = np.array([float(v) for v in raw.split(",")]) if raw \
                else np.zeros(0)
    ints = {k: int(values[k][0]) for k in ("reverse_complement", "num_detectors",
                                           "detector_len", "has_avg_pooling", "num_hidden")}
    d, m, hidden = ints["num_detectors"], ints["detector_len"], ints["num_hidden"]
    features = 2 * d if ints["has_avg_pooling"] else d
    w1 = values["weights1"].reshape(features, hidden or 1)
    if ints["has_avg_pooling"]:
        # The executable interleaves (max, avg) per detector; the model concatenates them.
        w1 = np.concatenate([w1[0::2], w1[1::2]])
    return DeepBindParams(
        reverse_complement=bool(ints["reverse_complement"]),
        detectors=values["detectors"].reshape(m, 4, d),
        thresholds=values["thresholds"],
        weights1=w1, biases1=values["biases1"], has_avg_pooling=bool(ints["has_avg_pooling"]),
        weights2=values["weights2"].reshape(hidden, 1) if hidden else None,
        biases2=values["biases2"] if hidden else None)


def build(detector_len: int, num_detectors: int, num_hidden: int, has_avg_pooling: bool,
          reverse_complement: bool, length: int, sigmoid: bool = True):
    """The DeepBind architecture for sequences of ``length`` bases (weights unset).

    With ``sigmoid`` the model ends in a sigmoid, as Kipoi's DeepBind models do; DeepLIFT scores
    the logit before it, which is DeepBind's own score.
    """
    import keras

    from ..zoo_layers import ConstantPadding1D, ReverseComplement

    L = keras.layers
    m = detector_len
    window = int(1.5 * m)
    pool = min(window, length) + m - 1
    pad = ConstantPadding1D(m - 1, 0.25, name="pad_with_n")
    conv = L.Conv1D(num_detectors, m, activation="relu", name="detectors")
    max_pool = L.MaxPooling1D(pool, strides=1, name="window_max")
    avg_pool = L.AveragePooling1D(pool, strides=1, name="window_avg") if has_avg_pooling else None
    head = [L.Dense(num_hidden, activation="relu", name="hidden")] if num_hidden else []
    head.append(L.Dense(1, name="window_score"))
    best = L.GlobalMaxPooling1D(name="best_window")

    def strand(x, suffix=""):
        f = conv(pad(x))
        h = max_pool(f)
        if avg_pool is not None:
            h = L.Concatenate(name=f"max_avg{suffix}")([h, avg_pool(f)])
        for layer in head:
            h = layer(h)
        return best(h)

    seq = keras.Input((length, 4), name="seq")
    score = strand(seq)
    if reverse_complement:
        score = L.Maximum(name="both_strands")([score, strand(ReverseComplement(name="rc")(seq),
                                                               "_rc")])
    out = L.Activation("sigmoid", name="binding_prob")(score) if sigmoid else \
        L.Identity(name="score")(score)
    return keras.Model(seq, out, name="DeepBind")


def _set(model, p: DeepBindParams):
    model.get_layer("detectors").set_weights([p.detectors, p.thresholds])
    if p.num_hidden:
        model.get_layer("hidden").set_weights([p.weights1, p.biases1])
        model.get_layer("window_score").set_weights([p.weights2, p.biases2])
    else:
        model.get_layer("window_score").set_weights([p.weights1, p.biases1])
    return model


def from_params(path: str | Path, length: int = 101, sigmoid: bool = False):
    """A DeepBind model from an original parameter file (raw DeepBind score by default)."""
    p = read_params(path)
    model = build(p.detector_len, p.detectors.shape[2], p.num_hidden, p.has_avg_pooling,
                  p.reverse_complement, length, sigmoid)
    return _set(model, p)


def params_from_kipoi_h5(path: str | Path) -> tuple[DeepBindParams, int]:
    """The weights of a Kipoi 2018 DeepBind HDF5 file (read by layer with h5py), and the input
    length its architecture was built for."""
    import h5py

    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
        layers = cfg["config"]["layers"]
        weights = f["model_weights"]

        def arrays(name):
            group = weights[name]
            names = [n.decode() if isinstance(n, bytes) else n
                     for n in group.attrs["weight_names"]]
            return {n.split("/")[-1].split(":")[0]: group[n][()] for n in names}

        conv = [lay["name"] for lay in layers if lay["class_name"] in ("Conv1D", "Convolution1D")]
        dense = []       # the first call of each TimeDistributed dense (the rc one shares it)
        for lay in layers:
            if lay["class_name"] == "TimeDistributed":
                w = arrays(lay["name"])
                if not any(np.array_equal(w["kernel"], d["kernel"]) for d in dense):
                    dense.append(w)
        pools = [lay for lay in layers if lay["class_name"] == "AveragePooling1D"]
        rc = any(lay["class_name"] == "Maximum" for lay in layers)
        length = layers[0]["config"]["batch_input_shape"][1]
        if len(conv) != 1 or not 1 <= len(dense) <= 2:
            raise UserError(f"{path} does not look like a Kipoi DeepBind model "
                            f"({len(conv)} convolutions, {len(dense)} dense layers)")
        c = arrays(conv[0])
    hidden = len(dense) == 2
    p = DeepBindParams(
        reverse_complement=rc, detectors=c["kernel"], thresholds=c["bias"],
        weights1=dense[0]["kernel"], biases1=dense[0]["bias"], has_avg_pooling=bool(pools),
        weights2=dense[1]["kernel"] if hidden else None,
        biases2=dense[1]["bias"] if hidden else None)
    return p, int(length)


def from_kipoi_h5(path: str | Path, length: int | None = None, sigmoid: bool = True):
    """A Kipoi 2018 DeepBind model (ending in a sigmoid, as Kipoi's does) from its HDF5 file."""
    p, built_for = params_from_kipoi_h5(path)
    model = build(p.detector_len, p.detectors.shape[2], p.num_hidden, p.has_avg_pooling,
                  p.reverse_complement, length or built_for, sigmoid)
    return _set(model, p)
