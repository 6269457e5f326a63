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
  :class:`~kipoi_deeplift.zoo.layers.Threshold` layer, with its own nonlinearity row.
* ``BatchNorm`` in eval mode is affine: Keras ``BatchNormalization`` with the running statistics.
* The final ``Sigmoid`` becomes the last Dense layer's activation, so scores explain the logit;
  ``DeepSEA/predict`` averages the sigmoid outputs of the sequence and its reverse complement
  (two branches sharing every weight), so its scores explain that average probability.

``.pth`` files are read with torch (``pip install kipoi_deeplift[pytorch]``).

Memory: Beluga's first Linear layer alone is 543 MB, so a rebuild holds each weight about once
beside the Keras variable it goes into: the state dict is mapped from the file where its format
allows, read without a float32 copy, kernels start as zeros (not a random initialisation that
is overwritten at once) and each source array is let go as soon as its layer has it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UserError

#: Torch's channel j reads base ALPHABET[PERMUTATION[j]] of an ACGT one-hot (AGCT order).
AGCT_FROM_ACGT = [0, 2, 1, 3]


def _load(torch, path: str):
    """``torch.load`` of a state dict, memory-mapped where the file is torch's zip format
    (pages are read as the arrays are, and nothing is copied); a legacy-format file (as old
    Lua-Torch conversions may be), or torch before 2.1, cannot map it and reads it whole."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(path: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The modules of a torch state dict in order.

    The arrays share memory with torch's tensors (float32 weights are not copied): a builder
    that pops each array once its layer holds it frees that memory as it goes.

    Parameters
    ----------
    path : str
        The ``.pth`` file.

    Returns
    -------
    list of (str, dict of str to numpy.ndarray)
        Each module as ``(name, {param: array})``; ``UserError`` without torch or for a file
        torch cannot read.
    """
    try:
        import torch
    except ImportError:
        raise UserError("reading a PyTorch .pth file needs torch: pip install "
                        "'kipoi_deeplift[pytorch]' (or pip install torch)") from None
    try:
        sd = _load(torch, path)
    except Exception as e:
        raise UserError(f"cannot read the PyTorch state dict {path}: {e}") from e
    if not isinstance(sd, dict):
        raise UserError(f"{path} holds a {type(sd).__name__}, not a state dict")
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key in list(sd):
        module, param = key.rsplit(".", 1)
        # pop: the state dict keeps no second reference to a tensor the builder lets go of
        value = sd.pop(key).detach().cpu().numpy()
        modules.setdefault(module, {})[param] = value.astype(np.float32, copy=False)
    return list(modules.items())


def _take(params: dict[str, np.ndarray], *names: str) -> list[np.ndarray]:
    """The named arrays, removed from ``params``: once the caller's layer holds them, nothing
    else keeps the source (Beluga's 543 MB first Linear weight) alive."""
    return [params.pop(name) for name in names]


def _zeros() -> dict[str, str]:
    """Initialisers of a layer whose weights are set right after it is built: zeros cost one
    allocation, a random kernel several (Beluga's first Dense kernel is 543 MB)."""
    return {"kernel_initializer": "zeros", "bias_initializer": "zeros"}


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


#: Bytes of a Dense kernel converted at a time (see :func:`_assign_torch_flatten_kernel`).
_BLOCK_BYTES = 32 << 20


