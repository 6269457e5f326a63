"""RevealCancel, genomics-default, max pooling (both modes), Lambdas, hidden-neuron targets,
against the independent float64 implementation in tests/_reference.py and the paper's example."""
import warnings

import keras
import numpy as np
import pytest
import tf_keras

import _models as M
import _reference as ref
import kipoi_deeplift as kd
from _checks import assert_close, check_forward, random_refs, two_tasks_match_reference

KERAS = {"keras3": keras, "tf_keras": tf_keras}
RC = {"dense": "reveal-cancel", "conv": "reveal-cancel"}
GENOMICS = {"dense": "reveal-cancel", "conv": "rescale"}


def summation_error(res):
    worst = 0.0
    for task in res.tasks:
        total = sum(c[task].reshape(len(c[task]), -1).sum(1) for c in res.contrib.values())
        worst = max(worst, float(np.abs(total - res.delta[task]).max()))
    return worst


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_reveal_cancel_on_dense_layers(flavour):
    model, forward = M.mlp(KERAS[flavour])
    x = np.random.default_rng(0).normal(0, 1, (6, 24)).astype(np.float32)
    check_forward(model, forward, [x])
    r = random_refs(x, 3, 1)
    res = kd.DeepLift(model, rule="reveal-cancel").explain(x, references=r, tasks=[0, 1])
    for task in (0, 1):
        want, delta = ref.deeplift_rescale(forward, x, r, task, rules=RC)
        assert_close(res.contrib["x"][str(task)], want)
        np.testing.assert_allclose(res.delta[str(task)], delta.mean(1), rtol=1e-5, atol=1e-5)
        # RevealCancel is not Rescale with another name: the attributions differ.
        resc, _ = ref.deeplift_rescale(forward, x, r, task)
        assert np.abs(resc - want).max() > 1e-3 * np.abs(want).max()
    assert summation_error(res) < 1e-4
    assert res.max_convergence_error < 1e-4


def against_reference(builder, n, length, seeds, rule="rescale", maxpool="gradient",
                      rules=None):
    """The engine and the float64 reference on one-hot sequences with dinucleotide-shuffled
    references: contributions of the one output must agree. Returns (result, deltas)."""
    model, forward = builder(keras)
    x = M.one_hot(n, length, seed=seeds[0])
    check_forward(model, forward, [x])
    r = kd.references.dinuc_shuffle(x, 3, seed=seeds[1])
    res = kd.DeepLift(model, rule=rule, maxpool=maxpool).explain(x, references=r)
    want, delta = ref.deeplift_rescale(forward, x, r, 0, rules=rules, maxpool=maxpool)
    assert_close(res.contrib["seq"][res.tasks[0]], want)
    return res, delta


@pytest.mark.parametrize("rule, rules", [("reveal-cancel", RC), ("genomics-default", GENOMICS)])
def test_reveal_cancel_and_genomics_default_on_convolutions(rule, rules):
    res, delta = against_reference(M.conv_dense, 5, 50, (3, 2), rule=rule, rules=rules)
    np.testing.assert_allclose(res.delta["o"], delta.mean(1), rtol=1e-5, atol=1e-5)
    assert res.max_convergence_error < 1e-4


