"""Comparing `score` files of several models over the same intervals: per-interval agreement of
per-base scores (Pearson, Spearman, top-k overlap, top window), a TSV, and numbers for the
report. The TSV's ``top_site_*`` columns keep their names (files already written have them);
they hold top windows (:func:`~kipoi_deeplift.io.coordinates.top_window`), not the binding
sites of the ``sites`` command.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import stats

from ..io import scorefile as sf
from ..io import coordinates
from ..errors import UserError
from ..io.staging import staged_file

RANGE_KEYS = ("chr", "start", "end", "strand", "id")

#: ``compare --normalize``: contributions as stored, divided by each interval's |delta| (so
#: they sum to +-1), or by their L1 norm (their absolute values sum to 1), in each file.
NORMALIZE = ("none", "delta", "l1")


@dataclass
class Scored:
    """One file's per-base scores for one task, with what is needed to compare and report.

    Parameters
    ----------
    path, label, task : str
        The score file, its label (:func:`file_names`, then ``:task``) and the task.
    per_base : numpy.ndarray, shape=(N, L)
        The contribution summed over the channels.
    contrib, inputs : numpy.ndarray, shape=(N, L, 4)
        The (projected) contributions and the sequences as the model read them.
    convergence : numpy.ndarray, shape=(N,)
        The summation-to-delta error.
    ranges : dict or None
        The metadata ranges, None without.
    attrs : dict, optional
        The file's attributes.
    delta, preds : numpy.ndarray, shape=(N,), optional
        f(x) minus the mean f(reference); the scored output (logit).
    flip : numpy.ndarray, shape=(N,), bool, optional
        Read against the genome (reverse complement).
    normalize : str, optional
        How ``per_base`` and ``contrib`` were scaled (:data:`NORMALIZE`; see
        :func:`normalized`); ``unscaled``: intervals left as they are (a zero scale).
    """

    path: str
    label: str
    task: str
    per_base: np.ndarray              # (N, L) contribution summed over channels
    contrib: np.ndarray               # (N, L, 4)
    inputs: np.ndarray                # (N, L, 4)
    convergence: np.ndarray           # (N,)
    ranges: dict | None
    attrs: dict = field(default_factory=dict)
    delta: np.ndarray | None = None   # (N,)
    preds: np.ndarray | None = None   # (N,) the scored output (logit)
    flip: np.ndarray | None = None    # (N,) bool: read against the genome (reverse complement)
    normalize: str = "none"
    unscaled: int = 0

    @property
    def rule(self) -> str:
        """The DeepLIFT rule (and max-pool mode where it is not the default) of the run.

        Returns
        -------
        str
        """
        rule, maxpool = self.attrs.get("rule", ""), self.attrs.get("maxpool", "")
        return f"{rule}, maxpool {maxpool}" if maxpool else str(rule)

    @property
    def confidence(self) -> np.ndarray:
        """How far each interval moves the output, (N,): |delta|, or with contributions
        normalised |delta| over its median in this file (models whose outputs differ in scale
        then count alike when the report picks intervals)."""
        size = np.abs(self.delta)
        if self.normalize == "none":
            return size
        usable = size[np.isfinite(size) & (size > 0)]
        typical = float(np.median(usable)) if usable.size else 0.0
        return size / typical if typical > 0 else size

    @property
    def model(self) -> str:
        """The model's name (a directory's last part).

        Returns
        -------
        str
        """
        return sf.model_label(self.attrs.get("model", self.path)) or self.path

    @property
    def title(self) -> str:
        """What every picture and heading of the report calls this file.

        Its ``label`` (the file and task, as the command prints them), then the model and the
        rule. The label comes first because two files of one model and rule (other references,
        another seed) differ in nothing else.

        Returns
        -------
        str
        """
        return f"{self.label} | model {self.model} | {self.rule}"


def load(spec: str) -> Scored:
    """One task of a score file, read for comparing.

    Parameters
    ----------
    spec : str
        ``FILE.h5`` or ``FILE.h5:TASK`` (default: the file's first task).

    Returns
    -------
    Scored
    """
    path, _, task = spec.partition(".h5:")
    path = path + ".h5" if task else spec
    with sf.ScoreFile(path) as f:
        f.check()
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        dna = f.dna_input()
        tasks = f.tasks(dna)
        task = sf.h5_key(task) if task else (tasks[0] if tasks else "")
        for key in (sf.contrib(dna, task), sf.inputs(dna), sf.convergence(task)):
            if key not in f:
                raise UserError(f"{path} has no /{key}" + (f"; tasks: {', '.join(tasks)}"
                                                          if tasks else ""))
        contrib = f[sf.contrib(dna, task)][:].astype(np.float64)
        inputs = f[sf.inputs(dna)][:]
        if "contrib_form" not in f.attrs:           # files before /contrib was projected
            contrib = sf.project(contrib, inputs.astype(np.float64))
        ranges = f.ranges(RANGE_KEYS)
        conv = f[sf.convergence(task)][:]
        delta, preds = f[sf.delta(task)][:], f[sf.preds(task)][:]
        flip = f.reversed_rows() if f.has_ranges() else None
    label = f"{Path(path).name}:{task}"           # made unique among the files by compare()
    return Scored(path, label, task, contrib.sum(-1), contrib, inputs, conv, ranges, attrs,
                  delta, preds, flip)


def file_names(paths: list[str]) -> list[str]:
    """How the files are named in the TSV, the printed summary and every label of the report.

    The file name (``scores.h5``), with as many parent directories as it takes to tell apart
    files of the same name (``run1/scores.h5``, ``run2/scores.h5``). File names, not model
    names: two files of one model (two rules, other references) must not share a label.

    Parameters
    ----------
    paths : list of str

    Returns
    -------
    list of str
        One name per path, in order.
    """
    parts = [Path(p).parts or (p,) for p in paths]
    depth = 1
    while True:
        names = ["/".join(q[-depth:]) for q in parts]
        if len(set(names)) == len(names) or all(depth >= len(q) for q in parts):
            return names
        depth += 1


def check_same_intervals(files: list[Scored]) -> None:
    """Refuse files that differ in their intervals (by ranges, where they have them) or sequence.

    Parameters
    ----------
    files : list of Scored
    """
    first = files[0]
    for other in files[1:]:
        if other.per_base.shape != first.per_base.shape:
            raise UserError(f"{other.path} holds {other.per_base.shape[0]} sequences of "
                            f"{other.per_base.shape[1]} bp, {first.path} "
                            f"{first.per_base.shape[0]} of {first.per_base.shape[1]} bp: score "
                            "the models on the same intervals")
        if first.ranges is not None and other.ranges is not None:
            for k in RANGE_KEYS:
                if k in first.ranges and k in other.ranges and \
                        not np.array_equal(first.ranges[k], other.ranges[k]):
                    i = int(np.flatnonzero(first.ranges[k] != other.ranges[k])[0])
                    raise UserError(f"{other.path} and {first.path} differ at interval {i} "
                                    f"({k}: {other.ranges[k][i]} vs {first.ranges[k][i]}): "
                                    "score the models on the same intervals")
        if not np.array_equal(first.inputs, other.inputs):
            i = int(np.flatnonzero(np.any(first.inputs != other.inputs, axis=(1, 2)))[0])
            raise UserError(f"{other.path} and {first.path} saw different sequences at "
                            f"interval {i}")


def top_window(per_base: np.ndarray, width: int) -> int:
    """Start of the highest-scoring window of ``width`` bases of one sequence.

    Parameters
    ----------
    per_base : numpy.ndarray, shape=(L,)
        Per-base scores.
    width : int
        Window bases (above L: L).

    Returns
    -------
    int
        The window's 0-based start: its signed sum is the largest, the lowest start on ties
        (:func:`~kipoi_deeplift.io.coordinates.top_window`).
    """
    return int(coordinates.top_window(np.asarray(per_base)[None], width)[0][0])


#: The former name (the top window was called the top site).
top_site = top_window


def pair_rows(a: Scored, b: Scored, top_k: int = 10, window_width: int = 8) -> list[dict]:
    """One row per interval plus a summary row ('all') for one pair of files.

    Parameters
    ----------
    a, b : Scored
        The two files' scores of one task, (N, L) per-base each.
    top_k : int, optional
        Positions compared by ``top_k_jaccard`` (the k highest of each file).
    window_width : int, optional
        Bases of the top window (``top_site_a``/``top_site_b``: its start; ``top_site_agree``:
        starts less than a width apart).

    Returns
    -------
    list of dict
        N + 1 rows keyed by :data:`COLUMNS`, the last with ``interval`` "all" (means over
        the intervals).
    """
    starts_a, _ = coordinates.top_window(a.per_base, window_width)
    starts_b, _ = coordinates.top_window(b.per_base, window_width)
    rows = []
    for i, (x, y) in enumerate(zip(a.per_base, b.per_base)):
        pearson = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
        spearman = float(stats.spearmanr(x, y).statistic) if x.std() > 0 and y.std() > 0 \
            else float("nan")
        ta, tb = set(np.argsort(-x, kind="stable")[:top_k]), \
            set(np.argsort(-y, kind="stable")[:top_k])
        sa, sb = int(starts_a[i]), int(starts_b[i])
        rows.append({"model_a": a.label, "model_b": b.label, "interval": _interval(a, i),
                     "pearson": pearson, "spearman": spearman,
                     "top_k_jaccard": len(ta & tb) / len(ta | tb),
                     "top_site_a": sa, "top_site_b": sb,
                     "top_site_agree": int(abs(sa - sb) < window_width)})
    summary = {"model_a": a.label, "model_b": b.label, "interval": "all"}
    for key in ("pearson", "spearman", "top_k_jaccard", "top_site_agree"):
        summary[key] = float(np.nanmean([r[key] for r in rows]))
    summary["top_site_a"] = summary["top_site_b"] = ""
    return rows + [summary]


def _interval(s: Scored, i: int) -> str:
    if s.ranges is None:
        return str(i)
    strand = s.ranges.get("strand", ["."] * (i + 1))[i]
    return f"{s.ranges['chr'][i]}:{s.ranges['start'][i]}-{s.ranges['end'][i]}({strand})"


def normalized(s: Scored, how: str) -> Scored:
    """One file's contributions on a common scale (``compare --normalize``).

    Parameters
    ----------
    s : Scored
    how : {'none', 'delta', 'l1'}
        ``delta``: each interval's contributions divided by its |delta| (they then sum to the
        sign of delta: shares of the output's change); ``l1``: by the sum of their absolute
        values. An interval whose divisor is 0 is left as it is (counted in ``unscaled``).

    Returns
    -------
    Scored
        A copy with ``per_base`` (N, L) and ``contrib`` (N, L, 4) scaled.
    """
    if how not in NORMALIZE:
        raise UserError(f"--normalize {how!r}: use one of {', '.join(NORMALIZE)}")
    if how == "none":
        return s
    size = np.abs(s.delta).astype(np.float64) if how == "delta" else \
        np.abs(s.per_base).sum(axis=1)
    usable = np.isfinite(size) & (size > 0)
    divisor = np.where(usable, size, 1.0)
    return replace(s, per_base=s.per_base / divisor[:, None],
                   contrib=s.contrib / divisor[:, None, None], normalize=how,
                   unscaled=int((~usable).sum()))


def compare(specs: list[str], top_k: int = 10, window_width: int = 8, normalize: str = "none"
            ) -> tuple[list[Scored], list[dict]]:
    """Load, check and compare every pair of files.

    Parameters
    ----------
    specs : list of str
        ``FILE.h5`` or ``FILE.h5:TASK``, at least two, scored on the same intervals.
    top_k, window_width : int, optional
        As :func:`pair_rows`.
    normalize : {'none', 'delta', 'l1'}, optional
        Contributions on a common scale first (:func:`normalized`). Correlations, top-k
        overlap and top windows are per interval, so they do not change; the report's logos,
        distributions and choice of intervals do.

    Returns
    -------
    files : list of Scored
        The files, labelled as every output names them.
    rows : list of dict
        Every pair's :func:`pair_rows`, pairs in the order of ``specs``.
    """
    if len(specs) < 2:
        raise UserError("compare needs at least two files")
    if normalize not in NORMALIZE:
        raise UserError(f"--normalize {normalize!r}: use one of {', '.join(NORMALIZE)}")
    files = [normalized(load(s), normalize) for s in specs]
    check_same_intervals(files)
    for f, name in zip(files, file_names([f.path for f in files])):
        f.label = f"{name}:{f.task}"
    counts: dict[str, int] = {}
    for f in files:                          # the very same file and task given twice
        counts[f.label] = counts.get(f.label, 0) + 1
        if counts[f.label] > 1:
            f.label += f" ({counts[f.label]})"
    rows = []
    for a, b in itertools.combinations(files, 2):
        rows.extend(pair_rows(a, b, top_k, window_width))
    return files, rows


COLUMNS = ("model_a", "model_b", "interval", "pearson", "spearman", "top_k_jaccard",
           "top_site_a", "top_site_b", "top_site_agree")


def write_tsv(rows: list[dict], path: str) -> None:
    """Write the comparison's rows as a TSV of :data:`COLUMNS`, staged.

    Fixed formatting, so the same inputs give a byte-identical file.

    Parameters
    ----------
    rows : list of dict
        One per interval and pair of files (and per pair over ``"all"`` intervals).
    path : str
    """
    def fmt(v):
        if isinstance(v, float):
            return "nan" if np.isnan(v) else f"{v:.6f}"
        return str(v)

    with staged_file(path) as tmp, open(tmp, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(fmt(r[c]) for c in COLUMNS) + "\n")


def agreement_matrix(files: list[Scored], rows: list[dict], key: str = "pearson") -> np.ndarray:
    """Model-by-model mean of ``key`` over intervals (1 on the diagonal).

    Parameters
    ----------
    files : list of Scored
    rows : list of dict
        The comparison's rows; those whose ``interval`` is ``"all"`` are read.
    key : str, optional
        The measure. Default ``"pearson"``.

    Returns
    -------
    numpy.ndarray, shape=(F, F)
        For the F files, in order.
    """
    idx = {f.label: i for i, f in enumerate(files)}
    m = np.eye(len(files))
    for r in rows:
        if r["interval"] == "all":
            i, j = idx[r["model_a"]], idx[r["model_b"]]
            m[i, j] = m[j, i] = r[key]
    return m


def provenance(s: Scored) -> dict:
    """What the report shows of how a file was made.

    The file and task, the run's identity (:data:`~kipoi_deeplift.io.scorefile.PROVENANCE`)
    and environment (:data:`~kipoi_deeplift.io.scorefile.ENVIRONMENT`), its largest
    summation-to-delta error and the command that reruns it.

    Parameters
    ----------
    s : Scored

    Returns
    -------
    dict
        Name -> value (``weights_sha256`` decoded to a dict), ``rerun`` last.
    """
    out = {"file": s.path, "task": s.task}
    for key in sf.PROVENANCE + sf.ENVIRONMENT:
        value = s.attrs.get(key, "")
        if key == "weights_sha256":       # stored as JSON: file -> sha256
            try:
                value = json.loads(value)
            except (TypeError, json.JSONDecodeError):
                pass
        out[key] = value
    out["max summation-to-delta error"] = f"{float(np.max(s.convergence)):.2e}"
    out["rerun"] = s.attrs.get("command", "")
    return out
