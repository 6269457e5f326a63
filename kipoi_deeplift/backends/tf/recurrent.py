"""Recurrent layers: LSTM, and Bidirectional around an LSTM (FactorNet, DeepMEL).

The recurrence is unrolled inside the DeepLIFT pass with the layer's own weights. The gates'
and cell's nonlinearities take the active nonlinearity rule (Rescale, ...); each product of a gate
and a signal (f * c, i * g, o * tanh(c)) takes the two-factor product rule: with Δ(ab) =
½(b_x + b_r)·Δa + ½(a_x + a_r)·Δb, each factor's multiplier is the mean of the other factor at
the input and at the reference, which is exact (the Shapley split of a product of two terms).
Summation-to-delta therefore holds through the whole recurrence.
"""
from __future__ import annotations

import tensorflow as tf

from .context import Context
from .products import product


def _unrolled(ctx: Context, cell_owner, z, reverse: bool):
    """Run one LSTM over z (batch, time, features): all steps' outputs (batch, time, units)."""
    cell = getattr(cell_owner, "cell", cell_owner)
    kernel = tf.convert_to_tensor(cell.kernel)
    recurrent = tf.convert_to_tensor(cell.recurrent_kernel)
    bias = tf.convert_to_tensor(cell.bias) if getattr(cell, "use_bias", True) else 0.0
    units = int(recurrent.shape[0])
    act, rec_act = cell.activation, cell.recurrent_activation
    # The gates are given no Dense/Conv source: RevealCancel falls back to Rescale there.
    xs = tf.tensordot(z, kernel, [[2], [0]]) + bias
    xs = tf.transpose(xs, [1, 0, 2])                   # (time, batch, 4 units)
    if reverse:
        xs = xs[::-1]

    def step(carry, x_t):
        h, c = carry
        pre = x_t + tf.matmul(h, recurrent)
        i = ctx.nonlinear(rec_act, pre[:, :units])
        f = ctx.nonlinear(rec_act, pre[:, units:2 * units])
        g = ctx.nonlinear(act, pre[:, 2 * units:3 * units])
        o = ctx.nonlinear(rec_act, pre[:, 3 * units:])
        c = product(ctx, f, c) + product(ctx, i, g)
        return product(ctx, o, ctx.nonlinear(act, c)), c

    # A graph loop rather than unrolling in Python: tracing does not grow with the length.
    h0 = tf.zeros_like(xs[0, :, :units])
    hs, _ = tf.scan(step, xs, initializer=(h0, tf.zeros_like(h0)))
    if reverse:
        hs = hs[::-1]
    return tf.transpose(hs, [1, 0, 2])


def _check(layer) -> None:
    cell = getattr(layer, "cell", layer)
    for attr in ("stateful", "return_state"):
        if getattr(layer, attr, False):
            raise ValueError(f"layer {layer.name!r} (LSTM) with {attr}=True has no DeepLIFT rule")
    if type(cell).__name__ != "LSTMCell":
        raise ValueError(f"layer {layer.name!r}: only LSTM recurrences have a rule")


def lstm(ctx: Context, layer, args, kwargs):
    """``LSTM`` (no masking, no state in or out): unrolled with the product rule.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    seq = _unrolled(ctx, layer, args[0], reverse=bool(getattr(layer, "go_backwards", False)))
    if getattr(layer, "return_sequences", False):
        # Keras returns a backwards LSTM's sequence in the order it was read.
        return seq[:, ::-1] if getattr(layer, "go_backwards", False) else seq
    return seq[:, 0] if getattr(layer, "go_backwards", False) else seq[:, -1]


def bidirectional(ctx: Context, layer, args, kwargs):
    """``Bidirectional(LSTM(...))`` with merge_mode concat, sum, ave or mul.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    fwd = lstm(ctx, layer.forward_layer, args, kwargs)
    bwd = lstm(ctx, layer.backward_layer, args, kwargs)
    if getattr(layer, "return_sequences", False) and \
            getattr(layer.backward_layer, "go_backwards", False):
        bwd = bwd[:, ::-1]     # back into the input's order, as Keras does
    mode = layer.merge_mode
    if mode == "concat":
        return tf.concat([fwd, bwd], axis=-1)
    if mode == "sum":
        return fwd + bwd
    if mode == "ave":
        return 0.5 * (fwd + bwd)
    if mode == "mul":
        return product(ctx, fwd, bwd)
    raise ValueError(f"layer {layer.name!r}: Bidirectional merge_mode {mode!r} has no rule")


def check_bidirectional(layer) -> None:
    """Refuse (by name) what the bidirectional rule cannot do.

    Parameters
    ----------
    layer : keras.layers.Bidirectional
    """
    for part in (layer.forward_layer, layer.backward_layer):
        if type(part).__name__ != "LSTM":
            raise ValueError(f"layer {layer.name!r} (Bidirectional {type(part).__name__}) has "
                             "no DeepLIFT rule: only LSTM recurrences are supported")
        _check(part)
