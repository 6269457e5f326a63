"""Binding sites located from contributions: windows whose summed contribution stands out
against a null of shuffled scores at a stated false discovery rate, in genome coordinates.

Calling. Per sequence, the per-base contribution (``/contrib`` summed over its channels) is
summed over every window of ``width`` bases. The null is the same window sums after the
per-base scores of each sequence are permuted (``rounds`` times): what windows score when
contributions are not clustered into sites. The threshold is the smallest window sum ``t``
at which the expected share of null windows among the observed windows at or above ``t``
(Benjamini-Hochberg with the empirical null) is at most ``fdr``. Sites are then taken greedily:
the highest window above ``t``, its neighbours within ``width`` suppressed, and so on.

Precision. With ``layer`` (a first convolution whose per-neuron contributions the file holds,
``score --layers NAME``), each site's centre is moved to the receptive-field centre of the
convolution position that contributes most inside it: a filter fires at one place, while a
window sum is flat across the positions a site spans.

Patterns. With ``motifs`` (a directory written by ``kipoi-deeplift motifs``) each site is
named by the TF-MoDISco pattern whose seqlet overlaps it most, and its strand is the strand
on which that pattern reads (``.`` without one).

One line per genomic site. Overlapping intervals (tiled windows, peaks called twice) hold the
same stretch of genome, and each calls the site it sees: without merging one site was written
once per interval that holds it (79 lines for 18 sites on 100 bp intervals tiled every 20
bp: README, "Motifs and binding sites"). Calls are therefore merged in genome coordinates
(:func:`merge_in_genome`): the strongest first, and a weaker call of the same chromosome and
strand that overlaps a kept site by at least half the window joins it. Half, not any
overlap: two real sites a few bases apart that one sequence calls separately (windows that
touch by a base) stay two lines. Each line says how many intervals called it, of the
intervals that hold it.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import scorefile as sf
# Window sums as the top-window finder makes them (``--sites``, compare, the report).
from ..io.coordinates import window_sums
from ..io.tables import genome_spans
from ..io.staging import staged_file


@dataclass
class Site:
    """One called site, in the sequence as the model read it and, once set, in the genome.

    Parameters
    ----------
    row : int
        The sequence.
    start, end : int
        0-based, half-open.
    centre : float
        A position.
    score : float
        The window's summed contribution.
    pattern : str, optional
        The matched pattern where known (``.`` none).
    reverse : bool or None, optional
        The matched pattern reads on the reverse complement.
    chrom : str, optional
        In genome coordinates (set by :func:`sites`), like the four below.
    g_start, g_end : int, optional
        0-based, half-open.
    g_centre : int, optional
        The one base of the centre.
    strand : str, optional
        The pattern's strand on the genome, ``.`` without one.
    flipped : bool, optional
        The row was read as the reverse complement.
    rows : tuple of int, optional
        After :func:`merge_in_genome`, the intervals whose calls were merged into this one (its
        own ``row`` first: the strongest).
    holding : int, optional
        After :func:`merge_in_genome`, how many scored intervals hold the whole window or
        called it.
    """

    row: int
    start: int
    end: int
    centre: float
    score: float
    pattern: str = "."
    reverse: bool | None = None
    chrom: str = ""
    g_start: int = -1
    g_end: int = -1
    g_centre: int = -1
    strand: str = "."
    flipped: bool = False
    rows: tuple[int, ...] = field(default_factory=tuple)
    holding: int = 0


def shuffled_null(per_base: np.ndarray, width: int, rounds: int = 20,
                  seed: int = 0) -> np.ndarray:
    """Window sums of the per-base scores permuted within each sequence, ``rounds`` times.

    Parameters
    ----------
    per_base : numpy.ndarray, shape=(N, L)
    width : int
        Window bases.
    rounds : int, optional
        Shuffles. Default 20.
    seed : int, optional
        Default 0.

    Returns
    -------
    numpy.ndarray, shape=(rounds * N * (L - width + 1),)
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        shuffled = rng.permuted(per_base, axis=1)
        out.append(window_sums(shuffled, width).ravel())
    return np.concatenate(out)