def _torch_flatten_blocks(weight: np.ndarray, channels: int):
    """A Linear weight (out, C * L') reading torch's channel-major flatten, as the Keras Dense
    kernel (L' * C, out) reading Keras's position-major flatten: ``(first row, rows)`` blocks
    of whole positions, each about ``_BLOCK_BYTES``."""
    out = weight.shape[0]
    length = weight.shape[1] // channels
    w = weight.reshape(out, channels, length)           # a view: (out, C, L')
    step = max(1, _BLOCK_BYTES // (channels * out * weight.itemsize))
    for p in range(0, length, step):
        q = min(length, p + step)
        yield p * channels, w[:, :, p:q].transpose(2, 1, 0).reshape((q - p) * channels, out)


def _assign_torch_flatten_kernel(layer, weight: np.ndarray, channels: int) -> None:
    """Write the permuted Linear weight into ``layer``'s kernel block by block, in place.

    ``set_weights`` of the whole permuted kernel would hold it once more, and TensorFlow's
    conversion of the array twice more (2 GB for Beluga's first Dense layer); in blocks only
    the variable and the source are ever whole. The raw strided-slice assignment writes into
    the variable's buffer (``variable[a:b].assign`` first reads the variable, and that read
    makes the assignment copy all of it). A slice assignment puts the variable in
    copy-on-read mode, where every later read (each pass through the layer) copies the
    kernel: it is switched off once the kernel is written.
    """
    import tensorflow as tf

    out = weight.shape[0]
    shape = (weight.shape[1], out)
    if tuple(layer.kernel.shape) != shape:
        raise ValueError(f"Layer {layer.name} kernel shape {tuple(layer.kernel.shape)} is not "
                         f"compatible with the Linear weight's {shape}")
    for row, block in _torch_flatten_blocks(weight, channels):
        tf.raw_ops.ResourceStridedSliceAssign(ref=layer.kernel.handle, begin=[row, 0],
                                              end=[row + len(block), out], strides=[1, 1],
                                              value=block)
    tf.raw_ops.DisableCopyOnRead(resource=layer.kernel.handle)


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
    """``DeepSEA/variantEffects`` (one strand) or ``DeepSEA/predict`` from its state dict.

    ``predict`` averages both strands.

    Parameters
    ----------
    weights : str
        The ``.pth`` state dict.
    variant : {"variantEffects", "predict"}
        Which of the two models.
    **_
        Other model arguments, ignored.

    Returns
    -------
    keras.Model
        Input ``(N, 4, 1, 1000)``, 919 outputs.
    """
    import keras as K

    from ..layers import ReverseComplement, Threshold

    if variant not in ("variantEffects", "predict"):
        raise UserError(f"DeepSEA variant {variant!r}: use variantEffects or predict")
    convs, linears, _ = _split(read_state_dict(weights))
    _expect(weights, "convolutions", convs, [(320, 4, 1, 8), (480, 320, 1, 8), (960, 480, 1, 8)])
    _expect(weights, "linear layers", linears, [(925, 50880), (919, 925)])
    L = K.layers
    # variantEffects ends in the sigmoid (scored at its logit); predict averages the two
    # strands' sigmoids after the network, so its sigmoids are layers of their own.
    layers = [L.Conv1D(320, 8, name="conv1", **_zeros()), Threshold(0.0, 1e-6, name="thr1"),
              L.MaxPooling1D(4, 4, name="pool1"), L.Conv1D(480, 8, name="conv2", **_zeros()),
              Threshold(0.0, 1e-6, name="thr2"), L.MaxPooling1D(4, 4, name="pool2"),
              L.Conv1D(960, 8, name="conv3", **_zeros()), Threshold(0.0, 1e-6, name="thr3"),
              L.Flatten(name="flatten"), L.Dense(925, name="fc1", **_zeros()),
              Threshold(0.0, 1e-6, name="thr4"),
              L.Dense(919, activation=None if variant == "predict" else "sigmoid", name="fc2",
                      **_zeros())]

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
    for i, conv in enumerate(convs):
        weight, bias = _take(conv, "weight", "bias")
        model.get_layer(f"conv{i + 1}").set_weights([_conv_kernel(weight, i == 0), bias])
    _set_dense(model, linears, 960)
    return model


def _set_dense(model, linears: list[dict], channels: int) -> None:
    """Set ``fc1``, ``fc2``, ... from the Linear layers, the first reading torch's flatten of
    ``channels`` channels; each source weight is let go of before the next is converted."""
    for i, params in enumerate(linears):
        weight, bias = _take(params, "weight", "bias")
        layer = model.get_layer(f"fc{i + 1}")
        if i == 0:
            _assign_torch_flatten_kernel(layer, weight, channels)
            layer.bias.assign(bias)
        else:
            layer.set_weights([weight.T, bias])
        del weight, bias


def deepsea_predict(weights: str, **kwargs: Any):
    """``DeepSEA/predict``: see :func:`deepsea`.

    Parameters
    ----------
    weights : str
        The ``.pth`` state dict.
    **kwargs
        Other model arguments, ignored.

    Returns
    -------
    keras.Model
    """
    return deepsea(weights, "predict")


def beluga(weights: str, **_: Any):
    """``DeepSEA/beluga`` from its state dict.

    It is read in ACGT order (the published network's AGCT order folded into the first
    convolution).

    Parameters
    ----------
    weights : str
        The ``.pth`` state dict.
    **_
        Other model arguments, ignored.

    Returns
    -------
    keras.Model
        Input ``(N, 4, 1, 2000)``, 2002 outputs.
    """
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
        h = L.Conv1D(conv["weight"].shape[0], 8, activation="relu", name=f"conv{i + 1}",
                     **_zeros())(h)
        if i in (1, 3):
            h = L.MaxPooling1D(4, 4, name=f"pool{(i + 1) // 2}")(h)
    h = L.Dense(2003, activation="relu", name="fc1", **_zeros())(L.Flatten(name="flatten")(h))
    out = L.Dense(2002, activation="sigmoid", name="fc2", **_zeros())(h)
    model = keras.Model(inp, out, name="DeepSEA_beluga")
    for i, conv in enumerate(convs):
        weight, bias = _take(conv, "weight", "bias")
        model.get_layer(f"conv{i + 1}").set_weights([_conv_kernel(weight, i == 0), bias])
    _set_dense(model, linears, 640)
    return model


def basset(weights: str, **_: Any):
    """``Basset`` from its state dict, batch norms in eval mode (their running statistics).

    Parameters
    ----------
    weights : str
        The ``.pth`` state dict.
    **_
        Other model arguments, ignored.

    Returns
    -------
    keras.Model
        Input ``(N, 4, 600, 1)``, 164 outputs.
    """
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
        h = L.Conv1D(conv["weight"].shape[0], conv["weight"].shape[2], name=f"conv{i + 1}",
                     **_zeros())(h)
        bn, bn_weights[f"bn{i + 1}"] = _bn(keras, norms[i], f"bn{i + 1}")
        h = L.MaxPooling1D(pool, pool, name=f"pool{i + 1}")(L.ReLU(name=f"relu{i + 1}")(bn(h)))
    h = L.Flatten(name="flatten")(h)
    for i in (0, 1):
        h = L.Dense(1000, name=f"fc{i + 1}", **_zeros())(h)
        bn, bn_weights[f"bn{i + 4}"] = _bn(keras, norms[i + 3], f"bn{i + 4}")
        h = L.ReLU(name=f"relu{i + 4}")(bn(h))
    out = L.Dense(164, activation="sigmoid", name="fc3", **_zeros())(h)
    model = keras.Model(inp, out, name="Basset")
    for i, conv in enumerate(convs):
        weight, bias = _take(conv, "weight", "bias")
        model.get_layer(f"conv{i + 1}").set_weights([_conv_kernel(weight), bias])
    for name, values in bn_weights.items():
        model.get_layer(name).set_weights(values)
    _set_dense(model, linears, 200)
    return model
