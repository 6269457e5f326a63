"""Where a scored sequence lies in the genome: one owner for the offset that every writer,
table and plot needs.

A score file's ``/metadata/ranges`` hold each row's interval as its dataloader gave it; the
sequence the model read has the model's length L. Where the two differ, the sequence is taken
as centred in the range: it starts at ``start + ((end - start) - L) // 2``.
"""
from __future__ import annotations

import numpy as np


def sequence_start(start, end, length: int):
    """Genome start (0-based) of a scored sequence of ``length`` bases centred in its range
    [``start``, ``end``); ``start``/``end`` are ints or integer arrays (N,), and so is the
    result."""
    if isinstance(start, np.ndarray) or isinstance(end, np.ndarray):
        start = np.asarray(start, dtype=np.int64)
        end = np.asarray(end, dtype=np.int64)
    return start + ((end - start) - length) // 2
