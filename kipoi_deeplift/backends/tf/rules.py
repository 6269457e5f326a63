"""The DeepLIFT rules: a table from layer type to one small function, and how a layer finds
its row.

A rule is ``fn(ctx, layer, args, kwargs) -> outputs`` (the functions are in :mod:`.layers`; see
there). This module holds the table (``LAYER_RULES``), the registry users add to
(:func:`register_rule`, :func:`state_monotone`) and the choice of a rule for one layer call
(:func:`check_layer`: a row, a rule found by probing or tracing what the layer computes, or a
refusal that names the way out).

Adding a layer type means adding a row to ``LAYER_RULES`` (or calling :func:`register_rule`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable

import tensorflow as tf

from . import attention, maxima, normalization, ops, probe, recurrent
from .context import LINEAR_ACTIVATIONS, activation_name, call_layer
# The rule functions, importable from here as before the split (resolve.py, passes.py, tests).
from .layers import (KERNEL_TYPES, Rule, activation_layer, as_elementwise,  # noqa: F401
                     chain_scale, channel_scale, dot_layer, elementwise_layer, lambda_linear,
                     lambda_max, lambda_min, linear, multiply_layer, softmax_layer,
                     softmax_weighted_sum, time_distributed)

#: Activations applied elementwise: each gets the nonlinearity rule (Rescale, ...).
ELEMENTWISE_ACTIVATIONS = frozenset({
    "relu", "sigmoid", "tanh", "softplus", "softsign", "elu", "selu", "gelu", "swish", "silu",
    "exponential", "hard_sigmoid", "hard_silu", "hard_swish", "relu6", "leaky_relu", "mish",
    "celu", "log_sigmoid",
})
#: Named activations that are not monotone: Rescale there under RevealCancel (see
#: :func:`state_monotone`).
NON_MONOTONE = frozenset({"gelu", "swish", "silu", "mish", "hard_silu", "hard_swish"})
RECURRENT_TYPES = frozenset({"GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D",
                             "CuDNNLSTM", "CuDNNGRU"})


@dataclass(frozen=True)
class LayerRule:
    """A rule and what is known of it.

    Parameters
    ----------
    fn : Rule
        ``fn(ctx, layer, args, kwargs)`` (see :mod:`.layers`).
    exact : bool
        Whether summation-to-delta holds exactly through it.
    note : str
        Why the rule is not exact (named when summation-to-delta fails).
    max_like : bool
        Exact only with maxpool="exact".
    resolve : callable, optional
        ``(layer, name) -> LayerRule``, for rules chosen per layer.
    kind : str
        For the table of supported layers.
    monotone : bool
        Whether the elementwise function it applies is monotone (RevealCancel is used only on
        monotone ones; Rescale elsewhere).
    inferred : bool
        Found by probing or tracing what the layer computes.
    """

    fn: Rule
    exact: bool = True
    note: str = ""
    max_like: bool = False   # exact only with maxpool="exact"
    resolve: Callable | None = None   # (layer, name) -> LayerRule, for rules chosen per layer
    kind: str = "linear"
    monotone: bool = True
    inferred: bool = False   # found by probing or tracing what the layer computes


def _resolve_recurrent(layer, name: str) -> "LayerRule":
    if type(layer).__name__ == "Bidirectional":
        recurrent.check_bidirectional(layer)
        return LayerRule(recurrent.bidirectional)
    recurrent._check(layer)
    return LayerRule(recurrent.lstm)


def _resolve_lambda(layer, name: str) -> "LayerRule":
    kind, found = maxima.classify_lambda(layer)
    if kind == "linear":
        return LayerRule(lambda_linear)
    if kind in ("max", "min"):
        return LayerRule(lambda_max if kind == "max" else lambda_min, max_like=True,
                         note="max-like Lambda", kind="max")
    shape = getattr(getattr(layer, "input", None), "shape", None)
    rule = _elementwise_rule(lambda z: call_layer(layer, (z,), {}), shape)
    if rule is not None:
        return rule
    raise refusal(name, "Lambda", f"it computes {found}, which is neither linear, a single "
                  "max/min nor elementwise")


def _resolve_time_distributed(layer, name: str) -> "LayerRule":
    inner = check_layer(layer.layer, f"{name}/{layer.layer.name}", False)
    return replace(inner, fn=functools.partial(time_distributed, inner_rule=inner),
                   resolve=None)


def _resolve_attention(layer, name: str) -> "LayerRule":
    attention.check_attention(layer, name)
    return LayerRule(attention.multi_head_attention, kind="attention")


def _resolve_dot(layer, name: str) -> "LayerRule":
    if getattr(layer, "normalize", False):
        raise refusal(name, "Dot", "normalize=True (cosine) has no rule yet")
    return LayerRule(dot_layer, kind="product")


def _elementwise_rule(f: Callable, shape) -> "LayerRule | None":
    """A nonlinearity rule for ``f`` if the probes find it elementwise (see :mod:`.probe`)."""
    ok, _ = probe.is_elementwise(f, shape)
    if not ok:
        return None
    return LayerRule(elementwise_layer, kind="elementwise", inferred=True,
                     monotone=probe.is_monotone(f, shape))


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
_MAX_NOTE = "multipliers follow the max at the input (gradient rule); maxpool='exact' is exact"

#: Layer class name -> rule. One row per layer type.
LAYER_RULES: dict[str, LayerRule] = {
    **{name: LayerRule(linear) for name in _LINEAR_TYPES},
    "Activation": LayerRule(activation_layer, kind="elementwise"),
    **{name: LayerRule(elementwise_layer, kind="elementwise") for name in
       ("ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU")},
    "Softmax": LayerRule(softmax_layer, kind="softmax"),
    **{name: LayerRule(maxima.pooling, max_like=True, note=_MAX_NOTE, kind="max")
       for name in _MAX_POOL_TYPES},
    "Maximum": LayerRule(maxima.maximum_merge, max_like=True, note=_MAX_NOTE, kind="max"),
    "Minimum": LayerRule(maxima.minimum_merge, max_like=True, note=_MAX_NOTE, kind="max"),
    "Lambda": LayerRule(lambda_linear, resolve=_resolve_lambda, kind="traced"),
    "LSTM": LayerRule(recurrent.lstm, resolve=_resolve_recurrent, kind="recurrent"),
    "Bidirectional": LayerRule(recurrent.bidirectional, resolve=_resolve_recurrent,
                               kind="recurrent"),
    "Multiply": LayerRule(multiply_layer, kind="product"),
    "Dot": LayerRule(dot_layer, resolve=_resolve_dot, kind="product"),
    "TimeDistributed": LayerRule(time_distributed, resolve=_resolve_time_distributed,
                                 kind="wrapper"),
    "LayerNormalization": LayerRule(normalization.layer_normalization, kind="normalisation"),
    "RMSNormalization": LayerRule(normalization.rms_normalization, kind="normalisation"),
    "UnitNormalization": LayerRule(normalization.unit_normalization, kind="normalisation"),
    "MultiHeadAttention": LayerRule(attention.multi_head_attention, resolve=_resolve_attention,
                                    kind="attention"),
}
_USER_RULES: dict[type, LayerRule] = {}
_REGISTERED: set[str] = set()      # rows added by register_rule (not built in)


def register_rule(layer_type: type | str, fn: Rule, exact: bool = True) -> None:
    """Register ``fn(ctx, layer, args, kwargs) -> outputs`` as the rule for a layer type.

    Inside ``fn``, ``ctx.nonlinear(f, z)`` applies the active nonlinearity rule to an
    elementwise function ``f``, ``maxima.max_op(ctx, f, z)`` a max-like one,
    ``ctx.paired_op(forward, ctx.refs_only(grad_refs), z)`` builds a custom multiplier, and a
    layer that is linear needs only ``return layer(*args, **kwargs)``.

    Parameters
    ----------
    layer_type : type or str
        A layer class (matched exactly, before the built-in table) or a class name (which
        must not have a built-in row).
    fn : callable
        The rule: ``fn(ctx, layer, args, kwargs)`` returns the layer's outputs for all rows
        (inputs, then references; (N * (K + 1), ...)).
    exact : bool
        Whether summation-to-delta holds exactly through it (else it is blamed when it fails).
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


