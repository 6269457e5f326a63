"""Which rule applies at each step of a model, decided once, before any pass.

Three words, three things:

* the **method** (``DeepLift(model, rule=...)``: rescale, reveal-cancel, genomics-default,
  grad-input, gradient) is what the user asks for:
  :data:`kipoi_deeplift.core.methods.METHODS`;
* the **layer rule** (``LAYER_RULES`` in :mod:`.rules`) is how one layer type
  passes multipliers;
* the **nonlinearity rule** (``NONLINEAR_RULES`` in :mod:`.nonlinear`: rescale,
  reveal-cancel, gradient) is how an elementwise nonlinearity inside a layer does.

:func:`resolve` turns a plan, a method and the layer-rule table into one :class:`StepSpec` per
step: its layer rule, its nonlinearity rule, the Dense/Conv step RevealCancel reads there (with
the per-channel affine steps in between) and whether the step makes a model output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ...core.methods import METHODS
from .context import LINEAR_ACTIVATIONS, activation_name, kernel_layer
from .rules import (KERNEL_TYPES, LayerRule, activation_layer, channel_scale, check_layer,
                    elementwise_layer)

@dataclass(frozen=True)
class StepSpec:
    """What one step of the plan does in a pass.

    Parameters
    ----------
    layer_rule : LayerRule
        The layer's rule.
    nonlinear_rule : str
        The rule its (or its activation layer's) nonlinearity gets.
    kernel : int or None
        The step of the Dense/Conv layer an activation layer's RevealCancel reads (``None``
        elsewhere; a layer with a fused activation passes its own).
    affine : tuple of int
        The per-channel affine steps between them.
    is_output : bool
        Whether the step makes a model output (a final sigmoid/softmax is then scored at its
        logit).
    out_keys : tuple of int
        The step's output tensors.
    """

    layer_rule: LayerRule
    nonlinear_rule: str
    kernel: int | None = None
    affine: tuple[int, ...] = ()
    is_output: bool = False
    out_keys: tuple = ()


def _users(plan) -> tuple[dict, dict]:
    producer, uses = {}, {}
    for i, s in enumerate(plan.steps):
        producer.update({k: i for k in s.out_keys})
        for k in s.in_keys:
            uses.setdefault(k, []).append(i)
    return producer, uses


def _kernel_before(plan, i: int, producer, uses) -> tuple[int, tuple[int, ...]] | None:
    """The Dense/Conv step (with no activation of its own) that feeds activation step ``i``,
    directly or through per-channel affine layers (BatchNormalization at inference, Dropout, a
    linear Activation), each output going nowhere else; ``None`` when there is none."""
    steps = plan.steps
    if len(steps[i].in_keys) != 1:
        return None
    k, user, chain = steps[i].in_keys[0], i, []
    p = producer.get(k)
    while p is not None and uses.get(k) == [user] and k not in plan.output_keys \
            and channel_scale(steps[p].layer) is not None and len(steps[p].in_keys) == 1:
        chain.append(p)
        k, user = steps[p].in_keys[0], p
        p = producer.get(k)
    if p is None or uses.get(k) != [user] or k in plan.output_keys:
        return None
    layer = kernel_layer(steps[p].layer)
    if type(layer).__name__ in KERNEL_TYPES and \
            activation_name(getattr(layer, "activation", None)) in LINEAR_ACTIVATIONS:
        return p, tuple(chain)
    return None


def _kind(layer) -> str:
    name = type(kernel_layer(layer)).__name__
    if name not in KERNEL_TYPES:
        return "other"
    return "dense" if name == "Dense" else "conv"


def resolve(plan, method: str, rules: Mapping[Any, Callable] | None = None) -> list[StepSpec]:
    """One :class:`StepSpec` per step of ``plan`` for ``method``.

    Parameters
    ----------
    plan : Plan
    method : str
    rules : mapping, optional
        Layer rules for this model only (a layer class or class name ->
        ``fn(ctx, layer, args, kwargs)``), looked up before the global table.

    Returns
    -------
    list of StepSpec
    """
    if method not in METHODS:
        raise ValueError(f"unknown rule {method!r}: use one of {', '.join(METHODS)}")
    by_kind = METHODS[method][1]
    outs = set(plan.output_keys)
    producer, uses = _users(plan)
    scoped = {k: (v if isinstance(v, LayerRule) else LayerRule(v))
              for k, v in (rules or {}).items()}
    specs = []
    for i, s in enumerate(plan.steps):
        is_out = bool(outs & set(s.out_keys))
        rule = scoped.get(type(s.layer)) or scoped.get(type(s.layer).__name__) or \
            check_layer(s.layer, s.name, is_out, s)
        fused = _kernel_before(plan, i, producer, uses) \
            if rule.fn in (activation_layer, elementwise_layer) else None
        nonlinear = by_kind[_kind(plan.steps[fused[0]].layer if fused else s.layer)]
        # RevealCancel only where the function is monotone (its split of Δx into positive and
        # negative parts presumes it); Rescale elsewhere, still exact.
        if nonlinear == "reveal-cancel" and not rule.monotone:
            nonlinear = "rescale"
        # Only RevealCancel reads the kernel before an activation layer.
        if nonlinear != "reveal-cancel":
            fused = None
        specs.append(StepSpec(rule, nonlinear, fused[0] if fused else None,
                              fused[1] if fused else (), is_out, tuple(s.out_keys)))
    return specs


def readout(plan, specs: list[StepSpec]) -> dict:
    """Where each tensor's neurons' contributions are read: the neurons of a kernel layer and of
    the affine layers after it map 1:1 onto the activation's (RevealCancel carries their
    multipliers there).

    Parameters
    ----------
    plan : Plan
    specs : list of StepSpec

    Returns
    -------
    dict of int to int
        Tensor key -> the key its contributions are read at.
    """
    return {plan.steps[q].out_keys[0]: plan.steps[i].out_keys[0]
            for i, spec in enumerate(specs) if spec.kernel is not None
            for q in (spec.kernel, *spec.affine)}
