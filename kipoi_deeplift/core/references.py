"""Reference (baseline) inputs for DeepLIFT.

Every random reference is drawn from a generator seeded by ``(seed, key of the sequence)``, so a
sequence gets the same references whatever batch, shard or thread it lands in. The key is the
sequence's index in the run, or (score files, :class:`Draws`) a hash of its locus, with a
sequence read against the genome drawn as the reverse complement of its locus's forward draw:
one locus gets the same references on either strand. Random DNA
references are made as small integer tokens (:mod:`.shuffle`: one byte a position, compiled with
numba, the GIL released) and become one-hot rows only where the pass needs them
(:func:`from_tokens`, or inside the compiled pass).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import shuffle as _kernels
from .reference_names import (REFERENCE_NAMES, constant_reference, is_random,
                              validate_reference_name)
from .shuffle import ALPHABET as _ALPHABET, STREAM

#: ``reference_stream`` of score files: stream 2's kernels, each sequence keyed by its locus and
#: '-' drawn as the reverse complement of the '+' draw (:class:`Draws`); 2 keyed them by row.
SCORE_STREAM = 3

#: One-hot row of each token: the 4 bases, then an all-zero row and an all-0.25 row (N).
TOKEN_TABLE = np.concatenate([np.eye(_ALPHABET), np.zeros((1, _ALPHABET)),
                              np.full((1, _ALPHABET), 0.25)]).astype(np.float32)
__all__ = ["REFERENCE_NAMES", "STREAM", "SCORE_STREAM", "Draws", "reverse_complement_tokens", "TOKEN_TABLE", "dinuc_shuffle", "dinuc_shuffle_tokens",
           "shuffle", "tokens", "from_tokens", "make_references", "constant_reference",
           "reference_count", "validate_reference_name", "is_random", "is_one_hot",
           "require_one_hot", "non_acgt_counts"]


def _uniform_rows(x: np.ndarray) -> np.ndarray:
    return np.all(x == 0.25, axis=-1)


def is_one_hot(x: np.ndarray) -> bool:
    """Whether ``x`` (np.ndarray (..., 4)) is one-hot along its last axis.

    Returns
    -------
    bool
        True when the last axis has 4 channels holding one-hot positions, or N / ambiguity codes
        written as an all-zero or an all-0.25 row.
    """
    if x.shape[-1] != _ALPHABET:
        return False
    if x.ndim == 3:
        return _tokens_or_none(x) is not None
    binary = np.all((x == 0) | (x == 1), axis=-1) & (x.sum(axis=-1) <= 1)
    return bool(np.all(binary | _uniform_rows(x)))


def require_one_hot(x: np.ndarray, name: str) -> None:
    """Refuse dinucleotide shuffles of an input that is not one-hot DNA (N, L, 4).

    Parameters
    ----------
    x : np.ndarray, shape (N, L, 4)
    name : str
        The input's name (for the message).
    """
    if not is_one_hot(x) or x.ndim != 3:
        raise ValueError(f"input {name!r} is not one-hot DNA of shape (N, L, 4): "
                         "dinuc-shuffle needs one; pass references='zeros' or an array")


def non_acgt_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence of ``x`` (np.ndarray (N, L, 4), one-hot), positions not A, C, G or T.

    Returns
    -------
    tuple of (np.ndarray, np.ndarray), shape (N,) each
        Positions written as 0.25 rows (i.e. N); positions written as zero rows (i.e. N or
        another IUPAC code).
    """
    tok = _tokens_or_none(x)
    if tok is not None:
        return ((tok == _kernels.UNIFORM_TOKEN).sum(-1).astype(np.int64),
                (tok == _kernels.ZERO_TOKEN).sum(-1).astype(np.int64))
    return (_uniform_rows(x).sum(axis=-1).astype(np.int64),
            (np.abs(x).sum(axis=-1) == 0).sum(axis=-1).astype(np.int64))