_STATED_MONOTONE: set = set()       # functions, layer classes or names stated monotone


def state_monotone(what) -> None:
    """State that an elementwise function is monotone, so that RevealCancel applies to it
    where the probe (a sweep of [-10, 10]) would not find it so.

    Parameters
    ----------
    what : callable, str or type
        An activation function, its name, or a layer class.
    """
    _STATED_MONOTONE.add(what)


def _stated(*keys) -> bool:
    """Whether any of ``keys`` (a function, a layer class, a name) was stated monotone."""
    for key in keys:
        try:
            if key is not None and key in _STATED_MONOTONE:
                return True
        except TypeError:      # unhashable: cannot have been stated
            continue
    return False


def builtin_rules() -> dict[str, LayerRule]:
    """The built-in rows of ``LAYER_RULES``.

    Returns
    -------
    dict of str to LayerRule
        Layer class name -> rule, without the rows added by :func:`register_rule`.
    """
    return {k: v for k, v in LAYER_RULES.items() if k not in _REGISTERED}


def unregister_rule(layer_type: type | str) -> None:
    """Take back a rule given with :func:`register_rule` (a built-in row stays).

    Parameters
    ----------
    layer_type : type or str
        The layer class or class name it was registered for.
    """
    if isinstance(layer_type, str):
        if layer_type in _REGISTERED:
            LAYER_RULES.pop(layer_type, None)
            _REGISTERED.discard(layer_type)
    else:
        _USER_RULES.pop(layer_type, None)


