"""Softmax inside a model, and softmax attention (``MultiHeadAttention``, attention pooling).

Softmax is written as the steps it is made of, each with an exact rule::

    e = exp(s - c)        elementwise: the active nonlinearity rule (Rescale's secant)
    t = sum(e)            linear
    w = e * (1 / t)       1/t elementwise (secant), then the two-factor product rule

The shift c (the largest score, against overflow) is shared by a sequence and all its
references, so Δc = 0 and it takes no credit; softmax does not depend on it, and neither do
these multipliers (a common factor exp(-c) cancels in every product). Masked positions get
e = 0 (a constant mask), as Keras's large negative score gives in float32.

Attention is then linear projections, the bilinear score Q·Kᵀ (two-factor rule, both factors
depend on the input), the softmax above and the bilinear product weights·V (two-factor rule):
every step exact, so summation-to-delta holds through attention. Terms that do not depend on
the input (relative-position embeddings, biases) are constants: products with them are linear.
"""
from __future__ import annotations

import inspect
import math

import tensorflow as tf

from .context import Context, axes_of as _axes, call_layer, split_rows
from .products import bilinear, product


def _shared_shift(ctx: Context, s, axes: list[int], mask=None):
    """The largest (unmasked) score over ``axes``, taken over a sequence and all its
    references together (one shift per sequence, the same for its references), without
    gradient."""
    if mask is not None:
        s = tf.where(tf.cast(mask, tf.bool), s, tf.fill(tf.shape(s), s.dtype.min))
    m = tf.reduce_max(s, axis=axes, keepdims=True)
    if ctx.mode != "deeplift":
        return tf.stop_gradient(m)
    n = ctx.n
    mx, mr = split_rows(m, n)                              # (N, 1, ...), (N, K, ...)
    top = tf.maximum(mx[:, 0], tf.reduce_max(mr, axis=1))  # (N, ...)
    k = tf.shape(mr)[1]
    return tf.stop_gradient(tf.concat([top, tf.repeat(top, k, axis=0)], 0))


def softmax(ctx: Context, s, axis=-1, mask=None):
    """softmax(``s``) over ``axis`` with exact rules.

    Parameters
    ----------
    ctx : Context
    s : tf.Tensor
        Scores, every row of the batch (rows, ...).
    axis : int or sequence of int
        The axis or axes the softmax normalises over.
    mask : tf.Tensor, optional
        Boolean, broadcastable to ``s``, constant: positions where it is False get weight 0.

    Returns
    -------
    tf.Tensor
        The weights, shaped as ``s``.
    """
    axes = _axes(axis, s.shape.rank)
    z = s - _shared_shift(ctx, s, axes, mask)
    e = ctx.nonlinear(tf.exp, z, "exponential")
    if mask is not None:
        e = e * tf.cast(mask, e.dtype)
    total = tf.reduce_sum(e, axis=axes, keepdims=True)
    return product(ctx, e, ctx.nonlinear(tf.math.reciprocal, total, "reciprocal"))


def softmax_layer(ctx: Context, layer, args, kwargs):
    """A ``Softmax`` layer inside the model (with its ``axis`` and an optional mask).

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return softmax(ctx, args[0], getattr(layer, "axis", -1), kwargs.get("mask"))


def multi_head_attention(ctx: Context, layer, args, kwargs):
    """Keras ``MultiHeadAttention`` at inference (dropout off), as Keras computes it without
    flash attention: projections, scaled dot-product scores, masked softmax, the weighted sum
    of values, the optional gate and the output projection.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    names = ("query", "value", "key")
    given = dict(zip(names, args))
    given.update({k: v for k, v in kwargs.items() if k in names})
    query, value = given["query"], given["value"]
    key = given.get("key")
    key = value if key is None else key
    accepted = inspect.signature(layer._compute_attention_mask).parameters
    masks = {k: kwargs[k] for k in ("query_mask", "value_mask", "key_mask")
             if kwargs.get(k) is not None}
    if any(k not in accepted for k in masks):
        raise ValueError(f"layer {layer.name!r} (MultiHeadAttention): {', '.join(masks)} "
                         "given in the call are not supported by this Keras's mask helper")
    mask = layer._compute_attention_mask(
        query, value, attention_mask=kwargs.get("attention_mask"),
        use_causal_mask=bool(kwargs.get("use_causal_mask", False)), **masks)
    gate = call_layer(layer._gate_dense, (query,), {}) if getattr(layer, "_use_gate", False) \
        else None
    q = call_layer(layer._query_dense, (query,), {})
    k = call_layer(layer._key_dense, (key,), {})
    v = call_layer(layer._value_dense, (value,), {})
    # Keras 3 keeps the factor; tf_keras computes it from the key size.
    factor = getattr(layer, "_inverse_sqrt_key_dim", None) or 1.0 / math.sqrt(layer._key_dim)
    q = q * tf.cast(factor, q.dtype)
    scores = bilinear(ctx, lambda a, b: tf.einsum(layer._dot_product_equation, a, b), k, q)
    rank = scores.shape.rank
    n_axes = len(layer._attention_axes)
    if mask is not None:
        for _ in range(rank - mask.shape.rank):
            mask = tf.expand_dims(mask, axis=-n_axes * 2 - 1)
    weights = softmax(ctx, scores, list(range(rank - n_axes, rank)), mask)
    out = bilinear(ctx, lambda a, b: tf.einsum(layer._combine_equation, a, b), weights, v)
    if gate is not None:
        out = product(ctx, out, gate)
    out = call_layer(layer._output_dense, (out,), {})
    return (out, weights) if kwargs.get("return_attention_scores") else out


def check_attention(layer, name: str) -> None:
    """Refuse, by name, what :func:`multi_head_attention` does not compute as Keras does.

    Parameters
    ----------
    layer : keras.layers.MultiHeadAttention
    name : str
        The layer's name (for the message).
    """
    if getattr(layer, "_flash_attention", None):
        raise ValueError(f"layer {name!r} (MultiHeadAttention) uses flash attention: rebuild it "
                         "with flash_attention=False (same weights) to explain it")
