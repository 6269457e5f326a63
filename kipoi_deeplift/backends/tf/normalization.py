"""Normalisation by the sample's own statistics: LayerNormalization, RMSNormalization,
UnitNormalization.

Such a layer divides its input by a statistic of that same input, so it is not linear, and no
rule that holds the statistic fixed keeps summation-to-delta (the statistic differs between the
input and its reference). Written as the chain of steps it is made of, each step has an exact
rule::

    c = x - mean(x)              linear
    v = mean(c * c) + eps        product rule (c² - c_r² = (c + c_r)·Δc), then linear
    s = rsqrt(v)                 one scalar per sample: the active nonlinearity rule (Rescale)
    y = gamma * (c * s) + beta   product rule, then per-channel affine

so the contributions add up to the output's difference exactly, and the change of the scale
s is credited to the inputs through c̄ = ½(c_x + c_r): an input that moves the variance gets
credit for it. (LRP for transformers, Ali et al. 2022, holds s fixed instead, which conserves
relevance with a zero reference only.)
"""
from __future__ import annotations

import tensorflow as tf

from .context import Context, axes_of as _axes
from .products import product


def _epsilon(layer) -> float:
    """The layer's epsilon (Keras's default where the layer leaves it to the backend)."""
    eps = getattr(layer, "epsilon", None)
    if eps is None:
        import keras

        eps = keras.config.epsilon()
    return float(eps)


def _per_axes(v, axes: list[int], x):
    """A weight over ``axes`` shaped to broadcast against ``x``."""
    v = tf.cast(tf.convert_to_tensor(v), x.dtype)
    if axes == [x.shape.rank - 1]:
        return v
    shape = [1] * x.shape.rank
    for a in axes:
        shape[a] = x.shape[a] if x.shape[a] is not None else -1
    return tf.reshape(v, shape)


def scaled_by_own_statistic(ctx: Context, x, c, axes: list[int], scale_fn, name: str,
                            reduce=tf.reduce_mean):
    """``x * scale_fn(reduce(c * c) over axes)`` with exact rules (see the module).

    Parameters
    ----------
    ctx : Context
    x, c : tf.Tensor
        The tensor scaled and the (centred) tensor whose statistic scales it, (rows, ...).
    axes : list of int
        The axes the statistic reduces.
    scale_fn : callable
        Elementwise, e.g. rsqrt(v + eps); it gets the nonlinearity rule.
    name : str
        ``scale_fn``'s name for that rule.
    reduce : callable
        The reduction (default ``tf.reduce_mean``).

    Returns
    -------
    tf.Tensor
        Shaped as ``x``.
    """
    v = reduce(product(ctx, c, c), axis=axes, keepdims=True)
    return product(ctx, x, ctx.nonlinear(scale_fn, v, name))


def layer_normalization(ctx: Context, layer, args, kwargs):
    """``LayerNormalization`` (also with ``rms_scaling``, which Keras computes as
    x * rsqrt(var(x) + eps) * gamma).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    x = args[0]
    axes = _axes(layer.axis, x.shape.rank)
    eps = _epsilon(layer)
    c = x - tf.reduce_mean(x, axis=axes, keepdims=True)
    rms = bool(getattr(layer, "rms_scaling", False))

    def inv_std(v):
        return tf.math.rsqrt(v + tf.cast(eps, v.dtype))

    y = scaled_by_own_statistic(ctx, x if rms else c, c, axes, inv_std, "rsqrt")
    if getattr(layer, "scale", True) and getattr(layer, "gamma", None) is not None:
        y = y * _per_axes(layer.gamma, axes, x)
    if not rms and getattr(layer, "center", True) and getattr(layer, "beta", None) is not None:
        y = y + _per_axes(layer.beta, axes, x)
    return y


def rms_normalization(ctx: Context, layer, args, kwargs):
    """``RMSNormalization``: x * rsqrt(mean(x²) + eps) * scale.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    x = args[0]
    axes = _axes(layer.axis, x.shape.rank)
    eps = _epsilon(layer)
    y = scaled_by_own_statistic(ctx, x, x, axes,
                                lambda v: tf.math.rsqrt(v + tf.cast(eps, v.dtype)), "rsqrt")
    return y * _per_axes(layer.scale, axes, x) if getattr(layer, "scale", None) is not None \
        else y


def unit_normalization(ctx: Context, layer, args, kwargs):
    """``UnitNormalization``: x / max(||x||₂, 1e-12) over its axes.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    x = args[0]
    axes = _axes(layer.axis, x.shape.rank)
    return scaled_by_own_statistic(
        ctx, x, x, axes, lambda v: 1.0 / tf.maximum(tf.sqrt(v), tf.cast(1e-12, v.dtype)),
        "inverse_norm", reduce=tf.reduce_sum)