def test_genomics_default_equals_rescale_without_dense_nonlinearities():
    model, _ = M.bpnet_like(keras, length=60)    # its one hidden Dense uses relu: differs
    x = M.one_hot(3, 60, seed=1)
    a = kd.DeepLift(model, rule="genomics-default").explain(x, n_references=3)
    b = kd.DeepLift(model, rule="rescale").explain(x, n_references=3)
    assert np.abs(a.contrib["seq"]["0"] - b.contrib["seq"]["0"]).max() > 0
    conv_only, _ = M.maxpool_model(keras)
    x = M.one_hot(3, 40, seed=1)
    a = kd.DeepLift(conv_only, rule="genomics-default").explain(x, n_references=3)
    b = kd.DeepLift(conv_only, rule="rescale").explain(x, n_references=3)
    np.testing.assert_array_equal(a.contrib["seq"]["act"], b.contrib["seq"]["act"])


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_paper_min_network(flavour):
    """o = min(i1, i2) with x = (3, 1), r = (0, 0): Rescale gives everything to i2, the smaller
    input; RevealCancel splits it evenly, as figure 3 of the paper shows."""
    model = M.min_network(KERAS[flavour])
    x = np.array([[3.0, 1.0]], np.float32)
    resc = kd.DeepLift(model, rule="rescale").explain(x, references="zeros")
    rc = kd.DeepLift(model, rule="reveal-cancel").explain(x, references="zeros")
    gi = kd.DeepLift(model, rule="grad-input").explain(x, references="zeros")
    np.testing.assert_allclose(resc.contrib["i"]["o"], [[0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(gi.contrib["i"]["o"], [[0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(rc.contrib["i"]["o"], [[0.5, 0.5]], atol=1e-6)
    np.testing.assert_allclose(rc.delta["o"], [1.0], atol=1e-6)
    # Symmetric the other way round.
    rc2 = kd.DeepLift(model, rule="reveal-cancel").explain(x[:, ::-1].copy(), references="zeros")
    np.testing.assert_allclose(rc2.contrib["i"]["o"], [[0.5, 0.5]], atol=1e-6)


@pytest.mark.parametrize("global_pool", [False, True])
def test_max_pooling_exact_mode(global_pool):
    model, forward = M.maxpool_model(keras, global_pool=global_pool)
    x = M.one_hot(5, 40, seed=8)
    r = kd.references.dinuc_shuffle(x, 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kd.ConvergenceWarning)
        res = kd.DeepLift(model, maxpool="exact").explain(x, references=r)
    want, _ = ref.deeplift_rescale(forward, x, r, 0, maxpool="exact")
    assert_close(res.contrib["seq"]["act"], want)
    assert res.max_convergence_error < 1e-5
    gradient_mode = kd.DeepLift(model, maxpool="gradient").explain(x, references=r)
    assert gradient_mode.max_convergence_error > 1e-3   # what the exact mode is for


@pytest.mark.parametrize("pool", ["window", "overlapping", "global", "maximum"])
def test_a_max_with_no_difference_of_its_own_passes_the_gradient(pool):
    """y = max(u0 + u1, u1) from r = (3, 0) to x = (2, 1): the max moves by 0 and its position
    has Δz = 0. Both modes give that position the gradient's multiplier (1, as Rescale takes
    the slope where Δx = 0), so u0 and u1 get -1 and +1 (as tangermeme and captum do), not
    zeros; the sum is still Δy = 0."""
    lay = keras.layers
    u = keras.Input((2,), name="u")
    mix = lay.Dense(2, use_bias=False, name="mix")
    z = mix(u)
    if pool == "maximum":
        y = lay.Maximum()([lay.Lambda(lambda t: t[:, :1])(z), lay.Lambda(lambda t: t[:, 1:])(z)])
    else:
        col = lay.Reshape((2, 1))(z)
        y = lay.Flatten()({"window": lay.MaxPooling1D(2),
                           "overlapping": lay.MaxPooling1D(2, strides=1),
                           "global": lay.GlobalMaxPooling1D()}[pool](col))
    model = keras.Model(u, y)
    mix.set_weights([np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)])   # z = (u0 + u1, u1)
    x, r = np.array([[2.0, 1.0]], np.float32), np.array([[[3.0, 0.0]]], np.float32)
    for maxpool in ("exact", "gradient"):
        res = kd.DeepLift(model, maxpool=maxpool).explain(x, references=r)
        task = res.tasks[0]
        np.testing.assert_allclose(res.contrib["u"][task], [[-1.0, 1.0]], atol=1e-6)
        np.testing.assert_allclose(res.delta[task], [0.0], atol=1e-6)


@pytest.mark.parametrize("maxpool", ["gradient", "exact"])
def test_maximum_and_minimum_merges(maxpool):
    res, _ = against_reference(M.merges_model, 4, 40, (5, 1), maxpool=maxpool)
    if maxpool == "exact":
        assert res.max_convergence_error < 1e-5


@pytest.mark.parametrize("maxpool", ["gradient", "exact"])
def test_deepbind_style_lambdas_are_recognised(maxpool):
    res, _ = against_reference(M.deepbind_lambdas, 4, 30, (6, 4), maxpool=maxpool)
    assert res.tasks == ["p"]
    if maxpool == "exact":
        assert res.max_convergence_error < 1e-5


def test_lambda_classification_and_refusal():
    i = keras.Input((20, 4), name="seq")
    # Elementwise (relu by a TensorFlow op): the nonlinearity rule, exact.
    lam = keras.layers.Lambda(lambda t: tf_ops().nn.relu(t - 0.5), name="lam_relu")(i)
    model = keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(lam)))
    res = kd.DeepLift(model).explain(M.one_hot(2, 20), references="uniform")
    assert res.max_convergence_error < 1e-5
    # Mixing positions nonlinearly: refused in one line that names the layer and the way out.
    mix = keras.layers.Lambda(lambda t: t * tf_ops().reduce_sum(t, 1, keepdims=True),
                              name="mix")(i)
    with pytest.raises(ValueError, match=r"layer 'mix' \(Lambda\) has no DeepLIFT rule: it "
                                         r"computes ops Mul.*rules=.*kipoi-deeplift rules") as e:
        kd.DeepLift(keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(mix))))
    assert "\n" not in str(e.value) and len(str(e.value)) < 300
    both = keras.layers.Lambda(lambda t: tf_ops().reduce_max(t, 1) + tf_ops().reduce_min(t, 1),
                               name="both")(i)
    with pytest.raises(ValueError, match="'both'.*ops affine, max, min together"):
        kd.DeepLift(keras.Model(i, keras.layers.Dense(1)(both)))
    scaled = keras.layers.Lambda(lambda t: 2.0 * t[:, ::-1] - 1.0, name="scaled")(i)
    model = keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(scaled)))
    res = kd.DeepLift(model).explain(M.one_hot(2, 20), references="uniform")
    assert res.max_convergence_error < 1e-5


