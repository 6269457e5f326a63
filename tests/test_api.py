"""The Python API: bad input caught before work, hypothetical and per-neuron scores, tasks."""
import warnings

import keras
import tensorflow as tf
import numpy as np
import pytest

import _models as M
import kipoi_deeplift as kd


@pytest.fixture(scope="module")
def bpnet():
    return M.bpnet_like(keras, length=80)[0]


def test_layer_without_rule_is_named(monkeypatch):
    i = keras.Input((20, 4), name="seq")
    # Mixes positions nonlinearly (x times its own reverse): no rule can be inferred.
    h = keras.layers.Lambda(lambda t: t * tf.reverse(t, [1]), name="square")(i)
    model = keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(h)))
    with pytest.raises(ValueError, match=r"layer 'square' \(Lambda\) has no DeepLIFT rule"):
        kd.DeepLift(model)
    # A registered rule makes it work: the product rule, on the same function.
    from kipoi_deeplift.backends.tf.products import product

    monkeypatch.setitem(kd.rules.LAYER_RULES, "Lambda", kd.rules.LayerRule(
        lambda ctx, layer, args, kwargs: product(ctx, args[0], tf.reverse(args[0], [1]))))
    x = M.one_hot(3, 20)
    res = kd.DeepLift(model).explain(x, references="uniform")
    assert res.max_convergence_error < 1e-5


def test_register_rule_by_class():
    class Doubler(keras.layers.Layer):
        """2 x reversed along positions, computed out of TensorFlow's sight: nothing about it
        can be found by tracing or probing (it mixes positions), so it is refused."""

        def call(self, t):
            y = tf.numpy_function(lambda a: 2.0 * a[:, ::-1], [t], tf.float32)
            y.set_shape(t.shape)
            return y

        def compute_output_shape(self, shape):
            return shape

    i = keras.Input((10, 4), name="seq")
    model = keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(Doubler()(i))))
    with pytest.raises(ValueError, match="Doubler"):
        kd.DeepLift(model)
    rule = lambda ctx, layer, args, kwargs: 2.0 * tf.reverse(args[0], [1])   # noqa: E731
    # For one model: nothing global changes.
    res = kd.DeepLift(model, rule="rescale", rules={Doubler: rule}).explain(
        M.one_hot(2, 10), references="zeros")
    assert res.max_convergence_error < 1e-5
    with pytest.raises(ValueError, match="Doubler"):
        kd.DeepLift(model)
    # For every model, until taken back.
    kd.register_rule(Doubler, rule)
    try:
        res = kd.DeepLift(model, rule="rescale").explain(M.one_hot(2, 10), references="zeros")
        assert res.max_convergence_error < 1e-5
    finally:
        kd.unregister_rule(Doubler)
    with pytest.raises(ValueError, match="Doubler"):
        kd.DeepLift(model)
    with pytest.raises(ValueError, match="has a built-in rule"):
        kd.register_rule("Dense", rule)


