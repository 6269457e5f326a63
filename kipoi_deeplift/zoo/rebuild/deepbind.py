"""DeepBind (Alipanahi et al. 2015) rebuilt in Keras 3 from its published files.

Three published forms are read:

* the original parameter files (``params/DXXXXX.YYY.txt``, BSD licensed);
* Kipoi's 2018 HDF5 files (full model, Lambda layers as Python 2 bytecode, final sigmoid);
* the form Kipoi serves today (``model-template.yaml`` + ``models.tsv``): an architecture JSON
  written by Keras 2.1.5 whose Lambdas are Python 3.6 bytecode, input (None, 4), no sigmoid,
  plus a weights-only HDF5.

No Keras on Python 3.11 can run those Lambdas, so the architecture is rebuilt here and the
weights are read by layer with h5py (:func:`from_kipoi` takes either Kipoi form).

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
from typing import Callable

import numpy as np

from ...errors import UserError
from ...io.hdf5 import text


@dataclass
class DeepBindParams:
    """The numbers of one DeepBind model, in Keras kernel layouts.

    Parameters
    ----------
    reverse_complement : bool
        Whether the model takes the max over both strands.
    detectors : numpy.ndarray of shape (detector_len, 4, num_detectors)
    thresholds : numpy.ndarray of shape (num_detectors,)
    weights1 : numpy.ndarray of shape (num_features, num_hidden or 1)
        Features max then avg.
    biases1 : numpy.ndarray
    has_avg_pooling : bool
    weights2 : numpy.ndarray of shape (num_hidden, 1), optional
    biases2 : numpy.ndarray, optional
    """

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
        """Motif detector length (bases).

        Returns
        -------
        int
        """
        return int(self.detectors.shape[0])

    @property
    def num_hidden(self) -> int:
        """Hidden units of the optional second layer.

        Returns
        -------
        int
            0: none.
        """
        return 0 if self.weights2 is None else int(self.weights2.shape[0])


def read_params(path: str | Path) -> DeepBindParams:
    """A DeepBind parameter file (``# deepbind 0.1`` format).

    Parameters
    ----------
    path : str or Path
        The file (``params/DXXXXX.YYY.txt``).

    Returns
    -------
    DeepBindParams
        ``UserError`` for a file of another format.
    """
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
          reverse_complement: bool, length: int, sigmoid: bool = True,
          pool: int | None = None):
    """The DeepBind architecture for sequences of ``length`` bases (weights unset).

    With ``sigmoid`` the model ends in a sigmoid, as Kipoi's DeepBind models do; DeepLIFT scores
    the logit before it, which is DeepBind's own score.

    Parameters
    ----------
    detector_len, num_detectors, num_hidden : int
        The motif detectors' length and number, and the hidden units (0: none).
    has_avg_pooling, reverse_complement : bool
        Whether windows are also average-pooled, and whether both strands are scored.
    length : int
        The input length in bases.
    sigmoid : bool, default True
        Whether the model ends in a sigmoid.
    pool : int, optional
        The window max-pool size where a stored architecture fixes it (Kipoi's files:
        int(1.5 m) + m - 1 for 101 bp).

    Returns
    -------
    keras.Model
        ``(N, length, 4)`` -> ``(N, 1)``.
    """
    import keras

    from ..layers import ConstantPadding1D, ReverseComplement

    L = keras.layers
    m = detector_len
    window = int(1.5 * m)
    pool = pool or min(window, length) + m - 1
    pad = ConstantPadding1D(m - 1, 0.25, name="pad_with_n")
    conv = L.Conv1D(num_detectors, m, activation="relu", name="detectors")
    max_pool = L.MaxPooling1D(pool, strides=1, name="window_max")
    avg_pool = L.AveragePooling1D(pool, strides=1, name="window_avg") if has_avg_pooling else None
    head = [L.Dense(num_hidden, activation="relu", name="hidden")] if num_hidden else []
    head.append(L.Dense(1, name="window_score"))
    best = L.GlobalMaxPooling1D(name="best_window")

    def strand(x, suffix=""):
        """The network on one strand: (N, L, 4) -> the best window's score (N, 1)."""
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
    """A DeepBind model from an original parameter file (raw DeepBind score by default).

    Parameters
    ----------
    path : str or Path
        The parameter file.
    length : int, default 101
        The input length in bases.
    sigmoid : bool, default False
        Whether the model ends in a sigmoid.

    Returns
    -------
    keras.Model
        ``(N, length, 4)`` -> ``(N, 1)``.
    """
    p = read_params(path)
    model = build(p.detector_len, p.detectors.shape[2], p.num_hidden, p.has_avg_pooling,
                  p.reverse_complement, length, sigmoid)
    return _set(model, p)


def _keras2_layers(path: str | Path, arch: str | Path | None) -> tuple[list, Callable]:
    """The layer configs of a Kipoi DeepBind model and a reader of one layer's weights.

    The 2018 form is one full-model HDF5 (architecture in its ``model_config`` attribute,
    weights under ``model_weights``); today's form is an architecture JSON (``arch``) plus a
    weights-only HDF5 (one group per layer at the root).
    """
    import h5py

    if arch is not None:
        cfg = json.loads(Path(arch).read_text())
    else:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise UserError(f"{path} holds weights only: give the architecture JSON too "
                                "(Kipoi's arch argument)")
            cfg = json.loads(f.attrs["model_config"])
    layers = cfg["config"]["layers"]

    def arrays(name: str) -> dict[str, np.ndarray]:
        """The stored weight arrays of layer ``name``, by weight name."""
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            group = root[name]
            names = [text(n) for n in group.attrs["weight_names"]]
            return {n.split("/")[-1].split(":")[0]: group[n][()] for n in names}

    return layers, arrays


def _check_lambdas(layers: list, where: str) -> None:
    """Today's files marshal their Lambdas as Python 3.6 bytecode, which Python 3.11 cannot
    load. Their names say what they compute: ``tf.pad`` with ``CONSTANT`` (the N padding),
    ``x[:, ::-1, ::-1]`` (no names: the reverse complement) and ``tf.reduce_max`` (the best
    window). Anything else is not the DeepBind conversion this rebuild reproduces."""
    import base64

    tf = b"\xda\x02tf"                  # the marshalled name 'tf'
    minus_one = b"\xe9\xff\xff\xff\xff"  # the marshalled constant -1 of ``::-1``
    allowed = (lambda raw: tf in raw and b"pad" in raw and b"CONSTANT" in raw,
               lambda raw: tf not in raw and minus_one in raw,
               lambda raw: tf in raw and b"reduce_max" in raw)
    for lay in layers:
        if lay["class_name"] != "Lambda":
            continue
        fn = lay["config"].get("function")
        code = fn[0] if isinstance(fn, list) else fn
        try:
            raw = base64.b64decode(code)
        except (TypeError, ValueError):
            raw = b""
        if not raw.startswith(b"\xe3"):
            continue           # not a Python 3 code object: the 2018 form's Python 2 bytecode
        if not any(ok(raw) for ok in allowed):
            raise UserError(f"{where}: Lambda {lay['name']!r} is not one of DeepBind's "
                            "(pad, reverse complement, max over windows)")


def params_from_kipoi(path: str | Path, arch: str | Path | None = None
                      ) -> tuple[DeepBindParams, int | None, int | None]:
    """The weights of a Kipoi DeepBind model in either of Kipoi's forms, and two sizes.

    Parameters
    ----------
    path : str or Path
        The HDF5 file (full model, or weights only with ``arch``).
    arch : str or Path, optional
        The architecture JSON of today's form.

    Returns
    -------
    (DeepBindParams, int or None, int or None)
        The weights, the input length the architecture was built for (``None`` for today's
        variable-length form) and the window max-pool size stored in the architecture.
    """
    layers, arrays = _keras2_layers(path, arch)
    _check_lambdas(layers, str(arch or path))
    conv = [lay["name"] for lay in layers if lay["class_name"] in ("Conv1D", "Convolution1D")]
    dense = []       # the first call of each TimeDistributed dense (the rc one shares it)
    for lay in layers:
        if lay["class_name"] == "TimeDistributed":
            w = arrays(lay["name"])
            if not any(np.array_equal(w["kernel"], d["kernel"]) for d in dense):
                dense.append(w)
    pools = [lay for lay in layers if lay["class_name"] == "AveragePooling1D"]
    max_pools = [lay for lay in layers if lay["class_name"] == "MaxPooling1D"]
    rc = any(lay["class_name"] == "Maximum" for lay in layers)
    shape = layers[0]["config"].get("batch_input_shape") or [None, None, 4]
    if len(conv) != 1 or not 1 <= len(dense) <= 2 or not max_pools:
        raise UserError(f"{arch or path} does not look like a Kipoi DeepBind model "
                        f"({len(conv)} convolutions, {len(dense)} dense layers)")
    c = arrays(conv[0])
    hidden = len(dense) == 2
    p = DeepBindParams(
        reverse_complement=rc, detectors=c["kernel"], thresholds=c["bias"],
        weights1=dense[0]["kernel"], biases1=dense[0]["bias"], has_avg_pooling=bool(pools),
        weights2=dense[1]["kernel"] if hidden else None,
        biases2=dense[1]["bias"] if hidden else None)
    size = max_pools[0]["config"].get("pool_size")
    size = size[0] if isinstance(size, (list, tuple)) else size
    return p, (int(shape[1]) if shape[1] else None), (int(size) if size else None)


def params_from_kipoi_h5(path: str | Path) -> tuple[DeepBindParams, int]:
    """The weights of a Kipoi 2018 DeepBind HDF5 file and the input length it was built for.

    Parameters
    ----------
    path : str or Path
        The full-model HDF5 file.

    Returns
    -------
    (DeepBindParams, int)
    """
    p, length, _ = params_from_kipoi(path)
    return p, int(length or 101)


def from_kipoi(weights: str | Path, arch: str | Path | None = None, length: int | None = None,
               sigmoid: bool | None = None):
    """A Kipoi DeepBind model from either form Kipoi has served.

    * 2018: one full-model HDF5 (``weights``), input (101, 4), ending in a sigmoid.
    * today: an architecture JSON (``arch``, Keras 2.1.5) plus a weights-only HDF5, input
      (None, 4), ending in the raw DeepBind score (no sigmoid).

    The Keras 3 model keeps the window max-pool size stored in the file.

    Parameters
    ----------
    weights : str or Path
        The HDF5 file.
    arch : str or Path, optional
        The architecture JSON (today's form).
    length : int, optional
        The input length (default: the stored length, else the 101 of Kipoi's schema).
    sigmoid : bool, optional
        Whether it ends in a sigmoid (default: as the published model does).

    Returns
    -------
    keras.Model
        ``(N, length, 4)`` -> ``(N, 1)``.
    """
    p, built_for, pool = params_from_kipoi(weights, arch)
    if sigmoid is None:
        sigmoid = arch is None
    model = build(p.detector_len, p.detectors.shape[2], p.num_hidden, p.has_avg_pooling,
                  p.reverse_complement, length or built_for or 101, sigmoid, pool=pool)
    return _set(model, p)


def from_kipoi_h5(path: str | Path, length: int | None = None, sigmoid: bool = True):
    """A Kipoi 2018 DeepBind model (ending in a sigmoid, as Kipoi's does) from its HDF5 file.

    Parameters
    ----------
    path : str or Path
        The full-model HDF5 file.
    length : int, optional
        The input length (default: the stored one, else 101).
    sigmoid : bool, default True
        Whether the model ends in a sigmoid.

    Returns
    -------
    keras.Model
    """
    return from_kipoi(path, None, length, sigmoid)