def tf_ops():
    import tensorflow as tf
    return tf


def test_min_lambda_in_exact_mode_sums_to_delta():
    i = keras.Input((30, 4), name="seq")
    c = keras.layers.Conv1D(3, 4, name="c")(i)
    m = keras.layers.Lambda(lambda t: tf_ops().reduce_min(t, axis=1), name="minpos")(c)
    model = M.randomise(keras.Model(i, keras.layers.Dense(1, name="o")(m)), 3)
    res = kd.DeepLift(model, maxpool="exact").explain(M.one_hot(5, 30, seed=2), n_references=4)
    assert res.max_convergence_error < 1e-5
    assert np.abs(res.contrib["seq"]["o"]).max() > 1e-3


def test_hidden_neuron_target_matches_hand_computation():
    """Input contributions to one first-layer filter at one position: under Rescale, the
    secant of the ReLU times w times (x - r) over the filter's window."""
    model, _ = M.conv_dense(keras)
    x = M.one_hot(3, 50, seed=9)
    r = kd.references.dinuc_shuffle(x, 4, seed=0)
    pos, filt = 20, 2
    res = kd.DeepLift(model).explain(x, references=r, target_layer="c1",
                                     target_neuron=(pos, filt))
    name = "c1[20,2]"
    assert res.tasks == [name]
    w, b = (v.astype(np.float64) for v in model.get_layer("c1").get_weights())
    window = pos + 2 * np.arange(5) - 4          # 'same' padding, dilation 2, kernel 5
    want = np.zeros(x.shape)
    for n in range(3):
        for k in range(4):
            zx = sum(x[n, p] @ w[j, :, filt] for j, p in enumerate(window)) + b[filt]
            zr = sum(r[n, k, p] @ w[j, :, filt] for j, p in enumerate(window)) + b[filt]
            m = (max(zx, 0) - max(zr, 0)) / (zx - zr) if abs(zx - zr) > 1e-9 else float(zx > 0)
            for j, p in enumerate(window):
                want[n, p] += m * w[j, :, filt] * (x[n, p] - r[n, k, p]) / 4
    assert_close(res.contrib["seq"][name], want)
    several = kd.DeepLift(model).explain(x, references=r, target_layer="c1",
                                         target_neuron=[(pos, filt), 20 * 6 + 2, (0, 0)])
    assert several.tasks == [name, name, "c1[0,0]"]


@pytest.mark.parametrize("kwargs, msg", [
    (dict(target_layer="c1"), "needs target_neuron="),
    (dict(target_layer="c1", target_neuron=(50, 0)), r"outside layer 'c1'.*\(50, 6\)"),
    (dict(target_layer="c1", target_neuron=300), "300 out of range: layer 'c1' has 300"),
    (dict(target_layer="nope", target_neuron=0), "unknown layer 'nope'"),
    (dict(target_neuron=3), "needs target_layer="),
    (dict(target_layer="c1", target_neuron=0, tasks=[0]), "not both"),
])
def test_hidden_target_errors(kwargs, msg):
    model, _ = M.conv_dense(keras)
    with pytest.raises(ValueError, match=msg):
        kd.DeepLift(model).explain(M.one_hot(2, 50), references="zeros", **kwargs)


