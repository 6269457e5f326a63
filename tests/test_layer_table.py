"""Every row of the layer-rule table is exercised: a small model around that layer with random
weights, summation-to-delta, and an independent check of the contributions.

The independent checks: a network that is linear in its input has contributions equal to
gradient x (input - reference), the gradient taken by plain autodiff of the whole model (not by
the engine); an elementwise nonlinearity between two Dense layers has the Rescale contributions
written out in float64 NumPy. Max-like, recurrent and output rows have their own reference tests
(test_rules.py, test_exactness.py); here they must meet summation-to-delta with maxpool='exact'.
A layer type that no builder here covers fails the first test: a row without a test is not
claimed.
"""
from __future__ import annotations

import numpy as np
import pytest

import _models as M
import kipoi_deeplift as kd
from kipoi_deeplift.backends.tf.rules import ELEMENTWISE_ACTIVATIONS, LAYER_RULES


def _keras_for(name):
    import keras
    import tf_keras

    from kipoi_deeplift.zoo import layers as zoo_layers

    return keras if hasattr(keras.layers, name) or hasattr(zoo_layers, name) else tf_keras


def _head(K, h):
    return K.layers.Dense(2, name="out")(K.layers.Flatten(name="flat")(h))


def _one(name, shape, make, seed=0):
    """Input of ``shape`` -> the layer -> Flatten -> Dense(2)."""
    K = _keras_for(name)
    i = K.Input(shape, name="x")
    model = K.Model(i, _head(K, make(K)(i)))
    return M.randomise(model, seed, scale=0.5)


def _two(name, make, seed=0):
    """Two inputs (8, 3) merged by the layer."""
    K = _keras_for(name)
    a, b = K.Input((8, 3), name="a"), K.Input((8, 3), name="b")
    model = K.Model([a, b], _head(K, make(K)([a, b])))
    return M.randomise(model, seed, scale=0.5)


L1, L2, L3 = (10, 3), (6, 6, 2), (4, 4, 4, 2)
SHAPES = {1: L1, 2: L2, 3: L3}


def _in_dims(stem: str, *args, dims=(1, 2, 3)) -> dict:
    """Rows ``<stem>1D``/``2D``/``3D``: the layer built with ``args`` on an input of its rank."""
    return {f"{stem}{d}D": (lambda d=d: _one(f"{stem}{d}D", SHAPES[d],
                                             lambda K: getattr(K.layers, f"{stem}{d}D")(*args)))
            for d in dims}

