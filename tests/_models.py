"""Small test models, each with its forward pass written out by hand for tests/_reference.py.

Every builder takes the Keras module to build with (``keras`` for Keras 3, ``tf_keras`` for the
Keras 2 API) and returns ``(model, forward)``; ``forward(inputs, hooks)`` returns the logits of
each model output (before a final sigmoid or softmax).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from _reference import batchnorm, conv, dense


def randomise(model, seed=0, scale=0.3):
    """Random weights everywhere (non-zero biases, non-trivial batch-norm statistics)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if type(layer).__name__ == "BatchNormalization":
            g, b, m, v = ws
            ws = [rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.2, b.shape),
                  rng.normal(0, 0.2, m.shape), rng.uniform(0.5, 2.0, v.shape)]
        else:
            ws = [rng.normal(0, scale, w.shape) for w in ws]
        layer.set_weights([w.astype(np.float32) for w in ws])
    return model


def bpnet_like(K, length=200, seed=0):
    """Residual dilated convolutions, batch norm, global average pooling, two dense layers."""
    L = K.layers
    i = K.Input((length, 4), name="seq")
    h = L.Conv1D(16, 21, padding="same", activation="relu", name="c0")(i)
    for j in range(1, 5):
        c = L.Conv1D(16, 3, padding="same", dilation_rate=2 ** j, activation="relu",
                     name=f"d{j}")(h)
        h = L.Add(name=f"add{j}")([h, c])
    h = L.BatchNormalization(name="bn")(h)
    p = L.GlobalAveragePooling1D(name="gap")(h)
    d = L.Dense(8, activation="relu", name="fc")(p)
    o = L.Dense(2, name="out")(d)
    model = randomise(K.Model(i, o), seed, scale=0.2)

    def forward(inputs, hk):
        get = model.get_layer
        h = hk.nl("relu", conv(inputs[0], get("c0")))
        for j in range(1, 5):
            h = h + hk.nl("relu", conv(h, get(f"d{j}"), dilation=2 ** j))
        h = batchnorm(h, get("bn"), get("bn").epsilon)
        d = hk.nl("relu", dense(tf.reduce_mean(h, axis=1), get("fc")))
        return [dense(d, get("out"))]

    return model, forward


def multi_io(K, seed=1):
    """Two inputs (DNA and a track), strided convs, concat/permute/reshape, two outputs."""
    L = K.layers
    seq = K.Input((60, 4), name="seq")
    trk = K.Input((60, 1), name="dnase")
    a = L.Conv1D(6, 5, strides=2, padding="valid", activation="elu", name="cs")(seq)
    a = L.Dropout(0.3, name="drop")(a)
    b = L.Conv1D(4, 5, strides=2, padding="valid", name="ct")(trk)
    b = L.Activation("tanh", name="tanh")(b)
    c = L.Concatenate(name="cat")([a, b])
    c = L.Permute((2, 1), name="perm")(c)
    c = L.Reshape((280,), name="flat")(c)
    h = L.Dense(5, activation="swish", name="h")(c)
    o1 = L.Dense(3, activation="sigmoid", name="bind")(h)
    o2 = L.Dense(4, activation="softmax", name="cls")(h)
    model = randomise(K.Model([seq, trk], [o1, o2]), seed)

    def forward(inputs, hk):
        get = model.get_layer
        a = hk.nl("elu", conv(inputs[0], get("cs"), "VALID", stride=2))
        b = hk.nl("tanh", conv(inputs[1], get("ct"), "VALID", stride=2))
        c = tf.reshape(tf.transpose(tf.concat([a, b], axis=2), (0, 2, 1)), (-1, 280))
        h = hk.nl("swish", dense(c, get("h")))
        return [dense(h, get("bind")), dense(h, get("cls"))]

    return model, forward