def test_softmax_inside_the_model_gets_the_softmax_rule():
    i = keras.Input((10,), name="x")
    h = keras.layers.Dense(4, activation="softmax", name="inner")(i)
    model = M.randomise(keras.Model(i, keras.layers.Dense(1, name="o")(h)), 2, 0.8)
    x = np.random.default_rng(0).normal(0, 1, (3, 10)).astype(np.float32)
    res = kd.DeepLift(model).explain(x, references=np.zeros((1, 10), np.float32))
    assert res.max_convergence_error < 1e-5
    np.testing.assert_allclose(res.preds[res.tasks[0]], model.predict(x, verbose=0)[:, 0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("x, exc, msg", [
    (np.zeros((2, 79, 4), np.float32), ValueError, r"input 'seq' has shape \(2, 79, 4\); the model expects \(N, 80, 4\)"),
    (np.zeros((2, 80), np.float32), ValueError, "has shape"),
    (np.full((2, 80, 4), "A"), TypeError, "input 'seq' has dtype <U1"),
    ({"sequence": np.zeros((1, 80, 4))}, ValueError, "missing \\['seq'\\]"),
    (np.zeros((0, 80, 4), np.float32), ValueError, "no sequences"),
])
def test_bad_inputs(bpnet, x, exc, msg):
    with pytest.raises(exc, match=msg):
        kd.DeepLift(bpnet).explain(x, references="zeros")


def test_nan_and_inf_named_with_sequence(bpnet):
    x = M.one_hot(4, 80)
    x[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="input 'seq' contains NaN or inf \\(first at sequence 2\\)"):
        kd.DeepLift(bpnet).explain(x)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(references=np.zeros((3, 81, 4))), r"references for input 'seq' have shape \(3, 81, 4\)"),
    (dict(references=np.zeros((5, 2, 80, 4))), "cover 5 sequences, the input has 4"),
    (dict(references="dinucleotide"), "unknown reference 'dinucleotide'"),
    (dict(tasks=["nope"]), "unknown task 'nope'; tasks: 0, 1"),
    (dict(tasks=[7]), "task index 7 out of range"),
    (dict(layers=["conv9"]), "unknown layer 'conv9'"),
    (dict(n_references=0), "n_references must be a positive integer"),
])
def test_bad_options(bpnet, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        kd.DeepLift(bpnet).explain(M.one_hot(4, 80), **kwargs)


def test_unknown_rule_and_not_a_model():
    with pytest.raises(ValueError, match="unknown rule 'deepshap'"):
        kd.DeepLift(M.bpnet_like(keras, length=30)[0], rule="deepshap")
    with pytest.raises(TypeError, match="expected a Keras 3 or tf_keras model"):
        kd.DeepLift(object())


def test_hypothetical_contributions_project_onto_actual(bpnet):
    x = M.one_hot(5, 80, seed=3)
    res = kd.DeepLift(bpnet).explain(x, n_references=4, hypothetical=True, tasks=[0])
    hyp, act = res.hyp_contrib["seq"]["0"], res.contrib["seq"]["0"]
    assert hyp.shape == x.shape
    # The observed base's hypothetical score is the position's actual (summed) contribution.
    np.testing.assert_allclose((hyp * x).sum(-1), act.sum(-1), atol=1e-6)
    # Other bases get scores of their own, not zeros.
    assert np.abs(hyp * (1 - x)).max() > 1e-4


def test_per_neuron_contributions_sum_to_delta_on_a_cut(bpnet):
    x = M.one_hot(4, 80, seed=5)
    res = kd.DeepLift(bpnet).explain(x, n_references=3, layers=["bn", "fc", "c0"])
    for task in res.tasks:
        for layer in ("bn", "fc"):   # each cuts the graph: everything passes through it
            per = res.neuron_contrib[layer][task]
            np.testing.assert_allclose(per.reshape(4, -1).sum(1), res.delta[task],
                                       rtol=1e-4, atol=1e-5)
        assert res.neuron_contrib["fc"][task].shape == (4, 8)
        assert res.neuron_contrib["c0"][task].shape == (4, 80, 16)


def test_task_names_and_selection(bpnet):
    dl = kd.DeepLift(bpnet, task_names=["CTCF", "GATA1"])
    res = dl.explain(M.one_hot(2, 80), references="zeros", tasks=["GATA1"])
    assert res.tasks == ["GATA1"] and list(res.contrib["seq"]) == ["GATA1"]
    with pytest.raises(ValueError, match="task_names has 1 names; the model has 2"):
        kd.DeepLift(bpnet, task_names=["x"])


def test_convergence_warning_names_the_inexact_layer():
    model, _ = M.maxpool_model(keras, global_pool=True)
    with pytest.warns(kd.ConvergenceWarning, match="GlobalMaxPooling1D"):
        kd.DeepLift(model, maxpool="gradient").explain(M.one_hot(6, 40, seed=2), n_references=5)


def test_exact_max_pooling_is_the_default_in_python_and_on_the_command_line():
    """maxpool='exact' unless asked otherwise: summation-to-delta holds through max pooling
    (the authors' 'gradient' mode stays available by name)."""
    from kipoi_deeplift import cli
    from kipoi_deeplift.kipoi.options import DEFAULTS

    model, _ = M.maxpool_model(keras, global_pool=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kd.ConvergenceWarning)
        res = kd.DeepLift(model).explain(M.one_hot(6, 40, seed=2), n_references=5)
    assert res.max_convergence_error < 1e-5
    assert kd.DeepLift(model).maxpool == "exact" and DEFAULTS["maxpool"] == "exact"
    args = cli.build_parser().parse_args(["score", "m", "-o", "x.h5"])
    assert args.maxpool is None                      # resolved from DEFAULTS / the model


def test_exact_models_do_not_warn(bpnet):
    with warnings.catch_warnings():
        warnings.simplefilter("error", kd.ConvergenceWarning)
        res = kd.DeepLift(bpnet).explain(M.one_hot(3, 80), n_references=3)
    assert res.max_convergence_error < 1e-4


def test_jit_compiled_pass_gives_the_same_scores(bpnet):
    x = M.one_hot(3, 80, seed=2)
    plain = kd.DeepLift(bpnet).explain(x, n_references=3)
    jit = kd.DeepLift(bpnet, jit=True).explain(x, n_references=3)
    np.testing.assert_allclose(jit.contrib["seq"]["0"], plain.contrib["seq"]["0"],
                               rtol=1e-4, atol=1e-6)
    assert jit.max_convergence_error < 1e-4


def test_mixed_precision_is_refused_unless_asked():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = M.bpnet_like(keras, length=40)[0]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(ValueError, match="float16.*allow_mixed_precision=True"):
        kd.DeepLift(model)
    kd.DeepLift(model, allow_mixed_precision=True)     # asked for: accepted


def test_every_command_line_choice_runs():
    """The parser's --rule and --maxpool choices are the core's tables, and the backend
    accepts each pair (a choice the engine lacks would fail here, not in a user's run)."""
    from kipoi_deeplift import cli
    from kipoi_deeplift.core.methods import MAXPOOL_MODES, METHODS

    choices = {a.dest: tuple(a.choices or ()) for p in cli.build_parser()._subparsers
               ._group_actions[0].choices.values() for a in p._actions
               if a.dest in ("rule", "maxpool")}
    assert choices == {"rule": tuple(METHODS), "maxpool": tuple(MAXPOOL_MODES)}
    i = keras.Input((20, 4))
    h = keras.layers.MaxPooling1D(2)(keras.layers.Conv1D(3, 5, activation="relu")(i))
    model = keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(h)))
    x = M.one_hot(2, 20)
    for rule in choices["rule"]:
        for maxpool in choices["maxpool"]:
            res = kd.DeepLift(model, rule=rule, maxpool=maxpool).explain(
                x, references="uniform")
            if rule not in ("gradient", "grad-input") and maxpool == "exact":
                assert res.max_convergence_error < 1e-5, (rule, maxpool)