#: Layer type -> (builder, kind): 'linear' rows are checked against autodiff gradient x delta.
LINEAR = {
    "InputLayer": lambda: _one("Dense", L1, lambda K: K.layers.Dense(4)),
    "Dense": lambda: _one("Dense", L1, lambda K: K.layers.Dense(4)),
    "EinsumDense": lambda: _one("EinsumDense", L1, lambda K: K.layers.EinsumDense(
        "abc,cd->abd", output_shape=(10, 4), bias_axes="d")),
    "Conv1D": lambda: _one("Conv1D", L1, lambda K: K.layers.Conv1D(4, 3, strides=2,
                                                                   dilation_rate=1)),
    "Conv1D causal dilated": lambda: _one("Conv1D", L1, lambda K: K.layers.Conv1D(
        4, 3, padding="causal", dilation_rate=2)),
    "Conv1D same": lambda: _one("Conv1D", L1, lambda K: K.layers.Conv1D(4, 4, padding="same")),
    "Conv2D": lambda: _one("Conv2D", L2, lambda K: K.layers.Conv2D(3, 2)),
    "Conv3D": lambda: _one("Conv3D", L3, lambda K: K.layers.Conv3D(3, 2)),
    "Conv1DTranspose": lambda: _one("Conv1DTranspose", L1,
                                    lambda K: K.layers.Conv1DTranspose(3, 3, strides=2)),
    "Conv2DTranspose": lambda: _one("Conv2DTranspose", L2,
                                    lambda K: K.layers.Conv2DTranspose(2, 2, strides=2)),
    "Conv3DTranspose": lambda: _one("Conv3DTranspose", L3,
                                    lambda K: K.layers.Conv3DTranspose(2, 2)),
    "SeparableConv1D": lambda: _one("SeparableConv1D", L1,
                                    lambda K: K.layers.SeparableConv1D(4, 3)),
    "SeparableConv2D": lambda: _one("SeparableConv2D", L2,
                                    lambda K: K.layers.SeparableConv2D(3, 2)),
    "DepthwiseConv1D": lambda: _one("DepthwiseConv1D", L1,
                                    lambda K: K.layers.DepthwiseConv1D(3)),
    "DepthwiseConv2D": lambda: _one("DepthwiseConv2D", L2,
                                    lambda K: K.layers.DepthwiseConv2D(2)),
    "LocallyConnected1D": lambda: _one("LocallyConnected1D", L1,
                                       lambda K: K.layers.LocallyConnected1D(3, 3)),
    "LocallyConnected2D": lambda: _one("LocallyConnected2D", L2,
                                       lambda K: K.layers.LocallyConnected2D(2, 2)),
    "BatchNormalization": lambda: _one("BatchNormalization", L1,
                                       lambda K: K.layers.BatchNormalization()),
    **{n: (lambda n=n: _one(n, L1, lambda K: getattr(K.layers, n)(0.3)))
       for n in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                 "AlphaDropout")},
    "ActivityRegularization": lambda: _one("ActivityRegularization", L1,
                                           lambda K: K.layers.ActivityRegularization(0.1)),
    "Identity": lambda: _one("Identity", L1, lambda K: K.layers.Identity()),
    "Flatten": lambda: _one("Flatten", L1, lambda K: K.layers.Flatten()),
    "Reshape": lambda: _one("Reshape", L1, lambda K: K.layers.Reshape((5, 6))),
    "Permute": lambda: _one("Permute", L1, lambda K: K.layers.Permute((2, 1))),
    "RepeatVector": lambda: _one("RepeatVector", (5,), lambda K: K.layers.RepeatVector(3)),
    "Cropping1D": lambda: _one("Cropping1D", L1, lambda K: K.layers.Cropping1D((1, 2))),
    **_in_dims("Cropping", 1, dims=(2, 3)),
    **_in_dims("ZeroPadding", 1),
    **_in_dims("UpSampling", 2),
    **_in_dims("AveragePooling", 2),
    **_in_dims("GlobalAveragePooling"),
    **_in_dims("SpatialDropout", 0.3, dims=(2, 3)),
    **{n: (lambda n=n: _two(n, lambda K: getattr(K.layers, n)()))
       for n in ("Add", "Subtract", "Average")},
    "Concatenate": lambda: _two("Concatenate", lambda K: K.layers.Concatenate()),
    "TimeDistributed": lambda: _one("TimeDistributed", L1, lambda K: K.layers.TimeDistributed(
        K.layers.Dense(4))),
    "ConstantPadding1D": lambda: _zoo("ConstantPadding1D"),
    "ReverseComplement": lambda: _zoo("ReverseComplement"),
    **{n: (lambda: _scbasset_augmentation()) for n in
       ("StochasticReverseComplement", "StochasticShift", "SwitchReverse")},
}


def _scbasset_augmentation():
    """scBasset's inference path: reverse-complement flag (False), shift, conv, switch back."""
    import keras

    from kipoi_deeplift.zoo import layers as Z

    i = keras.Input((10, 4), name="x")
    seq, flag = Z.StochasticReverseComplement(name="src")(i)
    h = keras.layers.Conv1D(4, 3, name="conv")(Z.StochasticShift(3, name="shift")(seq))
    h = Z.SwitchReverse(name="switch")([h, flag])
    return M.randomise(keras.Model(i, _head(keras, h)), 0, scale=0.5)


def _zoo(name):
    import keras

    from kipoi_deeplift.zoo import layers as zoo_layers

    layer = zoo_layers.ConstantPadding1D(3, 0.25) if name == "ConstantPadding1D" else \
        zoo_layers.ReverseComplement()
    i = keras.Input((10, 4), name="x")
    return M.randomise(keras.Model(i, _head(keras, layer(i))), 0, scale=0.5)