def conv2d_model(K, seed=2):
    """Conv2D on a (4, L, 1) layout, average pooling, gelu and exponential dense layers."""
    L = K.layers
    i = K.Input((4, 30, 1), name="seq2d")
    c = L.Conv2D(5, (4, 5), strides=(1, 2), padding="valid", activation="softplus", name="c2")(i)
    c = L.AveragePooling2D((1, 2), name="avg")(c)
    f = L.Flatten(name="flat")(c)
    h = L.Dense(6, activation="gelu", name="g")(f)
    h = L.Dense(3, activation="exponential", name="e")(h)
    o = L.Dense(1, name="o")(h)
    model = randomise(K.Model(i, o), seed, scale=0.2)

    def forward(inputs, hk):
        get = model.get_layer
        c = hk.nl("softplus", conv(inputs[0], get("c2"), "VALID", stride=(1, 2)))
        c = tf.nn.avg_pool2d(c, (1, 2), (1, 2), "VALID")
        f = tf.reshape(c, (-1, 30))
        h = hk.nl("gelu", dense(f, get("g")))
        h = hk.nl("exponential", dense(h, get("e")))
        return [dense(h, get("o"))]

    return model, forward


def shared_submodel(K, seed=3):
    """One Sequential sub-model applied to two inputs (forward and reverse strand)."""
    L = K.layers
    inner = K.Sequential([K.Input((30, 4)), L.Conv1D(4, 5, activation="relu", name="ic"),
                          L.GlobalAveragePooling1D(name="igap")], name="inner")
    fwd = K.Input((30, 4), name="fwd")
    rc = K.Input((30, 4), name="rc")
    s = L.Add(name="sum")([inner(fwd), inner(rc)])
    o = L.Dense(1, activation="sigmoid", name="o")(s)
    model = K.Model([fwd, rc], o)
    randomise(inner, seed)
    randomise(model, seed + 1)

    def forward(inputs, hk):
        ic = inner.get_layer("ic")
        s = sum(tf.reduce_mean(hk.nl("relu", conv(z, ic, "VALID")), axis=1) for z in inputs)
        return [dense(s, model.get_layer("o"))]

    return model, forward


def maxpool_model(K, seed=4, global_pool=False):
    """Sequential: conv, (global) max pooling, dense, separate sigmoid Activation layer."""
    L = K.layers
    pool = L.GlobalMaxPooling1D(name="pool") if global_pool else L.MaxPooling1D(4, name="pool")
    model = K.Sequential([K.Input((40, 4), name="seq"), L.Conv1D(8, 7, activation="relu",
                                                                 name="c"),
                          pool, L.Flatten(name="flat"), L.Dense(1, name="d"),
                          L.Activation("sigmoid", name="act")])
    randomise(model, seed)

    def forward(inputs, hk):
        get = model.get_layer
        h = hk.nl("relu", conv(inputs[0], get("c"), "VALID"))
        h = hk.global_max(h) if global_pool else hk.max_pool1d(h, 4)
        return [dense(tf.reshape(h, (tf.shape(h)[0], -1)), get("d"))]

    return model, forward


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]


def mlp(K, seed=5):
    """Dense layers with fused and separate activations (ReLU layer, Activation('tanh'))."""
    L = K.layers
    i = K.Input((24,), name="x")
    h = L.Dense(10, activation="relu", name="h1")(i)
    a = L.ReLU(name="r2")(L.Dense(6, name="h2")(h))
    t = L.Activation("tanh", name="t3")(L.Dense(4, name="h3")(a))
    o = L.Dense(2, activation="sigmoid", name="out")(t)
    model = randomise(K.Model(i, o), seed, scale=0.5)

    def forward(inputs, hk):
        get = model.get_layer
        h = hk.lin_nl("relu", inputs[0], get("h1"), "dense")
        a = hk.lin_nl("relu", h, get("h2"), "dense")
        t = hk.lin_nl("tanh", a, get("h3"), "dense")
        return [dense(t, get("out"))]

    return model, forward


def conv_dense(K, seed=6):
    """Dilated, strided and causal Conv1D (fused and separate activations), then dense layers."""
    L = K.layers
    i = K.Input((50, 4), name="seq")
    c = L.Conv1D(6, 5, padding="same", dilation_rate=2, activation="relu", name="c1")(i)
    c = L.Activation("elu", name="e2")(L.Conv1D(4, 3, strides=2, padding="valid", name="c2")(c))
    c = L.Conv1D(3, 3, padding="causal", activation="softplus", name="c3")(c)
    d = L.Dense(5, activation="relu", name="d")(L.Flatten(name="flat")(c))
    o = L.Dense(1, name="o")(d)
    model = randomise(K.Model(i, o), seed, scale=0.4)

    def forward(inputs, hk):
        get = model.get_layer
        c = hk.lin_nl("relu", inputs[0], get("c1"), "conv", padding="SAME", dilation=2)
        c = hk.lin_nl("elu", c, get("c2"), "conv", padding="VALID", stride=2)
        c = hk.lin_nl("softplus", c, get("c3"), "conv", padding="CAUSAL")
        d = hk.lin_nl("relu", tf.reshape(c, (-1, 72)), get("d"), "dense")
        return [dense(d, get("o"))]

    return model, forward


