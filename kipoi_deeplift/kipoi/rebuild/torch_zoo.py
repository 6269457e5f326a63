"""Kipoi's PyTorch DNA models (DeepSEA, DeepSEA Beluga, Basset) rebuilt in Keras 3 from their
published state dicts, so that every rule, exact max pooling and every output apply to them.

The torch networks (kipoi/models: ``DeepSEA/model_architecture.py``, ``DeepSEA/beluga/model.py``,
``Basset/pretrained_model_reloaded_th.py``) are plain stacks converted from Lua Torch. Their
conventions, each mapped here:

* Input: Kipoi's dataloader gives (N, 4, 1, L) (DeepSEA, Beluga) or (N, 4, L, 1) (Basset); the
  rebuild takes the same and reshapes it to Keras's (L, 4).
* Alphabet: DeepSEA reorders ACGT to AGCT inside the model (``ReCodeAlphabet``); Beluga's
  dataloader one-hot encodes in AGCT order. Both permutations are folded into the first
  convolution's input channels, so the rebuild reads ACGT (Beluga's zoo config asks its
  dataloader for ACGT).
* Convolutions: ``Conv2d`` is a cross-correlation, as Keras's; a (1, k) or (k, 1) kernel over
  the length axis is a ``Conv1D`` of width k (no flip).
* Flatten: torch flattens (C, L') channel-major, Keras (L', C) position-major: the first
  ``Linear``'s columns are permuted to match.
* ``nn.Threshold(0, 1e-6)`` (DeepSEA) outputs 1e-6, not 0, below 0: the
  :class:`~kipoi_deeplift.kipoi.zoo_layers.Threshold` layer, with its own nonlinearity row.
* ``BatchNorm`` in eval mode is affine: Keras ``BatchNormalization`` with the running statistics.
* The final ``Sigmoid`` becomes the last Dense layer's activation, so scores explain the logit;
  ``DeepSEA/predict`` averages the sigmoid outputs of the sequence and its reverse complement
  (two branches sharing every weight), so its scores explain that average probability.

``.pth`` files are read with torch (``pip install kipoi_deeplift[pytorch]``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UserError

#: Torch's channel j reads base ALPHABET[PERMUTATION[j]] of an ACGT one-hot (AGCT order).
AGCT_FROM_ACGT = [0, 2, 1, 3]


def read_state_dict(path: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The modules of a torch state dict in order, each ``(name, {param: array})``."""
    try:
        import torch
    except ImportError:
        raise UserError("reading a PyTorch .pth file needs torch: pip install "
                        "'kipoi_deeplift[pytorch]' (or pip install torch)") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot read the PyTorch state dict {path}: {e}") from e
    if not isinstance(sd, dict):
        raise UserError(f"{path} holds a {type(sd).__name__}, not a state dict")
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in sd.items():
        module, param = key.rsplit(".", 1)
        modules.setdefault(module, {})[param] = value.detach().cpu().numpy().astype(np.float32)
    return list(modules.items())


def _split(modules) -> tuple[list, list, list]:
    """(convolutions, linears, batch norms), each in network order."""
    convs = [p for _, p in modules if "weight" in p and p["weight"].ndim == 4]
    linears = [p for _, p in modules if "weight" in p and p["weight"].ndim == 2]
    norms = [p for _, p in modules if "running_mean" in p]
    return convs, linears, norms


def _expect(path, what, got, want) -> None:
    shapes = [tuple(p["weight"].shape) for p in got]
    if len(shapes) != len(want) or any(s != w for s, w in zip(shapes, want)):
        raise UserError(f"{path}: expected {what} of shapes {want}, found {shapes}: not this "
                        "model's state dict")


def _conv_kernel(weight: np.ndarray, alphabet_first: bool = False) -> np.ndarray:
    """(O, I, kh, kw) with one of kh, kw equal to 1 -> Keras Conv1D kernel (k, I, O); with
    ``alphabet_first`` the input channels are taken from an ACGT input in AGCT order."""
    w = weight[:, :, 0, :] if weight.shape[2] == 1 else weight[:, :, :, 0]
    kernel = w.transpose(2, 1, 0)
    if alphabet_first:
        kernel = kernel[:, AGCT_FROM_ACGT, :]      # the permutation is its own inverse
    return kernel