def fdr_threshold(observed: np.ndarray, null: np.ndarray, fdr: float) -> float:
    """The smallest observed window sum ``t`` at which the estimated FDR is at most ``fdr``.

    The estimated false discovery rate: (share of null windows >= t) x (observed windows) /
    (observed windows >= t).

    Parameters
    ----------
    observed : numpy.ndarray, shape=(N, L - width + 1)
        Window sums of the scores (any shape: flattened).
    null : numpy.ndarray, shape=(K,)
        Window sums of shuffled scores (:func:`shuffled_null`).
    fdr : float

    Returns
    -------
    float
        ``inf`` when no ``t`` is.
    """
    obs = np.sort(observed.ravel())[::-1]
    nul = np.sort(null.ravel())
    # Null windows at or above each observed value, as a share of the null.
    above = (len(nul) - np.searchsorted(nul, obs, side="left")) / len(nul)
    est = above * len(obs) / np.arange(1, len(obs) + 1)
    # Step-up (Benjamini-Hochberg): the deepest rank whose estimate is within the rate.
    ok = np.flatnonzero(est <= fdr)
    return float(obs[ok[-1]]) if ok.size else float("inf")


def call_sites(per_base: np.ndarray, width: int, threshold: float,
               max_per_sequence: int = 10) -> list[Site]:
    """Sites: windows summing to at least ``threshold``, taken greedily per sequence.

    The highest first; windows within ``width`` of a taken one are suppressed.

    Parameters
    ----------
    per_base : numpy.ndarray, shape=(N, L)
    width : int
        Window bases.
    threshold : float
    max_per_sequence : int, optional
        Default 10.

    Returns
    -------
    list of Site
    """
    sums = window_sums(per_base, width)
    sites = []
    for row in range(sums.shape[0]):
        s = sums[row].copy()
        for _ in range(max_per_sequence):
            best = int(np.argmax(s))
            if not s[best] >= threshold:
                break
            sites.append(Site(row, best, best + width, best + width / 2, float(s[best])))
            s[max(0, best - width + 1):best + width] = -np.inf
    return sites


def sharpen(sites: list[Site], neurons: np.ndarray, length: int) -> None:
    """Move each site's centre to the receptive-field centre of its strongest first-layer position.

    The position whose neurons (summed over filters) contribute most inside the site.

    Parameters
    ----------
    sites : list of Site
    neurons : numpy.ndarray, shape=(N, L', F)
        L' = L - k + 1 for a 'valid' convolution of width k, L for 'same'.
    length : int
        The sequence length L.
    """
    per_pos = neurons.reshape(neurons.shape[0], neurons.shape[1], -1).sum(-1)
    positions = per_pos.shape[1]
    k = length - positions + 1           # 'valid': width k; 'same' (L' = L): centred, k = 1
    for site in sites:
        # Convolution positions whose receptive field [p, p + k) lies in the site, widened
        # by the kernel so that a site narrower than the kernel still has candidates.
        lo = max(0, site.start - k + 1)
        hi = min(positions, site.end)
        if hi <= lo:
            continue
        p = lo + int(np.argmax(per_pos[site.row, lo:hi]))
        site.centre = p + k / 2


def _assign_patterns(sites: list[Site], seqlets_tsv: Path) -> None:
    by_row: dict[int, list] = {}
    with open(seqlets_tsv) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            by_row.setdefault(int(r["row"]), []).append(
                (int(r["start"]), int(r["end"]), r["pattern"], r["reverse"] == "1"))
    for site in sites:
        best, best_overlap = None, 0
        for a, b, name, rev in by_row.get(site.row, []):
            overlap = min(b, site.end) - max(a, site.start)
            if overlap > best_overlap:
                best, best_overlap = (name, rev), overlap
        if best is not None:
            site.pattern, site.reverse = best


