"""Architecture families beyond plain convolutions (issue 24): a CNN-LSTM with TimeDistributed,
LegNet-style squeeze-and-excite blocks with a custom activation, a pre-LN transformer block
with attention pooling. Each is scored with every DeepLIFT rule and checked against the
independent float64 implementation in tests/_reference.py (products by the two-factor rule,
softmax and LayerNorm written out as their elementary steps), and for summation-to-delta."""
import keras
import tensorflow as tf
import numpy as np
import pytest

import _architectures as A
import _models as M
import _reference as ref
import kipoi_deeplift as kd
from _checks import assert_close, check_forward

RULES = {"rescale": None,
         "reveal-cancel": {"dense": "reveal-cancel", "conv": "reveal-cancel"},
         "genomics-default": {"dense": "reveal-cancel", "conv": "rescale"}}
FAMILIES = {"cnn_lstm": A.cnn_lstm, "legnet_se": A.legnet_se, "transformer": A.transformer}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    return request.param, FAMILIES[request.param]()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_family_matches_the_float64_reference_with_every_rule(family, rule):
    name, (model, forward) = family
    length = model.inputs[0].shape[1]
    x = M.one_hot(3, length, seed=5)
    check_forward(model, forward, [x])
    r = kd.references.dinuc_shuffle(x, 3, seed=6)
    res = kd.DeepLift(model, rule=rule, maxpool="exact").explain(x, references=r)
    want, delta = ref.deeplift_rescale(forward, x, r, 0, rules=RULES[rule], maxpool="exact")
    task = res.tasks[0]
    assert_close(res.contrib["seq"][task], want)
    np.testing.assert_allclose(res.delta[task], delta.mean(1), rtol=1e-5, atol=1e-5)
    scale = max(1.0, float(np.abs(delta).max()))
    assert res.max_convergence_error < 1e-5 * scale, (name, rule)


def test_families_under_gradient_methods_give_the_plain_gradient(family):
    name, (model, forward) = family
    x = M.one_hot(2, model.inputs[0].shape[1], seed=7)
    res = kd.DeepLift(model, rule="gradient").explain(x)
    np.testing.assert_allclose(res.contrib["seq"][res.tasks[0]],
                               ref.gradient(forward, x, 0), rtol=1e-4, atol=1e-5)


def test_the_families_really_use_their_rules():
    """The rules under test are the ones resolved: RevealCancel after the Dense layers (also
    inside TimeDistributed), Rescale at the non-monotone custom activation, the product,
    softmax, normalisation and attention rows."""
    kinds = {}
    for build in FAMILIES.values():
        dl = kd.DeepLift(build()[0], rule="reveal-cancel")
        for step, spec in zip(dl._backend.plan.steps, dl._backend.specs):
            kinds[step.name] = (spec.layer_rule.kind, spec.nonlinear_rule)
    assert kinds["td"] == ("linear", "reveal-cancel")
    assert kinds["act0"] == ("elementwise", "rescale")        # gelu_enf is not monotone
    assert kinds["se_swish"][1] == "rescale"                  # swish is not monotone
    assert kinds["se_sigmoid"][1] == "reveal-cancel"          # after se_fc2 (Dense)
    assert kinds["se_mul"][0] == "product"
    assert kinds["pool_softmax"][0] == "softmax"
    assert kinds["ln1"][0] == "normalisation" and kinds["mha"][0] == "attention"
    assert any(k.startswith("mean") and v[0] == "linear" for k, v in kinds.items())


# -- the rows one at a time, each against a hand-written float64 forward ---------------------
def _x(shape=(8, 3), n=3, k=2, seed=11):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 1, (n,) + shape).astype(np.float32),
            rng.normal(0, 1, (n, k) + shape).astype(np.float32))


def _norm_model(layer):
    i = keras.Input((8, 3), name="x")
    h = keras.layers.Dense(4, name="pre")(i)
    out = keras.layers.Dense(2, name="out")(keras.layers.Flatten()(layer(h)))
    return M.randomise(keras.Model(i, out), 41, 0.7)


def _rsqrt(eps):
    return lambda t: tf.math.rsqrt(t + eps)


