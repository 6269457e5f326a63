"""The DeepLIFT rules of layer types: one small function per kind of layer.

A rule is ``fn(ctx, layer, args, kwargs) -> outputs``: it computes the layer's forward output for
the whole batch (inputs, then references; see :mod:`.context`) and makes the backward pass carry
DeepLIFT multipliers. Linear layers need nothing special (their gradient is their multiplier);
nonlinearities go through ``ctx.nonlinear`` (Rescale, RevealCancel, ...); maxima through
:mod:`.maxima`. Which layer type gets which function is the table in :mod:`.rules`.

Every rule (here, in :mod:`.attention`, :mod:`.maxima`, :mod:`.normalization`,
:mod:`.recurrent`, and :mod:`.ops` for operations) has this one signature, documented once here.

Parameters
----------
ctx : Context
    The pass's state (:class:`.context.Context`): its mode, the number of input rows, the
    step's resolved rules.
layer : keras.layers.Layer or keras Operation
    The layer called (for the rules of :mod:`.ops`, the operation).
args : tuple
    The call's positional arguments as the model passes them; tensors hold every row of the
    batch, the N input rows then the N*K reference rows ((N + N*K, ...); see :mod:`.context`).
kwargs : dict
    The call's keyword arguments.

Returns
-------
tf.Tensor
    The layer's output for every row (as its call returns it), built so that the backward
    pass carries DeepLIFT multipliers (into the reference rows).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import tensorflow as tf

from . import attention, maxima
from .context import LINEAR_ACTIVATIONS, Context, activation_name, call_layer
from .products import bilinear, product_of_many

Rule = Callable[[Context, Any, tuple, dict], Any]

#: Layers whose nonlinearity RevealCancel can treat (it needs their weights and input).
KERNEL_TYPES = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D"})


def _identity(x):
    return x


@contextlib.contextmanager
def _without_activation(layer):
    """Call ``layer`` for its linear part only (its fused activation gets a rule of its own)."""
    saved = layer.activation
    layer.activation = _identity
    try:
        yield
    finally:
        layer.activation = saved


def linear(ctx: Context, layer, args, kwargs):
    """Affine layers (and reshapes, merges by sum, inference-mode noise): the gradient is exact.

    A fused activation (``Dense(..., activation="relu")``) is split off and handled by its own
    nonlinearity rule, which learns the layer and its input (RevealCancel needs both).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    act = getattr(layer, "activation", None)
    if activation_name(act) in LINEAR_ACTIVATIONS:
        return call_layer(layer, args, kwargs)
    with _without_activation(layer):
        pre = call_layer(layer, args, kwargs)
    source = (layer, args[0], 1.0) if type(layer).__name__ in KERNEL_TYPES else None
    return _activate(ctx, act, pre, source)


def _activate(ctx: Context, act, pre, source):
    """A layer's activation; a softmax inside the model gets the softmax rule."""
    if activation_name(act) == "softmax" and not (ctx.step is not None and ctx.step.is_output):
        return attention.softmax(ctx, pre)
    return ctx.activate(act, pre, source)


#: Layers that are x -> a * x + b per channel at inference (a from :func:`channel_scale`).
_CHANNEL_AFFINE = frozenset({"BatchNormalization", "Dropout", "SpatialDropout1D",
                             "GaussianDropout", "AlphaDropout", "Identity", "Activation"})


def channel_scale(layer):
    """The per-channel factor ``a`` of a layer computing ``a * x + b`` on the last axis at
    inference.

    Parameters
    ----------
    layer : keras.layers.Layer

    Returns
    -------
    tf.Tensor, float or None
        ``a`` (C,) (1.0 for identities), or ``None`` for any other layer.
    """
    kind = type(layer).__name__
    if kind not in _CHANNEL_AFFINE:
        return None
    if kind == "Activation":
        return 1.0 if activation_name(layer.activation) in LINEAR_ACTIVATIONS else None
    if kind != "BatchNormalization":
        return 1.0
    axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
    if axis not in (-1, [-1], (-1,)):
        try:        # a positive axis must be the last one (channels last)
            last = len(layer.get_build_config()["input_shape"]) - 1
        except Exception:
            return None
        if axis not in (last, [last], (last,)):
            return None
    inv = 1.0 / tf.sqrt(tf.convert_to_tensor(layer.moving_variance) + layer.epsilon)
    return inv * tf.convert_to_tensor(layer.gamma) if getattr(layer, "scale", True) else inv


