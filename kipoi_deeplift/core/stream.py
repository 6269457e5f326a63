"""The batch stream: each batch's references made and its rows padded (in the background,
batches ahead), the compiled pass run on it, its outputs trimmed and checked."""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import pipeline
from . import references as refs
from .collect import check_rows, tree_map
from .settings import Settings


def passes(fn: Callable, run: Settings, items: Iterable, batch_size: int,
           names: Sequence[str], check: Callable | None = None, depth: int = 2,
           workers: int = 1) -> Iterator[tuple[list, Any]]:
    """The pass ``fn`` over every batch of ``items``, in order.

    Parameters
    ----------
    fn : callable
        The backend's compiled pass: ``fn(inputs, references)``, each padded to
        ``batch_size`` rows, -> a list over tasks of dicts of arrays (rows first).
    run : Settings
        The run's settings (references, tasks, ...).
    items : iterable of tuple
        ``(x, index_offset, tag)`` or ``(x, index_offset, tag, draws)``: a batch's inputs
        (checked arrays when ``check`` is None), the index of its first sequence in the run,
        anything to hand back, and optionally a
        :class:`~kipoi_deeplift.core.references.Draws` seeding its references by locus.
    batch_size : int
        Rows every batch is padded to (one compiled shape).
    names : sequence of str
        The model's input names.
    check : callable, optional
        ``check(x) -> list of arrays``: checks a stream's raw inputs, and errors then name the
        batch's sequences. ``None``: the inputs were checked already (``explain``'s, whose
        per-sequence references are indexed by rows of its own inputs, from ``tag``).
    depth : int
        Batches prepared ahead on background threads; 0: here, before each pass.
    workers : int
        Threads preparing batches.

    Returns
    -------
    iterator of (list, Any)
        The batch's outputs trimmed to its sequences (a list over tasks of dicts of arrays
        (n, ...)), and its tag.
    """
    def prepare(item):
        x, offset, tag, *more = item
        draws = more[0] if more else None
        try:
            xb = x if check is None else check(x)
            n = xb[0].shape[0]
            if n > batch_size:
                raise ValueError(f"a batch of {n} sequences is larger than batch_size "
                                 f"{batch_size}")
            # explain indexes per-sequence references by rows of its own x (tag: the
            # batch's first), a stream by the run's index.
            rows = range(tag, tag + n) if check is None else range(offset, offset + n)
            keys = range(offset, offset + n) if draws is None else draws.keys
            rb = [refs.batch_references(spec, v, run.n_references, run.seed, keys, name,
                                        rows, None if draws is None else draws.reverse)
                  .repeated(run.k).padded(n, batch_size)
                  for spec, v, name in zip(run.specs, xb, names)]
        except ValueError as e:
            if check is None:
                raise
            raise in_batch(e, offset, x) from e
        return [pad(v, batch_size) for v in xb], rb, n, offset, tag

    prepared = pipeline.ahead(prepare, items, depth=depth, workers=workers,
                              name="references") if depth else map(prepare, items)
    for xb, rb, n, offset, tag in prepared:
        out = tree_map(lambda a: a[:n], fn(xb, rb))
        check_rows(out, run.tasks, offset)
        yield out, tag


def default_workers() -> int:
    """Threads making references by default: a quarter of the cores, 1 to 4.

    Returns
    -------
    int
        Threads.
    """
    return max(1, min(4, (os.cpu_count() or 1) // 4))


def pad(v: np.ndarray, rows: int) -> np.ndarray:
    """``v`` followed by copies of its first row.

    Parameters
    ----------
    v : np.ndarray, shape (n, ...)
    rows : int
        The rows to pad to.

    Returns
    -------
    np.ndarray, shape (rows, ...)
    """
    if v.shape[0] == rows:
        return v
    return np.concatenate([v, np.repeat(v[:1], rows - v.shape[0], axis=0)])


def rows(x: Any) -> int:
    """Sequences in a batch as given.

    Parameters
    ----------
    x : np.ndarray, dict or list of np.ndarray
        Arrays (n, ...).

    Returns
    -------
    int
        n.
    """
    first = next(iter(x.values())) if isinstance(x, Mapping) else \
        x[0] if isinstance(x, (list, tuple)) else x
    return int(np.shape(first)[0])


def in_batch(e: ValueError, offset: int, x: Any) -> ValueError:
    """``e`` raised on the batch ``x`` of a stream, naming its sequences.

    Parameters
    ----------
    e : ValueError
    offset : int
        The index in the run of the batch's first sequence.
    x : np.ndarray, dict or list of np.ndarray
        The batch (n, ...).

    Returns
    -------
    ValueError
        ``e``'s message after ``sequences offset-(offset + n - 1):``.
    """
    return ValueError(f"sequences {offset}-{offset + rows(x) - 1}: {e}")