def _normalised(kind):
    """(model, forward) for one normalisation layer between two Dense layers."""
    layers = {"LayerNormalization": lambda: keras.layers.LayerNormalization(name="norm"),
              "LayerNormalization rms_scaling": lambda: keras.layers.LayerNormalization(
                  rms_scaling=True, name="norm"),
              "RMSNormalization": lambda: keras.layers.RMSNormalization(name="norm"),
              "UnitNormalization": lambda: keras.layers.UnitNormalization(name="norm")}
    model = _norm_model(layers[kind]())

    def forward(inputs, hk):
        get = model.get_layer
        h = ref.dense(inputs[0], get("pre"))
        norm = get("norm")
        if kind == "LayerNormalization":
            y = A.layer_norm64(hk, h, norm)
        elif kind == "UnitNormalization":
            v = tf.reduce_sum(hk.bilinear(tf.multiply, h, h), -1, keepdims=True)
            y = hk.bilinear(tf.multiply, h, hk.nl(
                lambda t: 1.0 / tf.maximum(tf.sqrt(t), 1e-12), v))
        else:
            c = h - tf.reduce_mean(h, -1, keepdims=True) if kind.endswith("scaling") else h
            v = tf.reduce_mean(hk.bilinear(tf.multiply, c, c), -1, keepdims=True)
            y = hk.bilinear(tf.multiply, h, hk.nl(_rsqrt(float(norm.epsilon)), v))
            y = y * ref.weights(norm)[0]
        return [ref.dense(tf.reshape(y, (y.shape[0], -1)), get("out"))]

    return model, forward


def _products(kind):
    """(model, forward) for products of two signals: Multiply of three, Dot, keras.ops
    multiply/matmul/divide/einsum of two tensors that both depend on the input."""
    i = keras.Input((8, 3), name="x")
    a = keras.layers.Dense(3, name="a")(i)
    b = keras.layers.Dense(3, name="b")(i)
    ops = keras.ops
    made = {
        "Multiply": lambda: keras.layers.Multiply()([a, b, keras.layers.Activation("tanh")(a)]),
        "Dot": lambda: keras.layers.Dot(axes=2)([a, b]),
        "ops.multiply": lambda: ops.multiply(a, ops.tanh(b)),
        "ops.matmul": lambda: ops.matmul(a, ops.transpose(b, (0, 2, 1))),
        "ops.divide": lambda: ops.divide(a, 1.5 + ops.sigmoid(b)),
        "ops.einsum": lambda: ops.einsum("bic,bjc->bij", a, b),
    }[kind]()
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(
        keras.layers.Flatten()(made))), 42, 0.7)

    def forward(inputs, hk):
        get = model.get_layer
        a, b = ref.dense(inputs[0], get("a")), ref.dense(inputs[0], get("b"))
        pair = lambda p, q: tf.einsum("bic,bjc->bij", p, q)     # noqa: E731
        if kind == "Multiply":
            y = hk.bilinear(tf.multiply, hk.bilinear(tf.multiply, a, b), hk.nl("tanh", a))
        elif kind == "ops.multiply":
            y = hk.bilinear(tf.multiply, a, hk.nl("tanh", b))
        elif kind == "ops.divide":
            y = hk.bilinear(tf.multiply, a, hk.nl(tf.math.reciprocal,
                                                  1.5 + hk.nl("sigmoid", b)))
        else:
            y = hk.bilinear(pair, a, b)
        return [ref.dense(tf.reshape(y, (y.shape[0], -1)), get("out"))]

    return model, forward


@pytest.mark.parametrize("kind", ["LayerNormalization", "LayerNormalization rms_scaling",
                                  "RMSNormalization", "UnitNormalization", "Multiply", "Dot",
                                  "ops.multiply", "ops.matmul", "ops.divide", "ops.einsum"])
def test_normalisation_and_product_rows_match_the_float64_reference(kind):
    model, forward = (_normalised if "Norm" in kind else _products)(kind)
    x, r = _x()
    check_forward(model, forward, [x])
    res = kd.DeepLift(model, rule="rescale").explain(x, references=r)
    for task in (0, 1):
        want, delta = ref.deeplift_rescale(forward, x, r, task)
        assert_close(res.contrib["x"][res.tasks[task]], want)
        np.testing.assert_allclose(res.delta[res.tasks[task]], delta.mean(1), rtol=1e-5,
                                   atol=1e-5)
    assert res.max_convergence_error < 1e-5


# -- functions and layers no table lists --------------------------------------------------------
@keras.saving.register_keras_serializable(package="kd_tests")
def soft_clip(x):
    """A custom monotone activation."""
    return x / (1.0 + keras.ops.abs(x)) + 0.1 * x