def rule_for(layer) -> LayerRule | None:
    """The row for ``layer``'s type.

    Keras operations (``Add``, ``Multiply``, ``Softmax`` share names with layers) have no row:
    they are ruled on by what they compute.

    Parameters
    ----------
    layer : keras.layers.Layer or keras.Operation
        The layer.

    Returns
    -------
    LayerRule or None
        A rule registered for its class, else its class name's row, else ``None``.
    """
    if type(layer) in _USER_RULES:
        return _USER_RULES[type(layer)]
    if ops.is_operation(layer) and type(layer).__name__ not in _REGISTERED:
        return None
    return LAYER_RULES.get(type(layer).__name__)


def refusal(name: str, kind: str, why: str) -> ValueError:
    """The one-line error for a layer without a rule: what it is, why, and the way out.

    Parameters
    ----------
    name, kind, why : str
        The layer's name, its type, and why it has no rule.

    Returns
    -------
    ValueError
    """
    return ValueError(
        f"layer {name!r} ({kind}) has no DeepLIFT rule: {why}. Give one with "
        f"DeepLift(model, rules={{'{kind}': fn}}) or kipoi_deeplift.register_rule "
        "(supported layers: kipoi-deeplift rules)")


def expandable(layer, shapes, bind) -> bool:
    """Whether the graph walk should replace ``layer`` by the layers and operations its ``call``
    is made of (see :func:`kipoi_deeplift.backends.tf.graph.expand_call`): a layer type without
    a row that is not an elementwise function of its one input (which gets one secant, cheaper
    than its parts) and not a recurrence.

    Parameters
    ----------
    layer : keras.layers.Layer
    shapes : list of tuple
        The shapes of the tensors it reads (batch axis first).
    bind : callable
        ``bind(values)`` gives the call's arguments for new input values.

    Returns
    -------
    bool
    """
    if rule_for(layer) is not None or ops.is_operation(layer) or \
            type(layer).__name__ in RECURRENT_TYPES:
        return False
    if len(shapes) == 1:
        ok, _ = probe.is_elementwise(lambda z: call_layer(layer, *bind([z])), shapes[0])
        return not ok
    return True


class _Slot:
    """A stand-in value that shows where a step's input lands among its call's arguments."""


def _reads_first_argument_only(step) -> bool:
    """Whether every tensor the step reads is (inside) its call's first argument."""
    slots = [_Slot() for _ in step.in_keys]
    args, _ = step.bind(slots)
    first = tf.nest.flatten(args[0]) if args else []
    return all(any(s is f for f in first) for s in slots)


