"""The DeepLIFT rules: a table from layer type to one small function.

Every tensor in a DeepLIFT pass holds the N inputs followed by their N*K references in one
batch. A rule is ``fn(ctx, layer, args, kwargs) -> outputs``: it computes the layer's forward
output for the whole batch and, through ``tf.custom_gradient``, makes the backward pass carry
DeepLIFT multipliers instead of gradients. Linear layers need nothing special (their gradient is
their multiplier); nonlinear ones pair each reference row with its input row.

Adding a layer type means adding a row to ``LAYER_RULES`` (or calling :func:`register_rule`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import tensorflow as tf

Rule = Callable[["Context", Any, tuple, dict], Any]

#: Activations applied elementwise: each gets the nonlinearity rule (Rescale, ...).
ELEMENTWISE_ACTIVATIONS = frozenset({
    "relu", "sigmoid", "tanh", "softplus", "softsign", "elu", "selu", "gelu", "swish", "silu",
    "exponential", "hard_sigmoid", "hard_silu", "hard_swish", "relu6", "leaky_relu", "mish",
    "celu", "log_sigmoid",
})
#: Activations scored before they are applied when they end the model.
FINAL_ACTIVATIONS = frozenset({"sigmoid", "softmax"})
_LINEAR_ACTIVATIONS = frozenset({"linear", "identity", None})


def activation_name(act) -> str | None:
    """The registered name of a Keras activation function (``None`` for no activation)."""
    if act is None:
        return None
    return getattr(act, "__name__", type(act).__name__).lower()


@dataclass
class Context:
    """State of one pass through the model, handed to every rule.

    ``mode`` is ``"deeplift"`` (rows paired as inputs then references; the backward pass carries
    multipliers into the reference rows) or ``"gradient"`` (plain autodiff).
    """

    mode: str
    n: Any                     # number of input rows (scalar tensor)
    k: Any                     # references per input (scalar tensor)
    nonlinear_rule: str = "rescale"
    eps: float = 1e-7
    is_output_step: bool = False
    logits: dict = field(default_factory=dict)
    current_out_keys: list = field(default_factory=list)

    # -- row bookkeeping -------------------------------------------------------------------
    def pair(self, z):
        """Split a batch into inputs (N, 1, ...) and references (N, K, ...)."""
        zx = z[: self.n][:, None]
        zr = tf.reshape(z[self.n:], tf.concat([[self.n, self.k], tf.shape(z)[1:]], 0))
        return zx, zr

    def paired_op(self, forward: Callable, grad: Callable, z):
        """``forward(z)`` whose backward pass is ``grad(z, y, upstream)`` (all rows).

        ``grad`` must give the input rows zero gradient: they are the point the multipliers
        are taken at, not a path to the target. :func:`refs_only` builds such a ``grad`` from
        a function of the reference rows alone.
        """
        if self.mode == "gradient":
            return forward(z)

        @tf.custom_gradient
        def op(z):
            y = forward(z)

            def backward(up, variables=None):
                dz = grad(z, y, up)
                if variables:
                    return dz, [tf.zeros_like(v) for v in variables]
                return dz

            return y, backward

        return op(z)

    def refs_only(self, grad_refs: Callable) -> Callable:
        """Turn ``grad_refs(z, y, upstream of reference rows)`` into a ``paired_op`` grad."""
        n = self.n

        def grad(z, y, up):
            return tf.concat([tf.zeros_like(z[:n]), grad_refs(z, y, up[n:])], 0)

        return grad

    # -- nonlinearities --------------------------------------------------------------------
    def nonlinear(self, f: Callable, z, name: str | None = None):
        """Apply an elementwise nonlinearity ``f`` (activation ``name``) with the pass's rule."""
        return NONLINEAR_RULES[self.nonlinear_rule](self, f, z, name)

    def activate(self, act, pre):
        """Apply a layer's activation to its pre-activation ``pre``.

        When this layer ends the model with a sigmoid or softmax, ``pre`` is recorded as the
        logit that scores are taken against.
        """
        name = activation_name(act)
        if name in _LINEAR_ACTIVATIONS:
            return pre
        if self.is_output_step and name in FINAL_ACTIVATIONS:
            for key in self.current_out_keys:
                self.logits[key] = (pre, name)
            if name == "softmax":
                return act(pre)
        return self.nonlinear(act, pre, name)


# -- nonlinearity rules ---------------------------------------------------------------------
#: Piecewise-linear activations: their secant is exact in float32, straight from the forward
#: values (y_x - y_r and z_x - z_r carry the same rounding on a linear piece).
PIECEWISE_LINEAR = frozenset({"relu", "relu6", "leaky_relu", "prelu", "thresholded_relu"})


