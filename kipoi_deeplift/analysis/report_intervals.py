"""What the comparison report shows: which intervals (the most confident, the most
disagreeing, or those the user names) and which bases of each (the whole interval, or a window
around the strongest contribution).
"""
from __future__ import annotations

import numpy as np

from ..io.coordinates import sequence_start, top_window
from .compare import Scored

#: Sequences up to this long are drawn whole; longer ones as a window of this many bases
#: around the strongest contribution (at about 6 pixels a base on the page, letters are still
#: told apart; a 1000 bp logo is a smear).
WHOLE_UP_TO = 200

#: The rule for "most disagreeing", as the page states it. An interval whose output barely
#: moves from the reference's has near-zero scores in every file, and near-zero noise
#: correlates poorly: without a floor on |delta|, background intervals (delta +-0.05) were
#: shown as the "most disagreeing".
DISAGREEING_RULE = ("the lowest mean Pearson correlation between the files, among the intervals "
                    "whose mean |delta| is at least the median over all intervals and at least "
                    "a quarter of the largest (where the output barely moves from the "
                    "reference's, every file's scores are near-zero noise, whose disagreement "
                    "means nothing)")


def describe_files(files: list[Scored]) -> str:
    """What is compared, in words: several models, or one model under several settings.

    Parameters
    ----------
    files : list of Scored

    Returns
    -------
    str
    """
    models = sorted({f.model for f in files})
    if len(models) == 1:
        settings = ", ".join(f"{f.label} ({f.rule})" for f in files)
        return f"one model, {models[0]}, in {len(files)} files: {settings}"
    return f"{len(files)} score files of {len(models)} models: " + ", ".join(models)


def disagreement_floor(confidence: np.ndarray) -> float:
    """The smallest mean |delta| an interval needs to be called "most disagreeing".

    See :data:`DISAGREEING_RULE`: the median over intervals, and at least a quarter of the
    largest (the median alone lets near-zero intervals through where most intervals are
    background).

    Parameters
    ----------
    confidence : numpy.ndarray, shape=(N,)
        Each interval's mean |delta| over the files.

    Returns
    -------
    float
    """
    return float(max(np.median(confidence), 0.25 * np.max(confidence)))


def choose_intervals(files: list[Scored], rows: list[dict], wanted: list[int] | None = None,
                     n: int = 4) -> list[tuple[int, str]]:
    """The intervals the report draws, and why each was chosen.

    Parameters
    ----------
    files : list of Scored
        The files compared, (N,) delta each.
    rows : list of dict
        The comparison's rows (:func:`mean_pearson` reads them).
    wanted : list of int, optional
        Rows to draw; without them, the most confident (largest mean ``Scored.confidence``:
        |delta|, relative to each file's median under ``--normalize``, over the files)
        and the most disagreeing (lowest mean Pearson over the pairs, among intervals whose
        mean |delta| reaches :func:`disagreement_floor`), alternately.
    n : int, optional
        Intervals in all, without ``wanted``. Default 4.

    Returns
    -------
    list of (int, str)
        (row, why chosen).
    """
    total = files[0].per_base.shape[0]
    if wanted:
        return [(i, "chosen") for i in wanted]
    confidence = np.mean([f.confidence for f in files], axis=0)
    agreement = mean_pearson(rows)
    confident = list(np.argsort(-confidence, kind="stable"))
    floor = disagreement_floor(confidence)
    disagreeing = [i for i in np.argsort(agreement, kind="stable") if confidence[i] >= floor]
    out: list[tuple[int, str]] = []
    while len(out) < min(n, total) and (confident or disagreeing):
        for queue, why in ((confident, "most confident"), (disagreeing, "most disagreeing")):
            while queue:
                i = int(queue.pop(0))
                if i not in [j for j, _ in out]:
                    out.append((i, why))
                    break
            if len(out) >= min(n, total):
                break
    return out


