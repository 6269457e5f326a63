"""Keras 3 operations used as nodes of a functional model (``keras.ops.mean(x, axis=1)``,
``x * 2``, ``x[:, 2:10]``, ``keras.ops.einsum(...)``), and layers of unknown type.

An operation is ruled on by what it computes, found once when the steps are resolved:

* linear in the tensors it reads (reshapes, slices, sums and means, concatenation, scaling by
  a constant, a product with one operand that does not depend on the input): the gradient is
  the multiplier;
* a product of two tensors that both depend on the input (``multiply``, ``matmul``,
  ``einsum``, ``dot``, ``tensordot``; ``divide`` as a product with 1/b): the two-factor rule;
* softmax: :func:`kipoi_deeplift.backends.tf.attention.softmax`; a max or min reduction: the
  max rule;
* anything else that reads one tensor is probed: elementwise (:mod:`.probe`) -> the active
  nonlinearity rule; linear by its traced TensorFlow ops (as Lambda layers are) -> linear;
  otherwise refused by name.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from . import attention, maxima, probe
from .context import Context, call_layer
from .products import bilinear, product

#: Operations linear in every tensor they read.
LINEAR_IN_ALL = frozenset({"Add", "Subtract", "Negative", "Concatenate", "Stack", "Hstack",
                           "Vstack", "Append", "Identity", "Copy", "ZerosLike"})
#: Operations linear in their first argument only (the others are shapes, axes, indices,
#: weights or a divisor, which must not depend on the input).
LINEAR_IN_FIRST = frozenset({
    "Mean", "Sum", "Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Flip", "Tile",
    "Repeat", "Pad", "Swapaxes", "Moveaxis", "Cumsum", "Roll", "Take", "TakeAlongAxis",
    "Ravel", "BroadcastTo", "Average", "Diagonal", "Trace", "Tril", "Triu", "Slice",
    "DynamicSlice", "Split", "Array", "Convert", "Cast", "Divide", "TrueDivide",
})
#: Operations linear in each operand: products when two operands depend on the input.
BILINEAR_OPS = frozenset({"Multiply", "Matmul", "Einsum", "Dot", "Tensordot", "Outer",
                          "Inner", "Kron"})


def _linear(op, in_first: bool) -> bool:
    """Whether a Keras operation is linear in the tensors it reads, given whether they all
    sit in its first argument."""
    kind = type(op).__name__
    if kind == "Cast" and not tf.as_dtype(getattr(op, "dtype", "float32")).is_floating:
        return False                   # to integers or booleans: not linear
    return kind in LINEAR_IN_ALL or kind in LINEAR_IN_FIRST and in_first
MAX_OPS = {"Max": "max", "Amax": "max", "Min": "min", "Amin": "min"}


def is_operation(layer) -> bool:
    """Whether ``layer`` is a Keras 3 operation node rather than a layer.

    Parameters
    ----------
    layer : keras.layers.Layer or keras Operation

    Returns
    -------
    bool
    """
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a declared dependency
        return False
    return not isinstance(layer, keras.layers.Layer) and isinstance(layer, keras.Operation)


def _tensor_slots(args, kwargs) -> tuple[list, list[int]]:
    """The flattened arguments and the positions of the tensors among them."""
    flat = tf.nest.flatten((args, kwargs))
    return flat, [i for i, v in enumerate(flat) if tf.is_tensor(v)]


def as_function(op, args, kwargs) -> tuple[Callable, list]:
    """An operation as a function of the tensors it reads.

    Parameters
    ----------
    op : keras Operation
    args, kwargs : tuple, dict
        The call's arguments as the model passes them.

    Returns
    -------
    tuple of (callable, list of tf.Tensor)
        ``f(*tensors)`` calling ``op`` with its other arguments as given, and the tensors.
    """
    flat, slots = _tensor_slots(args, kwargs)

    def f(*tensors):
        values = list(flat)
        for i, t in zip(slots, tensors):
            values[i] = t
        a, k = tf.nest.pack_sequence_as((args, kwargs), values)
        return op(*a, **k)

    return f, [flat[i] for i in slots]


def linear_op(ctx: Context, op, args, kwargs):
    """A linear operation: as it is.

    An operation's rule (the shared signature, with ``op`` for ``layer``, is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The operation's output for every row (inputs, then references).
    """
    return op(*args, **kwargs)


def bilinear_op(ctx: Context, op, args, kwargs):
    """A product of two tensors that depend on the input.

    An operation's rule (the shared signature, with ``op`` for ``layer``, is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The operation's output for every row (inputs, then references).
    """
    f, (a, b) = as_function(op, args, kwargs)
    return bilinear(ctx, f, a, b)


def divide_op(ctx: Context, op, args, kwargs):
    """a / b with both depending on the input: a * (1/b), 1/b by the nonlinearity rule.

    An operation's rule (the shared signature, with ``op`` for ``layer``, is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The operation's output for every row (inputs, then references).
    """
    f, (a, b) = as_function(op, args, kwargs)
    return product(ctx, a, ctx.nonlinear(tf.math.reciprocal, b, "reciprocal"))


def elementwise_op(ctx: Context, op, args, kwargs):
    """An elementwise nonlinear operation of one tensor.

    An operation's rule (the shared signature, with ``op`` for ``layer``, is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The operation's output for every row (inputs, then references).
    """
    f, (z,) = as_function(op, args, kwargs)
    return ctx.nonlinear(f, z, type(op).__name__.lower())


def max_op(ctx: Context, op, args, kwargs):
    """A max (or min) reduction: the max rule (exact with maxpool='exact').

    An operation's rule (the shared signature, with ``op`` for ``layer``, is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The operation's output for every row (inputs, then references).
    """
    f, (z,) = as_function(op, args, kwargs)
    if MAX_OPS[type(op).__name__] == "min":
        return maxima.min_op(ctx, f, z)
    return maxima.max_op(ctx, f, z)


def softmax_op(ctx: Context, op, args, kwargs):
    """``keras.ops.softmax(x, axis)``.

    An operation's rule (the shared signature, with ``op`` for ``layer``, is documented in
    :mod:`kipoi_deeplift.backends.tf.layers`).

    Returns
    -------
    tf.Tensor
        The operation's output for every row (inputs, then references).
    """
    f, (z,) = as_function(op, args, kwargs)
    return attention.softmax(ctx, z, getattr(op, "axis", -1))


def classify(layer, n_inputs: int, shape, called: Callable,
             in_first: bool = True) -> tuple[Callable | None, str, str]:
    """The rule for an operation or a layer of unknown type.

    Parameters
    ----------
    layer : keras.layers.Layer or keras Operation
    n_inputs : int
        The tensors it reads.
    shape : tuple
        The first one's shape, batch axis first.
    called : callable
        ``called(z)`` calls it on one tensor with its other arguments as in the model.
    in_first : bool
        Whether the tensors it reads all sit in its first argument.

    Returns
    -------
    tuple of (callable or None, str, str)
        The rule function or ``None``, the kind and why. The kind is "traced" for a function
        found linear only by the TensorFlow ops it traces to.
    """
    kind = type(layer).__name__
    if is_operation(layer):
        if _linear(layer, in_first) or kind in BILINEAR_OPS and n_inputs == 1:
            return linear_op, "linear", ""
        if kind in ("Divide", "TrueDivide") and n_inputs == 2:
            return divide_op, "product", ""
        if kind in BILINEAR_OPS and n_inputs == 2:
            return bilinear_op, "product", ""
        if kind in MAX_OPS and n_inputs == 1:
            return max_op, "max", ""
        if kind == "Softmax" and n_inputs == 1:
            return softmax_op, "softmax", ""
    if n_inputs != 1:
        return None, "unknown", f"it reads {n_inputs} tensors and is not a known product or sum"
    ok, why = probe.is_elementwise(called, shape)
    if ok:
        return None, "elementwise", ""
    found, what = maxima.classify_traced(called, probe.probe_shape(shape))
    if found == "linear":      # "traced": linear by the TensorFlow ops it traces to
        return (linear_op if is_operation(layer) else _linear_layer), "traced", ""
    return None, "unknown", f"{why}, and it computes {what}"


def _linear_layer(ctx: Context, layer, args, kwargs):
    return call_layer(layer, args, kwargs)
