"""An independent float64 DeepLIFT used only by the tests (it imports nothing from the package).

Each test model comes with a forward function written out by hand in float64 TensorFlow ops
from the model's weights, calling ``hooks.nl(name, z)`` at each elementwise nonlinearity and
``hooks.pool(kind, z, ...)`` at each max pooling. DeepLIFT multipliers are then the gradient of
the *linearised* network, in which every nonlinearity is replaced by the straight line through
(z_r, f(z_r)) and (z_x, f(z_x)) for that (input, reference) pair, and every max by the choice the
chosen max-pooling mode makes. This formulation shares no code and no trick with the engine
(no custom gradients, separate passes, float64), which is what makes it a fair judge.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

F64 = tf.float64

ACTIVATIONS = {
    "relu": tf.nn.relu,
    "sigmoid": tf.sigmoid,
    "tanh": tf.tanh,
    "softplus": tf.nn.softplus,
    "elu": tf.nn.elu,
    "gelu": lambda z: tf.nn.gelu(z, approximate=False),
    "swish": lambda z: z * tf.sigmoid(z),
    "exponential": tf.exp,
    "linear": lambda z: z,
}


def terms(z, layer, kind, padding="SAME", stride=1, dilation=1):
    """Every term w * z of a Dense or Conv1D layer, before the sum: (R, ..., inputs, units).

    Written out from the definition (one slice per kernel offset), so that the reference does
    not share the engine's way of splitting weights by sign.
    """
    w, _ = weights(layer)
    if kind == "dense":
        return z[:, :, None] * w[None]
    k, _, _ = w.shape
    length = z.shape[1]
    span = dilation * (k - 1) + 1
    if padding == "SAME":
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
        left = total // 2
    elif padding == "CAUSAL":
        out, total, left = -(-length // stride), span - 1, span - 1
    else:
        out, total, left = -(-(length - span + 1) // stride), 0, 0
    zp = tf.pad(z, [[0, 0], [left, total - left], [0, 0]])
    parts = [zp[:, j * dilation: j * dilation + (out - 1) * stride + 1: stride]
             for j in range(k)]                                   # k x (R, P, C)
    return tf.stack([p[..., None] * w[j][None, None] for j, p in enumerate(parts)], axis=2)


def linear_of_terms(t):
    """Sum of the terms over the inputs: (R, units) for Dense, (R, P, units) for Conv1D."""
    return tf.reduce_sum(t, axis=[1] if t.shape.rank == 3 else [2, 3])


class Plain:
    """Hooks for the ordinary forward pass."""

    def nl(self, name, z):
        """``name``: an activation's name, or the function itself."""
        return _fn(name)(z)

    def lin_nl(self, name, z, layer, kind, **conv):
        """f(layer(z)) for a Dense or Conv1D layer with activation ``name``."""
        _, b = weights(layer)
        return self.nl(name, linear_of_terms(terms(z, layer, kind, **conv)) + b)

    def global_max(self, z):
        return tf.reduce_max(z, axis=1)

    def max_pool1d(self, z, size):
        return tf.nn.max_pool1d(z, size, size, "VALID")

    def maximum(self, zs):
        return tf.reduce_max(tf.stack(zs, axis=1), axis=1)

    def prod(self, a, b):
        return a * b

    def bilinear(self, op, a, b):
        """``op(a, b)`` for an ``op`` linear in each argument (einsum, matmul, a * b)."""
        return op(a, b)


def _fn(name):
    return name if callable(name) else ACTIVATIONS[name]


class Recorder(Plain):
    """Plain forward that keeps every nonlinearity's input and every max pool's input."""

    def __init__(self):
        self.seen = []

    def lin_nl(self, name, z, layer, kind, **conv):
        # The linear layer's input (for RevealCancel), then, through nl, its output.
        self.seen.append(z)
        return super().lin_nl(name, z, layer, kind, **conv)

    def nl(self, name, z):
        self.seen.append(z)
        return super().nl(name, z)

    def global_max(self, z):
        self.seen.append(z)
        return super().global_max(z)

    def max_pool1d(self, z, size):
        self.seen.append(z)
        return super().max_pool1d(z, size)

    def maximum(self, zs):
        self.seen.append(tf.stack(zs, axis=1))
        return super().maximum(zs)

    def prod(self, a, b):
        self.seen.append(tf.stack([a, b]))
        return super().prod(a, b)

    def bilinear(self, op, a, b):
        self.seen.append((a, b))
        return super().bilinear(op, a, b)


