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


class Plain:
    """Hooks for the ordinary forward pass."""

    def nl(self, name, z):
        return ACTIVATIONS[name](z)

    def global_max(self, z):
        return tf.reduce_max(z, axis=1)

    def max_pool1d(self, z, size):
        return tf.nn.max_pool1d(z, size, size, "VALID")


class Recorder(Plain):
    """Plain forward that keeps every nonlinearity's input and every max pool's input."""

    def __init__(self):
        self.seen = []

    def nl(self, name, z):
        self.seen.append(z)
        return super().nl(name, z)

    def global_max(self, z):
        self.seen.append(z)
        return super().global_max(z)

    def max_pool1d(self, z, size):
        self.seen.append(z)
        return super().max_pool1d(z, size)


class Linearised(Plain):
    """The network with each nonlinearity replaced by its secant through the x and r passes."""

    def __init__(self, at_x, at_r):
        self.at_x, self.at_r, self.i = at_x, at_r, 0

    def _next(self):
        zx, zr = self.at_x[self.i], self.at_r[self.i]
        self.i += 1
        return zx, zr

    def nl(self, name, z):
        zx, zr = self._next()
        f = ACTIVATIONS[name]
        dz = zx - zr
        with tf.GradientTape() as tape:
            tape.watch(zx)
            fx = f(zx)
        slope = tape.gradient(fx, zx)
        near = tf.abs(dz) < 1e-10
        m = tf.where(near, slope, (fx - f(zr)) / tf.where(near, tf.ones_like(dz), dz))
        return f(zr) + m * (z - zr)

    # Max pooling, "gradient" mode: multipliers follow the argmax at the input x.
    def global_max(self, z):
        zx, _ = self._next()
        mask = tf.one_hot(tf.argmax(zx, axis=1), zx.shape[1], axis=1, dtype=F64)
        return tf.reduce_sum(z * mask, axis=1)

    def max_pool1d(self, z, size):
        zx, _ = self._next()
        n, length, c = zx.shape
        w = length // size
        blocks = tf.reshape(zx[:, : w * size], (n, w, size, c))
        mask = tf.one_hot(tf.argmax(blocks, axis=2), size, axis=2, dtype=F64)
        zb = tf.reshape(z[:, : w * size], (n, w, size, c))
        return tf.reduce_sum(zb * mask, axis=2)


def deeplift_rescale(forward, x, r, task, output=0, softmax=False):
    """Rescale contributions and per-reference deltas, all float64.

    ``x`` (N, ...) inputs (a list for several inputs), ``r`` (N, K, ...) references (a list),
    ``forward(inputs, hooks)`` returns the logits of each output, (N, T) each. Returns
    (contributions averaged over references, per input; delta per (N, K)).
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

    lin = Linearised(rec_x.seen, rec_r.seen)
    u = [tf.Variable(v) for v in rt]
    with tf.GradientTape() as tape:
        t = tf.reduce_sum(target(forward(u, lin)))
    mult = tape.gradient(t, u)
    contribs = []
    for m, a, b in zip(mult, xt, rt):
        c = (m * (a - b)).numpy()
        contribs.append(c.reshape((n, k) + c.shape[1:]).mean(axis=1))
    delta = (target(out_x) - target(out_r)).numpy().reshape(n, k)
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
