"""The DeepLIFT rules: a table from layer type to one small function.

A rule is ``fn(ctx, layer, args, kwargs) -> outputs``: it computes the layer's forward output for
the whole batch (inputs, then references; see :mod:`.context`) and makes the
backward pass carry DeepLIFT multipliers. Linear layers need nothing special (their gradient is
their multiplier); nonlinearities go through ``ctx.nonlinear`` (Rescale, RevealCancel, ...);
maxima through :mod:`kipoi_deeplift.backends.tf.maxima`.

Adding a layer type means adding a row to ``LAYER_RULES`` (or calling :func:`register_rule`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

import tensorflow as tf

from . import maxima, recurrent
from .context import LINEAR_ACTIVATIONS, Context, activation_name, call_layer

Rule = Callable[[Context, Any, tuple, dict], Any]

#: Activations applied elementwise: each gets the nonlinearity rule (Rescale, ...).
ELEMENTWISE_ACTIVATIONS = frozenset({
    "relu", "sigmoid", "tanh", "softplus", "softsign", "elu", "selu", "gelu", "swish", "silu",
    "exponential", "hard_sigmoid", "hard_silu", "hard_swish", "relu6", "leaky_relu", "mish",
    "celu", "log_sigmoid",
})
#: Layers whose nonlinearity RevealCancel can treat (it needs their weights and input).
KERNEL_TYPES = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D"})
RECURRENT_TYPES = frozenset({"GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D",
                             "CuDNNLSTM", "CuDNNGRU"})


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


def linear(ctx: Context, layer, args, kwargs):
    """Affine layers (and reshapes, merges by sum, inference-mode noise): the gradient is exact.

    A fused activation (``Dense(..., activation="relu")``) is split off and handled by its own
    nonlinearity rule, which learns the layer and its input (RevealCancel needs both).
    """
    act = getattr(layer, "activation", None)
    if activation_name(act) in LINEAR_ACTIVATIONS:
        return call_layer(layer, args, kwargs)
    with _without_activation(layer):
        pre = call_layer(layer, args, kwargs)
    source = (layer, args[0], 1.0) if type(layer).__name__ in KERNEL_TYPES else None
    return ctx.activate(act, pre, source)


#: Layers that are x -> a * x + b per channel at inference (a from :func:`channel_scale`).
_CHANNEL_AFFINE = frozenset({"BatchNormalization", "Dropout", "SpatialDropout1D",
                             "GaussianDropout", "AlphaDropout", "Identity", "Activation"})


def channel_scale(layer):
    """The per-channel factor ``a`` of a layer computing ``a * x + b`` on the last axis at
    inference (1.0 for identities), or ``None`` for any other layer."""
    kind = type(layer).__name__
    if kind not in _CHANNEL_AFFINE:
        return None
    if kind == "Activation":
        return 1.0 if activation_name(layer.activation) in LINEAR_ACTIVATIONS else None
    if kind != "BatchNormalization":
        return 1.0
    axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
    if axis not in (-1, [-1], (-1,)):
        try:        # a positive axis must be the last one (channels last)
            last = len(layer.get_build_config()["input_shape"]) - 1
        except Exception:
            return None
        if axis not in (last, [last], (last,)):
            return None
    inv = 1.0 / tf.sqrt(tf.convert_to_tensor(layer.moving_variance) + layer.epsilon)
    return inv * tf.convert_to_tensor(layer.gamma) if getattr(layer, "scale", True) else inv


def chain_scale(layers) -> Any:
    """The product of :func:`channel_scale` over a chain of per-channel affine layers."""
    out = 1.0
    for layer in layers:
        out = out * channel_scale(layer)
    return out


def activation_layer(ctx: Context, layer, args, kwargs):
    """``Activation(...)`` layers."""
    return ctx.activate(layer.activation, args[0], ctx.kernel_source)


_LAYER_ACTIVATION_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
                           "ThresholdedReLU": "thresholded_relu", "ELU": "elu"}


def elementwise_layer(ctx: Context, layer, args, kwargs):
    """Parameterised elementwise activation layers (ReLU, LeakyReLU, ELU, PReLU)."""
    return ctx.nonlinear(lambda z: call_layer(layer, (z,), {}), args[0],
                         _LAYER_ACTIVATION_NAMES.get(type(layer).__name__), ctx.kernel_source)


def softmax_layer(ctx: Context, layer, args, kwargs):
    """A ``Softmax`` layer ends the model (checked when the plan is built): scored before it."""
    for key in ctx.step.out_keys:
        ctx.logits[key] = (args[0], "softmax")
    return call_layer(layer, args, {})


def _lambda_linear(ctx: Context, layer, args, kwargs):
    return call_layer(layer, args, kwargs)


def _lambda_max(ctx: Context, layer, args, kwargs):
    return maxima.max_op(ctx, lambda t: layer(t), args[0])


def _lambda_min(ctx: Context, layer, args, kwargs):
    return maxima.min_op(ctx, lambda t: layer(t), args[0])


def softmax_weighted_sum(ctx: Context, layer, args, kwargs):
    """BPNet's profile objective with the weights held constant: in a DeepLIFT pass every
    reference is weighted by the softmax of its input sequence, so the objective is linear in
    the logits and summation-to-delta holds."""
    import tensorflow as tf

    z = args[0]
    w = tf.nn.softmax(z[: ctx.n] if ctx.mode == "deeplift" else z, axis=1)
    if ctx.mode == "deeplift":
        w = tf.concat([w, tf.repeat(w, ctx.k, axis=0)], 0)
    return tf.reduce_sum(tf.stop_gradient(w) * z, axis=[1, 2])[:, None]


@dataclass(frozen=True)
class LayerRule:
    """A rule and what is known of it: whether summation-to-delta holds exactly through it."""

    fn: Rule
    exact: bool = True
    note: str = ""
    max_like: bool = False   # exact only with maxpool="exact"
    resolve: Callable | None = None   # (layer, name) -> LayerRule, for rules chosen per layer


def _resolve_recurrent(layer, name: str) -> "LayerRule":
    if type(layer).__name__ == "Bidirectional":
        recurrent.check_bidirectional(layer)
        return LayerRule(recurrent.bidirectional)
    recurrent._check(layer)
    return LayerRule(recurrent.lstm)


def _resolve_lambda(layer, name: str) -> "LayerRule":
    kind, found = maxima.classify_lambda(layer)
    if kind == "linear":
        return LayerRule(_lambda_linear)
    if kind in ("max", "min"):
        return LayerRule(_lambda_max if kind == "max" else _lambda_min, max_like=True,
                         note="max-like Lambda")
    raise ValueError(
        f"layer {name!r} (Lambda) has no DeepLIFT rule: it computes {found} (linear ops and "
        "single max/min reductions are recognised); register one with "
        "kipoi_deeplift.register_rule(...)")


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
    # kipoi_deeplift.kipoi.zoo_layers, for rebuilt published architectures (scBasset's three
    # augmentation layers are the identity at inference: their flag is a constant False)
    "ConstantPadding1D", "ReverseComplement", "StochasticReverseComplement", "StochasticShift",
    "SwitchReverse",
)
_MAX_POOL_TYPES = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D",
                   "GlobalMaxPooling2D", "GlobalMaxPooling3D")
_MAX_NOTE = "multipliers follow the max at the input (gradient rule); maxpool='exact' is exact"

#: Layer class name -> rule. One row per layer type.
LAYER_RULES: dict[str, LayerRule] = {
    **{name: LayerRule(linear) for name in _LINEAR_TYPES},
    "Activation": LayerRule(activation_layer),
    **{name: LayerRule(elementwise_layer) for name in
       ("ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU",
        "Threshold", "GELU")},   # zoo_layers: torch's nn.Threshold, scBasset's GELU
    "Softmax": LayerRule(softmax_layer),
    **{name: LayerRule(maxima.pooling, max_like=True, note=_MAX_NOTE) for name in _MAX_POOL_TYPES},
    "Maximum": LayerRule(maxima.maximum_merge, max_like=True, note=_MAX_NOTE),
    "Minimum": LayerRule(maxima.minimum_merge, max_like=True, note=_MAX_NOTE),
    "Lambda": LayerRule(_lambda_linear, resolve=_resolve_lambda),
    "SoftmaxWeightedSum": LayerRule(softmax_weighted_sum),
    "LSTM": LayerRule(recurrent.lstm, resolve=_resolve_recurrent),
    "Bidirectional": LayerRule(recurrent.bidirectional, resolve=_resolve_recurrent),
}
_USER_RULES: dict[type, LayerRule] = {}
_REGISTERED: set[str] = set()      # rows added by register_rule (not built in)


def register_rule(layer_type: type | str, fn: Rule, exact: bool = True) -> None:
    """Register ``fn(ctx, layer, args, kwargs) -> outputs`` as the rule for a layer type.

    ``layer_type`` is a layer class (matched exactly, before the built-in table) or a class
    name. Inside ``fn``, ``ctx.nonlinear(f, z)`` applies the active nonlinearity rule to an
    elementwise function ``f``, ``maxima.max_op(ctx, f, z)`` a max-like one,
    ``ctx.paired_op(forward, ctx.refs_only(grad_refs), z)`` builds a custom multiplier, and a
    layer that is linear needs only ``return layer(*args, **kwargs)``.
    """
    rule = LayerRule(fn, exact)
    if isinstance(layer_type, str):
        if layer_type in LAYER_RULES and layer_type not in _REGISTERED:
            raise ValueError(f"{layer_type} has a built-in rule; give yours for one model with "
                             "DeepLift(model, rules={...})")
        LAYER_RULES[layer_type] = rule
        _REGISTERED.add(layer_type)
    else:
        _USER_RULES[layer_type] = rule


def unregister_rule(layer_type: type | str) -> None:
    """Take back a rule given with :func:`register_rule` (a built-in row stays)."""
    if isinstance(layer_type, str):
        if layer_type in _REGISTERED:
            LAYER_RULES.pop(layer_type, None)
            _REGISTERED.discard(layer_type)
    else:
        _USER_RULES.pop(layer_type, None)


def rule_for(layer) -> LayerRule | None:
    """The rule for ``layer``, or ``None`` when there is none."""
    return _USER_RULES.get(type(layer)) or LAYER_RULES.get(type(layer).__name__)


def check_layer(layer, name: str, is_output: bool) -> LayerRule:
    """The rule for one layer call, or a ``ValueError`` that names the layer and the fix."""
    rule = rule_for(layer)
    kind = type(layer).__name__
    if rule is None and kind in RECURRENT_TYPES:
        raise ValueError(
            f"layer {name!r} ({kind}) is recurrent: kipoi_deeplift has a DeepLIFT rule for "
            "LSTM (and Bidirectional LSTM) only, none yet for GRU or SimpleRNN. Register one "
            "with kipoi_deeplift.register_rule(...)")
    if rule is None:
        raise ValueError(
            f"layer {name!r} ({kind}) has no DeepLIFT rule; supported layer types: "
            f"{', '.join(sorted(LAYER_RULES))}. Register one with "
            "kipoi_deeplift.register_rule(...)"
        )
    if rule.resolve is not None:
        rule = rule.resolve(layer, name)
    act = activation_name(getattr(layer, "activation", None))
    if kind == "Softmax" and not is_output:
        raise ValueError(f"layer {name!r} (Softmax) inside the model has no DeepLIFT rule; "
                         "softmax is supported only as the final activation")
    if act in LINEAR_ACTIVATIONS or act in ELEMENTWISE_ACTIVATIONS:
        return rule
    if act == "softmax" and is_output:
        return rule
    raise ValueError(
        f"layer {name!r} ({kind}) uses activation {act!r}, which has no DeepLIFT rule"
        + (" inside the model (softmax is supported only as the final activation)"
           if act == "softmax" else f"; supported: {', '.join(sorted(ELEMENTWISE_ACTIVATIONS))}")
    )