def _fused_variants(dl) -> set:
    """Which variants (fused or not) of the DeepLIFT pass an engine has compiled."""
    return {key[-1] for key in dl._backend._pass._fns if key[0] != "predict"}


@pytest.mark.parametrize("which", ["pool", "global-pool", "mlp"])
def test_small_runs_start_without_xla_and_long_runs_compile_once(which):
    """Tiered compilation: a small call runs the per-batch multipliers as plain ops; a call
    past ``FUSE_AFTER`` or a run announced as long (``expect``, as `score` does) runs them
    XLA-compiled. Both give the independent reference's contributions: the XLA-compiled
    secants (float32 ReLU, float64 tanh) and max-pool weights are checked here."""
    import _reference as ref
    from _checks import assert_close, random_refs

    if which == "mlp":
        model, forward = M.mlp(keras)
        x = np.random.default_rng(0).normal(0, 1, (4, 24)).astype(np.float32)
        r = random_refs(x, 3, 1)
    else:
        model, forward = M.maxpool_model(keras, global_pool=which == "global-pool")
        x = M.one_hot(4, 40, seed=8)
        r = kd.references.dinuc_shuffle(x, 3, seed=0)
    want, _ = ref.deeplift_rescale(forward, x, r, 0, maxpool="exact")

    small = kd.DeepLift(model)
    a = small.explain(x, references=r, tasks=[0])
    assert _fused_variants(small) == {False}
    long = kd.DeepLift(model)
    long.expect(10 ** 7)
    b = long.explain(x, references=r, tasks=[0])
    assert _fused_variants(long) == {True}
    for res in (a, b):
        contrib = next(iter(res.contrib.values()))[res.tasks[0]]
        assert_close(contrib, want)
        assert res.max_convergence_error < 1e-5
    # Decided per call: a call carrying FUSE_AFTER elements by itself runs XLA-compiled.
    small.FUSE_AFTER = 1
    small.explain(x, references=r, tasks=[0])
    assert _fused_variants(small) == {False, True}