#: Elementwise nonlinearities between Dense(5) and Dense(2): Rescale written out in NumPy.
ELEMENTWISE = {
    "Activation": ("Activation", lambda K: K.layers.Activation("tanh"), np.tanh),
    "ReLU": ("ReLU", lambda K: K.layers.ReLU(), lambda z: np.maximum(z, 0)),
    "LeakyReLU": ("LeakyReLU", lambda K: K.layers.LeakyReLU(0.2) if K.__name__ == "keras"
                  else K.layers.LeakyReLU(alpha=0.2),
                  lambda z: np.where(z > 0, z, 0.2 * z)),
    "ELU": ("ELU", lambda K: K.layers.ELU(), lambda z: np.where(z > 0, z, np.expm1(z))),
    "PReLU": ("PReLU", lambda K: K.layers.PReLU(
        alpha_initializer=K.initializers.Constant(0.3)), lambda z: np.where(z > 0, z, 0.3 * z)),
    "ThresholdedReLU": ("ThresholdedReLU", lambda K: K.layers.ThresholdedReLU(theta=0.1),
                        lambda z: np.where(z > 0.1, z, 0.0)),
    "Threshold": ("Threshold", lambda K: _zoo_layer("Threshold", 0.0, 1e-6),
                  lambda z: np.where(z > 0.0, z, 1e-6)),
    "GELU": ("GELU", lambda K: _zoo_layer("GELU"), lambda z: z / (1 + np.exp(-1.702 * z))),
}


def _zoo_layer(name, *args):
    from kipoi_deeplift.zoo import layers as zoo_layers

    return getattr(zoo_layers, name)(*args)

#: Rows with their own reference tests elsewhere; here: summation-to-delta.
OTHERS = {
    **{n: (lambda n=n: _one(n, L1 if n.endswith("1D") else L2 if n.endswith("2D") else L3,
                            lambda K: getattr(K.layers, n)()
                            if n.startswith("Global") else getattr(K.layers, n)(2)))
       for n in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D",
                 "GlobalMaxPooling2D", "GlobalMaxPooling3D")},
    "Maximum": lambda: _two("Maximum", lambda K: K.layers.Maximum()),
    "Minimum": lambda: _two("Minimum", lambda K: K.layers.Minimum()),
    "Lambda": lambda: _one("Lambda", L1, lambda K: K.layers.Lambda(lambda t: t[:, ::-1] * 2.0)),
    "LSTM": lambda: _one("LSTM", L1, lambda K: K.layers.LSTM(3, return_sequences=True)),
    "Bidirectional": lambda: _one("Bidirectional", L1, lambda K: K.layers.Bidirectional(
        K.layers.LSTM(2, return_sequences=True))),
    "Softmax": lambda: _softmax_output(),
    "SoftmaxWeightedSum": lambda: _softmax_weighted(),
    # Float64 references for these in test_architectures.py.
    "Multiply": lambda: _two("Multiply", lambda K: K.layers.Multiply()),
    "Dot": lambda: _two("Dot", lambda K: K.layers.Dot(axes=1)),
    **{n: (lambda n=n: _one(n, L1, lambda K: getattr(K.layers, n)()))
       for n in ("LayerNormalization", "UnitNormalization")},
    "RMSNormalization": lambda: _one("RMSNormalization", L1,
                                     lambda K: K.layers.RMSNormalization()),
    "MultiHeadAttention": lambda: _one("MultiHeadAttention", L1, lambda K: (
        lambda t: K.layers.MultiHeadAttention(2, 3)(t, t))),
}


def _softmax_output():
    import keras

    i = keras.Input(L1, name="x")
    h = keras.layers.Dense(3, name="logits")(keras.layers.Flatten()(i))
    return M.randomise(keras.Model(i, keras.layers.Softmax(name="p")(h)), 0, scale=0.5)


def _softmax_weighted():
    import keras

    from kipoi_deeplift.zoo import layers as zoo_layers

    i = keras.Input(L1, name="x")
    h = keras.layers.Conv1D(2, 3, name="profile")(i)
    return M.randomise(keras.Model(i, zoo_layers.SoftmaxWeightedSum(name="obj")(h)), 0,
                       scale=0.5)


def test_every_row_of_the_layer_table_has_a_test():
    covered = set(LINEAR) | set(ELEMENTWISE) | set(OTHERS)
    assert set(LAYER_RULES) <= covered, sorted(set(LAYER_RULES) - covered)


def _inputs(model, seed=1):
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    x = [rng.normal(0, 1, (3,) + s).astype(np.float32) for s in shapes]
    r = [rng.normal(0, 1, (1,) + s).astype(np.float32) for s in shapes]
    return x, r


