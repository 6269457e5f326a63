"""Both strands of a sequence: its reverse complement scored beside it and the two explanations
averaged in the sequence's own orientation (``score --strands both``), so the scores explain
(f(x) + f(rc x)) / 2 exactly where each strand's do.

Conventions: one-hot DNA in ACGT order, (N, L, 4); the reverse complement reverses the
positions and the alphabet (A<->T, C<->G is the alphabet read backwards). The reverse
strand's references are the reverse complements of the forward strand's (the run draws them
so: :class:`~kipoi_deeplift.core.references.Draws` with the rows flagged reversed).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .references import Draws
from .result import Explanation

#: ``--strands``: the sequence as read, its reverse complement, or the mean of the two.
STRANDS = ("forward", "reverse", "both")


def reverse_complement(x: np.ndarray) -> np.ndarray:
    """One-hot sequences as their reverse complements.

    Parameters
    ----------
    x : numpy.ndarray, shape=(N, L, 4)
        One-hot DNA in ACGT order (N rows, 0.25 rows and zero rows are their own complement).

    Returns
    -------
    numpy.ndarray, shape=(N, L, 4)
    """
    return np.ascontiguousarray(np.asarray(x)[:, ::-1, ::-1])


def reverse_draws(draws: Draws | None, first: int, n: int) -> Draws:
    """The reverse strand's draws: the forward strand's keys, each row flagged the other way,
    so that its references are the reverse complements of the forward strand's.

    Parameters
    ----------
    draws : Draws or None
        The forward strand's (``None``: keyed by the sequences' indices in the run).
    first : int
        Index of the batch's first sequence in the run.
    n : int
        Sequences in the batch.

    Returns
    -------
    Draws
    """
    if draws is None:
        return Draws(np.arange(first, first + n, dtype=np.int64), np.ones(n, bool))
    return Draws(draws.keys, ~np.asarray(draws.reverse, bool))


def _flipped(by_input: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    return {name: {t: reverse_complement(a) for t, a in by_task.items()}
            for name, by_task in by_input.items()}


def in_forward_orientation(res: Explanation) -> Explanation:
    """The reverse strand's explanation read along the forward strand (position i of the
    result is position L - 1 - i of the reverse complement, base b its complement).

    Parameters
    ----------
    res : Explanation
        Scores of the reverse complements, (N, L, 4) per DNA input and task.

    Returns
    -------
    Explanation
        The same numbers, contributions flipped; delta, preds and convergence as they are.
    """
    return Explanation(_flipped(res.contrib), res.delta, res.convergence, res.preds,
                       _flipped(res.hyp_contrib), {}, res.rule, res.references,
                       res.n_references, res.seed, res.tasks, res.exact)


def averaged(forward: Explanation, reverse: Explanation) -> Explanation:
    """The mean of a batch's two strands, in the forward orientation.

    Parameters
    ----------
    forward : Explanation
        Scores of the sequences as read.
    reverse : Explanation
        Scores of their reverse complements, against the reverse-complemented references
        (in their own orientation: :func:`in_forward_orientation` is applied here).

    Returns
    -------
    Explanation
        Contributions, delta and preds the means of the two strands' (the contributions sum
        to the mean delta); convergence the mean of the two strands' largest errors, a bound
        on the mean's error for every pair of a reference and its reverse complement.
    """
    rev = in_forward_orientation(reverse)

    def mean(a: Mapping, b: Mapping) -> dict:
        return {k: ((np.asarray(a[k], np.float64) + b[k]) / 2).astype(np.asarray(a[k]).dtype)
                if not isinstance(a[k], Mapping) else mean(a[k], b[k]) for k in a}

    return Explanation(mean(forward.contrib, rev.contrib), mean(forward.delta, rev.delta),
                       mean(forward.convergence, rev.convergence),
                       mean(forward.preds, rev.preds),
                       mean(forward.hyp_contrib, rev.hyp_contrib), {}, forward.rule,
                       forward.references, forward.n_references, forward.seed, forward.tasks,
                       forward.exact)