@pytest.mark.parametrize("rule", ["rescale", "reveal-cancel", "genomics-default"])
def test_per_neuron_contributions_sum_to_delta_for_every_rule(rule):
    model, _ = M.mlp(keras)
    x = np.random.default_rng(1).normal(0, 1, (4, 24)).astype(np.float32)
    # h2 feeds a separate ReLU layer (a fused RevealCancel pair); t3 and h1 are plain cuts.
    res = kd.DeepLift(model, rule=rule).explain(x, references=random_refs(x, 3, 2),
                                                layers=["h1", "h2", "r2", "t3"])
    for task in res.tasks:
        for layer in ("h1", "h2", "r2", "t3"):
            per = res.neuron_contrib[layer][task]
            np.testing.assert_allclose(per.sum(1), res.delta[task], rtol=1e-4, atol=1e-5)


def test_unknown_maxpool_mode():
    with pytest.raises(ValueError, match="unknown maxpool mode 'exactly'"):
        kd.DeepLift(M.maxpool_model(keras)[0], maxpool="exactly")


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_lstm_and_bidirectional_against_reference(flavour):
    model, forward = M.lstm_model(KERAS[flavour])
    x = M.one_hot(4, 12, seed=3)
    two_tasks_match_reference(model, forward, x, kd.references.dinuc_shuffle(x, 3, seed=5))
    # The recurrence run by the rule, in gradient mode, is the layer's own gradient.
    grad = ref.gradient(forward, x, 1)
    sal = kd.DeepLift(model, rule="gradient").explain(x, references="zeros", tasks=[1])
    assert_close(sal.contrib["seq"]["1"], grad)


def test_gru_is_refused_by_name():
    i = keras.Input((20, 4), name="seq")
    model = keras.Model(i, keras.layers.Dense(1)(keras.layers.GRU(3, name="gru")(i)))
    with pytest.raises(ValueError, match=r"'gru' \(GRU\) has no DeepLIFT rule: it is recurrent.*LSTM"):
        kd.DeepLift(model)


