"""Random references at memory speed: dinucleotide and position shuffles compiled with numba.

The kernels take and return small integer tokens (one byte a position: 0-3 the bases A, C, G, T,
then an all-zero row and an all-0.25 row, the two ways N is written) and release the GIL, so
reference making runs in threads beside the DeepLIFT pass. :mod:`.references` is the public face
(one-hot in, one-hot or tokens out).

Random stream: every sequence draws from its own xoshiro256** generator (Blackman & Vigna 2018),
its state seeded by splitmix64 from ``(seed, index of the sequence)``, so a sequence gets the same
references whatever batch, shard, thread or resumed run it lands in. Bounded integers are drawn
with Lemire's multiply-and-reject method (exactly uniform).
"""
from __future__ import annotations

import numba as nb
import numpy as np

ALPHABET = 4
#: Token of a position that is an all-zero row (N or another IUPAC code, as kipoiseq writes it)
#: and of an all-0.25 row (N as kipoiseq and genomelake write it); shuffles keep both as
#: letters of their own, as the DeepLIFT authors' shuffles keep N.
ZERO_TOKEN, UNIFORM_TOKEN = ALPHABET, ALPHABET + 1
SYMBOLS = ALPHABET + 2

#: Version of the random stream; recorded in score files (``reference_stream``). Stream 1 was
#: numpy's ``default_rng([seed, index])`` with argsorted keys (kipoi_deeplift before 0.2).
STREAM = 2

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NOGIL = dict(nogil=True, cache=True, error_model="numpy")