def merge_in_genome(called: list[Site], min_overlap: int) -> list[Site]:
    """One site per genomic site: ``called`` (with genome coordinates set) taken strongest first.

    A call on the same chromosome whose window overlaps a kept site by at least
    ``min_overlap`` bases, on the same strand, joins the strongest such site (its row is added
    to the kept site's ``rows``) instead of being a line of its own. ``.`` (no pattern matched
    there) is taken as either strand: the same window is often named in one interval and not in
    another, where a seqlet fell at an interval's edge; a kept ``.`` site takes the pattern and
    strand of the strongest named call that joins it.

    Kept sites are looked up by start, among the starts close enough to overlap: a genome-wide
    run has calls by the hundred thousand, and comparing each with every kept site would take
    hours.

    Parameters
    ----------
    called : list of Site
    min_overlap : int
        Bases.

    Returns
    -------
    list of Site
        The kept sites, strongest first.
    """
    order = sorted(called, key=lambda c: (-c.score, c.chrom, c.g_start, c.row))
    span = max((c.g_end - c.g_start for c in order), default=0)
    reach = max(0, span - min_overlap)      # starts further apart overlap by less
    kept: list[Site] = []
    rank: dict[int, int] = {}               # id of a kept site -> its place (strongest first)
    by_start: dict[tuple[str, int], list[Site]] = {}
    for c in order:
        near = [k for start in range(c.g_start - reach, c.g_start + reach + 1)
                for k in by_start.get((c.chrom, start), [])
                if min(k.g_end, c.g_end) - max(k.g_start, c.g_start) >= min_overlap
                and (k.strand == c.strand or "." in (k.strand, c.strand))]
        if not near:
            c.rows = (c.row,)
            rank[id(c)] = len(kept)
            kept.append(c)
            by_start.setdefault((c.chrom, c.g_start), []).append(c)
            continue
        home = min(near, key=lambda k: rank[id(k)])
        if c.row not in home.rows:
            home.rows += (c.row,)
        if home.strand == "." and c.strand != ".":
            # The pattern's strand on the genome is the call's; ``reverse`` is restated for
            # the kept site's own row, which may have been read the other way.
            home.strand, home.pattern = c.strand, c.pattern
            home.reverse = (c.strand == "-") != home.flipped
    return kept