def test_reveal_cancel_reaches_through_batchnorm_to_the_dense_layer():
    """Dense -> BatchNormalization -> Dropout -> ReLU (Basset's head): the genomics default
    applies RevealCancel with the affine layers folded into the kernel, as the authors' code
    does, checked against the rule written out in float64 NumPy (a negative gamma included,
    which swaps the positive and negative terms of its channel)."""
    import keras

    L = keras.layers
    i = keras.Input((5,), name="x")
    h = L.Dense(6, name="fc")(i)
    h = L.BatchNormalization(name="bn")(h)
    h = L.Dropout(0.3, name="drop")(h)
    h = L.Activation("relu", name="act")(h)
    model = M.randomise(keras.Model(i, L.Dense(1, name="out")(h)), seed=12, scale=0.8)
    bn = model.get_layer("bn")
    g, b, mu, var = bn.get_weights()
    g[1] = -abs(g[1])
    bn.set_weights([g, b, mu, var])
    rng = np.random.default_rng(13)
    x = rng.normal(0, 1, (4, 5)).astype(np.float32)
    r = rng.normal(0, 1, (4, 1, 5)).astype(np.float32)

    w1, b1 = (v.astype(np.float64) for v in model.get_layer("fc").get_weights())
    w2, _ = (v.astype(np.float64) for v in model.get_layer("out").get_weights())
    a = g / np.sqrt(var + bn.epsilon)

    def pre(z):
        return (z @ w1 + b1 - mu) * a + b

    want = []
    for xi, ri in zip(x.astype(np.float64), r[:, 0].astype(np.float64)):
        dz = xi - ri
        t = dz[:, None] * (w1 * a)                           # terms, (inputs, units)
        dxp, dxn = np.clip(t, 0, None).sum(0), np.clip(t, None, 0).sum(0)
        x0, xx = pre(ri), pre(xi)
        f = lambda v: np.maximum(v, 0)                       # noqa: E731
        dyp = 0.5 * (f(x0 + dxp) - f(x0)) + 0.5 * (f(xx) - f(x0 + dxn))
        dyn = 0.5 * (f(x0 + dxn) - f(x0)) + 0.5 * (f(xx) - f(x0 + dxp))
        mp = np.where(dxp > 0, dyp / np.where(dxp > 0, dxp, 1), 0)
        mn = np.where(dxn < 0, dyn / np.where(dxn < 0, dxn, 1), 0)
        weight = np.where(t > 0, mp, np.where(t < 0, mn, (mp + mn) / 2))
        want.append((t * weight * w2[:, 0]).sum(1))
    want = np.array(want)
    res = kd.DeepLift(model, rule="genomics-default").explain(x, references=r)
    got = res.contrib["x"][res.tasks[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert res.max_convergence_error < 1e-5
    rescale = kd.DeepLift(model, rule="rescale").explain(x, references=r)
    assert np.abs(rescale.contrib["x"][res.tasks[0]] - want).max() > 1e-3   # the old fallback


def test_tied_maxima_share_the_multiplier_in_gradient_mode():
    """The README's statement: with maxpool='gradient', tied maxima of a global max share the
    multiplier equally (TensorFlow's gradient of a max), so contributions still add up here;
    the authors' deeplift gives every tied position the full multiplier (here 2x delta)."""
    import keras

    i = keras.Input((3, 1), name="x")
    model = keras.Model(i, keras.layers.GlobalMaxPooling1D(name="gmp")(i))
    x = np.array([[[2.0], [2.0], [1.0]]], np.float32)
    res = kd.DeepLift(model, maxpool="gradient").explain(x, references="zeros")
    c = res.contrib["x"][res.tasks[0]][0, :, 0]
    np.testing.assert_allclose(c, [1.0, 1.0, 0.0], atol=1e-6)        # ours: split
    authors = np.array([2.0, 2.0, 0.0])                               # full multiplier each
    assert abs(c.sum() - 2.0) < 1e-6 and authors.sum() == 4.0


def test_reveal_cancel_zero_part_convention_gives_the_authors_contributions():
    """The README's statement on Δx⁺ = 0: we set m⁺ to 0, the authors' deeplift adds a 1e-7
    pseudocount (helper_functions.pseudocount_near_zero: +1e-7 where |v| < 5e-8 and v >= 0,
    -1e-7 where v < 0) to Δx± before evaluating and dividing. Contributions agree."""
    import keras

    i = keras.Input((3,), name="x")
    h = keras.layers.Dense(2, activation="relu", name="fc")(i)
    model = keras.Model(i, keras.layers.Dense(1, name="out")(h))
    w1 = np.array([[1.0, 0.5], [-2.0, 1.0], [0.7, -0.3]], np.float32)
    b1 = np.array([0.4, 0.1], np.float32)
    w2 = np.array([[1.5], [-0.8]], np.float32)
    model.get_layer("fc").set_weights([w1, b1])
    model.get_layer("out").set_weights([w2, np.zeros(1, np.float32)])
    x = np.array([[0.0, 1.0, 0.0]], np.float32)     # Δz = (0, 1, 0): unit 0 has only w·Δz < 0
    r = np.zeros((1, 1, 3), np.float32)

    def authors(xv, rv):
        def pc(v):
            small = np.abs(v) < 0.5e-7
            return v + 1e-7 * (small & (v >= 0)) - 1e-7 * (small & (v < 0))

        f = lambda v: np.maximum(v, 0)                # noqa: E731
        dz = (xv - rv).astype(np.float64)
        t = dz[:, None] * w1
        dxp, dxn = pc(np.clip(t, 0, None).sum(0)), pc(np.clip(t, None, 0).sum(0))
        x0 = rv @ w1 + b1
        dyp = 0.5 * (f(x0 + dxp) - f(x0)) + 0.5 * (f(x0 + dxn + dxp) - f(x0 + dxn))
        dyn = 0.5 * (f(x0 + dxn) - f(x0)) + 0.5 * (f(x0 + dxp + dxn) - f(x0 + dxp))
        mp, mn = dyp / dxp, dyn / dxn
        weight = np.where(t > 0, mp, np.where(t < 0, mn, (mp + mn) / 2))
        return (t * weight * w2[:, 0]).sum(1), mp

    want, mp = authors(x[0], r[0, 0])
    assert mp[0] != 0          # the authors' m+ at the unit whose Δx⁺ is 0 ...
    res = kd.DeepLift(model, rule="reveal-cancel").explain(x, references=r)
    got = res.contrib["x"][res.tasks[0]][0]
    np.testing.assert_allclose(got, want, atol=1e-5)   # ... changes no contribution
    assert res.max_convergence_error < 1e-6