@keras.saving.register_keras_serializable(package="kd_tests")
def centred(x):
    """Not elementwise: subtracts the mean over channels."""
    return x - keras.ops.mean(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("fn, f64, monotone", [
    (A.gelu_enf, A.gelu_enf64, False),
    (soft_clip, lambda z: z / (1.0 + tf.abs(z)) + 0.1 * z, True)])
def test_custom_activation_gets_rescale_through_its_secant(tmp_path, fn, f64, monotone):
    """Dense -> Activation(custom function) -> Dense, saved and loaded as a user would: the
    secant multipliers written out in float64; RevealCancel only where the probe finds the
    function monotone."""
    i = keras.Input((6,), name="x")
    h = keras.layers.Activation(fn, name="act")(keras.layers.Dense(5, name="fc")(i))
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(h)), 6, 0.8)
    model.save(tmp_path / "m.keras")
    model = keras.models.load_model(tmp_path / "m.keras")
    x, r = _x((6,), seed=12)
    res = kd.DeepLift(model, rule="rescale").explain(x, references=r[:, :1])
    w1, b1 = (v.astype(np.float64) for v in model.get_layer("fc").get_weights())
    w2 = model.get_layer("out").get_weights()[0].astype(np.float64)
    z, z0 = x.astype(np.float64) @ w1 + b1, r[:, 0].astype(np.float64) @ w1 + b1
    m = (f64(z).numpy() - f64(z0).numpy()) / (z - z0)
    for unit, task in enumerate(res.tasks):
        want = ((x - r[:, 0])[:, :, None] * w1[None] * (m * w2[:, unit])[:, None, :]).sum(-1)
        assert_close(res.contrib["x"][task], want)
    dl = kd.DeepLift(model, rule="reveal-cancel")
    spec = dl._backend.specs[[s.name for s in dl._backend.plan.steps].index("act")]
    assert spec.nonlinear_rule == ("reveal-cancel" if monotone else "rescale")
    assert dl.explain(x, references=r).max_convergence_error < 1e-5


def test_functions_that_mix_elements_are_refused_in_one_line():
    i = keras.Input((6,), name="x")
    h = keras.layers.Activation(centred, name="act")(keras.layers.Dense(5)(i))
    with pytest.raises(ValueError) as e:
        kd.DeepLift(keras.Model(i, keras.layers.Dense(1)(h)))
    msg = str(e.value)
    assert msg.startswith("layer 'act' (Activation) has no DeepLIFT rule: its activation "
                          "'centred' is not elementwise")
    assert "rules=" in msg and "kipoi-deeplift rules" in msg and "\n" not in msg
    assert len(msg) < 300


