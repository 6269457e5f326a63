"""What every rule sees during a pass: the row layout (inputs, then references) and the options.

Every tensor in a DeepLIFT pass holds the N inputs followed by their N*K references in one batch.
A rule computes its layer's forward output for the whole batch and, through
``tf.custom_gradient``, makes the backward pass carry DeepLIFT multipliers into the reference
rows instead of gradients.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import tensorflow as tf

#: Activations scored before they are applied when they end the model.
FINAL_ACTIVATIONS = frozenset({"sigmoid", "softmax"})
LINEAR_ACTIVATIONS = frozenset({"linear", "identity", None})


def activation_name(act) -> str | None:
    """The registered name of a Keras activation function.

    Parameters
    ----------
    act : callable or str or None

    Returns
    -------
    str or None
        Lower case; ``None`` for no activation.
    """
    if act is None:
        return None
    return getattr(act, "__name__", type(act).__name__).lower()


def axes_of(axis, rank: int) -> list[int]:
    """A layer's ``axis`` as sorted non-negative axes.

    Parameters
    ----------
    axis : int or sequence of int
        Negative allowed.
    rank : int
        The tensor's rank.

    Returns
    -------
    list of int
    """
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % rank for a in axes)


def kernel_layer(layer):
    """The Dense/Conv layer whose kernel a step applies.

    Parameters
    ----------
    layer : keras.layers.Layer

    Returns
    -------
    keras.layers.Layer
        ``layer`` itself, or the inner layer of a ``TimeDistributed(Dense)`` (a Dense acts on the
        last axis at every time step anyway).
    """
    inner = getattr(layer, "layer", None)
    if type(layer).__name__ == "TimeDistributed" and type(inner).__name__ == "Dense":
        return inner
    return layer


def split_rows(t, n):
    """A batch's rows split into inputs and references.

    Parameters
    ----------
    t : tf.Tensor, shape (N + N*K, ...)
    n : int or tf.Tensor
        N.

    Returns
    -------
    tuple of tf.Tensor
        Inputs (N, 1, ...), references (N, K, ...).
    """
    k = (tf.shape(t)[0] - n) // n
    return t[:n][:, None], tf.reshape(t[n:], tf.concat([[n, k], tf.shape(t)[1:]], 0))


def input_rows_like_refs(t, n):
    """The input rows of ``t`` repeated to line up with its reference rows.

    Parameters
    ----------
    t : tf.Tensor, shape (N + N*K, ...)
    n : int or tf.Tensor
        N.

    Returns
    -------
    tf.Tensor, shape (N*K, ...)
    """
    k = (tf.shape(t)[0] - n) // n
    return tf.repeat(t[:n], k, axis=0)


def with_zero_input_rows(z, g_refs):
    """Gradient for all rows from the reference rows' part: the input rows get zeros.

    Parameters
    ----------
    z : tf.Tensor, shape (N + N*K, ...)
        The tensor the gradient is for.
    g_refs : tf.Tensor, shape (N*K, ...)

    Returns
    -------
    tf.Tensor, shape (N + N*K, ...)
    """
    return tf.concat([tf.zeros_like(z[: tf.shape(z)[0] - tf.shape(g_refs)[0]]),
                      tf.cast(g_refs, z.dtype)], 0)


def vjp(f: Callable, z, up):
    """``up`` pulled back through ``f`` at ``z`` (for a linear ``f``, any ``z`` will do).

    Parameters
    ----------
    f : callable
    z : tf.Tensor
    up : tf.Tensor
        Shaped as ``f(z)``.

    Returns
    -------
    tf.Tensor
        Shaped as ``z``.
    """
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = f(z)
    return tape.gradient(y, z, output_gradients=up)


def fused(fn, fuse: bool) -> Callable:
    """``fn`` where ``fuse``, else its Python function, traced into the pass as plain ops: the same
    numbers, without XLA's compilation (tenths of a second for each new shape), which only many
    batches repay.

    Parameters
    ----------
    fn : tf.function
        XLA-compiled.
    fuse : bool

    Returns
    -------
    callable
    """
    return fn if fuse else fn.python_function


def call_layer(layer, args, kwargs):
    """Call a layer as at inference (dropout and noise off, batch norm on its statistics).

    Parameters
    ----------
    layer : keras.layers.Layer
    args, kwargs : tuple, dict
        The call's arguments.

    Returns
    -------
    tf.Tensor
        What the call returns.
    """
    kwargs = dict(kwargs)
    kwargs.setdefault("training", False)
    return layer(*args, **kwargs)


@dataclass
class Context:
    """State of one pass through the model, handed to every rule.

    Parameters
    ----------
    mode : str
        ``"deeplift"`` (rows paired as inputs then references; the backward pass carries
        multipliers into the reference rows) or ``"gradient"`` (plain autodiff).
    n, k : tf.Tensor
        Scalars: the number of input rows, and references per input.
    dispatch : dict
        Nonlinearity rule name -> function.
    default_rule : str
        The nonlinearity rule outside any step.
    maxpool : str
    eps : float
    fuse : bool
        Rules run their per-batch multipliers as XLA-compiled functions (:func:`fused`).
    step : StepSpec or None
        The resolved spec of the step being called (:class:`.resolve.StepSpec`: its
        nonlinearity rule, output role), set once per step.
    kernel_source : tuple or None
        For an activation layer that follows a Dense/Conv layer, ``(that layer, its input,
        per-channel scale)`` (RevealCancel needs them).
    logits : dict
        Collects the pre-activations of final sigmoid/softmax outputs, which are scored instead.
    """

    mode: str
    n: Any                     # number of input rows (scalar tensor)
    k: Any                     # references per input (scalar tensor)
    dispatch: dict = field(default_factory=dict)   # nonlinearity rule name -> function
    default_rule: str = "rescale"                  # the nonlinearity rule outside any step
    maxpool: str = "gradient"
    eps: float = 1e-7
    fuse: bool = True
    step: Any = None
    kernel_source: tuple | None = None
    logits: dict = field(default_factory=dict)

    # -- row bookkeeping -------------------------------------------------------------------
    def paired_op(self, forward: Callable, grad: Callable, *zs, prepare: Callable | None = None):
        """``forward(*zs)`` whose backward pass is ``grad(*zs, y, upstream)``.

        ``grad`` returns one gradient per input (``None`` for no path); it must give the input
        rows zero gradient: they are the point the multipliers are taken at, not a path to the
        target. :meth:`refs_only` builds such a ``grad`` from a function of the reference rows.

        With ``prepare``, ``state = prepare(*zs, y)`` is computed in the forward pass and the
        backward pass is ``grad(*zs, y, upstream, state)``: what does not depend on the
        upstream multipliers (secants, max-pool routing) is then computed once per batch, not
        once per task's backward pass.

        Parameters
        ----------
        forward, grad : callable
        *zs : tf.Tensor
            The inputs, every row (N + N*K, ...).
        prepare : callable, optional

        Returns
        -------
        tf.Tensor
            ``y = forward(*zs)``.
        """
        if self.mode == "gradient":
            return forward(*zs)

        @tf.custom_gradient
        def op(*zs):
            y = forward(*zs)
            state = prepare(*zs, y) if prepare is not None else None

            def backward(up, variables=None):
                dz = grad(*zs, y, up) if prepare is None else grad(*zs, y, up, state)
                dz = list(dz) if isinstance(dz, (list, tuple)) else [dz]
                if variables:
                    return dz, [tf.zeros_like(v) for v in variables]
                return dz

            return y, backward

        return op(*zs)

    def refs_only(self, grad_refs: Callable) -> Callable:
        """Turn ``grad_refs(z, y, upstream of reference rows[, state])`` into a ``paired_op`` grad.

        Parameters
        ----------
        grad_refs : callable
            Returns the gradient of the reference rows (N*K, ...).

        Returns
        -------
        callable
            ``grad(z, y, upstream, *state)``, zeros for the input rows.
        """
        n = self.n

        def grad(z, y, up, *state):
            return with_zero_input_rows(z, grad_refs(z, y, up[n:], *state))

        return grad

    @contextlib.contextmanager
    def rows(self, n):
        """Rules called inside see ``n`` input rows (a wrapper that folds an axis into the rows,
        keeping each reference row after its input row's references, sets it).

        Parameters
        ----------
        n : int or tf.Tensor

        Yields
        ------
        None
        """
        saved = self.n
        self.n = n
        try:
            yield
        finally:
            self.n = saved

    # -- nonlinearities --------------------------------------------------------------------
    def nonlinear(self, f: Callable, z, name: str | None = None, source: tuple | None = None):
        """Apply an elementwise nonlinearity ``f`` (activation ``name``) with the step's rule.

        Parameters
        ----------
        f : callable
        z : tf.Tensor
            Its input, every row (N + N*K, ...).
        name : str, optional
        source : tuple, optional
            ``(Dense/Conv layer, its input, per-channel scale)`` when ``z`` is that layer's output
            (RevealCancel needs it; other rules ignore it).

        Returns
        -------
        tf.Tensor
            ``f(z)``.
        """
        if self.mode == "gradient":
            rule = "gradient"
        else:
            rule = self.step.nonlinear_rule if self.step is not None else self.default_rule
        return self.dispatch[rule](self, f, z, name, source)

    def activate(self, act, pre, source: tuple | None = None):
        """Apply a layer's activation to its pre-activation ``pre``.

        When this layer ends the model with a sigmoid or softmax, ``pre`` is recorded as the
        logit that scores are taken against.

        Parameters
        ----------
        act : callable
        pre : tf.Tensor
            Every row (N + N*K, ...).
        source : tuple, optional
            As in :meth:`nonlinear`.

        Returns
        -------
        tf.Tensor
        """
        name = activation_name(act)
        if name in LINEAR_ACTIVATIONS:
            return pre
        if self.step is not None and self.step.is_output and name in FINAL_ACTIVATIONS:
            for key in self.step.out_keys:
                self.logits[key] = (pre, name)
            if name == "softmax":
                return act(pre)
        return self.nonlinear(act, pre, name, source)