class Linearised(Plain):
    """The network with each nonlinearity replaced by its secant through the x and r passes.

    ``rules`` maps the kind of layer before a nonlinearity ('dense', 'conv') to 'rescale' or
    'reveal-cancel'; ``maxpool`` is 'gradient' or 'exact'.
    """

    def __init__(self, at_x, at_r, rules=None, maxpool="gradient"):
        self.at_x, self.at_r, self.i = at_x, at_r, 0
        self.rules = rules or {}
        self.maxpool = maxpool

    def _next(self):
        zx, zr = self.at_x[self.i], self.at_r[self.i]
        self.i += 1
        return zx, zr

    def lin_nl(self, name, z, layer, kind, **conv):
        zx, zr = self._next()
        if self.rules.get(kind, "rescale") == "rescale":
            _, b = weights(layer)
            return self.nl(name, linear_of_terms(terms(z, layer, kind, **conv)) + b)
        return self._reveal_cancel(name, z, zx, zr, layer, kind, conv)

    def _reveal_cancel(self, name, z, zx, zr, layer, kind, conv):
        """y_r + sum over terms of w * (z - z_r), each term weighted by m+ when w * Δz > 0,
        m- when < 0 and (m+ + m-)/2 when Δz = 0: linear in z, masks fixed by (x, r)."""
        f = _fn(name)
        t = terms(zx - zr, layer, kind, **conv)
        dxp = linear_of_terms(tf.nn.relu(t))
        dxn = linear_of_terms(tf.minimum(t, 0.0))
        xx, x0 = self._next()   # the pre-activations the recorder saw next
        dyp = 0.5 * (f(x0 + dxp) - f(x0)) + 0.5 * (f(xx) - f(x0 + dxn))
        dyn = 0.5 * (f(x0 + dxn) - f(x0)) + 0.5 * (f(xx) - f(x0 + dxp))
        mp = tf.where(dxp > 1e-12, dyp / tf.where(dxp > 1e-12, dxp, 1.0), 0.0)
        mn = tf.where(dxn < -1e-12, dyn / tf.where(dxn < -1e-12, dxn, -1.0), 0.0)
        per_term = (slice(None), None) if kind == "dense" else (slice(None), slice(None), None,
                                                                 None)
        mp_t, mn_t = mp[per_term], mn[per_term]
        weight = tf.where(t > 0, mp_t, tf.where(t < 0, mn_t, 0.5 * (mp_t + mn_t)))
        return f(x0) + linear_of_terms(terms(z - zr, layer, kind, **conv) * weight)

    def nl(self, name, z):
        zx, zr = self._next()
        f = _fn(name)
        dz = zx - zr
        with tf.GradientTape() as tape:
            tape.watch(zx)
            fx = f(zx)
        slope = tape.gradient(fx, zx)
        near = tf.abs(dz) < 1e-10
        m = tf.where(near, slope, (fx - f(zr)) / tf.where(near, tf.ones_like(dz), dz))
        return f(zr) + m * (z - zr)

    # Maxima. "gradient": multipliers follow the max at the input x. "exact": the difference
    # of the maxima is put on x's max when positive, on r's max when negative (positions with
    # no difference of their own follow x's max, as the gradient does). A reduction
    # (global max, Maximum merge) shares ties equally, as TensorFlow's gradient of a max does;
    # max pooling windows pick the first maximum, as TensorFlow's MaxPool gradient does.
    @staticmethod
    def _argmax_mask(t, axis, ties):
        if ties:
            hit = tf.cast(t == tf.reduce_max(t, axis=axis, keepdims=True), F64)
            return hit / tf.reduce_sum(hit, axis=axis, keepdims=True)
        return tf.one_hot(tf.argmax(t, axis=axis), t.shape[axis], axis=axis, dtype=F64)

    def _max_blocks(self, zb, zxb, zrb, axis, ties=True):
        yx, yr = tf.reduce_max(zxb, axis=axis), tf.reduce_max(zrb, axis=axis)
        at_x = self._argmax_mask(zxb, axis, ties)
        if self.maxpool == "gradient":
            return tf.reduce_sum(zb * at_x, axis=axis)
        at_r = self._argmax_mask(zrb, axis, ties)
        share = tf.where(tf.expand_dims(yx >= yr, axis), at_x, at_r)
        dz = zxb - zrb
        # A position with Δz = 0 adds nothing; its multiplier is the gradient's (x's max).
        coef = tf.where(dz == 0, at_x, share * tf.expand_dims(yx - yr, axis) /
                        tf.where(dz == 0, 1.0, dz))
        return yr + tf.reduce_sum(coef * (zb - zrb), axis=axis)

    def global_max(self, z):
        zx, zr = self._next()
        return self._max_blocks(z, zx, zr, 1)

    def max_pool1d(self, z, size):
        zx, zr = self._next()
        n, length, c = zx.shape
        w = length // size

        def blocks(t):
            return tf.reshape(t[:, : w * size], (t.shape[0], w, size, c))

        return self._max_blocks(blocks(z), blocks(zx), blocks(zr), 2, ties=False)

    def prod(self, a, b):
        """a * b linearised at the pair: each factor weighted by the mean of the other."""
        at_x, at_r = self._next()
        (ax, bx), (ar, br) = tf.unstack(at_x), tf.unstack(at_r)
        return ar * br + 0.5 * (bx + br) * (a - ar) + 0.5 * (ax + ar) * (b - br)

    def bilinear(self, op, a, b):
        """op(a, b) linearised at the pair: op(a_r, b_r) + op(a - a_r, b̄) + op(ā, b - b_r)."""
        (ax, bx), (ar, br) = self._next()
        return op(ar, br) + op(a - ar, 0.5 * (bx + br)) + op(0.5 * (ax + ar), b - br)

    def maximum(self, zs):
        """Elementwise max of several tensors (a Maximum merge)."""
        zx, zr = self._next()
        return self._max_blocks(tf.stack(zs, axis=1), zx, zr, 1)


