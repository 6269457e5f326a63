"""How multipliers pass an elementwise nonlinearity: Rescale, RevealCancel, or the plain gradient.

Each rule is ``fn(ctx, f, z, name, source) -> f(z)`` with a backward pass that carries
multipliers; ``source`` is ``(Dense/Conv layer, its input, per-channel scale)`` when ``z`` comes
from such a layer (only RevealCancel reads it). ``NONLINEAR_RULES`` maps the nonlinearity rule
names that a step's resolved spec names to these functions.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from .context import (Context, fused, input_rows_like_refs, split_rows, vjp,
                      with_zero_input_rows)

F64 = tf.float64

#: Piecewise-linear activations: their secant is exact in float32, straight from the forward
#: values (y_x - y_r and z_x - z_r carry the same rounding on a linear piece).
PIECEWISE_LINEAR = frozenset({"relu", "relu6", "leaky_relu", "prelu", "thresholded_relu"})


def _flat(m, z, n):
    """(N, K, ...) multipliers of the reference rows -> (N + N*K, ...) in ``z``'s dtype, zeros
    on the input rows: each task's backward pass is then one multiplication."""
    return with_zero_input_rows(z, tf.reshape(m, tf.shape(z[n:])))


def _secant(dz, dy, slope, eps):
    small = tf.abs(dz) < eps
    return tf.where(small, slope, dy / tf.where(small, tf.ones_like(dz), dz))


def _slope(f, z):
    """f'(z) elementwise."""
    with tf.GradientTape() as tape:
        tape.watch(z)
        fz = f(z)
    return tape.gradient(fz, z)


# XLA fuses the slicing and the few elementwise ops of each secant into one pass over memory;
# unfused they cost more than the layer's own backward pass. (Inlined, they also make the
# graph larger, which an unrolled LSTM pays for in start-up time.)
@tf.function(jit_compile=True, autograph=False)
def _rescale_f32(z, y, slope, eps):
    n = tf.shape(slope)[0]
    zx, zr = split_rows(z, n)
    yx, yr = split_rows(y, n)
    return _flat(_secant(zx - zr, yx - yr, slope[:, None], eps), z, n)


def _rescale_f64(f, z, slope, eps):
    n = tf.shape(slope)[0]
    zx, zr = split_rows(tf.cast(z, F64), n)
    dy = tf.cast(f(zx), F64) - tf.cast(f(zr), F64)
    return _flat(_secant(zx - zr, dy, tf.cast(slope[:, None], F64), eps), z, n)


_FUSED: dict = {}


def _fused_f64(f: Callable):
    """One XLA-compiled float64 secant per activation function (an unrolled LSTM applies the
    same one hundreds of times; each new function would compile again)."""
    if f not in _FUSED:
        _FUSED[f] = tf.function(lambda *a: _rescale_f64(f, *a), jit_compile=True,
                                autograph=False)
    return _FUSED[f]


def rescale(ctx: Context, f: Callable, z, name: str | None = None, source=None):
    """Rescale: multiplier (f(x) - f(r)) / (x - r), or f'(x) where |x - r| < eps.

    For smooth activations the secant is taken in float64: in float32, f(x) - f(r) loses its
    digits when x and r are close, and a wrong multiplier at one neuron spreads to every input
    behind it. Piecewise-linear ones (ReLU) are exact in float32 from the forward values.
    """
    def multipliers(z, y):
        # In the forward pass: the same for every task, so computed once per batch.
        slope = _slope(f, z[: ctx.n])
        if name in PIECEWISE_LINEAR:
            return fused(_rescale_f32, ctx.fuse)(z, y, slope, ctx.eps)
        return fused(_fused_f64(f), ctx.fuse)(z, slope, ctx.eps)

    return ctx.paired_op(f, lambda z, y, up, m: up * m, z, prepare=multipliers)


# -- RevealCancel ---------------------------------------------------------------------------
def kernel_linear(layer) -> Callable | None:
    """``lin(z, kernel)``: the layer's linear map without bias, for any kernel of its shape.

    Dense and channels-last Conv1D/2D/3D (no groups); ``None`` for other layers, which then
    get Rescale.
    """
    kind = type(layer).__name__
    if kind == "Dense":
        return lambda z, w: tf.tensordot(z, w, [[z.shape.rank - 1], [0]])
    if kind not in ("Conv1D", "Conv2D", "Conv3D") or getattr(layer, "groups", 1) != 1:
        return None
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    padding = layer.padding.upper()
    rank = len(layer.kernel_size)

    def lin(z, w):
        pad = "VALID" if padding == "CAUSAL" else padding
        if padding == "CAUSAL":
            left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
            z = tf.pad(z, [[0, 0], [left, 0], [0, 0]])
        return tf.nn.convolution(z, w, strides=list(layer.strides), padding=pad,
                                 dilations=list(layer.dilation_rate)[:rank])

    return lin


