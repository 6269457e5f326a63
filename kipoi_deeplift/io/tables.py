"""Tables and BED files a user reads first: one row per interval and task (``--summary``), and
each interval's highest-contributing window as a browser track (``--sites``: top windows, not
the binding-site calls of the ``sites`` command, :mod:`kipoi_deeplift.analysis.sites`).

Coordinates are the genome's, 0-based and half-open (BED); a window found in a sequence the
model read as the reverse complement is mapped back onto the + strand.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from . import scorefile as sf
from .coordinates import sequence_start, top_window

#: Width of the top window that the summary and ``--sites`` report (bases): about a TF
#: motif's core.
WINDOW_WIDTH = 10
#: The former name (the top window was called a site).
SITE_WIDTH = WINDOW_WIDTH

SUMMARY_COLUMNS = ("chrom", "start", "end", "name", "strand", "task", "logit", "probability",
                   "delta", "summation_error", "top_start", "top_end", "top_score")


def _probabilities(h5: sf.ScoreFile, tasks: Sequence[str]) -> dict[str, np.ndarray | None]:
    """What Kipoi's ``preds`` would be: the sigmoid of a sigmoid output's logit; the softmax
    over an output's units where all of them were scored; None where it cannot be known."""
    outputs = h5.task_outputs()
    logits = {t: h5[sf.preds(t)][:].astype(np.float64) for t in tasks}
    out: dict[str, np.ndarray | None] = {}
    for t in tasks:
        output, act, units = outputs.get(t, (t, "", 0))
        if act == "sigmoid":
            out[t] = 1.0 / (1.0 + np.exp(-logits[t]))
        elif act == "softmax":
            group = [u for u, (o, _, _) in outputs.items() if o == output]
            if len(group) == units and all(u in logits for u in group):
                z = np.stack([logits[u] for u in group])
                z = np.exp(z - z.max(axis=0))
                out[t] = z[group.index(t)] / z.sum(axis=0)
            else:                      # a softmax needs every unit's logit
                out[t] = None
        else:
            out[t] = None
    return out


