"""Reference kinds by name: the names ``references=`` accepts, which of them draw random
references, and the single reference of each constant kind (the random ones are made in
:mod:`kipoi_deeplift.core.references`)."""
from __future__ import annotations

import re

import numpy as np

from .shuffle import ALPHABET as _ALPHABET

#: Names accepted by ``references=`` (plus ``gc:FRACTION`` and arrays).
REFERENCE_NAMES = ("dinuc-shuffle", "shuffle", "zeros", "uniform")
_GC = re.compile(r"^gc:(0(\.\d+)?|1(\.0+)?)$")


def validate_reference_name(spec: str) -> None:
    """Raise ``ValueError`` unless ``spec`` names a reference kind.

    Parameters
    ----------
    spec : str
        A reference name: one of :data:`REFERENCE_NAMES` or ``gc:FRACTION`` (a fraction
        from 0 to 1, e.g. ``gc:0.41``).

    Raises
    ------
    ValueError
        Naming the kinds there are.
    """
    if spec in REFERENCE_NAMES or _GC.match(spec):
        return
    raise ValueError(
        f"unknown reference {spec!r}: use one of {', '.join(REFERENCE_NAMES)}, gc:FRACTION "
        "(e.g. gc:0.41) or an array"
    )


def is_random(spec: str) -> bool:
    """True for reference kinds that draw several random references per sequence.

    Parameters
    ----------
    spec : str
        A reference name.

    Returns
    -------
    bool
        True for ``dinuc-shuffle`` and ``shuffle``.
    """
    return spec in ("dinuc-shuffle", "shuffle")


def constant_reference(spec: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """The single reference for ``spec`` (``zeros``, ``uniform`` or ``gc:FRACTION``).

    Parameters
    ----------
    spec, shape, dtype : str, tuple of int, numpy dtype
        ``shape``: the input's without the batch axis, e.g. (L, 4).

    Returns
    -------
    np.ndarray, shape ``shape``
    """
    if spec == "zeros":
        return np.zeros(shape, dtype)
    if shape[-1] != _ALPHABET:
        raise ValueError(f"reference {spec!r} needs a DNA input with 4 channels, got shape {shape}")
    if spec == "uniform":
        return np.full(shape, 0.25, dtype)
    gc = float(spec.split(":", 1)[1])
    row = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], dtype)  # A C G T
    return np.broadcast_to(row, shape).astype(dtype)
