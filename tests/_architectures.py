"""Genomics architecture families beyond plain convolutions, each with its forward pass written
out by hand in float64 for tests/_reference.py (as tests/_models.py does for the others):

* a CNN-LSTM with ``TimeDistributed(Dense)`` (the DeepMEL / DeepFlyBrain / CREsted
  ``deeptopic_lstm`` family),
* LegNet-style blocks with squeeze-and-excite gates (``keras.ops.mean``, a ``Multiply`` that
  broadcasts a (N, C) gate over (N, L, C)) and a custom elementwise activation,
* a pre-LN transformer block (``LayerNormalization``, ``MultiHeadAttention``, residual adds,
  a feed-forward block) after Enformer-style attention pooling.

The hand-written forwards call ``hk.nl`` at every elementwise nonlinearity, ``hk.lin_nl`` where
a Dense/Conv layer's activation follows it directly (RevealCancel reads that layer) and
``hk.bilinear`` at every product of two signals; softmax is written as
exp -> sum -> reciprocal -> product, LayerNorm as centre -> square -> mean -> rsqrt -> product.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from _models import randomise
from _reference import F64, conv, dense, lstm, weights


L = keras.layers


@keras.saving.register_keras_serializable(package="kd_tests")
def gelu_enf(x):
    """Enformer's GELU approximation, as CREsted defines it: x * sigmoid(1.702 x)."""
    return keras.ops.sigmoid(1.702 * x) * x


def gelu_enf64(z):
    return z * tf.sigmoid(1.702 * z)


def _dense_rows(hk, name, z, layer):
    """A Dense layer with activation ``name`` on (N, T, C), row by row (as TimeDistributed)."""
    n, t, c = z.shape
    return tf.reshape(hk.lin_nl(name, tf.reshape(z, (n * t, c)), layer, "dense"), (n, t, -1))


