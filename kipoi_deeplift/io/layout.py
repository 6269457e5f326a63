"""The score file's dataset paths (re-exported by :mod:`kipoi_deeplift.io.scorefile`, which
describes the layout): one function per kind of dataset, names made HDF5 path components by
:func:`h5_key`."""
from __future__ import annotations

RANGE_KEYS = ("chr", "start", "end", "id", "strand")
ORIENTATION = "metadata/orientation"
N_POSITIONS, ZERO_POSITIONS = "metadata/n_positions", "metadata/zero_positions"


def h5_key(name: str) -> str:
    """A task, layer or input name as one HDF5 path component.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        With ``/`` replaced by ``_``.
    """
    return str(name).replace("/", "_")


def contrib(input_name: str, task: str) -> str:
    """Path of one input's contributions to one task: (N, L, 4) float32.

    Parameters
    ----------
    input_name : str
        The input's name (as the file records it; see :func:`h5_key`).
    task : str
        The task's name.

    Returns
    -------
    str
        ``contrib/<input>/<task>``.
    """
    return f"contrib/{h5_key(input_name)}/{h5_key(task)}"


def contrib_per_channel(input_name: str, task: str) -> str:
    """Path of one input's per-channel contributions m·(x - r) to one task: (N, L, 4).

    Parameters
    ----------
    input_name : str
        The input's name (as the file records it; see :func:`h5_key`).
    task : str
        The task's name.

    Returns
    -------
    str
        ``contrib_per_channel/<input>/<task>``.
    """
    return f"contrib_per_channel/{h5_key(input_name)}/{h5_key(task)}"


def hyp_contrib(input_name: str, task: str) -> str:
    """Path of one input's hypothetical contributions to one task: (N, L, 4) float32.

    Parameters
    ----------
    input_name : str
        The input's name (as the file records it; see :func:`h5_key`).
    task : str
        The task's name.

    Returns
    -------
    str
        ``hyp_contrib/<input>/<task>``.
    """
    return f"hyp_contrib/{h5_key(input_name)}/{h5_key(task)}"


def neuron_contrib(layer: str, task: str) -> str:
    """Path of one layer's per-neuron contributions to one task: (N, ..., units) float32.

    Parameters
    ----------
    layer : str
        The hidden layer's name.
    task : str
        The task's name.

    Returns
    -------
    str
        ``neuron_contrib/<layer>/<task>``.
    """
    return f"neuron_contrib/{h5_key(layer)}/{h5_key(task)}"


def inputs(input_name: str) -> str:
    """Path of an input as the model saw it: (N, L, 4) for DNA.

    Parameters
    ----------
    input_name : str
        The input's name (as the file records it; see :func:`h5_key`).

    Returns
    -------
    str
        ``inputs/<input>``.
    """
    return f"inputs/{h5_key(input_name)}"


def preds(task: str) -> str:
    """Path of the scored output (the logit before a final sigmoid/softmax): (N,).

    Parameters
    ----------
    task : str
        The task's name.

    Returns
    -------
    str
        ``preds/<task>``.
    """
    return f"preds/{h5_key(task)}"


def delta(task: str) -> str:
    """Path of f(x) minus the mean f(reference): (N,).

    Parameters
    ----------
    task : str
        The task's name.

    Returns
    -------
    str
        ``delta/<task>``.
    """
    return f"delta/{h5_key(task)}"


def convergence(task: str) -> str:
    """Path of the largest |sum of contributions - delta| over references: (N,).

    Parameters
    ----------
    task : str
        The task's name.

    Returns
    -------
    str
        ``convergence/<task>``.
    """
    return f"convergence/{h5_key(task)}"


def ranges(key: str) -> str:
    """Path of one field of the dataloader's metadata ranges (chr, start, ...): (N,).

    Parameters
    ----------
    key : str
        The field, one of :data:`RANGE_KEYS`.

    Returns
    -------
    str
        ``metadata/ranges/<key>``.
    """
    return f"metadata/ranges/{key}"


def member(i: int, path: str) -> str:
    """An ensemble member's copy of a dataset (``score --keep-members``).

    Parameters
    ----------
    i : int
        The member's place among the models given (0: the first).
    path : str
        The dataset's path in a score file (``contrib/<input>/<task>``, ``delta/<task>``, ...).

    Returns
    -------
    str
        ``members/<i>/<path>``.
    """
    return f"members/{int(i)}/{path}"
