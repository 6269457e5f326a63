"""Both strands of a sequence: its reverse complement scored beside it and the two explanations
averaged in the sequence's own orientation (``score --strands both``), so the scores explain
(f(x) + f(rc x)) / 2 exactly where each strand's do.

Conventions: one-hot DNA in ACGT order, (N, L, 4); the reverse complement reverses the
positions and the alphabet (A<->T, C<->G is the alphabet read backwards). The reverse
strand's references are the reverse complements of the forward strand's (the run draws them
so: :class:`~kipoi_deeplift.core.references.Draws` with the rows flagged reversed).

Outputs with positions (profile heads, (N, P) or (N, P, C)) are read back too: the reverse
strand's task for position p is position P - 1 - p of the same output, its channel c the
channel the model declares for c on the other strand (:func:`mirrored_units`); a *mirror*
maps each written task to the reverse strand's task explained in its place.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np

from .references import Draws
from .result import Explanation, mean_of

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


def strand_permutation(value) -> tuple[int, ...] | None:
    """A declared ``strand_channels``, checked: a permutation of 0..C-1.

    Parameters
    ----------
    value : list of int or None
        Channel c on the forward strand is channel ``value[c]`` on the reverse.

    Returns
    -------
    tuple of int or None
        ``None`` where ``value`` is; ``ValueError`` (naming the key) where it is not a
        permutation.
    """
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and value and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in value)
            and sorted(int(c) for c in value) == list(range(len(value)))):
        raise ValueError(f"strand_channels {value!r} is not a permutation of 0..C-1 (each "
                         "channel's number on the reverse strand; BPNet's + and - strands: "
                         "[1, 0])")
    return tuple(int(c) for c in value)


def mirrored_units(positions: int, channels: int,
                   strand_channels: Sequence[int] | None = None) -> np.ndarray:
    """Each flat unit of an output (N, P, C) and the unit that means the same on the reverse
    strand: position P - 1 - p, channel ``strand_channels[c]``.

    Parameters
    ----------
    positions : int
        P, the output's positions (1: an output without positions, (N, C)).
    channels : int
        C, the units at each position.
    strand_channels : sequence of int, optional
        A permutation of range(C): channel c on the forward strand is channel
        ``strand_channels[c]`` on the reverse (BPNet's + and - strand counts: [1, 0]);
        ``None``: each channel is its own.

    Returns
    -------
    numpy.ndarray, shape=(P * C,)
        ``m[u]``: the reverse strand's unit for unit u, in the engine's flat order (p * C + c).
    """
    perm = np.arange(channels) if strand_channels is None else np.asarray(strand_channels)
    return ((positions - 1 - np.arange(positions))[:, None] * channels
            + perm[None, :]).ravel()


def _by_task(res: Explanation, mirror: Mapping[str, str]) -> Explanation:
    """``res`` with the tasks of ``mirror`` only, each task t holding ``res``'s mirror[t]
    (an ensemble's members alike)."""
    def pick(by_task: Mapping) -> dict:
        return {t: by_task[m] for t, m in mirror.items()}

    def pick_inputs(by_input: Mapping) -> dict:
        return {name: pick(by_task) for name, by_task in by_input.items()}

    return replace(res, contrib=pick_inputs(res.contrib), delta=pick(res.delta),
                   convergence=pick(res.convergence), preds=pick(res.preds),
                   hyp_contrib=pick_inputs(res.hyp_contrib), neuron_contrib={},
                   tasks=list(mirror), members=[_by_task(m, mirror) for m in res.members])


def _flipped(by_input: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    return {name: {t: reverse_complement(a) for t, a in by_task.items()}
            for name, by_task in by_input.items()}


def in_forward_orientation(res: Explanation,
                           mirror: Mapping[str, str] | None = None) -> Explanation:
    """The reverse strand's explanation read along the forward strand (position i of the
    result is position L - 1 - i of the reverse complement, base b its complement).

    Parameters
    ----------
    res : Explanation
        Scores of the reverse complements, (N, L, 4) per DNA input and task.
    mirror : Mapping of str to str, optional
        Task written -> the reverse strand's task explained in its place (a profile's
        position p: its position P - 1 - p); ``None``: every task of ``res`` as itself.

    Returns
    -------
    Explanation
        The same numbers, contributions flipped; delta, preds and convergence as they are;
        an ensemble's members each read so.
    """
    if mirror is not None:
        res = _by_task(res, mirror)
    return replace(res, contrib=_flipped(res.contrib), hyp_contrib=_flipped(res.hyp_contrib),
                   neuron_contrib={},
                   members=[in_forward_orientation(m) for m in res.members])


def averaged(forward: Explanation, reverse: Explanation,
             mirror: Mapping[str, str] | None = None) -> Explanation:
    """The mean of a batch's two strands, in the forward orientation.

    Parameters
    ----------
    forward : Explanation
        Scores of the sequences as read.
    reverse : Explanation
        Scores of their reverse complements, against the reverse-complemented references
        (in their own orientation: :func:`in_forward_orientation` is applied here).
    mirror : Mapping of str to str, optional
        As :func:`in_forward_orientation`'s: its keys are the tasks kept (the forward strand's
        task t is averaged with the reverse strand's mirror[t]); ``None``: every task as itself.

    Returns
    -------
    Explanation
        Contributions, delta and preds the means of the two strands' (the contributions sum
        to the mean delta); convergence the mean of the two strands' largest errors, a bound
        on the mean's error for every pair of a reference and its reverse complement. An
        ensemble's members are each averaged over the strands.
    """
    rev = in_forward_orientation(reverse, mirror)
    if mirror is not None:
        forward = _by_task(forward, {t: t for t in mirror})
    return mean_of([forward, rev], members=[mean_of([f, r]) for f, r in
                                            zip(forward.members, rev.members)])