def _tokens_or_none(x: np.ndarray) -> np.ndarray | None:
    """(N, L, 4) one-hot -> (N, L) tokens in one compiled pass; ``None`` for anything else."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != _ALPHABET or x.dtype.kind not in "biuf":
        return None
    out = np.empty(x.shape[:2], np.uint8)
    return out if _kernels.tokens(x, out) else None


def tokens(onehot: np.ndarray) -> np.ndarray:
    """One-hot sequences ``onehot`` (np.ndarray (N, L, 4)) as tokens.

    Returns
    -------
    np.ndarray, shape (N, L), uint8
        0-3 the bases A, C, G, T, 4 an all-zero row, 5 an all-0.25 row. ``ValueError`` for
        anything that is not one-hot DNA.
    """
    out = _tokens_or_none(onehot)
    if out is None:
        raise ValueError(f"not one-hot DNA of shape (N, L, 4) (shape {np.shape(onehot)}): "
                         "a position is neither one base, all zero nor all 0.25")
    return out


def from_tokens(tok: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Tokens ``tok`` (np.ndarray (..., L)) as one-hot rows in ``dtype`` (see :data:`TOKEN_TABLE`).

    Returns
    -------
    np.ndarray, shape (..., L, 4)
    """
    return TOKEN_TABLE.astype(dtype, copy=False)[tok]


#: Token of each token's complement (A<->T, C<->G; the two N rows are their own).
_COMPLEMENT = np.array([3, 2, 1, 0, _kernels.ZERO_TOKEN, _kernels.UNIFORM_TOKEN], np.uint8)


def reverse_complement_tokens(tok: np.ndarray) -> np.ndarray:
    """Tokens ``tok`` (np.ndarray (..., L)) as their reverse complements.

    Returns
    -------
    np.ndarray, shape (..., L)
    """
    return _COMPLEMENT[np.asarray(tok)[..., ::-1]]


@dataclass(frozen=True)
class Draws:
    """How a batch's random references are drawn.

    Parameters
    ----------
    keys : np.ndarray, shape (n,), int64
        Seed each sequence's generator (with the run's seed).
    reverse : np.ndarray, shape (n,), bool
        Where set, the sequence is drawn as the reverse complement of the draw for its reverse
        complement (so a locus read on either strand gets the same references,
        reverse-complemented with it).
    """

    keys: np.ndarray
    reverse: np.ndarray

    @classmethod
    def of_loci(cls, chrom: Sequence[str], start: Sequence[int], end: Sequence[int],
                reverse: Sequence[bool]) -> "Draws":
        """Keys from each sequence's locus: the same interval draws the same references in any
        file, row, shard or order.

        Parameters
        ----------
        chrom, start, end, reverse : sequence of str, int, int, bool, (n,) each
            Each sequence's interval, and whether it is read on the reverse strand.

        Returns
        -------
        Draws
        """
        import hashlib

        keys = [int.from_bytes(hashlib.blake2b(f"{c}:{int(s)}-{int(e)}".encode(),
                                               digest_size=8).digest(), "little") >> 1
                for c, s, e in zip(chrom, start, end)]
        return cls(np.asarray(keys, np.int64), np.asarray(reverse, bool))


def _drawn(draw, tok: np.ndarray, n_references: int, seed: int, index,
           reverse: np.ndarray | None) -> np.ndarray:
    """``draw(tokens, K, seed, index)`` -> (N, K, L) tokens, with the rows flagged in
    ``reverse`` drawn for their reverse complement and reverse-complemented back."""
    if reverse is None or not reverse.any():
        return draw(tok, n_references, seed, index)
    tok = tok.copy()
    tok[reverse] = reverse_complement_tokens(tok[reverse])
    out = draw(tok, n_references, seed, index)
    out[reverse] = reverse_complement_tokens(out[reverse])
    return out


def _permuted_tokens(tok: np.ndarray, n_references: int, seed: int, index) -> np.ndarray:
    return shuffle(tok, n_references, seed, index)


def _index(index: Sequence[int] | None, n: int) -> np.ndarray:
    index = np.arange(n, dtype=np.int64) if index is None else \
        np.ascontiguousarray(index, dtype=np.int64)
    if index.shape != (n,):
        raise ValueError(f"index has {index.size} entries for {n} sequences")
    return index


def dinuc_shuffle_tokens(onehot: np.ndarray, n_shuffles: int, seed: int = 0,
                         index: Sequence[int] | None = None) -> np.ndarray:
    """Dinucleotide shuffles as tokens.

    Uniform over all sequences with the same dinucleotide counts, first and last letter
    (Altschul & Erickson 1985; see :func:`kipoi_deeplift.core.shuffle.dinuc`); positions
    written as all-zero or all-0.25 rows are letters of their own. Releases the GIL.

    Parameters
    ----------
    onehot : np.ndarray, shape (N, L, 4) one-hot or (N, L) tokens
    n_shuffles, seed, index : int, int, sequence of int (N,) or None
        K; shuffles of sequence i are seeded by (``seed``, ``index[i]``) (default: 0..N-1).

    Returns
    -------
    np.ndarray, shape (N, K, L), uint8
    """
    onehot = np.asarray(onehot)
    tok = np.ascontiguousarray(onehot, np.uint8) if onehot.ndim == 2 else tokens(onehot)
    n, length = tok.shape
    out = np.empty((n, int(n_shuffles), length), np.uint8)
    _kernels.dinuc(tok, int(n_shuffles), int(seed), _index(index, n), out)
    return out