class AttentionPool(keras.layers.Layer):
    """Enformer-style attention pooling written with keras.ops, as genomics libraries write
    it (softmax over each window of ``pool`` positions of per-channel logits)."""

    def __init__(self, pool=2, **kwargs):
        super().__init__(**kwargs)
        self.pool = pool

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], shape[-1]), name="att_pool_weight")

    def call(self, x):
        xr = keras.ops.reshape(x, (-1, x.shape[1] // self.pool, self.pool, x.shape[2]))
        return keras.ops.sum(xr * keras.ops.softmax(keras.ops.matmul(xr, self.w), axis=-2),
                             axis=-2)


def test_a_custom_layer_is_scored_through_the_operations_it_is_made_of():
    """A custom attention-pooling layer has no row: it is walked into its keras.ops (reshape,
    matmul with its weight, softmax over the window, product, sum) and scored exactly; the
    same weights in built-in layers (the transformer family's pooling, checked against the
    float64 reference above) give the same contributions."""
    i = keras.Input((32, 4), name="seq")
    stem = keras.layers.Activation(A.gelu_enf)(keras.layers.Conv1D(8, 5, padding="same")(i))
    pooled = AttentionPool(2, name="pool")(stem)
    custom = keras.Model(i, keras.layers.Dense(2)(keras.layers.Flatten()(pooled)))
    builtin_out = keras.layers.Flatten()(keras.ops.sum(keras.layers.Multiply()([
        xr := keras.layers.Reshape((16, 2, 8))(stem),
        keras.layers.Softmax(axis=-2)(keras.layers.Dense(8, use_bias=False)(xr))]), axis=-2))
    builtin = keras.Model(i, keras.layers.Dense(2)(builtin_out))
    M.randomise(custom, 43, 0.5)
    builtin.set_weights(custom.get_weights())
    x = M.one_hot(3, 32, seed=8)
    r = kd.references.dinuc_shuffle(x, 3, seed=9)
    got = kd.DeepLift(custom).explain(x, references=r)
    want = kd.DeepLift(builtin).explain(x, references=r)
    assert [s.name for s in kd.DeepLift(custom)._backend.plan.steps if s.name.startswith(
        "pool/")], "the custom layer was not walked into its parts"
    np.testing.assert_allclose(got.contrib["seq"][got.tasks[0]],
                               want.contrib["seq"][want.tasks[0]], rtol=1e-4, atol=1e-6)
    assert got.max_convergence_error < 1e-5


@pytest.mark.parametrize("rule", ["reveal-cancel", "genomics-default", "rescale"])
def test_prelu_after_dense_under_every_rule_matches_the_float64_reference(rule):
    """Dense -> PReLU (a slope per unit) -> Dense: RevealCancel evaluates the layer on stacked
    points (it crashed on the layer's rank check before); against the reference's RevealCancel
    with the same per-unit function."""
    i = keras.Input((6,), name="x")
    h = keras.layers.PReLU(name="prelu")(keras.layers.Dense(5, name="fc")(i))
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(h)), 44, 0.8)
    alpha = np.abs(model.get_layer("prelu").get_weights()[0]) + 0.1
    model.get_layer("prelu").set_weights([alpha])
    a64 = tf.constant(alpha, tf.float64)

    def forward(inputs, hk):
        f = lambda z: tf.maximum(z, 0.0) + a64 * tf.minimum(z, 0.0)    # noqa: E731
        h = hk.lin_nl(f, inputs[0], model.get_layer("fc"), "dense")
        return [ref.dense(h, model.get_layer("out"))]

    x, r = _x((6,), seed=13)
    check_forward(model, forward, [x])
    res = kd.DeepLift(model, rule=rule).explain(x, references=r)
    for task in (0, 1):
        want, _ = ref.deeplift_rescale(forward, x, r, task, rules=RULES[rule])
        assert_close(res.contrib["x"][res.tasks[task]], want)
    assert res.max_convergence_error < 1e-5


CUSTOM = '''import keras


@keras.saving.register_keras_serializable(package="mymodel")
def gelu_enf(x):
    return keras.ops.sigmoid(1.702 * x) * x


OBJECTS = {"gelu_enf": gelu_enf}
'''


