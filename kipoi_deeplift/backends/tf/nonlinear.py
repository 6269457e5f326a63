"""How multipliers pass an elementwise nonlinearity: Rescale, RevealCancel, or the plain gradient.

Each rule is ``fn(ctx, f, z, name, source) -> f(z)`` with a backward pass that carries
multipliers; ``source`` is ``(Dense/Conv layer, its input, per-channel scale)`` when ``z`` comes
from such a layer (only RevealCancel reads it). ``NONLINEAR_RULES`` maps the nonlinearity rule
names that a step's resolved spec names to these functions.
"""
from __future__ import annotations

import weakref
from typing import Callable

import tensorflow as tf

from .context import (Context, fused, input_rows_like_refs, kernel_layer, split_rows, vjp,
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


#: One XLA-compiled float64 secant per activation function, for as long as that function
#: lives. Weak keys: a layer's activation is often a closure made for one trace (``lambda z:
#: layer(z)``); a strong key would keep it, its layer and, through the layer's graph, the
#: whole model and its weights alive for the rest of the process.
_FUSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: The same for functions that cannot be weakly referenced (builtins, ufuncs): module-level
#: objects that live for the whole process anyway.
_FUSED_STRONG: dict = {}


def _fused_f64(f: Callable):
    """One XLA-compiled float64 secant per activation function (an unrolled LSTM applies the
    same one hundreds of times; each new function would compile again)."""
    try:
        ref = weakref.ref(f)
    except TypeError:
        if f not in _FUSED_STRONG:
            _FUSED_STRONG[f] = tf.function(lambda *a: _rescale_f64(f, *a), jit_compile=True,
                                           autograph=False)
        return _FUSED_STRONG[f]
    if f not in _FUSED:
        # The compiled function reaches ``f`` through the weak reference only (a strong one
        # from the value would keep its own key alive). It is traced while its caller holds
        # ``f``, and only a caller that holds ``f`` can look it up again.
        _FUSED[f] = tf.function(lambda *a: _rescale_f64(ref(), *a), jit_compile=True,
                                autograph=False)
    return _FUSED[f]


def rescale(ctx: Context, f: Callable, z, name: str | None = None, source=None):
    """Rescale: multiplier (f(x) - f(r)) / (x - r), or f'(x) where |x - r| < eps.

    For smooth activations the secant is taken in float64: in float32, f(x) - f(r) loses its
    digits when x and r are close, and a wrong multiplier at one neuron spreads to every input
    behind it. Piecewise-linear ones (ReLU) are exact in float32 from the forward values.

    Parameters
    ----------
    ctx : Context
    f : callable
        The elementwise nonlinearity.
    z : tf.Tensor
        Its input, every row (N + N*K, ...).
    name : str, optional
        The activation's name.
    source : tuple, optional
        ``(Dense/Conv layer, its input, per-channel scale)`` (see
        :meth:`.context.Context.nonlinear`).

    Returns
    -------
    tf.Tensor
        ``f(z)``.
    """
    n, fuse, eps = ctx.n, ctx.fuse, ctx.eps   # not ctx in the closure: it holds the layers

    def multipliers(z, y):
        # In the forward pass: the same for every task, so computed once per batch.
        slope = _slope(f, z[:n])
        if name in PIECEWISE_LINEAR:
            return fused(_rescale_f32, fuse)(z, y, slope, eps)
        return fused(_fused_f64(f), fuse)(z, slope, eps)

    return ctx.paired_op(f, lambda z, y, up, m: up * m, z, prepare=multipliers)


# -- RevealCancel ---------------------------------------------------------------------------
def kernel_linear(layer) -> Callable | None:
    """``lin(z, kernel)``: the layer's linear map without bias, for any kernel of its shape.

    Parameters
    ----------
    layer : keras.layers.Layer

    Returns
    -------
    callable or None
        For Dense and channels-last Conv1D/2D/3D (no groups); ``None`` for other layers, which
        then get Rescale.
    """
    layer = kernel_layer(layer)
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


def kernel_transpose(layer) -> Callable | None:
    """``lin_t(u, kernel)`` = Wᵀu, the transpose of :func:`kernel_linear`'s map, where it is one
    matrix product (Dense): the very product TensorFlow's gradient of that map takes, without a
    tape and the forward product it records.

    Parameters
    ----------
    layer : keras.layers.Layer

    Returns
    -------
    callable or None
        ``None`` for convolutions, whose transpose RevealCancel takes by autodiff.
    """
    if type(kernel_layer(layer)).__name__ != "Dense":
        return None

    def lin_t(u, w):
        flat = tf.matmul(tf.reshape(u, [-1, tf.shape(u)[-1]]), w, transpose_b=True)
        return tf.reshape(flat, tf.concat([tf.shape(u)[:-1], tf.shape(w)[:1]], 0))

    return lin_t


def _reveal_cancel_multipliers(f, x0, xx, dxp, dxn, eps):
    """The paper's m+ and m- (float64), given the reference pre-activation x0, the input's xx
    and the positive and negative parts of their difference.

    Where a part is ~0 its multiplier is 0, as in the original DeepLIFT code (which divides by
    Δx± plus a pseudocount). It matters: a later layer's inputs with Δz = 0 pass (m+ + m-)/2.
    """
    x0, xx, dxp, dxn = (tf.cast(t, F64) for t in (x0, xx, dxp, dxn))
    # One call on the four points stacked along the rows (not a new axis: a layer may check
    # its input's rank).
    f0, fpos, fneg, fx = (tf.cast(v, F64) for v in
                          tf.split(f(tf.concat([x0, x0 + dxp, x0 + dxn, xx], 0)), 4))
    dyp = 0.5 * (fpos - f0) + 0.5 * (fx - fneg)
    dyn = 0.5 * (fneg - f0) + 0.5 * (fx - fpos)
    mp = tf.where(dxp > eps, dyp / tf.where(dxp > eps, dxp, 1.0), 0.0)
    mn = tf.where(dxn < -eps, dyn / tf.where(dxn < -eps, dxn, 1.0), 0.0)
    return mp, mn


#: RevealCancel takes a kernel larger than this in blocks of input channels (rows of a Dense
#: kernel), with (W+, W-) of one block at a time, made again for each task; a smaller kernel
#: has its (W+, W-) made once for the pass. Whole, they would be two more copies of the kernel
#: for the whole pass (1 GB beside Beluga's first Dense layer, whose kernel is 543 MB); in
#: blocks they cost that layer's backward pass two elementwise passes over the kernel a task.
RC_BLOCK_BYTES = 32 << 20


def _input_blocks(kernel) -> list[tuple[int, int]]:
    """Input-channel ranges ``(first, end)`` of ``kernel`` (its axis -2: a Dense kernel's rows,
    a convolution's input channels) of at most ``RC_BLOCK_BYTES`` each; one range, the whole
    kernel, when it is no larger."""
    size, channels = kernel.shape.num_elements(), kernel.shape[-2]
    if size is None or channels is None or size * kernel.dtype.size <= RC_BLOCK_BYTES:
        return [(0, channels)]
    step = max(1, RC_BLOCK_BYTES // (size // channels * kernel.dtype.size))
    return [(c, min(channels, c + step)) for c in range(0, channels, step)]


def _signed_parts(w, scale) -> tuple:
    """(W+, W-) of ``w * scale``.

    Per-channel affine layers between the kernel and the nonlinearity (BatchNormalization at
    inference) scale each output channel: Δpre = a * (W Δz), so W's columns are scaled by a
    (a negative a swaps which terms are positive); a scale of exactly 1.0 (no such layer, or
    only identities) is no product at all.
    """
    if not (isinstance(scale, (int, float)) and scale == 1.0):
        w = w * tf.cast(scale, w.dtype)
    # min(w, 0) equals w - relu(w) exactly, without a third tensor beside both.
    return tf.nn.relu(w), tf.minimum(w, tf.zeros([], w.dtype))


def reveal_cancel(ctx: Context, f: Callable, pre, name: str | None = None, source=None):
    """RevealCancel (section 3.5.3 of the paper) at a nonlinearity after a Dense or Conv layer
    (directly, or through BatchNormalization / Dropout / linear Activation layers).

    The difference of the pre-activation is split into Δx+ (sum of the positive terms w·Δz)
    and Δx- (the negative ones); Δy+ = ½[f(x0+Δx+) - f(x0)] + ½[f(x0+Δx-+Δx+) - f(x0+Δx-)],
    Δy- likewise, m± = Δy±/Δx±. Each input of the linear layer inherits m+ through the terms
    where sign(w)·sign(Δz) is positive and m- where it is negative (the mean where Δz = 0), so
    the contributions still add up to Δy exactly. Without a linear layer before it, Rescale.

    Δx± and m± are the same for every task: they are taken in the forward pass, once per
    batch. Memory: the products are taken with W+ and W- apart (not with [W+|W-] and
    [W-|W+], four more kernel-sized tensors), and for a kernel over ``RC_BLOCK_BYTES`` one
    block of input channels at a time (Δx± sums the blocks' terms; each block's inputs get
    their multipliers from that block alone).

    Parameters
    ----------
    ctx : Context
    f : callable
        The elementwise nonlinearity.
    pre : tf.Tensor
        Its input, every row (N + N*K, ...).
    name : str, optional
        The activation's name.
    source : tuple, optional
        ``(Dense/Conv layer, its input, per-channel scale)`` (see
        :meth:`.context.Context.nonlinear`).

    Returns
    -------
    tf.Tensor
        ``f(pre)``.
    """
    lin = kernel_linear(source[0]) if source else None
    if lin is None or ctx.mode == "gradient":
        return rescale(ctx, f, pre, name)
    layer, z_in, scale = source
    layer = kernel_layer(layer)
    lin_t = kernel_transpose(layer)
    kernel = tf.convert_to_tensor(layer.kernel)       # the variable's buffer, not a copy
    blocks = _input_blocks(kernel)
    whole = len(blocks) == 1
    # A kernel taken whole has its (W+, W-) made once, here, for every task.
    signed = _signed_parts(kernel, scale) if whole else None
    n, eps = ctx.n, ctx.eps           # not ctx in the closures: it holds the model's layers

    def block_parts(dz, first, end, after):
        """Δz, W+ and W- of input channels [first, end); a block's (W+, W-) is made once the
        tensors ``after`` (the previous block's results) are, so that the blocks run one
        after another and each is freed before the next is made (without the dependency
        TensorFlow may make them all at once)."""
        if whole:
            return (dz,) + signed
        with tf.control_dependencies(after):
            w_pos, w_neg = _signed_parts(kernel[..., first:end, :], scale)
        return dz[..., first:end], w_pos, w_neg

    def multipliers(z, pre, y):
        """Δz of the reference rows and m± (float64)."""
        dz = tf.cast(input_rows_like_refs(z, n) - z[n:], kernel.dtype)
        dxp = dxn = None
        after = [dz]
        for first, end in blocks:
            d, w_pos, w_neg = block_parts(dz, first, end, after)
            d_pos = tf.nn.relu(d)
            d_neg = d - d_pos
            p = lin(d_pos, w_pos) + lin(d_neg, w_neg)      # W+Δz+ + W-Δz-
            q = lin(d_pos, w_neg) + lin(d_neg, w_pos)      # W-Δz+ + W+Δz-
            dxp = p if dxp is None else dxp + p
            dxn = q if dxn is None else dxn + q
            after = [dxp, dxn]
        mp, mn = _reveal_cancel_multipliers(f, pre[n:], input_rows_like_refs(pre, n), dxp, dxn,
                                            eps)
        return dz, mp, mn

    def multipliers_back(dz, u_p, u_n):
        """The inputs' multipliers from the output's m+ and m- (times the upstream ones)."""
        ms = []
        after = [u_p, u_n]
        for first, end in blocks:
            d, w_pos, w_neg = block_parts(dz, first, end, after)

            def back(w, u, d=d):     # Wᵀu
                return lin_t(u, w) if lin_t else vjp(lambda x: lin(x, w), d, u)

            when_pos = back(w_pos, u_p) + back(w_neg, u_n)   # W+ m+ + W- m-: where Δz > 0
            when_neg = back(w_neg, u_p) + back(w_pos, u_n)   # W- m+ + W+ m-: where Δz < 0
            ms.append(tf.where(d > 0, when_pos,
                               tf.where(d < 0, when_neg, 0.5 * (when_pos + when_neg))))
            after = [ms[-1]]
        return ms[0] if whole else tf.concat(ms, -1)

    # Blockwise, that is a few dozen operations per block, and every task's backward pass
    # runs it: one traced function, called by each task, keeps the graph (and its tracing
    # time) from growing by them task after task.
    back_fn = multipliers_back if whole else tf.function(multipliers_back, autograph=False)

    def grad(z, pre, y, up, state):
        dz, mp, mn = state
        up_r = tf.cast(up[n:], F64)
        u_p, u_n = (tf.cast(up_r * m, dz.dtype) for m in (mp, mn))
        # The pre-activation gets no gradient: every path to the target runs through z_in here.
        return with_zero_input_rows(z, back_fn(dz, u_p, u_n)), None

    return ctx.paired_op(lambda z, pre: f(pre), grad, z_in, pre, prepare=multipliers)


def _plain(ctx: Context, f: Callable, z, name=None, source=None):
    return f(z)


#: Rule name -> how an elementwise nonlinearity passes multipliers.
NONLINEAR_RULES: dict[str, Callable] = {
    "rescale": rescale,
    "reveal-cancel": reveal_cancel,
    "gradient": _plain,
}
