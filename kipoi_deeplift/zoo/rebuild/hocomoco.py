"""Kipoi's pwm_HOCOMOCO models rebuilt from the HOCOMOCO v10 count matrices.

As Kipoi built them: each count matrix is row-normalised to probabilities, 0.001 is added, the
Conv1D kernel is log(p / 0.25) with zero bias, then ReLU and global max pooling: the model's
output is the best log-odds match of the PWM in the sequence (0 when no window scores above 0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import UserError

QUALITY = "ABCDS"     # HOCOMOCO's motif quality grades, best first


def read_pcms(path: str | Path) -> dict[str, np.ndarray]:
    """The count matrices of a HOCOMOCO file, by motif name.

    Parameters
    ----------
    path : str or Path
        The HOCOMOCO v10 PCM file (``>name`` lines, then one row of counts per position).

    Returns
    -------
    dict of str to numpy.ndarray
        Motif name (e.g. ``CTCF_HUMAN.H10MO.A``) -> count matrix of shape ``(length, 4)``, ACGT
        order.
    """
    motifs: dict[str, list] = {}
    name = None
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            motifs[name] = []
        elif line.strip() and name is not None:
            motifs[name].append([float(v) for v in line.split()])
    return {k: np.array(v) for k, v in motifs.items()}


def motif_for(pcms: dict[str, np.ndarray], model: str) -> str:
    """The motif of a Kipoi model name: the best-quality matrix of that TF and species.

    Parameters
    ----------
    pcms : dict of str to numpy.ndarray
        :func:`read_pcms`'s result.
    model : str
        ``human/CTCF`` or ``pwm_HOCOMOCO/human/CTCF``.

    Returns
    -------
    str
        The motif's name; ``UserError`` when the file has none for that TF.
    """
    species, _, tf = model.split("pwm_HOCOMOCO/")[-1].partition("/")
    prefix = f"{tf.upper()}_{species.upper()}.H10MO."
    found = sorted((k for k in pcms if k.startswith(prefix)),
                   key=lambda k: QUALITY.index(k[-1]) if k[-1] in QUALITY else len(QUALITY))
    if not found:
        raise UserError(f"no HOCOMOCO v10 matrix for {model!r} (looked for {prefix}*)")
    return found[0]


def log_odds(counts: np.ndarray) -> np.ndarray:
    """The Conv1D kernel Kipoi used: log((counts / row sum + 0.001) / 0.25).

    Parameters
    ----------
    counts : numpy.ndarray of shape (length, 4)
        A count matrix.

    Returns
    -------
    numpy.ndarray of shape (length, 4)
    """
    p = counts / counts.sum(axis=1, keepdims=True) + 0.001
    return np.log(p / 0.25)


def build(counts: np.ndarray, length: int | None = None):
    """The PWM-scanning model (Keras 3) for one count matrix.

    Parameters
    ----------
    counts : numpy.ndarray of shape (W, 4)
        The count matrix.
    length : int, optional
        The input length; ``None`` takes any length.

    Returns
    -------
    keras.Model
        ``(N, L, 4)`` -> ``(N, 1)``: the best log-odds match.
    """
    import keras

    kernel = log_odds(counts).astype(np.float32)
    seq = keras.Input((length, 4), name="seq")
    conv = keras.layers.Conv1D(1, kernel.shape[0], activation="relu", name="pwm")
    score = keras.layers.GlobalMaxPooling1D(name="pwm_match")(conv(seq))
    model = keras.Model(seq, score, name="pwm_HOCOMOCO")
    conv.set_weights([kernel[:, :, None], np.zeros(1, np.float32)])
    return model


def from_counts_file(path: str | Path, model: str, length: int | None = None):
    """The rebuilt Kipoi model ``pwm_HOCOMOCO/<species>/<TF>`` from the HOCOMOCO file.

    Parameters
    ----------
    path : str or Path
        The HOCOMOCO v10 PCM file.
    model : str
        The Kipoi model name (see :func:`motif_for`).
    length : int, optional
        The input length; ``None`` takes any length.

    Returns
    -------
    keras.Model
    """
    pcms = read_pcms(path)
    return build(pcms[motif_for(pcms, model)], length)