def sites(h5_path: str, output: str, task: str | None = None, input_name: str | None = None,
          fdr: float = 0.05, width: int = 10, layer: str | None = None,
          motifs: str | None = None, rounds: int = 20, seed: int = 0) -> dict:
    """Call sites in one task of a score file and write them as BED8 to ``output``.

    One line per genomic site (calls of overlapping intervals merged, :func:`merge_in_genome`).
    Columns: chromosome, start, end (genome, 0-based half-open), name
    ``<interval>|<task>|<pattern or .>|<summed contribution>|<called>/<holding>`` (the
    interval whose call is the strongest; how many intervals called the site, of the intervals
    that hold its whole window or called it), score (the contribution scaled to 0-1000 over the
    file, what browsers shade by), strand (of the matched pattern, ``.`` without one),
    thickStart/thickEnd (the one-base centre, refined with ``layer``).

    Parameters
    ----------
    h5_path, output : str
        The score file, and the BED to write.
    task, input_name : str, optional
        Default: the file's first task, its DNA input.
    fdr : float, optional
        The false discovery rate against shuffled scores. Default 0.05.
    width : int, optional
        Window bases. Default 10.
    layer : str, optional
        A first convolution layer whose per-neuron contributions (``score --layers``) refine
        the centres (:func:`sharpen`).
    motifs : str, optional
        A ``kipoi-deeplift motifs`` directory whose seqlets name the patterns.
    rounds, seed : int, optional
        The shuffles (:func:`shuffled_null`). Default 20, 0.

    Returns
    -------
    dict
        ``{"sites": [Site] (merged, one per line written, strongest first), "calls": [Site]
        (every call of every sequence, before merging), "threshold", "fdr", "task",
        "output"}``.
    """
    if not 0 < fdr < 1:
        raise UserError(f"--fdr {fdr}: give a rate between 0 and 1, e.g. 0.05")
    with sf.ScoreFile(h5_path) as h5:
        input_name, task = h5.pick(input_name, task)
        if not h5.has_ranges():
            raise UserError(f"{h5_path} has no genomic ranges: sites are written in genome "
                            "coordinates; score intervals from a BED file")
        per_base = h5[sf.contrib(input_name, task)][:].astype(np.float64).sum(-1)
        length = per_base.shape[1]
        if not 1 <= width <= length:
            raise UserError(f"--width {width}: give 1 to the sequence length ({length})")
        neurons = None
        if layer is not None:
            path = sf.neuron_contrib(layer, task)
            if path not in h5:
                raise UserError(f"{h5_path} has no per-neuron contributions of layer "
                                f"{layer!r}: score again with --layers {layer}")
            neurons = h5[path][:].astype(np.float64)
        null = shuffled_null(per_base, width, rounds, seed)
        threshold = fdr_threshold(window_sums(per_base, width), null, fdr)
        called = call_sites(per_base, width, threshold)
        if neurons is not None:
            sharpen(called, neurons, length)
        if motifs is not None:
            table = Path(motifs) / "seqlets.tsv"
            if not table.exists():
                raise UserError(f"--motifs {motifs}: no seqlets.tsv there (write it with "
                                "`kipoi-deeplift motifs`)")
            _assign_patterns(called, table)
        rows = np.array([s.row for s in called], dtype=np.int64)
        r = h5.ranges(("chr", "id"))
        flip = h5.reversed_rows()
        g_start, g_end = genome_spans(h5, rows, [s.start for s in called],
                                      [s.end for s in called], length)
        centre = np.floor([s.centre for s in called]).astype(np.int64)
        g_centre, _ = genome_spans(h5, rows, centre, centre + 1, length)
        # Where every scored sequence lies in the genome: to count the intervals holding a site.
        every = np.arange(h5.n)
        seq_lo, seq_hi = genome_spans(h5, every, np.zeros_like(every),
                                      np.full_like(every, length), length)
        names = r["id"].astype(str) if "id" in r else np.arange(h5.n).astype(str)
        chroms = r["chr"].astype(str)
    for k, s in enumerate(called):
        s.chrom, s.g_start, s.g_end = chroms[s.row], int(g_start[k]), int(g_end[k])
        s.g_centre, s.flipped = int(g_centre[k]), bool(flip[s.row])
        # The pattern's reading strand on the genome: flipped where the model read the
        # reverse complement.
        s.strand = "." if s.reverse is None else ("-" if s.reverse != bool(flip[s.row])
                                                  else "+")
    calls = list(called)
    merged = merge_in_genome(called, min_overlap=(width + 1) // 2)
    for s in merged:
        # Intervals that could have called it: those holding its whole window, and those that
        # did call it (a joined call's window may be shifted past an interval's end).
        whole = np.flatnonzero((chroms == s.chrom) & (seq_lo <= s.g_start)
                               & (seq_hi >= s.g_end))
        s.holding = len(set(whole.tolist()) | set(s.rows))
    _write_bed(output, merged, names, task, f"{width} bp windows, FDR {fdr} against shuffled "
               f"scores (threshold {threshold:.4g})", layer)
    return {"sites": merged, "calls": calls, "threshold": threshold, "fdr": fdr, "task": task,
            "output": str(output)}


def _write_bed(output: str, merged: list[Site], names: np.ndarray, task: str, how: str,
               layer: str | None) -> None:
    """The BED8 of :func:`sites`: one line per merged site, sorted by position, under a
    header line that says ``how`` they were called."""
    top = max((abs(s.score) for s in merged), default=0.0) or 1.0
    lines = sorted(merged, key=lambda x: (x.chrom, x.g_start, x.g_end, x.strand))
    with staged_file(output) as tmp, open(tmp, "w") as f:
        f.write(f"#sites of task {task}: {how}; one line per genomic site, name "
                "interval|task|pattern|summed contribution|intervals that called it/"
                "intervals that hold it or called it (the strongest call's interval, "
                "contribution and window); thickStart-thickEnd: the centre"
                f"{' from layer ' + layer if layer else ''}\n")
        for s in lines:
            name = (f"{names[s.row]}|{task}|{s.pattern}|{s.score:.4g}|"
                    f"{len(s.rows)}/{s.holding}")
            score = int(round(1000 * max(s.score, 0.0) / top))
            f.write(f"{s.chrom}\t{s.g_start}\t{s.g_end}\t{name}\t{score}\t{s.strand}\t"
                    f"{s.g_centre}\t{s.g_centre + 1}\n")