def _by_name(model, arrays):
    names = kd.DeepLift(model).input_names
    return dict(zip(names, arrays))


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_rows_give_gradient_times_delta(name):
    import tensorflow as tf

    model = LINEAR[name]()
    x, r = _inputs(model)
    res = kd.DeepLift(model, rule="rescale").explain(_by_name(model, x),
                                                     references=_by_name(model, r))
    xs = [tf.constant(v) for v in x]
    for unit, task in enumerate(res.tasks):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = model(xs if len(xs) > 1 else xs[0], training=False)[:, unit]
        grads = tape.gradient(y, xs)
        for g, xv, rv, inp in zip(grads, x, r, res.input_names if hasattr(res, "input_names")
                                  else kd.DeepLift(model).input_names):
            want = g.numpy().astype(np.float64) * (xv - rv).astype(np.float64)
            np.testing.assert_allclose(res.contrib[inp][task], want, rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    assert res.max_convergence_error < 1e-4, name


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_rows_match_rescale_in_numpy(name):
    kind, make, f = ELEMENTWISE[name]
    K = _keras_for(kind)
    i = K.Input((6,), name="x")
    h = make(K)(K.layers.Dense(5, name="fc")(i))
    model = M.randomise(K.Model(i, K.layers.Dense(2, name="out")(h)), 3, scale=0.8)
    for layer in model.layers:
        if type(layer).__name__ == "PReLU":      # randomise drew its slopes: fix them again
            layer.set_weights([np.full_like(w, 0.3) for w in layer.get_weights()])
    x, r = _inputs(model, seed=4)
    res = kd.DeepLift(model, rule="rescale").explain(x[0], references=r[0])
    w1, b1 = (v.astype(np.float64) for v in model.get_layer("fc").get_weights())
    w2 = model.get_layer("out").get_weights()[0].astype(np.float64)
    xv, rv = x[0].astype(np.float64), r[0][0].astype(np.float64)
    z, z0 = xv @ w1 + b1, rv @ w1 + b1
    m = (f(z) - f(z0)) / (z - z0)                     # no z == z0 with random normal inputs
    for unit, task in enumerate(res.tasks):
        want = (xv - rv)[:, :, None] * w1[None] * (m * w2[:, unit])[:, None, :]
        np.testing.assert_allclose(res.contrib["x"][task], want.sum(-1), rtol=1e-4, atol=1e-5)
    assert res.max_convergence_error < 1e-4


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_other_rows_sum_to_delta(name):
    model = OTHERS[name]()
    x, r = _inputs(model, seed=5)
    res = kd.DeepLift(model, rule="rescale", maxpool="exact").explain(
        _by_name(model, x), references=_by_name(model, r))
    scale = max(1.0, max(float(np.abs(d).max()) for d in res.delta.values()))
    assert res.max_convergence_error < 1e-4 * scale, name
    assert any(np.abs(c).max() > 0 for by in res.contrib.values() for c in by.values())


@pytest.mark.parametrize("activation", sorted(ELEMENTWISE_ACTIVATIONS))
def test_fused_activations_match_rescale_in_float64(activation):
    """Dense(..., activation=a): the secant multiplier of every activation the table accepts,
    with the activation's own forward evaluated in float64."""
    import keras
    import tensorflow as tf

    i = keras.Input((6,), name="x")
    h = keras.layers.Dense(5, activation=activation, name="fc")(i)
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(h)), 6, scale=0.8)
    x, r = _inputs(model, seed=7)
    res = kd.DeepLift(model, rule="rescale").explain(x[0], references=r[0])
    f = keras.activations.get(activation)
    w1, b1 = (v.astype(np.float64) for v in model.get_layer("fc").get_weights())
    w2 = model.get_layer("out").get_weights()[0].astype(np.float64)
    xv, rv = x[0].astype(np.float64), r[0][0].astype(np.float64)
    z, z0 = xv @ w1 + b1, rv @ w1 + b1
    fz, fz0 = (np.asarray(f(tf.constant(v, tf.float64))) for v in (z, z0))
    m = (fz - fz0) / (z - z0)
    for unit, task in enumerate(res.tasks):
        want = ((xv - rv)[:, :, None] * w1[None] * (m * w2[:, unit])[:, None, :]).sum(-1)
        scale = max(1e-3, float(np.abs(want).max()))
        assert np.abs(res.contrib["x"][task] - want).max() <= 1e-4 * scale, activation
