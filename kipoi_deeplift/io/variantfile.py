"""The variants file (``kipoi-deeplift variants``) and its summary table.

Layout (V scored variants, L the model's input length; each allele's group laid out as a score
file's root, :mod:`.scorefile`)::

    /variants/{chrom,id,ref,alt}            (V,) str    /variants/pos (V,) int64, 1-based
    /ref/contrib/<input>/<task>             (V, L, 4)   projected on the observed base
    /alt/contrib/<input>/<task>             (V, L, 4)   (against the REF sequence's references)
    /ref/hyp_contrib/..., /alt/hyp_contrib/...          with --hypothetical
    /ref/contrib_per_channel/..., /alt/...              with --per-channel
    /ref/inputs/<input>, /alt/inputs/<input>            (V, L, 4) the sequences scored
    /ref/{preds,delta,convergence}/<task>   (V,)        and the same under /alt
    /metadata/ranges/{chr,start,end,id,strand}          (V,) the windows, 0-based half-open

Every row is an SNV or an MNV (REF and ALT of one length), in genome orientation (the strand
is always ``+``). Variants that were not scored (indels, symbolic ALTs, a REF that differs from
the FASTA, a window off the chromosome) are not in the arrays; the summary table lists them with
the reason.

This module owns the layout: the readers (:mod:`kipoi_deeplift.analysis.variant_data`) name the
datasets through :func:`allele_path` and :func:`variant_field`, and every variant's *window*
(the summary's, ``plot --variant``'s, ``compare``'s, ``--motifs``') is found by
:func:`window_starts`.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import scorefile
from .coordinates import top_window
from .vcf import Variant

#: The file's ``file_kind`` attribute (score files have none).
FILE_KIND = "variants"
#: How each variant's window is placed (an attribute of the file).
WINDOW_RULE = ("a variant at 1-based POS with a REF of r bases is scored in the 0-based window "
               "[start, start + L) with start = (POS - 1) + r // 2 - L // 2 (/metadata/ranges); "
               "its first base is base L // 2 - r // 2 of the sequence; both alleles are "
               "scored against the same references, those drawn for the REF sequence (seeded "
               "by the window's locus), so /alt/delta - /ref/delta = /alt/preds - /ref/preds")
#: The summary table's columns, in order (``motif``, ``motif_effect`` follow with --motifs).
COLUMNS = ("id", "chrom", "pos", "ref", "alt", "task", "logit_ref", "logit_alt", "delta_logit",
           "contrib_ref_at_variant", "contrib_alt_at_variant", "window_start", "window_end",
           "window_delta_contrib", "error", "status")
MOTIF_COLUMNS = ("motif", "motif_effect")
#: The two alleles' groups.
ALLELES = ("ref", "alt")
#: The fields of /variants, each (V,).
VARIANT_FIELDS = ("chrom", "pos", "id", "ref", "alt")


def allele_path(allele: str, path: str) -> str:
    """Path of one allele's copy of a score file's dataset.

    Parameters
    ----------
    allele : {'ref', 'alt'}
    path : str
        The dataset's path in a score file (:mod:`.layout`: ``contrib/<input>/<task>``,
        ``preds/<task>``, ``inputs/<input>``, ...).

    Returns
    -------
    str
        ``<allele>/<path>``.
    """
    if allele not in ALLELES:
        raise ValueError(f"allele must be one of {ALLELES}, not {allele!r}")
    return f"{allele}/{path}"


def contrib_group(allele: str, input_label: str) -> str:
    """Path of the group of one allele's contributions of one input, a dataset per task.

    Parameters
    ----------
    allele : {'ref', 'alt'}
    input_label : str
        The DNA input's name in the file.

    Returns
    -------
    str
        ``<allele>/contrib/<input>``.
    """
    return allele_path(allele, scorefile.contrib(input_label, "x")).rpartition("/")[0]


def variant_field(key: str) -> str:
    """Path of one field of the variants: (V,).

    Parameters
    ----------
    key : str
        One of :data:`VARIANT_FIELDS`.

    Returns
    -------
    str
        ``variants/<key>``.
    """
    return f"variants/{key}"


def window_starts(ref_contrib: np.ndarray, alt_contrib: np.ndarray, width: int) -> np.ndarray:
    """Where each variant's window lies in its scored sequence: the one rule of every output.

    The per-base change is ``|sum over channels of ALT's contribution - the same of REF's|``
    (absolute base by base, so a gain beside a loss does not cancel); the window is the
    ``width`` bases where it sums highest (:func:`.coordinates.top_window`; ties to the first).

    Parameters
    ----------
    ref_contrib, alt_contrib : numpy.ndarray, shape=(n, L, 4)
        The two alleles' projected contributions to one task.
    width : int
        Bases (above L taken as L).

    Returns
    -------
    numpy.ndarray, shape=(n,), int64
        0-based start of each window in its sequence (it ends ``min(width, L)`` bases later);
        add ``/metadata/ranges/start`` for the genome.
    """
    change = np.abs(np.asarray(alt_contrib, np.float64).sum(-1) -
                    np.asarray(ref_contrib, np.float64).sum(-1))
    return top_window(change, width)[0]


def variant_arrays(variants: Sequence[Variant], ref_res, alt_res,
                   x: Mapping[str, Mapping[str, np.ndarray]], length: int,
                   labels: Mapping[str, str], dna: str, per_channel: bool = False,
                   dtype: str = "float32") -> dict:
    """The datasets one scored batch of variants appends to the file.

    Parameters
    ----------
    variants : sequence of Variant
        The batch's n scored variants.
    ref_res, alt_res : Explanation
        The two alleles' scores, (n, L, 4) per input and task.
    x : mapping
        ``{'ref': {input: (n, L, 4)}, 'alt': {...}}``: the sequences scored.
    length : int
        L.
    labels : mapping of str to str
        Keras input name -> the schema's name used in the file.
    dna : str
        The DNA input's Keras name (its contributions are projected).
    per_channel : bool
        Also write ``contrib_per_channel``.
    dtype : str
        The stored contributions' dtype.

    Returns
    -------
    dict of str to numpy.ndarray
        Dataset path -> array (n, ...).
    """
    n = len(variants)
    out: dict[str, np.ndarray] = {
        variant_field(k): np.array([getattr(v, k) for v in variants],
                                   np.int64 if k == "pos" else object) for k in VARIANT_FIELDS}
    start = np.array([v.window_start for v in variants], np.int64)
    ranges = {"chr": out[variant_field("chrom")], "start": start, "end": start + length,
              "id": out[variant_field("id")], "strand": np.array(["+"] * n, dtype=object)}
    for allele, res in zip(ALLELES, (ref_res, alt_res)):
        arrays = scorefile.batch_arrays(res, x[allele], ranges, n, labels, dna=dna,
                                        per_channel=per_channel, dtype=dtype)
        for key, a in arrays.items():
            out[key if key.startswith("metadata/") else allele_path(allele, key)] = a
    return out


def summary_rows(arrays: Mapping[str, np.ndarray], variants: Sequence[Variant],
                 tasks: Sequence[str], input_label: str, length: int, width: int) -> list[dict]:
    """The summary table's rows of one scored batch, one per variant and task.

    Parameters
    ----------
    arrays : mapping
        :func:`variant_arrays`' datasets of the batch.
    variants : sequence of Variant
        Its n variants, in order.
    tasks : sequence of str
        The tasks scored.
    input_label : str
        The DNA input's name in the file.
    length, width : int
        L, and the window's width in bases.

    Returns
    -------
    list of dict
        Column -> value (see :data:`COLUMNS`), variant by variant, tasks in order. Each row also
        holds ``_window`` (the window's 0-based start in the sequence) and ``_row``/``_task``
        for the caller; they are not written.
    """
    rows = []
    by_task = {}
    for task in tasks:
        ref, alt = (arrays[allele_path(a, scorefile.contrib(input_label, task))] for a in ALLELES)
        starts = window_starts(ref, alt, width)
        ref, alt = ref.astype(np.float64).sum(-1), alt.astype(np.float64).sum(-1)
        by_task[task] = (ref, alt, alt - ref, starts)
    for i, v in enumerate(variants):
        at = v.offset(length)
        for task in tasks:
            ref, alt, diff, starts = by_task[task]
            p_ref, p_alt = (float(arrays[allele_path(a, scorefile.preds(task))][i])
                            for a in ALLELES)
            s = int(starts[i])
            w = min(int(width), length)
            rows.append({
                "id": v.id, "chrom": v.chrom, "pos": v.pos, "ref": v.ref, "alt": v.alt,
                "task": task, "logit_ref": p_ref, "logit_alt": p_alt,
                "delta_logit": p_alt - p_ref,
                "contrib_ref_at_variant": float(ref[i, at:at + len(v.ref)].sum()),
                "contrib_alt_at_variant": float(alt[i, at:at + len(v.alt)].sum()),
                "window_start": v.window_start + s + 1, "window_end": v.window_start + s + w,
                "window_delta_contrib": float(diff[i, s:s + w].sum()),
                "error": max(float(arrays[allele_path(a, scorefile.convergence(task))][i])
                             for a in ALLELES),
                "status": "scored", "_window": s, "_row": i, "_task": task})
    return rows


def unscored_rows(v: Variant, tasks: Sequence[str]) -> list[dict]:
    """The summary table's rows of a variant that was not scored (one per task).

    Parameters
    ----------
    v : Variant
        With its ``reason``.
    tasks : sequence of str

    Returns
    -------
    list of dict
        The variant's columns filled, the numbers empty, ``status`` ``not scored: REASON``.
    """
    return [{"id": v.id, "chrom": v.chrom, "pos": v.pos, "ref": v.ref, "alt": v.alt,
             "task": t, "status": f"not scored: {v.reason}"} for t in tasks]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_tsv(rows: Sequence[Mapping], path: str | os.PathLike, motifs: bool = False) -> None:
    """The summary table, tab-separated, with a header line.

    Parameters
    ----------
    rows : sequence of mapping
        :func:`summary_rows` and :func:`unscored_rows`' rows, in the order to write.
    path : str or os.PathLike
        The file (a staged temporary name).
    motifs : bool
        Add the ``motif`` and ``motif_effect`` columns.
    """
    columns = COLUMNS + (MOTIF_COLUMNS if motifs else ())
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in columns])


def read_tsv(path: str | os.PathLike) -> list[dict]:
    """A summary table as written by :func:`write_tsv`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    list of dict
        Column -> text, one per row.
    """
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def allele_tracks(h5_path: str | os.PathLike, input_label: str, task: str
                  ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per-base contributions of one task, as genome tracks' rows.

    Parameters
    ----------
    h5_path : str or os.PathLike
        A (staged) variants file.
    input_label : str
        The DNA input's name in the file.
    task : str

    Returns
    -------
    dict of str to (chrom, start, values)
        ``ref``, ``alt`` and ``alt_minus_ref``: chromosome (V,), window start (V,) and the
        per-base contribution (V, L) (the 4 channels summed), in genome orientation.
    """
    import h5py

    with h5py.File(h5_path, "r", locking=False) as f:
        chrom = f[scorefile.ranges("chr")].asstr()[:]
        start = f[scorefile.ranges("start")][:].astype(np.int64)
        ref, alt = (f[allele_path(a, scorefile.contrib(input_label, task))][:]
                    .astype(np.float64).sum(-1) for a in ALLELES)
    return {"ref": (chrom, start, ref), "alt": (chrom, start, alt),
            "alt_minus_ref": (chrom, start, alt - ref)}


def track_path(prefix: str, task: str, which: str) -> Path:
    """Where ``--bigwig PREFIX`` writes one track.

    Parameters
    ----------
    prefix : str
    task : str
    which : {'ref', 'alt', 'alt_minus_ref'}

    Returns
    -------
    Path
        ``PREFIX.<task>.<which>.bw``.
    """
    return Path(f"{prefix}.{scorefile.h5_key(task)}.{which}.bw")