@nb.njit(**_NOGIL)
def _mix64(z):
    """splitmix64's finaliser: a bijection of 64-bit words that scatters every input bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(**_NOGIL)
def _seeded(seed, index, state):
    """xoshiro256** state for sequence ``index`` of a run seeded ``seed``: splitmix64 steps
    from a key that differs for every index of one seed (``_mix64`` is a bijection)."""
    z = _mix64(_mix64(np.uint64(seed) + _GOLDEN) + np.uint64(index))
    for i in range(4):
        z = z + _GOLDEN
        state[i] = _mix64(z)


@nb.njit(**_NOGIL)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(**_NOGIL)
def _next(state):
    """The next 64-bit word of xoshiro256**."""
    out = _rotl(state[1] * np.uint64(5), 7) * np.uint64(9)
    t = state[1] << np.uint64(17)
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = _rotl(state[3], 45)
    return out


@nb.njit(**_NOGIL)
def _below(state, n):
    """A uniform integer in [0, n) for 1 <= n < 2**32 (Lemire 2019: multiply, reject the few
    draws that would bias the result)."""
    bound = np.uint64(n)
    m = (_next(state) >> np.uint64(32)) * bound
    low = m & np.uint64(0xFFFFFFFF)
    if low < bound:
        threshold = (np.uint64(0x100000000) - bound) % bound
        while low < threshold:
            m = (_next(state) >> np.uint64(32)) * bound
            low = m & np.uint64(0xFFFFFFFF)
    return np.int64(m >> np.uint64(32))


@nb.njit(**_NOGIL)
def tokens(onehot, out):
    """One-hot sequences as uint8 tokens, written into ``out``.

    Parameters
    ----------
    onehot : np.ndarray, shape (N, L, 4), float
    out : np.ndarray, shape (N, L), uint8
        Filled with the tokens.

    Returns
    -------
    bool
        False if a row is neither one base, all zero nor all 0.25 (not one-hot DNA).
    """
    n, length = onehot.shape[0], onehot.shape[1]
    for i in range(n):
        for j in range(length):
            ones, zeros, quarters, base = 0, 0, 0, 0
            for b in range(ALPHABET):
                v = onehot[i, j, b]
                if v == 1.0:
                    ones += 1
                    base = b
                elif v == 0.0:
                    zeros += 1
                elif v == 0.25:
                    quarters += 1
            if ones == 1 and zeros == ALPHABET - 1:
                out[i, j] = base
            elif zeros == ALPHABET:
                out[i, j] = ZERO_TOKEN
            elif quarters == ALPHABET:
                out[i, j] = UNIFORM_TOKEN
            else:
                return False
    return True


@nb.njit(**_NOGIL)
def dinuc(tok, n_shuffles, seed, index, out):
    """Dinucleotide shuffles of token sequences, written into ``out``.

    Uniform over all sequences with the same dinucleotide counts and the same first and last
    letter (Altschul & Erickson 1985; Kandel et al. 1996): each shuffle is an Eulerian walk
    through the multigraph of letter transitions. A uniformly random last exit is chosen for
    every letter but the final one, again until those exits form a tree that leads to the final
    letter (a uniformly random arborescence); the other exits of each letter are put in a
    uniformly random order (Fisher-Yates). By the BEST theorem each labelled Eulerian walk is
    then equally likely, hence each sequence.

    Parameters
    ----------
    tok : np.ndarray, shape (N, L), uint8
    n_shuffles : int
        K.
    seed : int
        The run's seed.
    index : np.ndarray, shape (N,), int64
        Sequence i is seeded by (``seed``, ``index[i]``).
    out : np.ndarray, shape (N, K, L), uint8
        Filled with the shuffles.
    """
    n, length = tok.shape
    edges = np.empty(max(length - 1, 1), np.uint8)
    work = np.empty_like(edges)
    counts = np.zeros(SYMBOLS, np.int64)
    starts = np.zeros(SYMBOLS, np.int64)
    fill = np.zeros(SYMBOLS, np.int64)
    last = np.zeros(SYMBOLS, np.int64)
    state = np.empty(4, np.uint64)
    for i in range(n):
        if length < 3:                     # one arrangement only
            for r in range(n_shuffles):
                out[i, r, :] = tok[i, :]
            continue
        _seeded(seed, index[i], state)
        counts[:] = 0
        for j in range(length - 1):
            counts[tok[i, j]] += 1
        total = 0
        for v in range(SYMBOLS):
            starts[v] = total
            fill[v] = total
            total += counts[v]
        for j in range(length - 1):        # the exits of each letter, in sequence order
            v = tok[i, j]
            edges[fill[v]] = tok[i, j + 1]
            fill[v] += 1
        end = np.int64(tok[i, length - 1])
        for r in range(n_shuffles):
            while True:
                for v in range(SYMBOLS):
                    if v != end and counts[v] > 0:
                        last[v] = starts[v] + _below(state, counts[v])
                tree = True
                for v in range(SYMBOLS):
                    if v == end or counts[v] == 0:
                        continue
                    u, steps = v, 0
                    while u != end and steps <= SYMBOLS:
                        u = np.int64(edges[last[u]])
                        steps += 1
                    if u != end:
                        tree = False
                        break
                if tree:
                    break
            work[:length - 1] = edges[:length - 1]
            for v in range(SYMBOLS):
                c = counts[v]
                if c == 0:
                    continue
                b = starts[v]
                if v != end:                # the chosen last exit goes last
                    e = work[last[v]]
                    work[last[v]] = work[b + c - 1]
                    work[b + c - 1] = e
                    c -= 1
                for t in range(c - 1, 0, -1):
                    u = b + _below(state, t + 1)
                    e = work[b + t]
                    work[b + t] = work[u]
                    work[u] = e
            fill[:] = starts
            cur = tok[i, 0]
            out[i, r, 0] = cur
            for j in range(1, length):
                nxt = work[fill[cur]]
                fill[cur] += 1
                out[i, r, j] = nxt
                cur = nxt


@nb.njit(**_NOGIL)
def permutations(n_shuffles, length, seed, index, out):
    """K uniformly random permutations of range(L) per sequence (Fisher-Yates), written into
    ``out``.

    Parameters
    ----------
    n_shuffles : int
        K.
    length : int
        L.
    seed : int
        The run's seed.
    index : np.ndarray, shape (N,), int64
        Sequence i is seeded by (``seed``, ``index[i]``).
    out : np.ndarray, shape (N, K, L), int32
        Filled with the permutations.
    """
    state = np.empty(4, np.uint64)
    for i in range(index.shape[0]):
        _seeded(seed, index[i], state)
        for r in range(n_shuffles):
            for j in range(length):
                out[i, r, j] = j
            for t in range(length - 1, 0, -1):
                u = _below(state, t + 1)
                e = out[i, r, t]
                out[i, r, t] = out[i, r, u]
                out[i, r, u] = e