def dinuc_shuffle(onehot: np.ndarray, n_shuffles: int, seed: int = 0,
                  index: Sequence[int] | None = None) -> np.ndarray:
    """Dinucleotide-preserving shuffles of one-hot sequences (see :func:`dinuc_shuffle_tokens`,
    which this wraps, for the parameters).

    Returns
    -------
    np.ndarray, shape (N, K, L, 4)
        In the input's dtype.
    """
    onehot = np.asarray(onehot)
    return from_tokens(dinuc_shuffle_tokens(onehot, n_shuffles, seed, index), onehot.dtype)


def shuffle(x: np.ndarray, n_shuffles: int, seed: int = 0,
            index: Sequence[int] | None = None) -> np.ndarray:
    """Random permutations of the positions (axis 1) of each sequence.

    Parameters
    ----------
    x : np.ndarray, shape (N, L, ...)
    n_shuffles, seed, index
        K, and the seeding, as for :func:`dinuc_shuffle_tokens`.

    Returns
    -------
    np.ndarray, shape (N, K, L, ...)
    """
    x = np.asarray(x)
    n, length = x.shape[:2]
    perm = np.empty((n, int(n_shuffles), length), np.int32)
    _kernels.permutations(int(n_shuffles), length, int(seed), _index(index, n), perm)
    return x[np.arange(n)[:, None, None], perm]


#: How one input's references reach the pass (see :class:`ReferenceBatch`).
FORMS = ("tokens", "rows", "shared")


@dataclass(frozen=True)
class ReferenceBatch:
    """One input's references for a batch of ``n`` sequences, in the form the pass takes.

    Parameters
    ----------
    form : str
        ``tokens`` (``array`` (n*K, L) uint8, see :data:`TOKEN_TABLE`: random DNA references,
        one byte a position until the pass makes one-hot rows of them), ``rows`` (``array``
        (n*K, ...) float32, sequence i's references in rows i*K to i*K+K-1) or ``shared``
        (``array`` (K, ...) float32, the same references for every sequence, repeated only
        inside the pass).
    array, k : np.ndarray, int
        The references, and K.
    """

    form: str
    array: np.ndarray
    k: int

    def per_sequence(self, n: int) -> np.ndarray:
        """The references as one-hot or float rows, (n, K, ...).

        Parameters
        ----------
        n : int
            The batch's sequences.

        Returns
        -------
        np.ndarray, shape (n, K, ...)
            One-hot rows for ``tokens``; a broadcast view (not a copy) for ``shared``.
        """
        a = from_tokens(self.array) if self.form == "tokens" else self.array
        if self.form == "shared":
            return np.broadcast_to(a, (n,) + a.shape)
        return a.reshape((n, self.k) + a.shape[1:])

    def repeated(self, k: int) -> "ReferenceBatch":
        """The same references for a run with ``k`` references a sequence (this input has one
        reference, another input ``k``): the one repeated.

        Parameters
        ----------
        k : int
            The run's references per sequence (K).

        Returns
        -------
        ReferenceBatch
            This one where its K is ``k`` already, and a ``shared`` one as it is (K 1, repeated
            inside the pass); ``ValueError`` unless its K is 1.
        """
        if k == self.k:
            return self
        if self.k != 1:
            raise ValueError(f"cannot repeat {self.k} references to {k}")
        if self.form == "shared":
            return ReferenceBatch("shared", self.array, 1)
        return ReferenceBatch(self.form, np.repeat(self.array, k, axis=0), k)

    def padded(self, n: int, rows: int) -> "ReferenceBatch":
        """The references of ``n`` sequences followed by copies of the first sequence's, to
        ``rows`` sequences (a fixed batch shape for the compiled pass).

        Parameters
        ----------
        n : int
            The batch's sequences.
        rows : int
            The sequences of the padded batch (at least ``n``).

        Returns
        -------
        ReferenceBatch
            This one where it is ``shared`` or already ``rows`` sequences long.
        """
        if self.form == "shared" or rows == n:
            return self
        extra = np.tile(self.array[:self.k], (rows - n,) + (1,) * (self.array.ndim - 1))
        return ReferenceBatch(self.form, np.concatenate([self.array, extra]), self.k)