def chain_scale(layers) -> Any:
    """The product of :func:`channel_scale` over a chain of per-channel affine layers.

    Parameters
    ----------
    layers : sequence of keras.layers.Layer

    Returns
    -------
    tf.Tensor or float
        The product, (C,) or 1.0.
    """
    out = 1.0
    for layer in layers:
        out = out * channel_scale(layer)
    return out


def activation_layer(ctx: Context, layer, args, kwargs):
    """``Activation(...)`` layers (any elementwise function: see :func:`check_layer`).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return _activate(ctx, layer.activation, args[0], ctx.kernel_source)


_LAYER_ACTIVATION_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
                           "ThresholdedReLU": "thresholded_relu", "ELU": "elu"}


def as_elementwise(layer, rank: int, args: tuple = (), kwargs: dict | None = None) -> Callable:
    """The layer as a function of its first input that may carry extra leading axes.

    The nonlinearity rules evaluate it on stacked and (N, K, ...) tensors; the extra axes are
    folded into the batch axis for the call, so that a layer checking its input's rank (PReLU)
    accepts them.

    Parameters
    ----------
    layer : keras.layers.Layer
    rank : int
        The rank of the layer's input in the model (batch axis included).
    args, kwargs : tuple, dict or None
        The model's call of the layer: its other arguments are kept as given.

    Returns
    -------
    callable
        ``f(x)``, x (..., *input shape without the batch axis).
    """
    rest, kwargs = tuple(args[1:]), dict(kwargs or {})

    def f(z):
        if z.shape.rank == rank:
            return call_layer(layer, (z,) + rest, kwargs)
        shape = tf.shape(z)
        inner = shape[z.shape.rank - rank + 1:]
        out = call_layer(layer, (tf.reshape(z, tf.concat([[-1], inner], 0)),) + rest, kwargs)
        return tf.reshape(out, shape)

    return f


def elementwise_layer(ctx: Context, layer, args, kwargs):
    """Elementwise activation layers (ReLU, LeakyReLU, ELU, PReLU, and any layer found to be
    elementwise in its first input).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    z = args[0]
    return ctx.nonlinear(as_elementwise(layer, z.shape.rank, args, kwargs), z,
                         _LAYER_ACTIVATION_NAMES.get(type(layer).__name__), ctx.kernel_source)


def softmax_layer(ctx: Context, layer, args, kwargs):
    """A ``Softmax`` layer that ends the model: scored before it (inside the model,
    :func:`check_layer` gives it the softmax rule of :mod:`.attention`).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    for key in ctx.step.out_keys:
        ctx.logits[key] = (args[0], "softmax")
    return call_layer(layer, args, {})


def lambda_linear(ctx: Context, layer, args, kwargs):
    """A ``Lambda`` layer traced as linear: called as it is (its gradient is exact).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return call_layer(layer, args, kwargs)


def lambda_max(ctx: Context, layer, args, kwargs):
    """A ``Lambda`` layer traced as one max: the max rule (:func:`.maxima.max_op`).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return maxima.max_op(ctx, lambda t: layer(t), args[0])


def lambda_min(ctx: Context, layer, args, kwargs):
    """A ``Lambda`` layer traced as one min: the min rule (:func:`.maxima.min_op`).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return maxima.min_op(ctx, lambda t: layer(t), args[0])