def test_a_transformer_model_directory_scores_from_the_command_line(tmp_path):
    """As a user would: a Kipoi model directory holding a `.keras` transformer with a custom
    activation (from the model's custom_objects file), LayerNorm and attention, scored by
    `kipoi-deeplift score` with its dataloader; the file sums to delta."""
    import h5py

    import _kipoi_dirs as K
    from _cli import run_cli

    world = K.make_world(tmp_path)
    d = tmp_path / "transformer"
    d.mkdir()
    (d / "custom.py").write_text(CUSTOM)
    space: dict = {}
    exec(compile(CUSTOM, "custom.py", "exec"), space)
    i = keras.Input((K.LENGTH, 4), name="seq")
    h = keras.layers.Activation(space["gelu_enf"])(keras.layers.Conv1D(8, 5, padding="same")(i))
    n = keras.layers.LayerNormalization()(h)
    h = keras.layers.Add()([h, keras.layers.MultiHeadAttention(2, 4)(n, n)])
    out = keras.layers.Dense(2, activation="sigmoid")(keras.layers.GlobalAveragePooling1D()(h))
    K.write_model_dir(d, model=M.randomise(keras.Model(i, out), 45, 0.5))
    import yaml

    spec = yaml.safe_load((d / "model.yaml").read_text())
    spec["args"]["custom_objects"] = "custom.py"
    (d / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    status, stdout, stderr = run_cli("score", str(d), "--source", "dir", "--dataloader-args",
                                     world["args"], "-o", str(tmp_path / "t.h5"),
                                     "--n-references", "3", "--rule", "genomics-default")
    assert status == 0, stderr
    with h5py.File(tmp_path / "t.h5") as f:
        assert f.attrs["rule"] == "genomics-default" and list(f["delta"]) == ["CTCF", "GATA1"]
        for task in f["delta"]:
            contrib, delta = f[f"contrib/seq/{task}"][:], f[f"delta/{task}"][:]
            assert contrib.shape == (len(K.INTERVALS), K.LENGTH, 4)
            np.testing.assert_allclose(contrib.sum((1, 2)), delta, atol=1e-5)


LINEAR_OPS = {
    "mean": lambda h: keras.ops.mean(h, axis=1),
    "sum": lambda h: keras.ops.sum(h, axis=-1),
    "reshape": lambda h: keras.ops.reshape(h, (-1, 4, 6)),
    "transpose": lambda h: keras.ops.transpose(h, (0, 2, 1)),
    "slice": lambda h: h[:, 2:6, ::-1],
    "concatenate": lambda h: keras.ops.concatenate([h, h[:, ::-1]], axis=-1),
    "scale": lambda h: 2.0 * h / 3.0 - 1.0,
    "expand_dims": lambda h: keras.ops.expand_dims(h, 1),
    "flip": lambda h: keras.ops.flip(h, axis=1),
    "matmul by a constant": lambda h: keras.ops.matmul(h, np.arange(9.0, dtype="float32")
                                                       .reshape(3, 3)),
}


@pytest.mark.parametrize("op", sorted(LINEAR_OPS))
def test_linear_keras_operations_give_gradient_times_delta(op):
    """Keras operations that are linear in the tensor they read (nodes of a functional graph,
    not layers): contributions are the model's autodiff gradient times (x - r)."""
    i = keras.Input((8, 3), name="x")
    h = LINEAR_OPS[op](keras.layers.Dense(3, name="a")(i))
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(
        keras.layers.Flatten()(h))), 46, 0.7)
    x, r = _x(seed=14)
    res = kd.DeepLift(model, rule="rescale").explain(x, references=r[:, :1])
    xs = tf.constant(x)
    for unit, task in enumerate(res.tasks):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = model(xs, training=False)[:, unit]
        want = tape.gradient(y, xs).numpy().astype(np.float64) * (x - r[:, 0])
        np.testing.assert_allclose(res.contrib["x"][task], want, rtol=1e-4, atol=1e-5)
    kinds = {s.name: sp.layer_rule.kind for s, sp in zip(
        kd.DeepLift(model)._backend.plan.steps, kd.DeepLift(model)._backend.specs)}
    assert set(kinds.values()) == {"linear"}, kinds


