"""Reference (baseline) inputs for DeepLIFT.

Every random reference is drawn from a generator seeded by ``(seed, index of the sequence)``, so a
sequence gets the same references whatever batch or shard it lands in.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

#: Names accepted by ``references=`` (plus ``gc:FRACTION`` and arrays).
REFERENCE_NAMES = ("dinuc-shuffle", "shuffle", "zeros", "uniform")
_GC = re.compile(r"^gc:(0(\.\d+)?|1(\.0+)?)$")
_ALPHABET = 4
#: Positions that are not one base keep their row through a shuffle, as letters of their own:
#: an all-zero row (N, or an IUPAC code, as kipoiseq writes them) and a uniform 0.25 row (N as
#: kipoiseq and genomelake write it). The authors' shuffles likewise keep N as a symbol.
_ZERO_TOKEN, _UNIFORM_TOKEN = _ALPHABET, _ALPHABET + 1
_SYMBOLS = _ALPHABET + 2


def validate_reference_name(spec: str) -> None:
    """Raise ``ValueError`` unless ``spec`` names a reference kind."""
    if spec in REFERENCE_NAMES or _GC.match(spec):
        return
    raise ValueError(
        f"unknown reference {spec!r}: use one of {', '.join(REFERENCE_NAMES)}, gc:FRACTION "
        "(e.g. gc:0.41) or an array"
    )


def is_random(spec: str) -> bool:
    """True for reference kinds that draw several random references per sequence."""
    return spec in ("dinuc-shuffle", "shuffle")


def _uniform_rows(x: np.ndarray) -> np.ndarray:
    return np.all(x == 0.25, axis=-1)


def is_one_hot(x: np.ndarray) -> bool:
    """True when the last axis has 4 channels holding one-hot positions, or N / ambiguity codes
    written as an all-zero or an all-0.25 row."""
    if x.shape[-1] != _ALPHABET:
        return False
    binary = np.all((x == 0) | (x == 1), axis=-1) & (x.sum(axis=-1) <= 1)
    return bool(np.all(binary | _uniform_rows(x)))


def require_one_hot(x: np.ndarray, name: str) -> None:
    """Refuse dinucleotide shuffles of an input that is not one-hot DNA (N, L, 4)."""
    if not is_one_hot(x) or x.ndim != 3:
        raise ValueError(f"input {name!r} is not one-hot DNA of shape (N, L, 4): "
                         "dinuc-shuffle needs one; pass references='zeros' or an array")


def non_acgt_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence of one-hot (N, L, 4): (positions written as 0.25 rows, i.e. N; positions
    written as zero rows, i.e. N or another IUPAC code)."""
    return (_uniform_rows(x).sum(axis=-1).astype(np.int64),
            (np.abs(x).sum(axis=-1) == 0).sum(axis=-1).astype(np.int64))


def _tokens(onehot: np.ndarray) -> np.ndarray:
    """(N, L, 4) one-hot -> (N, L) integer symbols: 0-3 the bases, then zero and 0.25 rows."""
    tok = onehot.argmax(axis=-1)
    tok[onehot.sum(axis=-1) == 0] = _ZERO_TOKEN
    tok[_uniform_rows(onehot)] = _UNIFORM_TOKEN
    return tok


def _from_tokens(tok: np.ndarray, dtype) -> np.ndarray:
    table = np.concatenate([np.eye(_ALPHABET), np.zeros((1, _ALPHABET)),
                            np.full((1, _ALPHABET), 0.25)]).astype(dtype)
    return table[tok]


def _rngs(seed: int, index: Sequence[int]) -> list[np.random.Generator]:
    return [np.random.default_rng([seed, int(i)]) for i in index]


