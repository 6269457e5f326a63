"""What the user wrote, read: dataloader arguments, ``--shard``, ``--target-neuron``,
``--tasks`` and ``--references`` values turned into what the run uses (and back, for the rerun
command)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UserError

#: The references of a DNA input an .npz file leaves out (the run's default).
DNA_REFERENCES = "dinuc-shuffle"


def parse_dataloader_args(value: Any) -> dict:
    """--dataloader-args as a dict.

    Parameters
    ----------
    value : dict, str, list of str or None
        A dict, a JSON string, a .json/.yaml file, or ``key=value`` strings (``None``: none).

    Returns
    -------
    dict
        The dataloader's arguments; ``UserError`` for a missing file or a value not parsed.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        value = [value]
    value = list(value)
    if len(value) == 1 and str(value[0]).endswith((".yaml", ".yml")):
        import yaml

        if not os.path.exists(value[0]):
            raise UserError(f"--dataloader-args file {value[0]!r} does not exist")
        return dict(yaml.safe_load(Path(value[0]).read_text()) or {})
    if len(value) == 1 and str(value[0]).endswith(".json") and not os.path.exists(value[0]):
        raise UserError(f"--dataloader-args file {value[0]!r} does not exist")
    from kipoi_utils.utils import parse_json_file_str_or_arglist

    try:
        return dict(parse_json_file_str_or_arglist(value))
    except Exception as e:
        raise UserError(f"cannot parse --dataloader-args {' '.join(value)!r}: give a JSON "
                        "object, a .json/.yaml file or key=value pairs") from e


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """--shard: ``'I/N'`` (1 <= I <= N) as ``(I, N)``.

    Parameters
    ----------
    shard : str or None
        ``'I/N'``; ``None`` stays ``None``.

    Returns
    -------
    (int, int) or None
        ``(I, N)``; ``UserError`` for another spelling or I outside 1..N.
    """
    if shard is None:
        return None
    try:
        i, n = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise UserError(f"--shard {shard!r}: write it as I/N, e.g. 2/8") from None
    if not 1 <= i <= n:
        raise UserError(f"--shard {shard!r}: I must be between 1 and N")
    return i, n


def parse_neurons(spec: Any):
    """--target-neuron read into neuron tuples.

    ``F`` is filter F of a convolution at every position, summed (unit F of a dense layer);
    ``P,F`` is filter F at position P; several are separated by ``;``. Anything else (an int, a
    tuple, a list of them: the Python forms) passes through. The layer's rank decides how ``F``
    is read (see :func:`neurons_for_rank`).

    Parameters
    ----------
    spec : str, int, tuple or list
        The flag's value, or the Python forms.

    Returns
    -------
    list of tuple of int, or ``spec`` unchanged
        One tuple per neuron, with ``None`` at the axes summed over once filled to the layer's
        rank.
    """
    if not isinstance(spec, str):
        return spec
    out = []
    for part in (p.strip() for p in spec.split(";")):
        try:
            out.append(tuple(int(v) for v in part.split(",")))
        except ValueError:
            raise UserError(f"--target-neuron {spec!r}: write F, P,F or several separated by "
                            "';' (whole numbers)") from None
    return out


def neurons_word(neurons: Any) -> str:
    """--target-neuron as the command line writes it (the inverse of :func:`parse_neurons`).

    Parameters
    ----------
    neurons : str, int, tuple or list
        The parsed neurons (or a string, returned as is).

    Returns
    -------
    str
        ``P,F`` per neuron, separated by ``;``.
    """
    if isinstance(neurons, str):
        return neurons
    items = neurons if isinstance(neurons, list) else [neurons]
    return ";".join(",".join(map(str, n)) if isinstance(n, tuple) else str(n) for n in items)


def neurons_for_rank(neurons: Any, rank: int):
    """Parsed --target-neuron tuples filled to a layer output of ``rank`` axes (batch excluded).

    The indices given are the last axes (filter last); the ones before are summed.

    Parameters
    ----------
    neurons : list of tuple of int, or another form
        :func:`parse_neurons`'s result; anything but a list of tuples passes through.
    rank : int
        Axes of the layer's output, batch excluded (2 for a convolution's ``(L, F)``).

    Returns
    -------
    list of tuple
        Each tuple of length ``rank``, ``None`` at the leading axes summed over; ``UserError``
        for a neuron with more indices than axes.
    """
    if not isinstance(neurons, list) or not all(isinstance(n, tuple) for n in neurons):
        return neurons
    filled = []
    for n in neurons:
        if len(n) > rank:
            raise UserError(f"--target-neuron {','.join(map(str, n))}: the layer's output has "
                            f"{rank} axis/axes (batch excluded)")
        filled.append((None,) * (rank - len(n)) + n)
    return filled


def tasks_arg(tasks, names: Sequence[str]):
    """--tasks values read against the model's task names.

    Each value is a task's name, an integer index, or else a regular expression searched in
    every name (``CTCF`` selects every task whose name contains it, ``^K562\\|`` those that start
    so); one that matches nothing stays as given, for the engine to refuse by name.

    Parameters
    ----------
    tasks : str, list or None
        Comma-separated values, or a list of names and indices (``None``: every task).
    names : sequence of str
        The model's task names.

    Returns
    -------
    list or None
        Task names and integer indices, each once, in the order given.
    """
    import re

    if tasks is None:
        return None
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    out: list = []
    for t in tasks:
        if isinstance(t, str) and t not in names:
            if t.lstrip("-").isdigit():
                out.append(int(t))
                continue
            try:
                found = [n for n in names if re.search(t, n)]
            except re.error:
                found = []
            if found:
                out.extend(n for n in found if n not in out)
                continue
        if t not in out:
            out.append(t)
    return out


def references_arg(references, by_label: Mapping[str, str] | None = None,
                   dna: str | None = None, dna_default: str = DNA_REFERENCES):
    """--references as the engine takes it.

    A name, an .npy array (the DNA input's), or an .npz file of arrays by input name (schema or
    Keras names; e.g. a meta-feature input's reference). With an .npz, a DNA input it leaves out
    gets ``dna_default`` and any other input zeros.

    Parameters
    ----------
    references : str or array-like
        A reference name (``dinuc-shuffle`` ...), an .npy/.npz path, or an array.
    by_label : Mapping[str, str], optional
        Schema name -> Keras input name, for the .npz's keys.
    dna : str, optional
        The DNA input's Keras name.
    dna_default : str, default DNA_REFERENCES
        The DNA input's references when an .npz leaves it out.

    Returns
    -------
    str, numpy.ndarray or dict
        A name as given; an .npy's array of shape ``(L, 4)``, ``(K, L, 4)`` or ``(N, K, L, 4)``;
        or a dict input name -> array or name for an .npz.
    """
    if isinstance(references, str) and references.endswith((".npy", ".npz")):
        if not os.path.exists(references):
            raise UserError(f"--references file {references!r} does not exist")
        if references.endswith(".npy"):
            return np.load(references)
        by_label = by_label or {}
        with np.load(references) as f:
            out = {by_label.get(k, k): f[k] for k in f.files}
        if dna is not None and dna not in out:
            out[dna] = dna_default
        return out
    return references
