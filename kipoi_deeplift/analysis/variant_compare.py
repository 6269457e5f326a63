"""``compare`` of variants files: do several models agree on what each variant does?

Variants are matched across files by (chrom, pos, ref, alt); the ids may differ. Tasks are
matched per pair of files: the tasks named after a colon (``FILE.h5:TASK``) where both files
name one; else every task whose name both files share; else, where the models' task names
differ, the first task of each (the pair ``gata`` vs ``GATA1``). For each pair of files and
pair of tasks: the variants in common, the Pearson and Spearman correlation of their
``delta_logit`` (``preds_alt - preds_ref``), the fraction with the same sign of
``delta_logit`` (a zero counts as its own sign), and the fraction whose windows (the
``width`` bases of largest ``|alt - ref|``, :meth:`VariantsFile.windows`) overlap in the
genome.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import UserError
from ..io.staging import staged_file
from .compare import file_names
from .variant_data import WIDTH, VariantsFile


@dataclass
class VariantScores:
    """One variants file as ``compare`` reads it.

    Parameters
    ----------
    path, label : str
        The file and how every output names it (:func:`~.compare.file_names`).
    task : str or None
        The task named after a colon, if any.
    tasks : list of str
        The file's tasks.
    model, rule : str
    attrs : dict
        The file's attributes.
    keys : list of (str, int, str, str)
        (chrom, pos, ref, alt) per variant, (V,).
    ids : numpy.ndarray, shape=(V,)
    length : int
        Bases of each scored window.
    delta_logit, windows : dict of str to numpy.ndarray, shape=(V,)
        Per task: ``preds_alt - preds_ref``; the window's 0-based genome start.
    """

    path: str
    label: str
    task: str | None
    tasks: list
    model: str
    rule: str
    attrs: dict
    keys: list
    ids: np.ndarray
    length: int
    delta_logit: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)


def load(spec: str, width: int = WIDTH) -> VariantScores:
    """A variants file's delta_logit and windows for every task.

    Parameters
    ----------
    spec : str
        ``FILE.h5`` or ``FILE.h5:TASK``.
    width : int, optional
        Bases of each window.

    Returns
    -------
    VariantScores
    """
    path, _, task = spec.partition(".h5:")
    path = path + ".h5" if task else spec
    with VariantsFile(path) as vf:
        if task:
            vf.pick(task)
        tasks = vf.tasks()
        out = VariantScores(path, Path(path).name, task or None, tasks, vf.model,
                            str(vf.attrs.get("rule", "")), dict(vf.attrs), vf.keys(),
                            vf.ids, vf.length)
        for t in ([task] if task else tasks):
            out.delta_logit[t] = vf.delta_logit(vf.pick(t))
            out.windows[t] = vf.windows(t, width)
    return out


def task_pairs(a: VariantScores, b: VariantScores) -> list[tuple[str, str]]:
    """The tasks of ``a`` and ``b`` compared (the module's docstring says the rule).

    Parameters
    ----------
    a, b : VariantScores

    Returns
    -------
    list of (str, str)
    """
    if a.task and b.task:
        return [(a.task, b.task)]
    ta = [a.task] if a.task else a.tasks
    tb = [b.task] if b.task else b.tasks
    common = [t for t in ta if t in tb]
    return [(t, t) for t in common] if common else [(ta[0], tb[0])]


def _corr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 2 or not (np.std(x) > 0 and np.std(y) > 0):
        return float("nan"), float("nan")
    return float(np.corrcoef(x, y)[0, 1]), float(stats.spearmanr(x, y).statistic)


def pair_rows(a: VariantScores, b: VariantScores, width: int = WIDTH) -> list[dict]:
    """One row per variant in common and a summary row (``variant`` "all") per task pair.

    Parameters
    ----------
    a, b : VariantScores
    width : int, optional
        Bases of each window (as loaded).

    Returns
    -------
    list of dict
        Keyed by :data:`COLUMNS`; windows 1-based (``chr:start-end`` as a browser shows them).
    """
    where = {k: j for j, k in reversed(list(enumerate(b.keys)))}   # the first of duplicates
    pairs = [(i, where[k]) for i, k in enumerate(a.keys) if k in where]
    ia = np.array([i for i, _ in pairs], np.int64)
    ib = np.array([j for _, j in pairs], np.int64)
    wa, wb = min(width, a.length), min(width, b.length)
    rows = []
    for ta, tb in task_pairs(a, b):
        da, db = a.delta_logit[ta][ia], b.delta_logit[tb][ib]
        sa, sb = a.windows[ta][ia], b.windows[tb][ib]
        overlap = (sa < sb + wb) & (sb < sa + wa)
        same = np.sign(da) == np.sign(db)
        base = {"file_a": a.label, "file_b": b.label, "task_a": ta, "task_b": tb}
        for k, (i, j) in enumerate(pairs):
            chrom, pos, ref, alt = a.keys[i]
            rows.append({**base, "variant": a.ids[i], "chrom": chrom, "pos": pos, "ref": ref,
                         "alt": alt, "delta_logit_a": float(da[k]),
                         "delta_logit_b": float(db[k]), "same_sign": int(same[k]),
                         "window_a": f"{chrom}:{sa[k] + 1}-{sa[k] + wa}",
                         "window_b": f"{chrom}:{sb[k] + 1}-{sb[k] + wb}",
                         "windows_overlap": int(overlap[k])})
        pearson, spearman = _corr(da, db)
        rows.append({**base, "variant": "all", "n": len(pairs), "pearson": pearson,
                     "spearman": spearman,
                     "same_sign": float(same.mean()) if len(pairs) else float("nan"),
                     "windows_overlap": float(overlap.mean()) if len(pairs) else float("nan")})
    return rows


def compare_variants(specs: list[str], width: int = WIDTH
                     ) -> tuple[list[VariantScores], list[dict]]:
    """Load every variants file and compare every pair.

    Parameters
    ----------
    specs : list of str
        At least two ``FILE.h5[:TASK]``, all variants files.
    width : int, optional
        Bases of each window.

    Returns
    -------
    files : list of VariantScores
        Labelled as every output names them.
    rows : list of dict
        :func:`pair_rows` of every pair, in the order of ``specs``.
    """
    if len(specs) < 2:
        raise UserError("compare needs at least two files")
    if width < 1:
        raise UserError(f"--width {width}: give at least 1 base")
    files = [load(s, width) for s in specs]
    for f, name in zip(files, file_names([f.path for f in files])):
        f.label = name
    rows = []
    for a, b in itertools.combinations(files, 2):
        found = pair_rows(a, b, width)
        if not any(r["variant"] != "all" for r in found):
            raise UserError(f"{a.path} and {b.path} share no variant (matched by chrom, pos, "
                            "ref and alt): score the same VCF with both models")
        rows.extend(found)
    return files, rows


COLUMNS = ("file_a", "file_b", "task_a", "task_b", "variant", "chrom", "pos", "ref", "alt",
           "delta_logit_a", "delta_logit_b", "same_sign", "window_a", "window_b",
           "windows_overlap", "n", "pearson", "spearman")


def write_tsv(rows: list[dict], path: str) -> None:
    """The rows as a TSV of :data:`COLUMNS` (empty where a row has no value), staged.

    Parameters
    ----------
    rows : list of dict
    path : str
    """
    def fmt(v):
        if isinstance(v, float):
            return "nan" if np.isnan(v) else f"{v:.6g}"
        return "" if v is None else str(v)

    with staged_file(path) as tmp, open(tmp, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(fmt(r.get(c)) for c in COLUMNS) + "\n")


def summary_lines(rows: list[dict]) -> list[str]:
    """What the terminal prints: one line per pair of files and tasks.

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    list of str
    """
    return [f"{r['file_a']}:{r['task_a']} vs {r['file_b']}:{r['task_b']}: {r['n']} variants "
            f"in common, delta_logit pearson {r['pearson']:.3f}, spearman "
            f"{r['spearman']:.3f}, same sign {r['same_sign']:.0%}, windows overlap "
            f"{r['windows_overlap']:.0%}" for r in rows if r["variant"] == "all"]