def batch_references(spec, x: np.ndarray, n_references: int, seed: int,
                     index: Sequence[int], name: str,
                     rows: Sequence[int] | None = None,
                     reverse: np.ndarray | None = None) -> ReferenceBatch:
    """References for one input batch in the form the pass takes.

    Parameters
    ----------
    spec : str or np.ndarray
        A reference name or an array: (...) one reference, (K, ...) shared by all sequences,
        (N_total, K, ...) one set per sequence (rows picked by ``rows``, by default ``index``).
    x : np.ndarray, shape (N, ...)
    n_references, seed, index, name, rows, reverse
        K; random references are seeded by (``seed``, ``index`` (N,)): dinucleotide shuffles
        and shuffles of one-hot DNA travel as tokens; the input's name (for messages); ``rows``
        as above; the sequences flagged in ``reverse`` (N,) bool are drawn as the reverse
        complement of their reverse complement's draw (see :class:`Draws`).

    Returns
    -------
    ReferenceBatch
    """
    n, shape = x.shape[0], x.shape[1:]
    if isinstance(spec, str):
        if spec == "dinuc-shuffle":
            require_one_hot(x, name)
            tok = _drawn(dinuc_shuffle_tokens, tokens(x), n_references, seed, index, reverse)
            return ReferenceBatch("tokens", tok.reshape(n * n_references, -1), n_references)
        if spec == "shuffle":
            if x.ndim == 3 and is_one_hot(x):
                tok = _drawn(_permuted_tokens, tokens(x), n_references, seed, index, reverse)
                return ReferenceBatch("tokens", tok.reshape(n * n_references, -1),
                                      n_references)
            out = shuffle(x, n_references, seed, index).astype(np.float32, copy=False)
            return ReferenceBatch("rows", out.reshape((n * n_references,) + shape),
                                  n_references)
        return ReferenceBatch("shared", constant_reference(spec, shape)[None], 1)
    ref = np.asarray(spec, dtype=np.float32)
    if ref.shape == shape:
        out, form = ref[None], "shared"
    elif ref.ndim == len(shape) + 1 and ref.shape[1:] == shape:
        out, form = ref, "shared"
    elif ref.ndim == len(shape) + 2 and ref.shape[2:] == shape:
        out, form = ref[np.asarray(index if rows is None else rows)], "rows"
    else:
        raise ValueError(
            f"references for input {name!r} have shape {ref.shape}; expected {shape} (one "
            f"reference), (K, {', '.join(map(str, shape))}) shared, or "
            f"(N, K, {', '.join(map(str, shape))}) per sequence")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"references for input {name!r} contain NaN or inf: every "
                         "reference must be finite")
    k = out.shape[0] if form == "shared" else out.shape[1]
    return ReferenceBatch(form, np.ascontiguousarray(
        out if form == "shared" else out.reshape((n * k,) + shape)), k)


def make_references(spec, x: np.ndarray, n_references: int, seed: int,
                    index: Sequence[int], name: str,
                    rows: Sequence[int] | None = None) -> np.ndarray:
    """References for one input batch ``x`` (N, ...) as an array in ``x``'s dtype (see
    :func:`batch_references` for the parameters and the seeding).

    Returns
    -------
    np.ndarray, shape (N, K, ...)
    """
    batch = batch_references(spec, x, n_references, seed, index, name, rows)
    return batch.per_sequence(x.shape[0]).astype(x.dtype, copy=False)


def reference_count(spec, n_references: int, shape: tuple[int, ...]) -> int:
    """How many references per sequence ``spec`` (a name or array) yields for an input of
    ``shape`` (batch axis excluded), checked before any work.

    Returns
    -------
    int
        K (``n_references`` for a random kind), or -1 for an array of no accepted shape.
    """
    if isinstance(spec, str):
        validate_reference_name(spec)
        return n_references if is_random(spec) else 1
    ref = np.asarray(spec)
    if ref.shape == tuple(shape):
        return 1
    if ref.ndim == len(shape) + 1:
        return ref.shape[0]
    if ref.ndim == len(shape) + 2:
        return ref.shape[1]
    return -1