def _torch_flatten_kernel(weight: np.ndarray, channels: int) -> np.ndarray:
    """A Linear weight (out, C * L') reading torch's channel-major flatten -> a Keras Dense
    kernel (L' * C, out) reading Keras's position-major flatten."""
    out = weight.shape[0]
    length = weight.shape[1] // channels
    return weight.reshape(out, channels, length).transpose(2, 1, 0).reshape(length * channels,
                                                                            out)


def _input_to_length_first(K, inp, layout: tuple[int, int, int]):
    """(4, 1, L) or (4, L, 1) -> (L, 4)."""
    length = layout[1] if layout[2] == 1 else layout[2]
    h = K.layers.Reshape((4, length), name="drop_dummy_axis")(inp)
    return K.layers.Permute((2, 1), name="length_first")(h)


def _bn(K, params, name):
    eps = 1e-5
    layer = K.layers.BatchNormalization(epsilon=eps, name=name)
    return layer, [params["weight"], params["bias"], params["running_mean"],
                   params["running_var"]]


def deepsea(weights: str, variant: str = "variantEffects", **_: Any):
    """``DeepSEA/variantEffects`` (one strand) or ``DeepSEA/predict`` (both strands averaged)
    from its state dict: input (N, 4, 1, 1000), 919 outputs."""
    import keras as K

    from ..zoo_layers import ReverseComplement, Threshold

    if variant not in ("variantEffects", "predict"):
        raise UserError(f"DeepSEA variant {variant!r}: use variantEffects or predict")
    convs, linears, _ = _split(read_state_dict(weights))
    _expect(weights, "convolutions", convs, [(320, 4, 1, 8), (480, 320, 1, 8), (960, 480, 1, 8)])
    _expect(weights, "linear layers", linears, [(925, 50880), (919, 925)])
    L = K.layers
    # variantEffects ends in the sigmoid (scored at its logit); predict averages the two
    # strands' sigmoids after the network, so its sigmoids are layers of their own.
    layers = [L.Conv1D(320, 8, name="conv1"), Threshold(0.0, 1e-6, name="thr1"),
              L.MaxPooling1D(4, 4, name="pool1"), L.Conv1D(480, 8, name="conv2"),
              Threshold(0.0, 1e-6, name="thr2"), L.MaxPooling1D(4, 4, name="pool2"),
              L.Conv1D(960, 8, name="conv3"), Threshold(0.0, 1e-6, name="thr3"),
              L.Flatten(name="flatten"), L.Dense(925, name="fc1"),
              Threshold(0.0, 1e-6, name="thr4"),
              L.Dense(919, activation=None if variant == "predict" else "sigmoid", name="fc2")]

    def trunk(h):
        for layer in layers:       # the same layer objects: both strands share every weight
            h = layer(h)
        return h

    inp = K.Input((4, 1, 1000), name="seq")
    x = _input_to_length_first(K, inp, (4, 1, 1000))
    if variant == "predict":
        out = L.Average(name="strand_average")(
            [L.Activation("sigmoid", name="sigmoid_fwd")(trunk(x)),
             L.Activation("sigmoid", name="sigmoid_rc")(trunk(ReverseComplement(name="rc")(x)))])
    else:
        out = trunk(x)
    model = K.Model(inp, out, name=f"DeepSEA_{variant}")
    model.get_layer("conv1").set_weights([_conv_kernel(convs[0]["weight"], True),
                                          convs[0]["bias"]])
    for i in (1, 2):
        model.get_layer(f"conv{i + 1}").set_weights([_conv_kernel(convs[i]["weight"]),
                                                     convs[i]["bias"]])
    model.get_layer("fc1").set_weights([_torch_flatten_kernel(linears[0]["weight"], 960),
                                        linears[0]["bias"]])
    model.get_layer("fc2").set_weights([linears[1]["weight"].T, linears[1]["bias"]])
    return model


def deepsea_predict(weights: str, **kwargs: Any):
    """``DeepSEA/predict``: see :func:`deepsea`."""
    return deepsea(weights, "predict")


