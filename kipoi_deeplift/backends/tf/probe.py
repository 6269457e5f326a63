"""Checks, on probe tensors, of what a function does that no layer table can know in advance.

A custom activation (``Activation(gelu_enf)``), a custom layer or a Keras operation may be an
elementwise function (each output element depends on its own input element alone): then the
nonlinearity rules (Rescale through the secant, RevealCancel) apply to it exactly. These probes
decide that once, when the model's steps are resolved, never during a pass.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

#: Shape of a probe when the input's own shape is not known (batch, positions, channels).
DEFAULT_SHAPE = (2, 7, 5)


def probe_shape(shape) -> tuple[int, ...]:
    """A concrete shape for an input of ``shape``: unknown axes get small sizes.

    Parameters
    ----------
    shape : tuple or None
        Batch axis first; ``None`` for unknown axes.

    Returns
    -------
    tuple of int
    """
    if shape is None:
        return DEFAULT_SHAPE
    dims = list(shape)
    if not dims:
        return DEFAULT_SHAPE
    return tuple([2] + [5 if d is None else int(d) for d in dims[1:]])


def _call(f: Callable, x: np.ndarray):
    return np.asarray(f(tf.constant(x)), np.float64)


def _probe_input(f: Callable, shape, rng) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(x, f(x), why not) for a probe x on which ``f`` runs and is finite: normal values,
    else positive ones (a function defined on (0, inf), such as a log of counts)."""
    x = rng.normal(0.0, 2.0, probe_shape(shape)).astype(np.float32)
    why = ""
    for candidate in (x, np.abs(x) + 0.1):
        try:
            out = f(tf.constant(candidate))
        except Exception as e:  # the function cannot run on a probe: nothing to rule on
            return None, None, f"it cannot be run on a probe ({type(e).__name__})"
        if not getattr(out, "dtype", tf.float32).is_floating:
            return None, None, f"its output is {out.dtype.name}, not floating point"
        y = np.asarray(out, np.float64)
        if y.shape != candidate.shape:
            return None, None, (f"its output shape {y.shape[1:]} differs from its input's "
                                f"{candidate.shape[1:]}")
        if np.isfinite(y).all():
            return candidate, y, ""
        why = "it is not finite on probe inputs"
    return None, None, why


def is_elementwise(f: Callable, shape=None, seed: int = 0) -> tuple[bool, str]:
    """Whether ``f`` is elementwise on inputs of ``shape``, and why not.

    Elementwise means: a floating-point output of the input's shape, and changing some
    elements of the input changes those elements of the output and no other (tested with
    three random subsets, across the batch axis too, so batch statistics are caught as well as
    mixing along positions or channels). The function may differ from element to element (a
    per-channel slope, as PReLU's). Probes are normal values, or positive ones where the
    function is not finite on those (a log).

    Parameters
    ----------
    f : callable
    shape : tuple, optional
        Batch axis first (see :func:`probe_shape`).
    seed : int

    Returns
    -------
    tuple of (bool, str)
    """
    rng = np.random.default_rng(seed)
    x, y, why = _probe_input(f, shape, rng)
    if x is None:
        return False, why
    if not np.array_equal(_call(f, x), y):
        return False, "it is not a deterministic function of its input"
    for _ in range(3):
        mask = rng.random(x.shape) < 0.3
        moved = np.where(mask, x + np.abs(rng.normal(0.0, 1.0, x.shape)), x)
        y2 = _call(f, moved.astype(np.float32))
        if np.any(y2[~mask] != y[~mask]):
            return False, "its output elements depend on other input elements (it mixes them)"
    return True, ""


#: Largest probe of the monotonicity sweep, in elements: the sweep runs in chunks of points.
SWEEP_ELEMENTS = 1 << 22


def is_monotone(f: Callable, shape=None, lo: float = -10.0, hi: float = 10.0,
                points: int = 201) -> bool:
    """Whether the elementwise ``f`` is monotone (non-decreasing or non-increasing) on
    [``lo``, ``hi``] at every element of an input of ``shape``.

    Each element is swept over the interval along the batch axis, a chunk of points at a time.
    A function that cannot be evaluated there (not finite, an error) counts as not monotone
    (Rescale then applies).

    Parameters
    ----------
    f : callable
    shape : tuple, optional
        Batch axis first.
    lo, hi : float
    points : int
        Points swept over the interval.

    Returns
    -------
    bool
    """
    inner = probe_shape(shape)[1:]
    size = int(np.prod(inner)) if inner else 1
    grid = np.linspace(lo, hi, points, dtype=np.float32)
    step = max(2, SWEEP_ELEMENTS // max(size, 1))
    rising = falling = None
    last = None
    for start in range(0, points, step):
        chunk = grid[start:start + step]
        x = np.broadcast_to(chunk.reshape((len(chunk),) + (1,) * len(inner)),
                            (len(chunk),) + inner)
        try:
            y = _call(f, np.ascontiguousarray(x))
        except (tf.errors.OpError, ValueError, TypeError):
            return False
        if not np.isfinite(y).all():
            return False
        ys = y if last is None else np.concatenate([last[None], y])
        d = np.diff(ys, axis=0)
        tol = 1e-6 * (1.0 + np.abs(ys).max())
        up, down = np.all(d >= -tol, axis=0), np.all(d <= tol, axis=0)
        rising = up if rising is None else rising & up
        falling = down if falling is None else falling & down
        last = y[-1]
    return bool(np.all(rising | falling))
