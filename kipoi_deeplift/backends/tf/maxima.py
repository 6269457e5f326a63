"""Maxima: max pooling, global max pooling, ``Maximum``/``Minimum`` merges, max-like Lambdas.

Two modes (``DeepLift(..., maxpool=...)``):

``gradient`` (default, as the original DeepLIFT code does)
    multipliers follow the max at the input, like the gradient. Summation-to-delta is not exact
    where the reference's max sits at another position of the window.
``exact``
    the pooled difference max(x) - max(r) is given to one position of the window: to the input's
    argmax when it is positive (there x_i = max(x) > max(r) >= r_i), to the reference's argmax
    when negative (there r_j = max(r) > max(x) >= x_j). The position carries the whole
    difference, so its multiplier is Δy / Δz_i and contributions add up to Δy exactly.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from ...core.methods import MAXPOOL_MODES
from .context import Context, call_layer, input_rows_like_refs, vjp

MODES = MAXPOOL_MODES


def max_op(ctx: Context, f: Callable, z):
    """``f(z)`` for a max-like ``f`` (a pooling or a reduction that selects one element)."""
    n = ctx.n

    def grad_refs(z, y, up_r):
        """Multipliers at the reference rows of ``z`` for upstream multipliers ``up_r``
        (``y`` the op's output)."""
        x_rows = input_rows_like_refs(z, n)
        if ctx.maxpool == "gradient":
            return vjp(f, x_rows, up_r)
        yx, yr = input_rows_like_refs(y, n), y[n:]
        cross = tf.maximum(yx, yr)
        carried = vjp(f, x_rows, up_r * (cross - yr)) + vjp(f, z[n:], up_r * (yx - cross))
        dz = x_rows - z[n:]
        return tf.where(dz == 0, tf.zeros_like(dz), carried / tf.where(dz == 0, 1.0, dz))

    return ctx.paired_op(f, ctx.refs_only(grad_refs), z)


def min_op(ctx: Context, f_min: Callable, z):
    """``f_min(z)`` for a min-like ``f_min``: min(z) = -max(-z), and negation is linear."""
    return -max_op(ctx, lambda t: -f_min(-t), -z)


def pooling(ctx: Context, layer, args, kwargs):
    """MaxPooling1D/2D/3D and GlobalMaxPooling1D/2D/3D."""
    return max_op(ctx, lambda t: call_layer(layer, (t,), kwargs), args[0])


def maximum_merge(ctx: Context, layer, args, kwargs):
    """``Maximum()([a, b, ...])``: the max over a stacked axis."""
    return max_op(ctx, lambda t: tf.reduce_max(t, axis=1), tf.stack(list(args[0]), axis=1))


def minimum_merge(ctx: Context, layer, args, kwargs):
    """``Minimum()([a, b, ...])``."""
    return min_op(ctx, lambda t: tf.reduce_min(t, axis=1), tf.stack(list(args[0]), axis=1))


# -- Lambda layers ---------------------------------------------------------------------------
#: Ops that only move, copy or select elements: a max followed or preceded by these alone is
#: still a selection of one element.
SELECT_OPS = frozenset({
    "Placeholder", "Identity", "IdentityN", "Reshape", "StridedSlice", "ReverseV2", "Transpose",
    "ExpandDims", "Squeeze", "ConcatV2", "Pack", "Unpack", "Slice", "Const", "Shape", "NoOp",
    "GatherV2", "Tile", "Split", "SplitV", "Fill", "Range", "Cast", "Pad", "PadV2",
    "StopGradient", "BroadcastTo",
})
#: Ops that are linear in the input when at most one operand depends on it (Mul, RealDiv)
#: or in every case (the others).
AFFINE_OPS = frozenset({"AddV2", "Add", "Sub", "Neg", "Sum", "Mean", "BiasAdd", "AddN",
                        "MatMul", "BatchMatMulV2", "Einsum", "Conv2D", "Conv1D"})
PRODUCT_OPS = frozenset({"Mul", "RealDiv", "MatMul", "BatchMatMulV2", "Einsum"})


def classify_lambda(layer) -> tuple[str, str]:
    """('linear' | 'max' | 'min' | 'unknown', what was found), by tracing the layer's function.

    DeepBind's Lambdas (reverse complement ``x[:, ::-1, ::-1]``, max over positions) come out
    as 'linear' and 'max'.
    """
    shapes = layer.input.shape if hasattr(layer, "input") else None
    if shapes is None or isinstance(shapes, (list, tuple)) and shapes and \
            isinstance(shapes[0], (list, tuple)):
        return "unknown", "more than one input"
    spec = tf.TensorSpec([None] + list(shapes[1:]), tf.float32)
    try:
        graph = tf.function(lambda t: layer(t)).get_concrete_function(spec).graph
    except Exception as e:  # the function cannot be traced on its own: no rule can be chosen
        return "unknown", f"cannot be traced ({type(e).__name__})"
    ops = graph.get_operations()
    dependent = {op.outputs[0].ref() for op in ops if op.type == "Placeholder" and op.outputs}
    kinds, bad = set(), set()
    for op in ops:
        deps = [t for t in op.inputs if t.ref() in dependent]
        if not deps:
            continue
        dependent.update(t.ref() for t in op.outputs)
        if op.type in SELECT_OPS:
            continue
        if op.type in ("Max", "Min"):
            kinds.add(op.type.lower())
        elif op.type in PRODUCT_OPS and len(deps) > 1 or \
                op.type == "RealDiv" and op.inputs[1].ref() in dependent:
            bad.add(op.type)
        elif op.type in AFFINE_OPS or op.type in PRODUCT_OPS:
            kinds.add("affine")
        else:
            bad.add(op.type)
    if bad:
        return "unknown", "ops " + ", ".join(sorted(bad))
    if kinds <= {"affine"}:
        return "linear", "linear ops"
    if len(kinds) == 1:
        kind = kinds.pop()
        return kind, f"a {kind} reduction"
    return "unknown", "ops " + ", ".join(sorted(kinds)) + " together"