def _input_shape(layer, step):
    """The shape of the first tensor a step reads (batch axis first), if known."""
    shapes = getattr(step, "in_shapes", None)
    if shapes:
        return shapes[0]
    try:
        return tuple(layer.input.shape)
    except Exception:   # a layer that was never called on a symbolic tensor
        return None


def _unlisted(layer, name: str, step) -> LayerRule:
    """The rule for a layer type or Keras operation that has no row: found by what it
    computes (see :mod:`.ops`), or a refusal."""
    kind = type(layer).__name__
    if kind in RECURRENT_TYPES:
        raise refusal(name, kind, "it is recurrent, and only LSTM (and Bidirectional LSTM) "
                      "recurrences have a rule")
    n_inputs = len(step.in_keys) if step is not None else 1
    shape = _input_shape(layer, step)
    is_op = ops.is_operation(layer)
    if is_op and step is None:
        raise refusal(name, kind, "a Keras operation outside a model's graph")

    def called(z):
        """The layer on one tensor, its other arguments as the model calls it with."""
        if step is None:
            return call_layer(layer, (z,), {})
        args, kwargs = step.bind([z])
        return layer(*args, **kwargs) if is_op else call_layer(layer, args, kwargs)

    in_first = step is None or _reads_first_argument_only(step)
    fn, found, why = ops.classify(layer, n_inputs, shape, called, in_first)
    if fn is not None:
        # Known operations are ruled on by name; a traced one by what it was found to be.
        return LayerRule(fn, kind="linear" if found == "traced" else found,
                         max_like=found == "max", inferred=found == "traced",
                         note=_MAX_NOTE if found == "max" else "")
    if found == "elementwise" and (is_op or in_first):
        if is_op:       # an operation never follows a kernel directly: Rescale, no sweep
            return LayerRule(ops.elementwise_op, kind="elementwise", inferred=True)
        return LayerRule(elementwise_layer, kind="elementwise", inferred=True,
                         monotone=_stated(type(layer), kind) or probe.is_monotone(called, shape))
    raise refusal(name, kind, why or "it reads its input in an argument other than the first")


def _activation_rule(rule: LayerRule, layer, name: str, is_output: bool) -> LayerRule:
    """``rule`` for a layer with an ``activation``: named elementwise activations as they are,
    any other function only if the probes find it elementwise (RevealCancel then only if it
    is also monotone)."""
    act = getattr(layer, "activation", None)
    act_name = activation_name(act)
    if act_name in NON_MONOTONE:
        return replace(rule, monotone=_stated(act, act_name))
    if act_name in LINEAR_ACTIVATIONS or act_name in ELEMENTWISE_ACTIVATIONS or \
            act_name == "softmax":
        return rule
    ok, why = probe.is_elementwise(act)
    if not ok:
        raise refusal(name, type(layer).__name__, f"its activation {act_name!r} is not "
                      f"elementwise ({why})")
    return replace(rule, inferred=True,
                   monotone=_stated(act, act_name) or probe.is_monotone(act))


def check_layer(layer, name: str, is_output: bool, step=None) -> LayerRule:
    """The rule for one layer call, or a one-line ``ValueError`` that names the layer and
    the way out.

    Parameters
    ----------
    layer : keras.layers.Layer or keras.Operation
        The layer called.
    name : str
        Its name in the model (for messages).
    is_output : bool
        Whether the call makes a model output (a final softmax is scored at its logits).
    step : Step, optional
        The plan's step, for Keras operations and layers without a row (where the call's
        other arguments are needed to find what it computes).

    Returns
    -------
    LayerRule
        The rule, its ``resolve`` applied and its fused activation ruled on.
    """
    rule = rule_for(layer)
    if rule is None:
        rule = _unlisted(layer, name, step)
    if rule.resolve is not None:
        rule = rule.resolve(layer, name)
    if type(layer).__name__ == "Softmax" and not is_output and rule.fn is softmax_layer:
        rule = LayerRule(attention.softmax_layer, kind="softmax")
    if getattr(layer, "activation", None) is not None and rule.fn in (linear, activation_layer):
        rule = _activation_rule(rule, layer, name, is_output)
    return rule