def _reveal_cancel_multipliers(f, x0, xx, dxp, dxn, eps):
    """The paper's m+ and m- (float64), given the reference pre-activation x0, the input's xx
    and the positive and negative parts of their difference.

    Where a part is ~0 its multiplier is 0, as in the original DeepLIFT code (which divides by
    Δx± plus a pseudocount). It matters: a later layer's inputs with Δz = 0 pass (m+ + m-)/2.
    """
    x0, xx, dxp, dxn = (tf.cast(t, F64) for t in (x0, xx, dxp, dxn))
    f0, fpos, fneg, fx = (tf.cast(v, F64) for v in
                          tf.unstack(f(tf.stack([x0, x0 + dxp, x0 + dxn, xx]))))
    dyp = 0.5 * (fpos - f0) + 0.5 * (fx - fneg)
    dyn = 0.5 * (fneg - f0) + 0.5 * (fx - fpos)
    mp = tf.where(dxp > eps, dyp / tf.where(dxp > eps, dxp, 1.0), 0.0)
    mn = tf.where(dxn < -eps, dyn / tf.where(dxn < -eps, dxn, 1.0), 0.0)
    return mp, mn


def reveal_cancel(ctx: Context, f: Callable, pre, name: str | None = None, source=None):
    """RevealCancel (section 3.5.3 of the paper) at a nonlinearity after a Dense or Conv layer
    (directly, or through BatchNormalization / Dropout / linear Activation layers).

    The difference of the pre-activation is split into Δx+ (sum of the positive terms w·Δz)
    and Δx- (the negative ones); Δy+ = ½[f(x0+Δx+) - f(x0)] + ½[f(x0+Δx-+Δx+) - f(x0+Δx-)],
    Δy- likewise, m± = Δy±/Δx±. Each input of the linear layer inherits m+ through the terms
    where sign(w)·sign(Δz) is positive and m- where it is negative (the mean where Δz = 0), so
    the contributions still add up to Δy exactly. Without a linear layer before it, Rescale.
    """
    lin = kernel_linear(source[0]) if source else None
    if lin is None or ctx.mode == "gradient":
        return rescale(ctx, f, pre, name)
    layer, z_in, scale = source
    # Per-channel affine layers between the kernel and the nonlinearity (BatchNormalization at
    # inference) scale each output channel: Δpre = a * (W Δz), so W's columns are scaled by a
    # (a negative a swaps which terms are positive).
    w = tf.convert_to_tensor(layer.kernel) * tf.cast(scale, layer.kernel.dtype)
    w_pos = tf.nn.relu(w)
    w_neg = w - w_pos
    pos_first = tf.concat([w_pos, w_neg], -1)   # lin(d, .) = [W+ d | W- d]
    neg_first = tf.concat([w_neg, w_pos], -1)
    n = ctx.n

    def grad(z, pre, y, up):
        dz = tf.cast(input_rows_like_refs(z, n) - z[n:], w.dtype)
        dz_pos = tf.nn.relu(dz)
        a_pos, a_neg = tf.split(lin(dz_pos, pos_first), 2, axis=-1)       # W+Δz+, W-Δz+
        b_pos, b_neg = tf.split(lin(dz - dz_pos, neg_first), 2, axis=-1)  # W-Δz-, W+Δz-
        dxp, dxn = a_pos + b_pos, a_neg + b_neg
        mp, mn = _reveal_cancel_multipliers(f, pre[n:], input_rows_like_refs(pre, n), dxp, dxn,
                                            ctx.eps)
        up_r = tf.cast(up[n:], F64)
        u = tf.cast(tf.concat([up_r * mp, up_r * mn], -1), w.dtype)
        when_pos = vjp(lambda d: lin(d, pos_first), dz, u)   # W+ m+ + W- m-: where Δz > 0
        when_neg = vjp(lambda d: lin(d, neg_first), dz, u)   # W- m+ + W+ m-: where Δz < 0
        m = tf.where(dz > 0, when_pos, tf.where(dz < 0, when_neg, 0.5 * (when_pos + when_neg)))
        # The pre-activation gets no gradient: every path to the target runs through z_in here.
        return with_zero_input_rows(z, m), None

    return ctx.paired_op(lambda z, pre: f(pre), grad, z_in, pre)


def _plain(ctx: Context, f: Callable, z, name=None, source=None):
    return f(z)


#: Rule name -> how an elementwise nonlinearity passes multipliers.
NONLINEAR_RULES: dict[str, Callable] = {
    "rescale": rescale,
    "reveal-cancel": reveal_cancel,
    "gradient": _plain,
}