def dinuc_shuffle(onehot: np.ndarray, n_shuffles: int, seed: int = 0,
                  index: Sequence[int] | None = None) -> np.ndarray:
    """Dinucleotide-preserving shuffles of one-hot sequences, (N, L, 4) -> (N, K, L, 4).

    Uniform over all sequences with the same dinucleotide counts, first and last letter
    (Altschul & Erickson 1985): each shuffle is a random Eulerian walk through the graph of
    letter transitions, whose last exit edges form a random arborescence rooted at the final
    letter. All shuffles of a batch walk together in numpy, one step per position.
    """
    onehot = np.asarray(onehot)
    n, length = onehot.shape[:2]
    index = range(n) if index is None else index
    k = n_shuffles
    tok = _tokens(onehot)
    if length < 3:
        return np.repeat(onehot[:, None], k, axis=1)
    src = np.repeat(tok[:, :-1], k, axis=0)          # (R, E) edge j goes src[j] -> dst[j]
    dst = np.repeat(tok[:, 1:], k, axis=0)
    end = np.repeat(tok[:, -1], k)
    rows = np.arange(n * k)
    rngs = _rngs(seed, index)
    keys = np.concatenate([g.random((k, length - 1)) for g in rngs])
    nv = _SYMBOLS
    counts = np.stack([(src == v).sum(axis=1) for v in range(nv)], axis=1)   # (R, symbols)
    starts = np.concatenate([np.zeros((n * k, 1), int), np.cumsum(counts, 1)[:, :-1]], 1)
    todo = rows
    while todo.size:
        # Sorting edges by (source letter, random key) gives every letter a random exit order;
        # its last edge is the one with the largest key.
        order = np.argsort(src[todo] * 2.0 + keys[todo], axis=1, kind="stable")
        last = starts[todo] + counts[todo] - 1
        nxt = np.where(counts[todo] > 0,
                       dst[todo[:, None], order[np.arange(todo.size)[:, None], np.maximum(last, 0)]],
                       end[todo, None])
        nxt[np.arange(todo.size), end[todo]] = end[todo]
        cur = np.tile(np.arange(nv), (todo.size, 1))
        for _ in range(nv):
            cur = nxt[np.arange(todo.size)[:, None], cur]
        bad = todo[~np.all(cur == end[todo, None], axis=1)]
        for r in bad:  # last exits do not form a tree: draw that shuffle's keys again
            keys[r] = rngs[r // k].random(length - 1)
        if not bad.size:
            break
        todo = bad
    order = np.argsort(src * 2.0 + keys, axis=1, kind="stable")
    ptr = starts.copy()
    out = np.empty((n * k, length), dtype=tok.dtype)
    cur = np.repeat(tok[:, 0], k)
    out[:, 0] = cur
    for j in range(1, length):
        edge = order[rows, ptr[rows, cur]]
        ptr[rows, cur] += 1
        cur = dst[rows, edge]
        out[:, j] = cur
    return _from_tokens(out, onehot.dtype).reshape(n, k, length, _ALPHABET)


def shuffle(x: np.ndarray, n_shuffles: int, seed: int = 0,
            index: Sequence[int] | None = None) -> np.ndarray:
    """Random permutations of the positions (axis 1) of each sequence, (N, L, ...) -> (N, K, L, ...)."""
    x = np.asarray(x)
    n, length = x.shape[:2]
    index = range(n) if index is None else index
    perm = np.stack([np.argsort(g.random((n_shuffles, length)), axis=1) for g in _rngs(seed, index)])
    return x[np.arange(n)[:, None, None], perm]


def constant_reference(spec: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """The single reference (L, 4) for ``zeros``, ``uniform`` or ``gc:FRACTION``."""
    if spec == "zeros":
        return np.zeros(shape, dtype)
    if shape[-1] != _ALPHABET:
        raise ValueError(f"reference {spec!r} needs a DNA input with 4 channels, got shape {shape}")
    if spec == "uniform":
        return np.full(shape, 0.25, dtype)
    gc = float(spec.split(":", 1)[1])
    row = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], dtype)  # A C G T
    return np.broadcast_to(row, shape).astype(dtype)


def make_references(spec, x: np.ndarray, n_references: int, seed: int,
                    index: Sequence[int], name: str,
                    rows: Sequence[int] | None = None) -> np.ndarray:
    """References for one input batch ``x`` (N, ...) as an array (N, K, ...).

    ``spec`` is a reference name or an array: (...) one reference, (K, ...) shared by all
    sequences, (N_total, K, ...) one set per sequence (rows picked by ``rows``, by default
    ``index``). Random references are seeded by (``seed``, ``index``).
    """
    n, shape = x.shape[0], x.shape[1:]
    if isinstance(spec, str):
        if spec == "dinuc-shuffle":
            require_one_hot(x, name)
            return dinuc_shuffle(x, n_references, seed, index)
        if spec == "shuffle":
            return shuffle(x, n_references, seed, index)
        ref = constant_reference(spec, shape, x.dtype)
        return np.broadcast_to(ref, (n, 1) + shape)
    ref = np.asarray(spec, dtype=x.dtype)
    out = None
    if ref.shape == shape:
        out = ref[None, None]
    elif ref.ndim == len(shape) + 1 and ref.shape[1:] == shape:
        out = ref[None]
    elif ref.ndim == len(shape) + 2 and ref.shape[2:] == shape:
        out = ref[np.asarray(index if rows is None else rows)]
    if out is not None:
        if not np.all(np.isfinite(out)):
            raise ValueError(f"references for input {name!r} contain NaN or inf: every "
                             "reference must be finite")
        return np.broadcast_to(out, (n,) + out.shape[1:])
    raise ValueError(
        f"references for input {name!r} have shape {ref.shape}; expected {shape} (one reference), "
        f"(K, {', '.join(map(str, shape))}) shared, or (N, K, {', '.join(map(str, shape))}) per sequence"
    )


def reference_count(spec, n_references: int, shape: tuple[int, ...]) -> int:
    """How many references per sequence ``spec`` yields (checked before any work)."""
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