def top_windows(h5: sf.ScoreFile, dna: str, task: str, width: int = WINDOW_WIDTH
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per interval, the window of ``width`` bases with the largest summed (signed)
    contribution, in genome coordinates.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file.
    dna : str
        The input whose contributions are read (``/contrib/<dna>/<task>``, (N, L, 4)).
    task : str
        The task.
    width : int, optional
        Window bases (:data:`WINDOW_WIDTH`); above L it is taken as L.

    Returns
    -------
    start, end : numpy.ndarray, shape=(N,)
        The window's genome span (0-based, half-open, + strand; :func:`genome_spans`); -1
        where the file has no genome coordinates.
    score : numpy.ndarray, shape=(N,)
        The window's summed contribution (:func:`~kipoi_deeplift.io.coordinates.top_window`:
        ties go to the window nearest the first base of the sequence as the model read it).
    """
    per_base = h5[sf.contrib(dna, task)][:].astype(np.float64).sum(-1)    # (N, L)
    n, length = per_base.shape
    best, score = top_window(per_base, width)
    if h5.ranges(("start",)) is None:
        return np.full(n, -1), np.full(n, -1), score
    start, end = genome_spans(h5, np.arange(n), best, best + min(width, length), length)
    return start, end, score


def genome_spans(h5: sf.ScoreFile, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 length: int) -> tuple[np.ndarray, np.ndarray]:
    """Spans [start, end) of scored sequences in genome coordinates (0-based, half-open).

    Each sequence is taken as centred in its range (kipoiseq's resizing), and mapped back onto
    the + strand where the model read the reverse complement.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file with genome coordinates.
    rows : numpy.ndarray, shape=(K,)
        Row of each span in the file.
    starts, ends : numpy.ndarray, shape=(K,)
        The spans in the sequence as the model read it (positions 0..L).
    length : int
        The sequence length L.

    Returns
    -------
    start, end : numpy.ndarray, shape=(K,), int64
        The spans on the genome's + strand.
    """
    rows, starts, ends = (np.asarray(a, dtype=np.int64) for a in (rows, starts, ends))
    r = h5.ranges(("start", "end"))
    seq_start = sequence_start(r["start"], r["end"], length)[rows]
    flip = h5.reversed_rows()[rows]
    g_start = np.where(flip, seq_start + length - ends, seq_start + starts)
    return g_start, g_start + (ends - starts)


def write_summary(h5: sf.ScoreFile, dna: str, tasks: Sequence[str], path: str | Path) -> None:
    """The ``--summary`` TSV: :data:`SUMMARY_COLUMNS`, one row per interval and task.

    ``logit`` is the scored output (before a final sigmoid/softmax), ``probability`` the
    model's own output where it ends in one (empty elsewhere), ``summation_error`` the largest
    |sum of contributions - delta| over references.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file.
    dna : str
        The input whose contributions give the top window, (N, L, 4).
    tasks : sequence of str
        The tasks; N rows each.
    path : str or Path
        The TSV file.
    """
    r = h5.ranges() or {}
    n = h5[sf.preds(tasks[0])].shape[0]
    chrom = r.get("chr", np.full(n, "")).astype(str)
    names = r.get("id", np.arange(n)).astype(str)
    strand = np.where(h5.reversed_rows(), "-", "+") if "chr" in r else np.full(n, ".")
    probs = _probabilities(h5, tasks)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(SUMMARY_COLUMNS)
        for task in tasks:
            logit, delta = h5[sf.preds(task)][:], h5[sf.delta(task)][:]
            err = h5[sf.convergence(task)][:]
            top_start, top_end, top = top_windows(h5, dna, task)
            prob = probs[task]
            for i in range(n):
                w.writerow([chrom[i], r["start"][i] if "start" in r else "",
                            r["end"][i] if "end" in r else "", names[i], strand[i], task,
                            f"{logit[i]:.6g}", "" if prob is None else f"{prob[i]:.6g}",
                            f"{delta[i]:.6g}", f"{err[i]:.3g}",
                            top_start[i] if top_start[i] >= 0 else "",
                            top_end[i] if top_start[i] >= 0 else "", f"{top[i]:.6g}"])


def write_top_windows(h5: sf.ScoreFile, dna: str, tasks: Sequence[str], path: str | Path
                      ) -> None:
    """Write the ``--sites`` BED6: per interval and task, the top window (:func:`top_windows`);
    name ``<interval>|<task>|<summed contribution>``, score the contribution scaled to 0-1000
    over the file (what browsers shade by), strand the one the model read the sequence on.

    Parameters
    ----------
    h5 : ScoreFile
        An open score file with genome coordinates.
    dna : str
        The input whose contributions are read, (N, L, 4).
    tasks : sequence of str
        The tasks; N lines each.
    path : str or Path
        The BED file, sorted by chromosome and start.
    """
    r = h5.ranges(("chr", "id"))
    n = h5[sf.preds(tasks[0])].shape[0]
    names = r["id"].astype(str) if "id" in r else np.arange(n).astype(str)
    strand = np.where(h5.reversed_rows(), "-", "+")
    rows = []
    for task in tasks:
        start, end, score = top_windows(h5, dna, task)
        rows += [(r["chr"][i], int(start[i]), int(end[i]), f"{names[i]}|{task}|{score[i]:.4g}",
                  float(score[i]), strand[i]) for i in range(n)]
    top = max((abs(s) for *_, s, _ in rows), default=0.0) or 1.0
    rows.sort(key=lambda row: (row[0], row[1], row[3]))
    with open(path, "w") as f:
        for chrom, start, end, name, score, st in rows:
            f.write(f"{chrom}\t{start}\t{end}\t{name}\t"
                    f"{int(round(1000 * max(score, 0.0) / top))}\t{st}\n")


#: The former name: ``--sites`` writes top windows, not the ``sites`` command's calls.
write_sites = write_top_windows