def cnn_lstm(length=60, topics=3, seed=31):
    """deeptopic_lstm / DeepMEL, narrower: Conv1D(relu) -> MaxPool -> Dropout ->
    TimeDistributed(Dense relu) -> BiLSTM(return_sequences) -> Dropout -> Flatten ->
    Dense(relu) -> Dropout -> Dense(sigmoid)."""
    i = keras.Input((length, 4), name="seq")
    h = L.Conv1D(6, 7, activation="relu", name="conv")(i)
    h = L.Dropout(0.2)(L.MaxPooling1D(6, 6, name="pool")(h))
    h = L.TimeDistributed(L.Dense(5, activation="relu"), name="td")(h)
    h = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bilstm")(h)
    h = L.Dense(8, activation="relu", name="fc")(L.Flatten(name="flat")(L.Dropout(0.2)(h)))
    out = L.Dense(topics, activation="sigmoid", name="topics")(L.Dropout(0.4)(h))
    model = randomise(keras.Model(i, out), seed, scale=0.5)

    def forward(inputs, hk):
        get = model.get_layer
        h = hk.lin_nl("relu", inputs[0], get("conv"), "conv", padding="VALID")
        n, length_, c = h.shape
        h = tf.reshape(h, (n, length_ // 6, 6, c))
        h = hk.max_pool1d(tf.reshape(h, (n, -1, c)), 6)
        h = _dense_rows(hk, "relu", h, get("td").layer)
        bi = get("bilstm")
        h = tf.concat([lstm(h, bi.forward_layer, hk), lstm(h, bi.backward_layer, hk, True)], -1)
        h = hk.lin_nl("relu", tf.reshape(h, (n, -1)), get("fc"), "dense")
        return [dense(h, get("topics"))]

    return model, forward


def legnet_se(length=40, seed=32):
    """LegNet-style: Conv1D -> gelu_enf (custom Activation) -> squeeze-and-excite
    (keras.ops.mean over positions -> Dense -> swish -> Dense -> sigmoid -> Multiply broadcast
    over positions) -> BatchNorm -> Concatenate with the stem -> MaxPool -> keras.ops.mean ->
    Dense."""
    i = keras.Input((length, 4), name="seq")
    x = L.Activation(gelu_enf, name="act0")(L.Conv1D(8, 5, padding="same", name="stem")(i))
    y = keras.ops.mean(x, axis=1)
    y = L.Activation("swish", name="se_swish")(L.Dense(4, name="se_fc1")(y))
    y = L.Activation("sigmoid", name="se_sigmoid")(L.Dense(8, name="se_fc2")(y))
    h = L.BatchNormalization(name="bn")(L.Multiply(name="se_mul")([x, y]))
    h = L.MaxPooling1D(4, name="pool")(L.Concatenate(name="rescat")([h, x]))
    out = L.Dense(2, name="out")(keras.ops.mean(h, axis=1))
    model = randomise(keras.Model(i, out), seed, scale=0.5)

    def forward(inputs, hk):
        get = model.get_layer
        x = hk.nl(gelu_enf64, conv(inputs[0], get("stem")))
        # swish is not monotone: Rescale there under every rule (RevealCancel needs monotone)
        y = hk.nl("swish", dense(tf.reduce_mean(x, axis=1), get("se_fc1")))
        y = hk.lin_nl("sigmoid", y, get("se_fc2"), "dense")
        h = hk.bilinear(lambda a, b: a * b[:, None, :], x, y)
        gamma, beta, mean, var = weights(get("bn"))
        h = (h - mean) / tf.sqrt(var + get("bn").epsilon) * gamma + beta
        h = hk.max_pool1d(tf.concat([h, x], -1), 4)
        return [dense(tf.reduce_mean(h, axis=1), get("out"))]

    return model, forward


def softmax64(hk, s, axis):
    """softmax as the engine decomposes it (no shift: the result does not depend on one)."""
    e = hk.nl("exponential", s)
    inv = hk.nl(tf.math.reciprocal, tf.reduce_sum(e, axis=axis, keepdims=True))
    return hk.bilinear(tf.multiply, e, inv)


def layer_norm64(hk, h, layer):
    gamma, beta = weights(layer)
    c = h - tf.reduce_mean(h, axis=-1, keepdims=True)
    v = tf.reduce_mean(hk.bilinear(tf.multiply, c, c), axis=-1, keepdims=True)
    eps = float(layer.epsilon)
    s = hk.nl(lambda t: tf.math.rsqrt(t + eps), v)
    return hk.bilinear(tf.multiply, c, s) * gamma + beta


def mha64(hk, x, layer):
    """Keras MultiHeadAttention (self-attention), written out from its weights."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights(layer)
    q = tf.einsum("btc,chk->bthk", x, wq) + bq
    k = tf.einsum("btc,chk->bthk", x, wk) + bk
    v = tf.einsum("btc,chk->bthk", x, wv) + bv
    q = q / np.sqrt(float(wq.shape[-1]))
    scores = hk.bilinear(lambda a, b: tf.einsum("bshk,bthk->bhts", a, b), k, q)
    w = softmax64(hk, scores, -1)
    out = hk.bilinear(lambda a, b: tf.einsum("bhts,bshk->bthk", a, b), w, v)
    return tf.einsum("bthk,hkc->btc", out, wo) + bo


def transformer(length=32, pool=2, channels=8, seed=33):
    """Conv stem -> gelu_enf -> Enformer-style attention pooling (softmax over each window of
    ``pool`` positions of per-channel logits, weighted sum) -> pre-LN transformer block
    (LayerNorm -> MultiHeadAttention -> residual; LayerNorm -> Dense(relu) -> Dense ->
    residual) -> GlobalAveragePooling1D -> Dense."""
    i = keras.Input((length, 4), name="seq")
    h = L.Activation(gelu_enf, name="act0")(
        L.Conv1D(channels, 5, padding="same", name="stem")(i))
    xr = L.Reshape((length // pool, pool, channels), name="windows")(h)
    logits = L.Dense(channels, use_bias=False, name="pool_logits")(xr)
    w = L.Softmax(axis=-2, name="pool_softmax")(logits)
    h = keras.ops.sum(L.Multiply(name="pool_mul")([xr, w]), axis=-2)
    a = L.MultiHeadAttention(2, 4, name="mha")(*[L.LayerNormalization(name="ln1")(h)] * 2)
    h = L.Add(name="res1")([h, a])
    f = L.Dense(2 * channels, activation="relu", name="ff1")(L.LayerNormalization(name="ln2")(h))
    h = L.Add(name="res2")([h, L.Dense(channels, name="ff2")(f)])
    out = L.Dense(2, name="out")(L.GlobalAveragePooling1D(name="gap")(h))
    model = randomise(keras.Model(i, out), seed, scale=0.4)

    def forward(inputs, hk):
        get = model.get_layer
        h = hk.nl(gelu_enf64, conv(inputs[0], get("stem")))
        n = h.shape[0]
        xr = tf.reshape(h, (n, length // pool, pool, channels))
        lg = tf.einsum("bwpc,cd->bwpd", xr, weights(get("pool_logits"))[0])
        h = tf.reduce_sum(hk.bilinear(tf.multiply, xr, softmax64(hk, lg, 2)), axis=2)
        h = h + mha64(hk, layer_norm64(hk, h, get("ln1")), get("mha"))
        f = _dense_rows(hk, "relu", layer_norm64(hk, h, get("ln2")), get("ff1"))
        w2, b2 = weights(get("ff2"))
        h = h + tf.einsum("btc,cd->btd", f, w2) + b2
        return [dense(tf.reduce_mean(h, axis=1), get("out"))]

    return model, forward


__all__ = ["cnn_lstm", "legnet_se", "transformer", "gelu_enf", "F64"]