def _split(t, n):
    """(N + N*K, ...) -> inputs (N, 1, ...), references (N, K, ...); shapes stay static in XLA."""
    k = (tf.shape(t)[0] - n) // n
    return t[:n][:, None], tf.reshape(t[n:], tf.concat([[n, k], tf.shape(t)[1:]], 0))


def _apply(m, z, up, n):
    """Upstream times multipliers on the reference rows, zeros on the input rows."""
    _, up_r = _split(up, n)
    g = tf.reshape(up_r * tf.cast(m, up.dtype), tf.shape(up[n:]))
    return tf.concat([tf.zeros_like(z[:n]), g], 0)


def _secant(dz, dy, slope, eps):
    small = tf.abs(dz) < eps
    return tf.where(small, slope, dy / tf.where(small, tf.ones_like(dz), dz))


# XLA fuses the slicing and the few elementwise ops of each secant into one pass over memory;
# unfused they cost more than the layer's own backward pass.
@tf.function(jit_compile=True)
def _rescale_f32(z, y, up, slope, eps):
    n = tf.shape(slope)[0]
    zx, zr = _split(z, n)
    yx, yr = _split(y, n)
    return _apply(_secant(zx - zr, yx - yr, slope[:, None], eps), z, up, n)


def _rescale_f64(f, z, up, slope, eps):
    n = tf.shape(slope)[0]
    zx, zr = _split(tf.cast(z, tf.float64), n)
    dy = tf.cast(f(zx), tf.float64) - tf.cast(f(zr), tf.float64)
    return _apply(_secant(zx - zr, dy, tf.cast(slope[:, None], tf.float64), eps), z, up, n)


def rescale(ctx: Context, f: Callable, z, name: str | None = None):
    """Rescale: multiplier (f(x) - f(r)) / (x - r), or f'(x) where |x - r| < eps.

    For smooth activations the secant is taken in float64: in float32, f(x) - f(r) loses its
    digits when x and r are close, and a wrong multiplier at one neuron spreads to every input
    behind it. Piecewise-linear ones (ReLU) are exact in float32 from the forward values.
    """
    def grad(z, y, up):
        x_rows = z[: ctx.n]
        with tf.GradientTape() as tape:
            tape.watch(x_rows)
            fx = f(x_rows)
        slope = tape.gradient(fx, x_rows)
        if name in PIECEWISE_LINEAR:
            return _rescale_f32(z, y, up, slope, ctx.eps)
        fused = tf.function(lambda *a: _rescale_f64(f, *a), jit_compile=True)
        return fused(z, up, slope, ctx.eps)

    return ctx.paired_op(f, grad, z)


def _plain(ctx: Context, f: Callable, z, name=None):
    return f(z)


#: Rule name -> how an elementwise nonlinearity passes multipliers.
NONLINEAR_RULES: dict[str, Callable] = {
    "rescale": rescale,
    "gradient": _plain,
}


# -- layer rules ----------------------------------------------------------------------------
def _identity(x):
    return x


@contextlib.contextmanager
def _without_activation(layer):
    """Call ``layer`` for its linear part only (its fused activation gets a rule of its own)."""
    saved = layer.activation
    layer.activation = _identity
    try:
        yield
    finally:
        layer.activation = saved


def _call(layer, args, kwargs):
    kwargs = dict(kwargs)
    kwargs.setdefault("training", False)
    return layer(*args, **kwargs)


def linear(ctx: Context, layer, args, kwargs):
    """Affine layers (and reshapes, merges by sum, inference-mode noise): the gradient is exact.

    A fused activation (``Dense(..., activation="relu")``) is split off and handled by its own
    nonlinearity rule.
    """
    act = getattr(layer, "activation", None)
    if activation_name(act) in _LINEAR_ACTIVATIONS:
        return _call(layer, args, kwargs)
    with _without_activation(layer):
        pre = _call(layer, args, kwargs)
    return ctx.activate(act, pre)


def activation_layer(ctx: Context, layer, args, kwargs):
    """``Activation(...)`` layers."""
    return ctx.activate(layer.activation, args[0])


_LAYER_ACTIVATION_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
                           "ThresholdedReLU": "thresholded_relu", "ELU": "elu"}


def elementwise_layer(ctx: Context, layer, args, kwargs):
    """Parameterised elementwise activation layers (ReLU, LeakyReLU, ELU, PReLU)."""
    return ctx.nonlinear(lambda z: _call(layer, (z,), {}), args[0],
                         _LAYER_ACTIVATION_NAMES.get(type(layer).__name__))