def beluga(weights: str, **_: Any):
    """``DeepSEA/beluga`` from its state dict: input (N, 4, 1, 2000), read in ACGT order (the
    published network's AGCT order folded into the first convolution), 2002 outputs."""
    import keras

    convs, linears, _ = _split(read_state_dict(weights))
    _expect(weights, "convolutions", convs,
            [(320, 4, 1, 8), (320, 320, 1, 8), (480, 320, 1, 8), (480, 480, 1, 8),
             (640, 480, 1, 8), (640, 640, 1, 8)])
    _expect(weights, "linear layers", linears, [(2003, 67840), (2002, 2003)])
    L = keras.layers
    inp = keras.Input((4, 1, 2000), name="seq")
    h = _input_to_length_first(keras, inp, (4, 1, 2000))
    for i, conv in enumerate(convs):
        h = L.Conv1D(conv["weight"].shape[0], 8, activation="relu", name=f"conv{i + 1}")(h)
        if i in (1, 3):
            h = L.MaxPooling1D(4, 4, name=f"pool{(i + 1) // 2}")(h)
    h = L.Dense(2003, activation="relu", name="fc1")(L.Flatten(name="flatten")(h))
    out = L.Dense(2002, activation="sigmoid", name="fc2")(h)
    model = keras.Model(inp, out, name="DeepSEA_beluga")
    for i, conv in enumerate(convs):
        model.get_layer(f"conv{i + 1}").set_weights([_conv_kernel(conv["weight"], i == 0),
                                                     conv["bias"]])
    model.get_layer("fc1").set_weights([_torch_flatten_kernel(linears[0]["weight"], 640),
                                        linears[0]["bias"]])
    model.get_layer("fc2").set_weights([linears[1]["weight"].T, linears[1]["bias"]])
    return model


def basset(weights: str, **_: Any):
    """``Basset`` from its state dict: input (N, 4, 600, 1), 164 outputs; batch norms in eval
    mode (their running statistics)."""
    import keras

    convs, linears, norms = _split(read_state_dict(weights))
    _expect(weights, "convolutions", convs, [(300, 4, 19, 1), (200, 300, 11, 1),
                                             (200, 200, 7, 1)])
    _expect(weights, "linear layers", linears, [(1000, 2000), (1000, 1000), (164, 1000)])
    if len(norms) != 5:
        raise UserError(f"{weights}: expected 5 batch norms, found {len(norms)}")
    L = keras.layers
    inp = keras.Input((4, 600, 1), name="seq")
    h = _input_to_length_first(keras, inp, (4, 600, 1))
    bn_weights = {}
    for i, (conv, pool) in enumerate(zip(convs, (3, 4, 4))):
        h = L.Conv1D(conv["weight"].shape[0], conv["weight"].shape[2], name=f"conv{i + 1}")(h)
        bn, bn_weights[f"bn{i + 1}"] = _bn(keras, norms[i], f"bn{i + 1}")
        h = L.MaxPooling1D(pool, pool, name=f"pool{i + 1}")(L.ReLU(name=f"relu{i + 1}")(bn(h)))
    h = L.Flatten(name="flatten")(h)
    for i in (0, 1):
        h = L.Dense(1000, name=f"fc{i + 1}")(h)
        bn, bn_weights[f"bn{i + 4}"] = _bn(keras, norms[i + 3], f"bn{i + 4}")
        h = L.ReLU(name=f"relu{i + 4}")(bn(h))
    out = L.Dense(164, activation="sigmoid", name="fc3")(h)
    model = keras.Model(inp, out, name="Basset")
    for i, conv in enumerate(convs):
        model.get_layer(f"conv{i + 1}").set_weights([_conv_kernel(conv["weight"]),
                                                     conv["bias"]])
    for name, values in bn_weights.items():
        model.get_layer(name).set_weights(values)
    model.get_layer("fc1").set_weights([_torch_flatten_kernel(linears[0]["weight"], 200),
                                        linears[0]["bias"]])
    for i in (1, 2):
        model.get_layer(f"fc{i + 1}").set_weights([linears[i]["weight"].T, linears[i]["bias"]])
    return model