def deeplift_rescale(forward, x, r, task, output=0, softmax=False, rules=None,
                     maxpool="gradient", multipliers=False):
    """DeepLIFT contributions and per-reference deltas, all float64 (Rescale by default;
    ``rules`` as in :class:`Linearised` for RevealCancel).

    ``x`` (N, ...) inputs (a list for several inputs), ``r`` (N, K, ...) references (a list),
    ``forward(inputs, hooks)`` returns the logits of each output, (N, T) each. Returns
    (contributions averaged over references, per input; delta per (N, K)), and with
    ``multipliers`` the multipliers of each input, (N, K, ...), as a third value.
    """
    xs = x if isinstance(x, list) else [x]
    rs = r if isinstance(r, list) else [r]
    n, k = rs[0].shape[:2]
    xt = [tf.constant(np.repeat(v, k, axis=0), F64) for v in xs]
    rt = [tf.constant(v.reshape((n * k,) + v.shape[2:]), F64) for v in rs]
    rec_x, rec_r = Recorder(), Recorder()
    out_x = forward(xt, rec_x)
    out_r = forward(rt, rec_r)

    def target(outs):
        out = outs[output]
        if softmax:
            out = out - tf.reduce_mean(out, axis=1, keepdims=True)
        return out[:, task]

    lin = Linearised(rec_x.seen, rec_r.seen, rules, maxpool)
    u = [tf.Variable(v) for v in rt]
    with tf.GradientTape() as tape:
        t = tf.reduce_sum(target(forward(u, lin)))
    mult = tape.gradient(t, u)
    contribs = []
    for m, a, b in zip(mult, xt, rt):
        c = (m * (a - b)).numpy()
        contribs.append(c.reshape((n, k) + c.shape[1:]).mean(axis=1))
    delta = (target(out_x) - target(out_r)).numpy().reshape(n, k)
    if multipliers:
        ms = [m.numpy().reshape((n, k) + m.shape[1:]) for m in mult]
        return (contribs if isinstance(x, list) else contribs[0]), delta, \
            (ms if isinstance(x, list) else ms[0])
    return (contribs if isinstance(x, list) else contribs[0]), delta


def gradient(forward, x, task, output=0):
    """Plain float64 gradient of logit ``task`` at ``x``."""
    u = tf.Variable(np.asarray(x, np.float64))
    with tf.GradientTape() as tape:
        t = tf.reduce_sum(forward([u], Plain())[output][:, task])
    return tape.gradient(t, u).numpy()


# -- float64 building blocks for the hand-written forwards -----------------------------------
def weights(layer):
    return [tf.constant(w, F64) for w in layer.get_weights()]


def conv(z, layer, padding="SAME", stride=1, dilation=1):
    w, b = weights(layer)
    return tf.nn.convolution(z, w, strides=stride, padding=padding, dilations=dilation) + b


def dense(z, layer):
    w, b = weights(layer)
    return z @ w + b


def batchnorm(z, layer, eps):
    gamma, beta, mean, var = weights(layer)
    return (z - mean) / tf.sqrt(var + eps) * gamma + beta


def lstm(z, layer, hk, reverse=False):
    """One Keras LSTM written out step by step (gates i, f, c, o; sigmoid and tanh): the
    outputs of every step, in the order of the input positions."""
    w, u, b = weights(layer)
    units = u.shape[0]
    h = tf.zeros((z.shape[0], units), F64)
    c = tf.zeros_like(h)
    steps = range(z.shape[1] - 1, -1, -1) if reverse else range(z.shape[1])
    outs = {}
    for t in steps:
        pre = z[:, t] @ w + h @ u + b
        i = hk.nl("sigmoid", pre[:, :units])
        f = hk.nl("sigmoid", pre[:, units:2 * units])
        g = hk.nl("tanh", pre[:, 2 * units:3 * units])
        o = hk.nl("sigmoid", pre[:, 3 * units:])
        c = hk.prod(f, c) + hk.prod(i, g)
        h = hk.prod(o, hk.nl("tanh", c))
        outs[t] = h
    return tf.stack([outs[t] for t in range(z.shape[1])], axis=1)
