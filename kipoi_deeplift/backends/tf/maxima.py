"""Maxima: max pooling, global max pooling, ``Maximum``/``Minimum`` merges, max-like Lambdas.

Two modes (``DeepLift(..., maxpool=...)``):

``exact`` (default)
    the pooled difference max(x) - max(r) is given to one position of the window: to the input's
    argmax when it is positive (there x_i = max(x) > max(r) >= r_i), to the reference's argmax
    when negative (there r_j = max(r) > max(x) >= x_j). The position carries the whole
    difference, so its multiplier is Δy / Δz_i and contributions add up to Δy exactly. A
    position whose own difference is zero contributes nothing whatever its multiplier; it takes
    the gradient's (the upstream multiplier where it is the input's max), as Rescale takes the
    slope where Δx ≈ 0, so the credit that cancels below it is still passed on (tangermeme and
    captum do the same).
``gradient`` (the DeepLIFT authors' original mode)
    multipliers follow the max at the input, like the gradient. Summation-to-delta is not exact
    where the reference's max sits at another position of the window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import tensorflow as tf

from ...core.methods import MAXPOOL_MODES
from .context import (Context, call_layer, fused, input_rows_like_refs, split_rows, vjp,
                      with_zero_input_rows)

MODES = MAXPOOL_MODES


@dataclass(frozen=True)
class Windows:
    """How a max's input is cut into non-overlapping windows (see :func:`max_op`).

    Parameters
    ----------
    group : callable
        ``group(t)``: (rows, in...) -> (rows, G, W, ...), windows on axis 2.
    ungroup : callable
        Inverts ``group`` (positions outside every window get zeros).
    out : callable
        ``out(u)``: the op's output (rows, out...) -> (rows, G, 1, ...), to broadcast over each
        window.
    ties : str
        Who wins a tied window: ``first`` (max pooling, as TensorFlow's MaxPool gradient
        routes) or ``share`` (reductions, as the gradient of a reduce_max shares).
    """

    group: Callable
    ungroup: Callable
    out: Callable
    ties: str


#: A whole axis as one window: global max pooling and Maximum merges (input axis 1).
WHOLE_AXIS = Windows(group=lambda t: t[:, None], ungroup=lambda t: t[:, 0],
                     out=lambda u: u[:, None, None], ties="share")


def max_op(ctx: Context, f: Callable, z, windows: Windows | None = None):
    """``f(z)`` for a max-like ``f`` (a pooling or a reduction that selects one element).

    With ``windows`` (``f`` takes the max of each, see :class:`Windows`) the multipliers are
    one weight per input position, computed once per batch in the forward pass by one fused
    function (:func:`_window_weights`); each task's backward pass is then a broadcast
    multiplication. Without it each task's backward pass routes the upstream multipliers
    through ``f``'s gradient.

    Parameters
    ----------
    ctx : Context
    f : callable
        The max, tensor -> tensor, acting row by row.
    z : tf.Tensor
        Its input, every row of the batch (rows, ...).
    windows : Windows, optional

    Returns
    -------
    tf.Tensor
        ``f(z)``, (rows, ...).
    """
    n = ctx.n
    if windows is not None and ctx.mode == "deeplift":
        return _routed(ctx, f, z, windows)

    def grad_refs(z, y, up_r):
        """Multipliers at the reference rows of ``z`` for upstream multipliers ``up_r``
        (``y`` the op's output)."""
        x_rows = input_rows_like_refs(z, n)
        routed = vjp(f, x_rows, up_r)          # the gradient at the input
        if ctx.maxpool == "gradient":
            return routed
        yx, yr = input_rows_like_refs(y, n), y[n:]
        cross = tf.maximum(yx, yr)
        carried = vjp(f, x_rows, up_r * (cross - yr)) + vjp(f, z[n:], up_r * (yx - cross))
        dz = x_rows - z[n:]
        return tf.where(dz == 0, routed, carried / tf.where(dz == 0, 1.0, dz))

    return ctx.paired_op(f, ctx.refs_only(grad_refs), z)


def _routed(ctx: Context, f: Callable, z, windows: Windows):
    """:func:`max_op` over non-overlapping windows: the weight of each input position is the
    part of the pooled difference it carries over its own difference (see the module's
    docstring), found once per batch; the backward pass of every task is then
    ``ungroup(out(upstream) * weights)``."""
    n = ctx.n

    def weights(z, y):
        grouped = windows.group(z)                              # (rows, G, W, ...)
        # The input rows go in apart (a small copy): their count must be a shape for XLA.
        return fused(_window_weights, ctx.fuse)(grouped[:n], grouped, windows.out(y),
                                                ctx.maxpool == "exact", windows.ties == "first")

    return ctx.paired_op(f, lambda z, y, up, w: windows.ungroup(windows.out(up) * w), z,
                         prepare=weights)


# One XLA-compiled function for every max of every model (retraced per shape and flags):
# unfused, the full-size masks and temporaries cost more than the pooling's own backward pass.
@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _window_weights(inputs, grouped, pooled, exact: bool, first: bool):
    """Weights (rows, G, W, ...) for the windows ``grouped`` (rows: N inputs, then their N*K
    references; window axis 2), zeros on the input rows; ``inputs`` is ``grouped[:N]``.
    Splitting and the zeros happen here, fused, not as full-size copies around the call."""
    n = tf.shape(inputs)[0]
    zx, zr = split_rows(grouped, n)                     # (N, 1, G, W, ...), (N, K, G, W, ...)
    yx, yr = split_rows(pooled, n)                      # the maxima: (N, 1, G, 1, ...), ...

    def routing(t, top):
        """Where the gradient of the max sends it: the window's (first or shared) maxima."""
        hit = tf.cast(tf.equal(t, top), t.dtype)
        if first:
            return hit * tf.cast(tf.equal(tf.cumsum(hit, axis=3), 1.0), t.dtype)
        return hit / tf.reduce_sum(hit, axis=3, keepdims=True)

    mask_x = routing(zx, yx) * tf.ones_like(zr)
    if exact:
        cross = tf.maximum(yx, yr)
        carried = mask_x * (cross - yr) + routing(zr, yr) * (yx - cross)
        dz = zx - zr
        # Where Δz = 0 the gradient's routing (see the module's docstring).
        mask_x = tf.where(dz == 0, mask_x, carried / tf.where(dz == 0, tf.ones_like(dz), dz))
    return with_zero_input_rows(grouped, tf.reshape(mask_x, tf.shape(grouped[n:])))


def _pool_windows(layer, length) -> Windows | None:
    """The :class:`Windows` of a channels-last MaxPooling1D whose windows tile the sequence
    (strides equal to the pool size; 'valid', or 'same' on a length it divides), or of a
    GlobalMaxPooling1D; ``None`` for other poolings."""
    kind = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") not in ("channels_last", None):
        return None
    if kind == "GlobalMaxPooling1D" and not getattr(layer, "keepdims", False):
        return WHOLE_AXIS
    if kind != "MaxPooling1D" or length is None:
        return None
    pool, stride = int(layer.pool_size[0]), int(layer.strides[0])
    padding = layer.padding.lower()
    if stride != pool or padding == "same" and length % pool:
        return None
    count = length // pool
    covered = count * pool

    def group(t):
        t = t if covered == length else t[:, :covered]
        return tf.reshape(t, tf.concat([[-1, count, pool], tf.shape(t)[2:]], 0))

    def ungroup(t):
        flat = tf.reshape(t, tf.concat([[-1, covered], tf.shape(t)[3:]], 0))
        return flat if covered == length else \
            tf.pad(flat, [[0, 0], [0, length - covered], [0, 0]])

    return Windows(group=group, ungroup=ungroup, out=lambda u: u[:, :, None], ties="first")


def min_op(ctx: Context, f_min: Callable, z):
    """``f_min(z)`` for a min-like ``f_min``: min(z) = -max(-z), and negation is linear.

    Parameters
    ----------
    ctx : Context
    f_min : callable
    z : tf.Tensor
        Every row of the batch (rows, ...).

    Returns
    -------
    tf.Tensor
        ``f_min(z)``.
    """
    return -max_op(ctx, lambda t: -f_min(-t), -z)


def pooling(ctx: Context, layer, args, kwargs):
    """MaxPooling1D/2D/3D and GlobalMaxPooling1D/2D/3D.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    z = args[0]
    windows = _pool_windows(layer, z.shape[1]) if z.shape.rank == 3 else None
    return max_op(ctx, lambda t: call_layer(layer, (t,), kwargs), z, windows)


def maximum_merge(ctx: Context, layer, args, kwargs):
    """``Maximum()([a, b, ...])``: the max over a stacked axis.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
    return max_op(ctx, lambda t: tf.reduce_max(t, axis=1), tf.stack(list(args[0]), axis=1),
                  WHOLE_AXIS)


def minimum_merge(ctx: Context, layer, args, kwargs):
    """``Minimum()([a, b, ...])``.

    A layer rule (the shared signature ``fn(ctx, layer, args, kwargs)`` is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The layer's output for every row (inputs, then references).
    """
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
    """What a Lambda layer computes, by tracing its function.

    DeepBind's Lambdas (reverse complement ``x[:, ::-1, ::-1]``, max over positions) come out
    as 'linear' and 'max'.

    Parameters
    ----------
    layer : keras.layers.Lambda

    Returns
    -------
    tuple of (str, str)
        'linear', 'max', 'min' or 'unknown', and what was found.
    """
    shapes = layer.input.shape if hasattr(layer, "input") else None
    if shapes is None or isinstance(shapes, (list, tuple)) and shapes and \
            isinstance(shapes[0], (list, tuple)):
        return "unknown", "more than one input"
    return classify_traced(lambda t: layer(t), shapes)


def classify_traced(fn, shape) -> tuple[str, str]:
    """:func:`classify_ops` of the graph that the one-input function ``fn`` traces to.

    Parameters
    ----------
    fn : callable
    shape : tuple
        The input's shape, batch axis first (``None``: any size).

    Returns
    -------
    tuple of (str, str)
        As :func:`classify_ops`.
    """
    spec = tf.TensorSpec([None] + list(shape[1:]), tf.float32)
    try:
        graph = tf.function(fn).get_concrete_function(spec).graph
    except Exception as e:  # the function cannot be traced on its own: no rule can be chosen
        return "unknown", f"cannot be traced ({type(e).__name__})"
    return classify_ops(graph)


def classify_ops(graph) -> tuple[str, str]:
    """What a traced one-input function computes: the ops that depend on its placeholder decide.

    Parameters
    ----------
    graph : tf.Graph
        The function's traced graph.

    Returns
    -------
    tuple of (str, str)
        'linear', 'max', 'min' or 'unknown', and what was found.
    """
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