def min_network(K):
    """The paper's figure: o = i1 - ReLU(i1 - i2) = min(i1, i2)."""
    L = K.layers
    i = K.Input((2,), name="i")
    h1 = L.Dense(1, use_bias=False, name="h1")(i)
    h2 = L.ReLU(name="h2")(h1)
    o = L.Dense(1, use_bias=False, name="o")(L.Concatenate(name="cat")([i, h2]))
    model = K.Model(i, o)
    model.get_layer("h1").set_weights([np.array([[1.0], [-1.0]], np.float32)])
    model.get_layer("o").set_weights([np.array([[1.0], [0.0], [-1.0]], np.float32)])
    return model


def merges_model(K, seed=7):
    """Maximum and Minimum merges of two conv branches, then global max pooling."""
    L = K.layers
    seq = K.Input((40, 4), name="seq")
    a = L.Conv1D(4, 5, activation="relu", name="ca")(seq)
    b = L.Conv1D(4, 5, activation="relu", name="cb")(seq)
    s = L.Concatenate(name="cat")([L.Maximum(name="mx")([a, b]), L.Minimum(name="mn")([a, b])])
    o = L.Dense(1, name="o")(L.GlobalMaxPooling1D(name="gmp")(s))
    model = randomise(K.Model(seq, o), seed)

    def forward(inputs, hk):
        get = model.get_layer
        a = hk.nl("relu", conv(inputs[0], get("ca"), "VALID"))
        b = hk.nl("relu", conv(inputs[0], get("cb"), "VALID"))
        s = tf.concat([hk.maximum([a, b]), -hk.maximum([-a, -b])], axis=2)
        return [dense(hk.global_max(s), get("o"))]

    return model, forward


def deepbind_lambdas(K, seed=8):
    """DeepBind's shape: a shared conv on both strands (reverse complement by a Lambda), max
    over positions by a Lambda, a shared dense layer, the strands merged by Maximum."""
    L = K.layers
    seq = K.Input((30, 4), name="seq")
    conv_layer = L.Conv1D(4, 5, activation="relu", name="conv")
    pool = L.Lambda(lambda t: tf.reduce_max(t, axis=1), name="maxpos")
    head = L.Dense(1, name="d")
    rc = L.Lambda(lambda t: t[:, ::-1, ::-1], name="rc")(seq)
    outs = [head(pool(conv_layer(s))) for s in (seq, rc)]
    o = L.Activation("sigmoid", name="p")(L.Maximum(name="strands")(outs))
    model = randomise(K.Model(seq, o), seed)

    def forward(inputs, hk):
        get = model.get_layer
        x = inputs[0]
        branch = [dense(hk.global_max(hk.nl("relu", conv(s, get("conv"), "VALID"))), get("d"))
                  for s in (x, x[:, ::-1, ::-1])]
        return [hk.maximum(branch)]

    return model, forward


def lstm_model(K, seed=9):
    """Conv, Bidirectional LSTM (sequences, concat), a backwards LSTM (last state), dense."""
    from _reference import lstm as lstm_ref

    L = K.layers
    i = K.Input((12, 4), name="seq")
    c = L.Conv1D(5, 3, activation="relu", name="c")(i)
    bi = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")(c)
    last = L.LSTM(3, go_backwards=True, name="back")(bi)
    o = L.Dense(2, name="o")(L.Concatenate(name="cat")([L.Flatten(name="flat")(bi), last]))
    model = randomise(K.Model(i, o), seed, scale=0.5)

    def forward(inputs, hk):
        get = model.get_layer
        h = hk.nl("relu", conv(inputs[0], get("c"), "VALID"))
        bil = get("bi")
        seq = tf.concat([lstm_ref(h, bil.forward_layer, hk),
                         lstm_ref(h, bil.backward_layer, hk, reverse=True)], axis=-1)
        last = lstm_ref(seq, get("back"), hk, reverse=True)[:, 0]
        return [dense(tf.concat([tf.reshape(seq, (-1, 80)), last], axis=1), get("o"))]

    return model, forward