def softmax_layer(ctx: Context, layer, args, kwargs):
    """A ``Softmax`` layer ends the model (checked when the plan is built): scored before it."""
    for key in ctx.current_out_keys:
        ctx.logits[key] = (args[0], "softmax")
    return _call(layer, args, {})


def max_pool_gradient(ctx: Context, layer, args, kwargs):
    """Max pooling, multipliers routed as the gradient of the max at the input (original DeepLIFT).

    Not exact for summation-to-delta when the reference's max sits elsewhere in the window.
    """
    def grad_refs(z, y, up_r):
        x_rows = tf.repeat(z[: ctx.n], ctx.k, axis=0)
        with tf.GradientTape() as tape:
            tape.watch(x_rows)
            yx = _call(layer, (x_rows,), {})
        return tape.gradient(yx, x_rows, output_gradients=up_r)

    return ctx.paired_op(lambda z: _call(layer, (z,), kwargs), ctx.refs_only(grad_refs), args[0])


@dataclass(frozen=True)
class LayerRule:
    fn: Rule
    exact: bool = True      # summation-to-delta holds exactly through this rule
    note: str = ""


_LINEAR_TYPES = (
    "InputLayer", "Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
    "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D",
    "DepthwiseConv1D", "DepthwiseConv2D", "LocallyConnected1D", "LocallyConnected2D",
    "BatchNormalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity",
    "Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "Add", "Subtract", "Average", "Concatenate",
)
_MAX_POOL_TYPES = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D",
                   "GlobalMaxPooling2D", "GlobalMaxPooling3D")

#: Layer class name -> rule. One row per layer type.
LAYER_RULES: dict[str, LayerRule] = {
    **{name: LayerRule(linear) for name in _LINEAR_TYPES},
    "Activation": LayerRule(activation_layer),
    **{name: LayerRule(elementwise_layer) for name in
       ("ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU")},
    "Softmax": LayerRule(softmax_layer),
    **{name: LayerRule(max_pool_gradient, exact=False,
                       note="multipliers follow the max at the input (gradient rule)")
       for name in _MAX_POOL_TYPES},
}
_USER_RULES: dict[type, LayerRule] = {}


def register_rule(layer_type: type | str, fn: Rule, exact: bool = True) -> None:
    """Register ``fn(ctx, layer, args, kwargs) -> outputs`` as the rule for a layer type.

    ``layer_type`` is a layer class (matched exactly, before the built-in table) or a class
    name. Inside ``fn``, ``ctx.nonlinear(f, z)`` applies the active nonlinearity rule to an
    elementwise function ``f``, ``ctx.paired_op(forward, ctx.refs_only(grad_refs), z)`` builds
    a custom multiplier, and a layer that is linear needs only ``return layer(*args, **kwargs)``.
    """
    rule = LayerRule(fn, exact)
    if isinstance(layer_type, str):
        LAYER_RULES[layer_type] = rule
    else:
        _USER_RULES[layer_type] = rule


def rule_for(layer) -> LayerRule | None:
    """The rule for ``layer``, or ``None`` when there is none."""
    return _USER_RULES.get(type(layer)) or LAYER_RULES.get(type(layer).__name__)


def check_layer(layer, name: str, is_output: bool) -> LayerRule:
    """The rule for one layer call, or a ``ValueError`` that names the layer and the fix."""
    rule = rule_for(layer)
    kind = type(layer).__name__
    if rule is None:
        raise ValueError(
            f"layer {name!r} ({kind}) has no DeepLIFT rule; supported layer types: "
            f"{', '.join(sorted(LAYER_RULES))}. Register one with "
            "kipoi_deeplift.register_rule(...)"
        )
    act = activation_name(getattr(layer, "activation", None))
    if kind == "Softmax" and not is_output:
        raise ValueError(f"layer {name!r} (Softmax) inside the model has no DeepLIFT rule; "
                         "softmax is supported only as the final activation")
    if act in _LINEAR_ACTIVATIONS or act in ELEMENTWISE_ACTIVATIONS:
        return rule
    if act == "softmax" and is_output:
        return rule
    raise ValueError(
        f"layer {name!r} ({kind}) uses activation {act!r}, which has no DeepLIFT rule"
        + (" inside the model (softmax is supported only as the final activation)"
           if act == "softmax" else f"; supported: {', '.join(sorted(ELEMENTWISE_ACTIVATIONS))}")
    )