class RelativeAttention(keras.layers.Layer):
    """Self-attention with a relative-position term, as Enformer-style layers write it with
    keras.ops: content logits (q + u)·k, position logits q·r where r comes from position
    features that do not depend on the input, softmax over keys, weights·v, an output Dense."""

    def __init__(self, heads=2, size=4, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.size = heads, size

    def build(self, shape):
        units = self.heads * self.size
        self.q = keras.layers.Dense(units, use_bias=False, name="q_layer")
        self.k = keras.layers.Dense(units, use_bias=False, name="k_layer")
        self.v = keras.layers.Dense(units, use_bias=False, name="v_layer")
        self.r = keras.layers.Dense(units, use_bias=False, name="r_k_layer")
        self.o = keras.layers.Dense(shape[-1], name="embedding_layer")
        for layer, width in ((self.q, shape[-1]), (self.k, shape[-1]), (self.v, shape[-1]),
                             (self.r, 3), (self.o, units)):
            layer.build((None, width))
        self.u = self.add_weight(shape=(1, self.heads, 1, self.size), name="r_w_bias")

    def positions(self, t):
        """(T, 3) features of each position (no input dependence)."""
        p = keras.ops.cast(keras.ops.arange(t), "float32")[:, None] / t
        return keras.ops.concatenate([p, p * p, keras.ops.sin(3.0 * p)], axis=-1)

    def call(self, x):
        t = x.shape[1]

        def heads(y):
            return keras.ops.transpose(keras.ops.reshape(y, (-1, t, self.heads, self.size)),
                                       (0, 2, 1, 3))

        q = heads(self.q(x)) * self.size ** -0.5
        k, v = heads(self.k(x)), heads(self.v(x))
        r = keras.ops.transpose(keras.ops.reshape(self.r(self.positions(t)),
                                                  (t, self.heads, self.size)), (1, 2, 0))
        logits = keras.ops.einsum("bhid,bhjd->bhij", q + self.u, k) + keras.ops.matmul(q, r)
        out = keras.ops.matmul(keras.ops.softmax(logits), v)
        return self.o(keras.ops.reshape(keras.ops.transpose(out, (0, 2, 1, 3)),
                                        (-1, t, self.heads * self.size)))


def test_relative_position_attention_matches_the_float64_reference():
    """A custom attention layer with a relative-position term, walked into its operations:
    the position term is a constant (linear in q), content and value products take the
    two-factor rule; against the reference written from its weights."""
    i = keras.Input((10, 3), name="x")
    layer = RelativeAttention(name="att")
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(
        keras.layers.Flatten()(layer(keras.layers.Dense(5, name="pre")(i))))), 47, 0.6)
    t, hd, sz = 10, 2, 4

    def forward(inputs, hk):
        att = model.get_layer("att")
        h = ref.dense(inputs[0], model.get_layer("pre"))
        w = {n: ref.weights(getattr(att, n))[0] for n in "qkvr"}
        wo, bo = ref.weights(att.o)
        u = tf.constant(att.u.numpy(), tf.float64)

        def heads(y):
            return tf.transpose(tf.reshape(y, (-1, t, hd, sz)), (0, 2, 1, 3))

        q = heads(h @ w["q"]) * sz ** -0.5
        k, v = heads(h @ w["k"]), heads(h @ w["v"])
        pos = tf.constant(att.positions(t).numpy(), tf.float64)
        r = tf.transpose(tf.reshape(pos @ w["r"], (t, hd, sz)), (1, 2, 0))
        logits = hk.bilinear(lambda a, b: tf.einsum("bhid,bhjd->bhij", a, b), q + u, k) + q @ r
        out = hk.bilinear(tf.matmul, A.softmax64(hk, logits, -1), v)
        out = tf.reshape(tf.transpose(out, (0, 2, 1, 3)), (-1, t, hd * sz)) @ wo + bo
        return [ref.dense(tf.reshape(out, (out.shape[0], -1)), model.get_layer("out"))]

    x, r = _x((10, 3), seed=15)
    check_forward(model, forward, [x])
    res = kd.DeepLift(model, rule="rescale").explain(x, references=r)
    assert any(s.name.startswith("att/") for s in kd.DeepLift(model)._backend.plan.steps)
    for task in (0, 1):
        want, delta = ref.deeplift_rescale(forward, x, r, task)
        assert_close(res.contrib["x"][res.tasks[task]], want)
        np.testing.assert_allclose(res.delta[res.tasks[task]], delta.mean(1), rtol=1e-5,
                                   atol=1e-5)
    # float32 rounding of contributions up to ~30: relative to the output's scale
    scale = max(1.0, max(float(np.abs(d).max()) for d in res.delta.values()))
    assert res.max_convergence_error < 1e-5 * scale


def test_a_function_stated_monotone_gets_reveal_cancel(monkeypatch):
    """gelu_enf is not monotone (the probe finds the dip below 0): Rescale under
    reveal-cancel, unless the user states it monotone; either way exact."""
    from kipoi_deeplift.backends.tf import rules

    monkeypatch.setattr(rules, "_STATED_MONOTONE", set())
    i = keras.Input((6,), name="x")
    h = keras.layers.Activation(A.gelu_enf, name="act")(keras.layers.Dense(5, name="fc")(i))
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, name="out")(h)), 6, 0.8)

    def act_rule():
        dl = kd.DeepLift(model, rule="reveal-cancel")
        steps = [s.name for s in dl._backend.plan.steps]
        return dl._backend.specs[steps.index("act")].nonlinear_rule, dl

    assert act_rule()[0] == "rescale"
    kd.state_monotone(A.gelu_enf)
    rule, dl = act_rule()
    assert rule == "reveal-cancel"
    x, r = _x((6,), seed=16)
    assert dl.explain(x, references=r).max_convergence_error < 1e-5


# -- what a careless rule or probe would get wrong ------------------------------------------
def _small(make, seed=48, K=keras):
    i = K.Input((12, 4), name="x")
    h = K.layers.Conv1D(5, 3, name="conv")(i)
    return M.randomise(K.Model(i, K.layers.Dense(2, name="out")(K.layers.Flatten()(make(h)))),
                       seed, 0.5)


def _explained_against_the_model(model, rule="rescale"):
    """Scores of 3 one-hot sequences against one all-zero reference; the deltas must be the
    model's own output differences (logits: the models here end linear)."""
    x = M.one_hot(3, 12, seed=9)
    r = np.zeros((1, 12, 4), np.float32)
    res = kd.DeepLift(model, rule=rule).explain(x, references=r)
    want = model.predict(x, verbose=0) - model.predict(r, verbose=0)
    for unit, task in enumerate(res.tasks):
        np.testing.assert_allclose(res.delta[task], want[:, unit], rtol=1e-4, atol=1e-5)
    assert res.max_convergence_error < 1e-5
    return res