def softmax_weighted_sum(ctx: Context, layer, args, kwargs):
    """BPNet's profile objective with the weights held constant: in a DeepLIFT pass every
    reference is weighted by the softmax of its input sequence, so the objective is linear in
    the logits and summation-to-delta holds.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    import tensorflow as tf

    z = args[0]
    w = tf.nn.softmax(z[: ctx.n] if ctx.mode == "deeplift" else z, axis=1)
    if ctx.mode == "deeplift":
        w = tf.concat([w, tf.repeat(w, ctx.k, axis=0)], 0)
    return tf.reduce_sum(tf.stop_gradient(w) * z, axis=[1, 2])[:, None]


def multiply_layer(ctx: Context, layer, args, kwargs):
    """``Multiply()([a, b, ...])`` (ranks broadcast as Keras does, e.g. a squeeze-and-excite
    gate (N, C) on a signal (N, L, C)): the two-factor rule, one factor at a time. Inputs of
    lower rank get axes inserted after the batch axis, as Keras's merge layers do.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    factors = list(args[0])
    rank = max(f.shape.rank for f in factors)
    for j, f in enumerate(factors):
        for _ in range(rank - f.shape.rank):
            f = tf.expand_dims(f, 1)
        factors[j] = f
    return product_of_many(ctx, factors)


def dot_layer(ctx: Context, layer, args, kwargs):
    """``Dot(axes)([a, b])`` (without normalisation): the two-factor rule.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return bilinear(ctx, lambda a, b: call_layer(layer, ([a, b],), {}), *args[0])


def _fold_time(ctx: Context, z):
    """(rows, T, ...) -> (rows*T, ...) with the row layout kept: the N*T input rows first,
    then each one's K references next to one another."""
    n = ctx.n
    t = tf.shape(z)[1]
    inner = tf.shape(z)[2:]
    k = (tf.shape(z)[0] - n) // n
    x = tf.reshape(z[:n], tf.concat([[-1], inner], 0))
    r = tf.reshape(z[n:], tf.concat([[n, k, t], inner], 0))
    r = tf.transpose(r, tf.concat([[0, 2, 1], tf.range(3, tf.rank(r))], 0))
    return tf.concat([x, tf.reshape(r, tf.concat([[-1], inner], 0))], 0), (n, k, t)


def _unfold_time(y, sizes):
    """The inverse of :func:`_fold_time` for an output (rows*T, ...)."""
    n, k, t = sizes
    inner = tf.shape(y)[1:]
    x = tf.reshape(y[: n * t], tf.concat([[n, t], inner], 0))
    r = tf.reshape(y[n * t:], tf.concat([[n, t, k], inner], 0))
    r = tf.transpose(r, tf.concat([[0, 2, 1], tf.range(3, tf.rank(r))], 0))
    return tf.concat([x, tf.reshape(r, tf.concat([[n * k, t], inner], 0))], 0)


def time_distributed(ctx: Context, layer, args, kwargs, inner_rule=None):
    """``TimeDistributed(inner)``: the inner layer's rule, applied with the time axis folded
    into the rows (each time step of a sequence then pairs with the same time step of its
    references). ``inner_rule``: the inner layer's :class:`.rules.LayerRule` (bound by the
    rules table).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    z = args[0]
    before = dict(ctx.logits)
    if ctx.mode != "deeplift":
        shape = tf.shape(z)

        def unfold(y):
            return tf.reshape(y, tf.concat([shape[:2], tf.shape(y)[1:]], 0))

        y = unfold(inner_rule.fn(ctx, layer.layer,
                                 (tf.reshape(z, tf.concat([[-1], shape[2:]], 0)),), {}))
    else:
        folded, sizes = _fold_time(ctx, z)
        with ctx.rows(sizes[0] * sizes[2]):
            y = _unfold_time(inner_rule.fn(ctx, layer.layer, (folded,), {}), sizes)

        def unfold(t):
            return _unfold_time(t, sizes)
    # A final sigmoid/softmax inside records its logits folded: in the model's rows again.
    for key, (logit, act) in ctx.logits.items():
        if before.get(key, (None,))[0] is not logit:
            ctx.logits[key] = (unfold(logit), act)
    return y
