"""Where a scored sequence lies in the genome: one owner for the offset that every writer,
table and plot needs.

A score file's ``/metadata/ranges`` hold each row's interval as its dataloader gave it; the
sequence the model read has the model's length L. Where the two differ, the sequence is taken
as centred in the range: it starts at ``start + ((end - start) - L) // 2``.
"""
from __future__ import annotations

import numpy as np


def sequence_start(start, end, length: int):
    """Genome start (0-based) of a scored sequence of ``length`` bases centred in its range.

    Parameters
    ----------
    start, end : int or numpy.ndarray, shape=(N,)
        The range [``start``, ``end``) as the dataloader gave it: ints or integer arrays.
    length : int
        The model's sequence length L.

    Returns
    -------
    int or numpy.ndarray, shape=(N,), int64
        ``start + ((end - start) - length) // 2``; an array where ``start`` or ``end`` is one.
    """
    if isinstance(start, np.ndarray) or isinstance(end, np.ndarray):
        start = np.asarray(start, dtype=np.int64)
        end = np.asarray(end, dtype=np.int64)
    return start + ((end - start) - length) // 2


def window_sums(x: np.ndarray, width: int) -> np.ndarray:
    """Sum of every window of ``width`` consecutive bases of each row.

    Parameters
    ----------
    x : numpy.ndarray, shape=(N, L)
        Per-base values (e.g. contributions summed over the 4 channels); cast to float64.
    width : int
        Bases per window, at least 1; a width above L is taken as L (one window, the whole
        row).

    Returns
    -------
    sums : numpy.ndarray, shape=(N, L - width + 1)
        ``sums[i, s] == x[i, s:s + width].sum()``, signed, for windows lying wholly inside
        the row (none hangs off either end). Computed as differences of running sums, so a
        sum may differ from a direct one in the last bits (float64 rounding).
    """
    x = np.asarray(x, dtype=np.float64)
    if int(width) < 1:
        raise ValueError(f"window width {width}: give at least 1 base")
    width = min(int(width), x.shape[-1])
    running = np.cumsum(np.pad(x, ((0, 0), (1, 0))), axis=1)
    return running[:, width:] - running[:, :-width]


def top_window(x: np.ndarray, width: int, absolute: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """The highest-scoring window of ``width`` bases in each row: where the strongest
    contribution of a scored sequence lies.

    Windows lie wholly inside the row (:func:`window_sums`). A window's score is its summed
    value (signed), or with ``absolute`` the magnitude of that sum (a strongly negative
    window counts as much as a positive one; not the sum of absolute values). Given several
    tracks per row, (N, T, L), a window's score is the sum of its scores over the tracks:
    with ``absolute``, of each track's |sum|. Ties go to the lowest start (the window
    nearest the row's first base).

    Parameters
    ----------
    x : numpy.ndarray, shape=(N, L) or (N, T, L)
        Per-base values of N rows (T tracks each, e.g. several files' scores of one
        sequence); cast to float64.
    width : int
        Bases per window, at least 1; a width above L is taken as L.
    absolute : bool, optional
        Rank windows by |summed value| instead of the summed value. Default False.

    Returns
    -------
    starts : numpy.ndarray, shape=(N,), int64
        0-based start of each row's top window in the row (it ends at start + min(width, L)).
    scores : numpy.ndarray, shape=(N,), float64
        The top window's score as defined above (its signed sum for one track without
        ``absolute``).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise ValueError(f"top_window takes (N, L) or (N, T, L) values, not shape {x.shape}")
    n, length = x.shape[0], x.shape[-1]
    sums = window_sums(x.reshape(-1, length), width).reshape(x.shape[:-1] + (-1,))
    if absolute:
        sums = np.abs(sums)
    if x.ndim == 3:
        sums = sums.sum(axis=1)
    starts = sums.argmax(axis=1)          # argmax: the first of equal maxima
    return starts.astype(np.int64), sums[np.arange(n), starts]