def test_a_layer_called_with_arguments_keeps_them():
    """tf.nn.leaky_relu(h, alpha=0.9) in a tf_keras model (a TFOpLambda layer): probed and
    scored with alpha=0.9, not the default."""
    import tensorflow as tf
    import tf_keras

    model = _small(lambda h: tf.nn.leaky_relu(h, alpha=0.9), K=tf_keras)
    _explained_against_the_model(model)


@pytest.mark.parametrize("make", [lambda h: 2.0 / (h * h + 1.0),
                                  lambda h: keras.ops.log(keras.ops.softplus(h)),
                                  lambda h: keras.ops.divide(h, 1.5 + keras.ops.sigmoid(h))],
                         ids=["constant over x", "log of softplus", "x over a function of x"])
def test_operations_by_argument_position_and_domain(make):
    _explained_against_the_model(_small(make))


@pytest.mark.parametrize("make, message", [
    (lambda h: keras.ops.average(h, axis=1, weights=keras.ops.exp(h)), r"'average' \(Average\)"),
    (lambda h: keras.ops.cast(h > 0, "float32") * h, r"'greater' \(Greater\).*bool"),
])
def test_operations_that_are_not_linear_where_they_look_it_are_refused(make, message):
    with pytest.raises(ValueError, match=message) as e:
        kd.DeepLift(_small(make))
    assert "\n" not in str(e.value)


def test_time_distributed_output_with_a_final_sigmoid_is_scored_at_its_logits():
    i = keras.Input((12, 4), name="x")
    out = keras.layers.TimeDistributed(keras.layers.Dense(2, activation="sigmoid"), name="td")(
        keras.layers.Conv1D(5, 3)(i))
    model = M.randomise(keras.Model(i, out), 49, 0.5)
    x = M.one_hot(3, 12, seed=9)
    res = kd.DeepLift(model).explain(x, n_references=2, tasks=[0, 5])
    p = model.predict(x, verbose=0).reshape(3, -1)
    for task, unit in zip(res.tasks, (0, 5)):
        np.testing.assert_allclose(1 / (1 + np.exp(-res.preds[task])), p[:, unit], rtol=1e-5,
                                   atol=1e-6)
    assert res.max_convergence_error < 1e-5


class Gate(keras.layers.Layer):
    """x times its own mean over positions (keras.ops): traceable into its parts."""

    def call(self, t):
        return t * keras.ops.mean(t, axis=1, keepdims=True)


def test_a_rule_given_for_one_model_wins_over_walking_the_layer():
    seen = []

    def rule(ctx, layer, args, kwargs):
        seen.append(layer.name)
        from kipoi_deeplift.backends.tf.products import product

        return product(ctx, args[0], tf.reduce_mean(args[0], axis=1, keepdims=True))

    model = _small(lambda h: Gate(name="gate")(h))
    dl = kd.DeepLift(model, rules={Gate: rule})
    assert "gate" in [s.name for s in dl._backend.plan.steps]
    # Without it, the layer is walked into its parts: the same exact scores.
    walked = kd.DeepLift(model)
    assert any(s.name.startswith("gate/") for s in walked._backend.plan.steps)
    x = M.one_hot(3, 12, seed=9)
    a = dl.explain(x, references=np.zeros((1, 12, 4), np.float32))
    assert seen, "the given rule was not used"
    b = _explained_against_the_model(model)
    np.testing.assert_allclose(a.contrib["x"][a.tasks[0]], b.contrib["x"][b.tasks[0]],
                               rtol=1e-4, atol=1e-6)


def test_a_rule_that_computes_another_function_is_caught_before_scoring():
    """The walked steps' outputs are compared with the model's own once: a rule that computes
    something else (here twice the layer) is refused, not scored."""
    model = _small(lambda h: Gate(name="gate")(h))
    dl = kd.DeepLift(model, rules={Gate: lambda ctx, layer, args, kwargs: 2.0 * layer(*args)})
    with pytest.raises(ValueError, match="differs by .* from what its layers' rules compute"):
        dl.explain(M.one_hot(2, 12), n_references=2)
