"""Which TF-MoDISco pattern a variant's window holds, and whether the alternative allele
weakens it, creates it or strengthens it (``variants --motifs DIR``).

``DIR`` is the output of ``kipoi-deeplift motifs SCORES.h5 -o DIR`` (see
:mod:`kipoi_deeplift.analysis.motifs`), for the same model and task as the variants: each
pattern's contribution weight matrix (CWM) is read from ``modisco.h5`` (trimmed as
``patterns.tsv`` describes it), and its seqlets from ``seqlets.tsv``.

The rule (:func:`annotate`), per variant window:

1. **Candidates.** Where ``seqlets.tsv`` places seqlets in the genome (its ``chr``,
   ``genome_start`` and ``genome_end`` columns, written since the motifs command recorded them)
   and some overlap the window, the pattern with the most seqlet bases in the window is the one
   considered. Otherwise every pattern in ``patterns.tsv`` is.
2. **Scan.** Each candidate's CWM, in both orientations, is laid at every placement that
   overlaps the window and the variant's bases (those where the two sequences differ: an SNV's
   base, an MNV's changed bases), on the reference and on the alternative sequence: a site
   beside the variant, whose contributions move only as the references drawn for the two
   sequences differ, is not the variant's doing. At a placement an
   allele *holds the site* when both:

   - its sequence carries at least :data:`MIN_SEQUENCE` of the pattern's weight: the sum, over
     the placement, of the CWM (in the pattern's sign, negatives cut to 0) on the bases present,
     over the same sum on the best base of each position (1 = the consensus);
   - the contributions over the placement, summed and taken in the pattern's sign, reach
     :data:`MIN_CONTRIBUTION` of the CWM's own sum (a typical seqlet's): the model uses it.

   The placement kept is the one with the largest contribution of either allele among those
   where either allele holds the site; its pattern is the one named.
3. **Effect.** With ``c_ref`` and ``c_alt`` the two alleles' contributions at that placement:
   held in REF only: ``weakens``; in ALT only: ``creates``; in both: ``weakens`` where
   ``c_alt < (1 - CHANGE) c_ref``, ``strengthens`` where ``c_alt > (1 + CHANGE) c_ref``, else
   ``none``. A pattern named by its seqlets (step 1) but held by neither allele: ``none``.
   No candidate holds a site: ``('', '')``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import h5py
import numpy as np

from ..errors import UserError
from ..io import scorefile as sf
from ..io.variantfile import allele_path
from .motif_patterns import trim_span

#: An allele holds a site where its bases carry at least this share of the CWM's weight ...
MIN_SEQUENCE = 0.75
#: ... and the contributions over the site reach this share of the CWM's sum.
MIN_CONTRIBUTION = 0.25
#: Both alleles hold the site: ALT's contribution beyond this relative change from REF's is
#: ``weakens`` or ``strengthens``.
CHANGE = 0.25
EFFECTS = ("weakens", "creates", "strengthens", "none", "")


@dataclass(frozen=True)
class VariantWindow:
    """One variant's window, one task: what :func:`annotate` reads.

    Parameters
    ----------
    chrom : str
    window_start, window_end : int
        The variant's window in the genome, 0-based, half-open.
    seq_start : int
        0-based genome start of the scored sequence (both alleles).
    ref_onehot, alt_onehot : numpy.ndarray, shape=(L, 4)
        The two sequences along the genome's + strand.
    ref_contrib, alt_contrib : numpy.ndarray, shape=(L, 4)
        Their projected contributions to ``task``, in the same orientation.
    task : str
    """

    chrom: str
    window_start: int
    window_end: int
    seq_start: int
    ref_onehot: np.ndarray
    alt_onehot: np.ndarray
    ref_contrib: np.ndarray
    alt_contrib: np.ndarray
    task: str


def window_of(data: Mapping, i: int, label: str, task: str, chrom: str, seq_start: int,
              start: int, width: int) -> VariantWindow:
    """Row ``i`` of a variants file's datasets as :func:`annotate` reads it.

    Parameters
    ----------
    data : mapping
        Dataset path -> (V, ...) array: an open variants file, or the datasets of one batch
        before they are written (:func:`kipoi_deeplift.io.variantfile.variant_arrays`).
    i : int
        The variant's row.
    label, task : str
        The DNA input's name in the file, and the task.
    chrom : str
    seq_start, start : int
        0-based genome start of the scored sequence, and the window's start in it
        (:func:`kipoi_deeplift.io.variantfile.window_starts`).
    width : int
        The window's bases (at most L).

    Returns
    -------
    VariantWindow
        Its sequences read from ``/ref/inputs`` and ``/alt/inputs``, its contributions from
        ``/ref/contrib`` and ``/alt/contrib``.
    """
    def row(allele: str, path: str) -> np.ndarray:
        return np.asarray(data[allele_path(allele, path)][i])

    return VariantWindow(chrom=str(chrom), window_start=seq_start + start,
                         window_end=seq_start + start + width, seq_start=seq_start,
                         ref_onehot=row("ref", sf.inputs(label)),
                         alt_onehot=row("alt", sf.inputs(label)),
                         ref_contrib=row("ref", sf.contrib(label, task)),
                         alt_contrib=row("alt", sf.contrib(label, task)), task=task)


def file_windows(path: str | Path, task: str | None = None, width: int | None = None
                 ) -> list[VariantWindow]:
    """Every variant's window of a variants file, for :func:`annotate`.

    Parameters
    ----------
    path : str or Path
        A file of ``kipoi-deeplift variants``.
    task : str, optional
        Default: the file's first.
    width : int, optional
        Bases of each window. Default: the summary table's (the file records it), so the
        windows are the summary's.

    Returns
    -------
    list of VariantWindow
        In the file's order.
    """
    from .variant_data import VariantsFile

    with VariantsFile(path) as vf:
        task = vf.pick(task)
        width = min(int(width or vf.width), vf.length)
        seq0 = vf.seq_starts()
        starts = vf.windows(task, width) - seq0
        return [window_of(vf.h5, i, vf.dna_input(), task, vf.chrom[i], int(seq0[i]),
                          int(starts[i]), width) for i in range(vf.n)]


@dataclass(frozen=True)
class Motif:
    """One pattern as the scan uses it.

    Parameters
    ----------
    name : str
        As patterns.tsv names it (``pos_0``).
    cwm : numpy.ndarray, shape=(W, 4)
        Its contribution weight matrix, trimmed (:func:`trimmed`).
    sign : float
        +1 where the CWM sums to 0 or more, else -1.
    """

    name: str
    cwm: np.ndarray
    sign: float


def trimmed(cwm: np.ndarray) -> np.ndarray:
    """A CWM cut as ``motifs`` trims the patterns it reports (:func:`.motif_patterns.trim_span`).

    Parameters
    ----------
    cwm : numpy.ndarray, shape=(W, 4)

    Returns
    -------
    numpy.ndarray, shape=(W', 4)
    """
    return cwm[trim_span(cwm)]


def read_motifs(motifs_dir: str | Path) -> list[Motif]:
    """The patterns of a ``kipoi-deeplift motifs`` directory with their trimmed CWMs.

    Parameters
    ----------
    motifs_dir : str or Path

    Returns
    -------
    list of Motif
        In ``patterns.tsv``'s order (by share of the contribution).
    """
    d = Path(motifs_dir)
    if not (d / "patterns.tsv").is_file() or not (d / "modisco.h5").is_file():
        raise UserError(f"--motifs {motifs_dir}: no patterns.tsv and modisco.h5 there (write "
                        "it with `kipoi-deeplift motifs SCORES.h5 -o DIR`)")
    with open(d / "patterns.tsv") as fh:
        names = [r["pattern"] for r in csv.DictReader(fh, delimiter="\t")]
    out = []
    with h5py.File(d / "modisco.h5", "r") as f:
        for name in names:
            sign, _, k = name.partition("_")         # pos_0 is pos_patterns/pattern_0
            key = f"{sign}_patterns/pattern_{k}/contrib_scores"
            if key not in f:
                raise UserError(f"--motifs {motifs_dir}: patterns.tsv names {name}, which "
                                f"modisco.h5 lacks ({key}); write the directory again")
            cwm = trimmed(np.asarray(f[key][:], dtype=np.float64))
            out.append(Motif(name, cwm, 1.0 if cwm.sum() >= 0 else -1.0))
    return out


def placed_seqlets(motifs_dir: str | Path) -> list[tuple[str, int, int, str]]:
    """The seqlets that ``seqlets.tsv`` places in the genome.

    Parameters
    ----------
    motifs_dir : str or Path

    Returns
    -------
    list of (chrom, start, end, pattern)
        0-based, half-open; empty where the file has no genome columns (written before the
        motifs command recorded them, or from a score file without ranges).
    """
    path = Path(motifs_dir) / "seqlets.tsv"
    if not path.is_file():
        return []
    with open(path) as fh:
        return [(r["chr"], int(r["genome_start"]), int(r["genome_end"]), r["pattern"])
                for r in csv.DictReader(fh, delimiter="\t")
                if r.get("chr") and (r.get("genome_start") or "").lstrip("-").isdigit()]


def _placements(onehot: np.ndarray, contrib: np.ndarray, m: Motif, lo: int, hi: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, sequence share, contribution in the pattern's sign) of the CWM (first the
    forward, then the reverse-complement orientation) at every start in [lo, hi)."""
    shares, contribs, starts = [], [], np.arange(lo, hi)
    for cwm in (m.cwm, m.cwm[::-1, ::-1]):
        w = m.sign * cwm
        pos = np.maximum(w, 0)
        best = pos.max(1).sum() or 1.0
        width = len(cwm)
        idx = starts[:, None] + np.arange(width)[None]          # (P, W)
        shares.append((onehot[idx] * pos[None]).sum((1, 2)) / best)
        contribs.append(m.sign * contrib[idx].sum((1, 2)))
    return np.concatenate([starts, starts]), np.concatenate(shares), np.concatenate(contribs)


def _best_site(v: VariantWindow, motifs: list[Motif]) -> tuple[str, float, float, bool, bool]:
    """(pattern, c_ref, c_alt, held in ref, held in alt) of the placement kept (step 2 of the
    module's rule); pattern '' where no allele holds any."""
    length = len(v.ref_onehot)
    a, b = v.window_start - v.seq_start, v.window_end - v.seq_start
    changed = np.flatnonzero(np.any(np.asarray(v.ref_onehot) != np.asarray(v.alt_onehot),
                                    axis=1))
    if changed.size:        # placements must also overlap [first, last] changed base
        a, b = max(a, int(changed[0])), min(b, int(changed[-1]) + 1)
        if b <= a:
            return "", 0.0, 0.0, False, False
    best = ("", 0.0, 0.0, False, False)
    top = -np.inf
    for m in motifs:
        width = len(m.cwm)
        lo, hi = max(0, a - width + 1), min(length - width, b - 1) + 1   # overlap [a, b)
        if hi <= lo:
            continue
        typical = m.sign * m.cwm.sum()
        _, s_ref, c_ref = _placements(v.ref_onehot, v.ref_contrib, m, lo, hi)
        _, s_alt, c_alt = _placements(v.alt_onehot, v.alt_contrib, m, lo, hi)
        held_ref = (s_ref >= MIN_SEQUENCE) & (c_ref >= MIN_CONTRIBUTION * typical)
        held_alt = (s_alt >= MIN_SEQUENCE) & (c_alt >= MIN_CONTRIBUTION * typical)
        strength = np.where(held_ref | held_alt, np.maximum(c_ref, c_alt), -np.inf)
        k = int(np.argmax(strength))
        if strength[k] > top:
            top = strength[k]
            best = (m.name, float(c_ref[k]), float(c_alt[k]), bool(held_ref[k]),
                    bool(held_alt[k]))
    return best


def effect(c_ref: float, c_alt: float, held_ref: bool, held_alt: bool) -> str:
    """The alternative allele's effect on a site (step 3 of the module's rule).

    Parameters
    ----------
    c_ref, c_alt : float
        The contributions over the site, in the pattern's sign.
    held_ref, held_alt : bool
        Whether each allele holds the site.

    Returns
    -------
    str
        'weakens', 'creates', 'strengthens' or 'none'.
    """
    if held_ref and not held_alt:
        return "weakens"
    if held_alt and not held_ref:
        return "creates"
    if not held_ref:
        return "none"
    if c_alt < (1 - CHANGE) * c_ref:
        return "weakens"
    return "strengthens" if c_alt > (1 + CHANGE) * c_ref else "none"


def _by_seqlets(v: VariantWindow, seqlets: list[tuple[str, int, int, str]]) -> str:
    """The pattern with the most seqlet bases in the window ('' where none overlaps)."""
    bases: dict[str, int] = {}
    for chrom, s, e, name in seqlets:
        if chrom == v.chrom:
            overlap = min(e, v.window_end) - max(s, v.window_start)
            if overlap > 0:
                bases[name] = bases.get(name, 0) + overlap
    return max(bases, key=lambda k: bases[k]) if bases else ""


def annotate(motifs_dir: str | Path, variants: list[VariantWindow]) -> list[tuple[str, str]]:
    """The pattern in each variant's window and the alternative allele's effect on it.

    The rule is the module's docstring's.

    Parameters
    ----------
    motifs_dir : str or Path
        A ``kipoi-deeplift motifs`` directory of the same model and task.
    variants : list of VariantWindow

    Returns
    -------
    list of (str, str)
        Per window: (pattern name or '', 'weakens' | 'creates' | 'strengthens' | 'none' |
        ''), in the order given.
    """
    motifs = read_motifs(motifs_dir)
    by_name = {m.name: m for m in motifs}
    seqlets = placed_seqlets(motifs_dir)
    out = []
    for v in variants:
        named = _by_seqlets(v, seqlets) if seqlets else ""
        candidates = [by_name[named]] if named in by_name else motifs
        name, c_ref, c_alt, held_ref, held_alt = _best_site(v, candidates)
        if not name:
            out.append((named, "none") if named else ("", ""))
        else:
            out.append((name, effect(c_ref, c_alt, held_ref, held_alt)))
    return out
