"""Genome tracks from a finished score file: per-base contributions as bigWig or bedGraph, in
genome coordinates (sequences read as the reverse complement flipped back, overlaps averaged).
"""
from __future__ import annotations

import os
from typing import Iterator, Mapping

import numpy as np

from . import scorefile as sf
from ..errors import UserError
from .coordinates import sequence_start


def _per_base(h5: sf.ScoreFile, input_name: str, task: str
              ) -> Iterator[tuple[str, int, np.ndarray]]:
    """(chrom, genome start, per-base score) of each interval, sorted, overlaps averaged.

    The per-base score is the contribution summed over the 4 channels. Sequences the model saw
    reverse-complemented (``/metadata/orientation``, found by comparing them with the genome;
    the strand label only where that could not decide) are flipped into genome order.
    """
    r = h5.ranges(("chr", "start", "end"))
    flip = h5.reversed_rows()
    scores = h5[sf.contrib(input_name, task)]
    length = scores.shape[1]
    start = sequence_start(r["start"].astype(np.int64), r["end"].astype(np.int64), length)

    def row(i: int) -> np.ndarray:
        s = scores[i].astype(np.float64).sum(-1)     # float16 files sum in float64 too
        return s[::-1] if flip[i] else s

    yield from merged_runs(r["chr"], start, row, length)


def merged_runs(chrom: np.ndarray, start: np.ndarray, row, length: int
                ) -> Iterator[tuple[str, int, np.ndarray]]:
    """Per-base rows placed in the genome: (chrom, genome start, values) of each covered run,
    sorted, the mean where rows overlap.

    Parameters
    ----------
    chrom : numpy.ndarray, shape=(N,)
        Each row's chromosome.
    start : numpy.ndarray, shape=(N,), int64
        Each row's genome start (0-based) of its first value.
    row : callable
        ``row(i)`` -> numpy.ndarray, shape=(length,): row i's values in genome order.
    length : int
        Values per row.

    Yields
    ------
    (str, int, numpy.ndarray)
        A chromosome, the 0-based start of a covered run and its values.
    """
    order = np.lexsort((start, chrom))
    cur, buf_start, total, count = None, 0, None, None

    def flush():
        """Write the covered runs of the current chromosome's summed track (mean where
        intervals overlap)."""
        covered = count > 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            yield cur, buf_start + int(a), total[a:b] / count[a:b]

    for i in order:
        s = row(i)
        c, st = chrom[i], int(start[i])
        if cur != c or st >= buf_start + len(total):
            if cur is not None:
                yield from flush()
            cur, buf_start = c, st
            total, count = np.zeros(length), np.zeros(length)
        stop = st + length - buf_start
        if stop > len(total):   # grow the window to cover an overlapping interval
            total = np.concatenate([total, np.zeros(stop - len(total))])
            count = np.concatenate([count, np.zeros(stop - len(count))])
        total[st - buf_start: stop] += s
        count[st - buf_start: stop] += 1
    if cur is not None:
        yield from flush()


def write_bigwig(h5: sf.ScoreFile, input_name: str, task: str, path: str | os.PathLike,
                 chrom_sizes: Mapping[str, int], label: str | None = None) -> None:
    """Per-base scores of one task as a bigWig, read back before it counts as written.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file with genome coordinates.
    input_name : str
        The input whose contributions are read, (N, L, 4); summed over the 4 channels.
    task : str
    path : str or os.PathLike
        The bigWig file.
    chrom_sizes : mapping of str to int
        Chromosome lengths (:func:`chrom_sizes_from`).
    label : str, optional
        The name for messages (default: ``path``).
    """
    chroms = list(dict.fromkeys(h5.ranges(("chr",))["chr"]))
    write_runs_bigwig(_per_base(h5, input_name, task), chroms, path, chrom_sizes, label)


def write_runs_bigwig(runs, chroms, path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                      label: str | None = None) -> None:
    """Covered runs of per-base values (:func:`merged_runs`) as a bigWig, read back before it
    counts as written.

    libBigWig reports a full disk only on its stderr ("likely truncated") and returns no handle
    at all for a path it cannot create (using it would crash).

    Parameters
    ----------
    runs : iterable of (str, int, numpy.ndarray)
        (chromosome, 0-based start, values), sorted by chromosome name and start.
    chroms : sequence of str
        The chromosomes the runs lie on (the header's, sorted here).
    path : str or os.PathLike
        The bigWig file.
    chrom_sizes : mapping of str to int
        Chromosome lengths (:func:`chrom_sizes_from`).
    label : str, optional
        The name for messages (default: ``path``).
    """
    import pyBigWig

    label = label or str(path)
    header = [(c, int(chrom_sizes[c])) for c in sorted(set(chroms))]
    bw = pyBigWig.open(str(path), "w")
    if bw is None:
        raise UserError(f"cannot create the bigWig {label!r} (is its directory writable?)")
    covered = 0
    try:
        bw.addHeader(header)
        for chrom, st, values in runs:
            values = values[: max(0, int(chrom_sizes[chrom]) - st)]
            if st < 0:
                values, st = values[-st:], 0
            if len(values):
                bw.addEntries(chrom, st, values=values.tolist(), span=1, step=1)
                covered += len(values)
    except RuntimeError as e:       # libBigWig's write errors (a full disk, mostly)
        raise UserError(f"writing the bigWig {label!r} failed ({e}): is the disk full?"
                        ) from None
    finally:
        from ..quiet import captured_stderr

        noise: list[str] = []
        with captured_stderr(noise):
            bw.close()
    check = pyBigWig.open(str(path))
    try:
        got = check.header().get("nBasesCovered", -1) if check is not None else -1
    except RuntimeError:
        got = -1
    finally:
        if check is not None:
            check.close()
    if got != covered:
        raise UserError(f"the bigWig {label!r} came out incomplete ({max(got, 0)} of {covered} "
                        "bases readable): is the disk full?")


def write_bedgraph(h5: sf.ScoreFile, input_name: str, task: str, path: str | os.PathLike
                   ) -> None:
    """Per-base scores of one task as a bedGraph (one line per base).

    Parameters
    ----------
    h5 : ScoreFile
        An open score file with genome coordinates.
    input_name : str
        The input whose contributions are read, (N, L, 4); summed over the 4 channels.
    task : str
    path : str or os.PathLike
        The bedGraph file.
    """
    with open(path, "w") as f:
        f.write(f'track type=bedGraph name="{task}" description="DeepLIFT per-base '
                f'contribution"\n')
        for chrom, st, values in _per_base(h5, input_name, task):
            for j, v in enumerate(values):
                if st + j >= 0:
                    f.write(f"{chrom}\t{st + j}\t{st + j + 1}\t{v:.6g}\n")


def chrom_sizes_from(h5: sf.ScoreFile, fasta: str | None) -> dict[str, int]:
    """Chromosome lengths from the FASTA index when there is a FASTA, else the largest end.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file with genome coordinates.
    fasta : str or None
        The FASTA file.

    Returns
    -------
    dict of str to int
        Chromosome -> length.
    """
    if fasta:
        from .genome import fasta_sizes

        return fasta_sizes(fasta)
    r = h5.ranges(("chr", "end"))
    sizes: dict[str, int] = {}
    for c, e in zip(r["chr"], r["end"]):
        sizes[c] = max(sizes.get(c, 0), int(e))
    return sizes
