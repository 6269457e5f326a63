"""TF-MoDISco's input files from a finished score file: the one-hot sequences and the
hypothetical contributions, (N, 4, L) each, as ``modisco motifs`` reads them.
"""
from __future__ import annotations

import os

import numpy as np

from . import scorefile as sf


def write_npz(path: str | os.PathLike, array: np.ndarray) -> None:
    """``np.savez_compressed`` to exactly ``path`` (numpy would append .npz to a name).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    array : numpy.ndarray
        The array, stored as ``arr_0``.
    """
    with open(path, "wb") as f:
        np.savez_compressed(f, array)


def modisco_arrays(h5: sf.ScoreFile, input_name: str, task: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The one-hot sequences and hypothetical contributions as ``modisco motifs`` reads them.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file.
    input_name : str
        The DNA input (``/inputs/<input>`` and ``/hyp_contrib/<input>/<task>``, (N, L, 4)).
    task : str
        The task.

    Returns
    -------
    one_hot, hypothetical : numpy.ndarray, shape=(N, 4, L), float32
        The sequences and their hypothetical contributions, channels first.
    """
    ohe = h5[sf.inputs(input_name)][:].transpose(0, 2, 1)
    hyp = h5[sf.hyp_contrib(input_name, task)][:].transpose(0, 2, 1)
    return ohe.astype(np.float32), hyp.astype(np.float32)
