"""Products of two signals: gates, squeeze-and-excite, attention, normalisation.

For any map B that is linear in each of its two arguments (an elementwise product with or
without broadcasting, a matrix product, an einsum), B(a_x, b_x) - B(a_r, b_r) =
B(Δa, b̄) + B(ā, Δb) exactly, where ā = ½(a_x + a_r) and b̄ = ½(b_x + b_r). Each factor's
multipliers are therefore B's gradient with the other factor held at its mean: the exact
two-factor DeepLIFT rule (the Shapley split of a product of two terms; with a zero reference
it is AttnLRP's "uniform" rule for bilinear products). An operand that does not depend on the
input (a constant, a position term) has Δ = 0, and the rule reduces to the gradient.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from .context import Context, input_rows_like_refs, vjp, with_zero_input_rows


def _mean_with_input(t, n):
    """½(input row + reference row) for every reference row: (N*K, ...)."""
    return 0.5 * (input_rows_like_refs(t, n) + t[n:])


def bilinear(ctx: Context, op: Callable, a, b):
    """``op(a, b)`` for an ``op`` linear in each argument, with the exact two-factor rule.

    ``a`` and ``b`` hold the batch's rows (inputs, then references) on axis 0; ``op`` must act
    row by row (any broadcasting between ``a`` and ``b`` on the other axes is kept).

    Parameters
    ----------
    ctx : Context
    op : callable
    a, b : tf.Tensor
        (N + N*K, ...) each.

    Returns
    -------
    tf.Tensor
        ``op(a, b)``, (N + N*K, ...).
    """
    n = ctx.n

    def grad(a, b, y, up):
        up_r = up[n:]
        mean_a, mean_b = _mean_with_input(a, n), _mean_with_input(b, n)
        ga = vjp(lambda t: op(t, mean_b), a[n:], up_r)
        gb = vjp(lambda t: op(mean_a, t), b[n:], up_r)
        return with_zero_input_rows(a, ga), with_zero_input_rows(b, gb)

    return ctx.paired_op(op, grad, a, b)


def product(ctx: Context, a, b):
    """``a * b`` elementwise (broadcast as NumPy does) with the exact two-factor rule.

    Parameters
    ----------
    ctx : Context
    a, b : tf.Tensor
        (N + N*K, ...) each.

    Returns
    -------
    tf.Tensor
    """
    if a.shape == b.shape and a.shape[1:].is_fully_defined():
        # Same shapes (the LSTM's gates): the multipliers are the other factor's mean itself.
        n = ctx.n

        def grad(a, b, y, up):
            up_r = up[n:]
            return (with_zero_input_rows(a, up_r * _mean_with_input(b, n)),
                    with_zero_input_rows(b, up_r * _mean_with_input(a, n)))

        return ctx.paired_op(lambda a, b: a * b, grad, a, b)
    return bilinear(ctx, tf.multiply, a, b)


def product_of_many(ctx: Context, factors: list):
    """The product of several factors, one two-factor step at a time (each step exact).

    Parameters
    ----------
    ctx : Context
    factors : list of tf.Tensor
        (N + N*K, ...) each.

    Returns
    -------
    tf.Tensor
    """
    out = factors[0]
    for f in factors[1:]:
        out = product(ctx, out, f)
    return out
