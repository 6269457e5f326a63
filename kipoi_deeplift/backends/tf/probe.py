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
    """A concrete shape for an input of ``shape`` (``None`` for unknown axes; the first axis
    is the batch): unknown axes get small sizes."""
    if shape is None:
        return DEFAULT_SHAPE
    dims = list(shape)
    if not dims:
        return DEFAULT_SHAPE
    return tuple([2] + [5 if d is None else int(d) for d in dims[1:]])


def _call(f: Callable, x: np.ndarray):
    return np.asarray(f(tf.constant(x)), np.float64)


def is_elementwise(f: Callable, shape=None, seed: int = 0) -> tuple[bool, str]:
    """(whether ``f`` is elementwise on inputs of ``shape``, why not).

    Elementwise means: the output has the input's shape and changing some elements of the input
    changes those elements of the output and no other (tested with three random subsets,
    across the batch axis too, so batch statistics are caught as well as mixing along
    positions or channels). The function may differ from element to element (a per-channel
    slope, as PReLU's).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0, probe_shape(shape)).astype(np.float32)
    try:
        y = _call(f, x)
    except Exception as e:   # the function cannot run on a probe: not something we can rule on
        return False, f"it cannot be run on a probe ({type(e).__name__})"
    if y.shape != x.shape:
        return False, f"its output shape {y.shape[1:]} differs from its input's {x.shape[1:]}"
    if not np.array_equal(np.isfinite(y), np.ones_like(y, bool)) or \
            not np.array_equal(_call(f, x), y):
        return False, "it is not a finite, deterministic function of its input"
    for _ in range(3):
        mask = rng.random(x.shape) < 0.3
        y2 = _call(f, np.where(mask, x + rng.normal(0.0, 1.0, x.shape), x).astype(np.float32))
        if np.any(y2[~mask] != y[~mask]):
            return False, "its output elements depend on other input elements (it mixes them)"
    return True, ""


def is_monotone(f: Callable, shape=None, lo: float = -10.0, hi: float = 10.0,
                points: int = 401) -> bool:
    """Whether the elementwise ``f`` is monotone (non-decreasing or non-increasing) on
    [``lo``, ``hi``] at every element of an input of ``shape``: each element is swept over the
    interval along the batch axis."""
    inner = probe_shape(shape)[1:]
    grid = np.linspace(lo, hi, points, dtype=np.float32)
    x = np.broadcast_to(grid.reshape((points,) + (1,) * len(inner)), (points,) + inner)
    try:
        steps = np.diff(_call(f, np.ascontiguousarray(x)), axis=0)
    except Exception:
        return False
    tol = 1e-6 * (1.0 + np.abs(steps).max()) if steps.size else 0.0
    rising, falling = np.all(steps >= -tol, axis=0), np.all(steps <= tol, axis=0)
    return bool(np.all(rising | falling))
