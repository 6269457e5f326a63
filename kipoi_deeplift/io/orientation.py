"""Which way round each scored sequence is, read from the data rather than a strand label.

Dataloaders disagree: kipoiseq's ``SeqIntervalDl(use_strand=True)`` reverse-complements ``-``
intervals, Kipoi's 2018 DeepBind dataloader reads them forward and still reports strand ``-``.
So the one-hot sequence the model saw is compared with the genome (the dataloader's FASTA) in
both orientations; genome-coordinate outputs (tracks, plots, sites) follow that, and fall back to
the strand label only where the comparison cannot decide (no FASTA, mostly N's, a palindrome).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..core.references import tokens
from .coordinates import sequence_start

GENOME, REVERSE, UNKNOWN = "genome", "reverse_complement", "unknown"
#: Fraction of the called bases that must agree with the genome in the winning orientation.
AGREEMENT = 0.9


def _codes(onehot: np.ndarray) -> np.ndarray:
    """(..., L, 4) one-hot (ACGT) -> base index per position, -1 where not a single base."""
    if onehot.ndim == 3:
        try:        # exact one-hot (N as zero or 0.25 rows): one compiled pass
            tok = tokens(onehot).astype(np.int64)
            return np.where(tok < 4, tok, -1)
        except ValueError:
            pass
    called = np.isclose(onehot.sum(-1), 1.0) & np.isclose(onehot.max(-1), 1.0)
    return np.where(called, onehot.argmax(-1), -1)


_TABLE = np.full(256, -1, np.int64)
for _i, _b in enumerate("ACGT"):
    _TABLE[ord(_b)] = _TABLE[ord(_b.lower())] = _i


def _genome_codes(seq: str) -> np.ndarray:
    return _TABLE[np.frombuffer(seq.encode("ascii", "replace"), np.uint8)]


def _classify(seen: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(n, L) base codes as the model saw them and as the genome has them (-1: not a single
    base) -> (n,) labels."""
    rc = np.where(ref[:, ::-1] >= 0, 3 - ref[:, ::-1], -1)
    ok = (seen >= 0) & (ref >= 0)
    called = ok.sum(1)
    fwd = ((seen == ref) & ok).sum(1) / np.maximum(called, 1)
    rev = ((seen == rc) & ok).sum(1) / np.maximum(called, 1)
    best = np.where(fwd > rev, GENOME, REVERSE).astype(object)
    frac = np.maximum(fwd, rev)
    decided = (called >= 8) & (fwd != rev) & (frac >= AGREEMENT)
    return np.where(decided, best, UNKNOWN).astype(str)


def classify(onehot: np.ndarray, genome: str) -> str:
    """Which way round one sequence is, compared with the genome sequence of the same L bases.

    Parameters
    ----------
    onehot : numpy.ndarray, shape=(L, 4)
        The sequence as the model saw it (one-hot, ACGT).
    genome : str
        The genome's L bases there.

    Returns
    -------
    str
        ``genome``, ``reverse_complement`` or ``unknown``.
    """
    seen, ref = _codes(onehot), _genome_codes(genome)
    if len(ref) != len(seen):
        return UNKNOWN
    return str(_classify(seen[None], ref[None])[0])


class GenomeOrientation:
    """Classifies batches of scored sequences against a FASTA file (opened once).

    Parameters
    ----------
    fasta : str
        The FASTA file (indexed where needed, see :func:`~.genome.indexed_fasta`).
    """

    def __init__(self, fasta: str):
        import pyfaidx

        from .genome import indexed_fasta

        self.fasta = pyfaidx.Fasta(indexed_fasta(fasta), sequence_always_upper=True)

    def _window(self, chrom: str, start: int, length: int) -> str:
        if chrom not in self.fasta:
            return ""
        size = len(self.fasta[chrom])
        lo, hi = max(0, start), min(size, start + length)
        inner = self.fasta[chrom][lo:hi].seq if hi > lo else ""
        return "N" * (lo - start) + inner + "N" * max(0, start + length - max(hi, lo))

    def __call__(self, onehot: np.ndarray, ranges: Mapping) -> np.ndarray:
        """(N, L, 4) canonical one-hot and the batch's ``metadata.ranges`` -> (N,) labels."""
        n, length = onehot.shape[:2]
        chrom, start, end = (np.asarray(ranges[k])[:n] for k in ("chr", "start", "end"))
        first = sequence_start(start.astype(np.int64), end.astype(np.int64), length)
        windows = [self._window(str(c), int(s), length) for c, s in zip(chrom, first)]
        ref = np.full((n, length), -1, np.int64)
        for i, w in enumerate(windows):
            if len(w) == length:      # a chromosome the FASTA lacks stays unknown
                ref[i] = _genome_codes(w)
        return _classify(_codes(onehot[:n]), ref)

    def close(self) -> None:
        """Close the FASTA file.

        Returns
        -------
        None
        """
        self.fasta.close()


def reversed_rows(orientation: np.ndarray | None, strand: np.ndarray | None, n: int
                  ) -> np.ndarray:
    """Which stored sequences run against the genome.

    ``orientation`` (from the data) decides where known; the strand label only where it is
    ``unknown`` or absent.

    Parameters
    ----------
    orientation : numpy.ndarray, shape=(n,), or None
        Labels of :func:`classify` (``/metadata/orientation``).
    strand : numpy.ndarray, shape=(n,), or None
        The dataloader's strand labels (``"-"`` reversed).
    n : int
        Rows, where both are None.

    Returns
    -------
    numpy.ndarray, shape=(n,), bool
    """
    label = np.asarray(strand) == "-" if strand is not None else np.zeros(n, bool)
    if orientation is None:
        return label
    o = np.asarray(orientation)
    return np.where(o == REVERSE, True, np.where(o == GENOME, False, label))