def mean_pearson(rows: list[dict]) -> np.ndarray:
    """Per interval (in file order), the mean Pearson correlation over the pairs of files.

    Parameters
    ----------
    rows : list of dict
        The comparison's rows; those of single intervals are read.

    Returns
    -------
    numpy.ndarray, shape=(N,)
        1 where no pair has one (constant scores).
    """
    # By pair, in row order (not by the interval's name: two rows may share coordinates).
    per_pair: dict[tuple, list] = {}
    for r in rows:
        if r["interval"] != "all":
            per_pair.setdefault((r["model_a"], r["model_b"]), []).append(r["pearson"])
    table = np.array(list(per_pair.values()), dtype=np.float64)       # (pairs, N)
    out = np.ones(table.shape[1])
    some = ~np.all(np.isnan(table), axis=0)
    out[some] = np.nanmean(table[:, some], axis=0)
    return out


#: Bases of the window whose strength centres a cut logo (about a TF motif's core).
STRENGTH_WIDTH = 8


def shown_window(files: list[Scored], i: int, width: int | None) -> tuple[int, int]:
    """The part [lo, hi) of sequence ``i`` drawn (positions as the model read it).

    Parameters
    ----------
    files : list of Scored
        The files compared, (N, L) per-base scores each.
    i : int
        The sequence (row).
    width : int or None
        Bases to draw; None: the whole sequence up to :data:`WHOLE_UP_TO` bases, else
        :data:`WHOLE_UP_TO`.

    Returns
    -------
    lo, hi : int
        All of the sequence where ``width`` covers it; else ``width`` bases centred on the
        strongest :data:`STRENGTH_WIDTH` bases over the files (the window wholly inside the
        sequence whose |summed score|, added over the files, is the largest; the first on
        ties: :func:`~kipoi_deeplift.io.coordinates.top_window`), moved inside the sequence
        where it would cross an end.
    """
    length = files[0].per_base.shape[1]
    if width is None:
        width = length if length <= WHOLE_UP_TO else WHOLE_UP_TO
    if width >= length:
        return 0, length
    tracks = np.stack([f.per_base[i] for f in files])[None]          # (1, files, L)
    start, _ = top_window(tracks, STRENGTH_WIDTH, absolute=True)
    centre = int(start[0]) + min(STRENGTH_WIDTH, length) // 2
    lo = max(0, min(centre - width // 2, length - width))
    return lo, lo + width


def sequence_region(f: Scored, i: int) -> tuple[str, int, int] | None:
    """Where the whole scored sequence ``i`` lies in the genome (0-based).

    Centred in its range where the two lengths differ.

    Parameters
    ----------
    f : Scored
    i : int
        The sequence (row).

    Returns
    -------
    tuple of (str, int, int) or None
        (chrom, start, end); None where the file has no ranges.
    """
    if f.ranges is None or "start" not in f.ranges:
        return None
    length = f.per_base.shape[1]
    g0 = sequence_start(int(f.ranges["start"][i]), int(f.ranges["end"][i]), length)
    return str(f.ranges["chr"][i]), g0, g0 + length


#: What a logo's y axis shows, by ``compare --normalize``.
SCALE_LABEL = {"none": "contribution", "delta": "contribution / |delta|",
               "l1": "contribution / L1 norm"}


def scale_html(files: list[Scored]) -> str:
    """The report's sentence on ``--normalize`` ('' without it).

    Parameters
    ----------
    files : list of Scored
        The files compared, normalised alike.

    Returns
    -------
    str
        An HTML paragraph.
    """
    how = files[0].normalize
    if how == "none":
        return ""
    what = ("divided by its |delta| in its own file (with the exact DeepLIFT rules they sum "
            "to +1 or -1: each position's share of the output's change)" if how == "delta" else
            "divided by the sum of their absolute values in its own file")
    unscaled = sum(f.unscaled for f in files)
    left = (f" {unscaled} interval(s) with a zero or non-finite divisor are drawn as they are."
            if unscaled else "")
    return (f"<p><b>On a common scale (--normalize {how})</b>: each interval's contributions "
            f"are {what}, so models with different output scales or cell types are drawn "
            "side by side. Correlations, top-k overlap and top windows are computed per "
            "interval and do not change; the intervals shown are picked by |delta| relative "
            f"to each file's median.{left}</p>")
