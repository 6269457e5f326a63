"""Reading a variants file (``kipoi-deeplift variants``) for ``plot --variant``, ``compare`` and
the motif annotation.

The layout, and the rule of a variant's *window*, are :mod:`kipoi_deeplift.io.variantfile`'s
(every path here is built by its :func:`~kipoi_deeplift.io.variantfile.allele_path` and
:func:`~kipoi_deeplift.io.variantfile.variant_field`, every window found by its
:func:`~kipoi_deeplift.io.variantfile.window_starts`, as the summary table's is). Every row is
an SNV or MNV scored in genome orientation, in the window ``/metadata/ranges`` gives.
``delta_logit`` is ``preds_alt - preds_ref`` per task.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import UserError
from ..io import scorefile as sf
from ..io import variantfile as vfile

#: Bases of a variant's window (``--width``).
WIDTH = 10
#: Variants whose contributions are read at a time (a file may hold 10^5 windows of 1 kb).
CHUNK = 2048
ALLELES = vfile.ALLELES


def strings(ds) -> np.ndarray:
    """A dataset of strings as str (variable-length str as ``variants`` writes them, or fixed
    bytes).

    Parameters
    ----------
    ds : h5py.Dataset, shape=(V,)

    Returns
    -------
    numpy.ndarray, shape=(V,), of str
    """
    return np.asarray(ds.asstr()[:], dtype=str)


def is_variants_file(path: str | Path) -> bool:
    """Whether ``path`` is a variants file (its ``file_kind`` attribute is
    :data:`~kipoi_deeplift.io.variantfile.FILE_KIND`).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
        False for a score file, a missing file or one that is not HDF5.
    """
    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("file_kind", b"")
            return (kind.decode() if isinstance(kind, bytes) else str(kind)) == vfile.FILE_KIND
    except (OSError, FileNotFoundError):
        return False


@dataclass
class VariantsFile:
    """A variants file opened for reading: its variants, tasks and windows. A context manager.

    Parameters
    ----------
    path : str or Path
    """

    path: str

    def __post_init__(self):
        self._sf = sf.ScoreFile(self.path)          # its one-line errors: missing, not HDF5
        self.h5 = self._sf.h5
        self.attrs = self._sf.attrs
        needed = [vfile.variant_field(k) for k in vfile.VARIANT_FIELDS] + [
            sf.ranges("start")] + [vfile.allele_path(a, "contrib") for a in ALLELES]
        missing = [k for k in needed if k not in self.h5]
        if missing:
            self.close()
            raise UserError(f"{self.path} is not a variants file (no /{missing[0]}): write it "
                            "with `kipoi-deeplift variants`")
        self.chrom, self.ids, self.ref, self.alt = (
            strings(self.h5[vfile.variant_field(k)]) for k in ("chrom", "id", "ref", "alt"))
        self.pos = self.h5[vfile.variant_field("pos")][:].astype(np.int64)

    def __enter__(self) -> "VariantsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._sf.close()

    @property
    def n(self) -> int:
        """Number of variants.

        Returns
        -------
        int
        """
        return len(self.pos)

    @property
    def model(self) -> str:
        """The model's name (a directory's last part).

        Returns
        -------
        str
        """
        return sf.model_label(self.attrs.get("model", self.path)) or str(self.path)

    def dna_input(self) -> str:
        """The DNA input's name (the first under /ref/contrib when none is recorded).

        Returns
        -------
        str
        """
        return self.attrs.get("dna_input") or next(iter(self.h5[vfile.allele_path("ref",
                                                                                   "contrib")]))

    def tasks(self) -> list[str]:
        """The tasks with contributions of both alleles, in the file's order.

        Returns
        -------
        list of str
        """
        ref, alt = (self.h5.get(vfile.contrib_group(a, self.dna_input()), {}) for a in ALLELES)
        return [t for t in ref if t in alt]

    def pick(self, task: str | None) -> str:
        """``task`` (default: the first), refused in one line where the file lacks it.

        Parameters
        ----------
        task : str or None

        Returns
        -------
        str
        """
        tasks = self.tasks()
        task = sf.h5_key(task) if task else (tasks[0] if tasks else "")
        if task not in tasks:
            raise UserError(f"task {task!r} is not in {self.path}; tasks: {', '.join(tasks)}")
        for allele in ALLELES:
            if vfile.allele_path(allele, sf.preds(task)) not in self.h5:
                raise UserError(f"{self.path} has no /{vfile.allele_path(allele, sf.preds(task))}")
        return task

    def contrib(self, allele: str, task: str, rows=slice(None)) -> np.ndarray:
        """One allele's projected contributions, (V, L, 4) float64 (``rows`` of them).

        Parameters
        ----------
        allele : {'ref', 'alt'}
        task : str
        rows : slice or int, optional

        Returns
        -------
        numpy.ndarray, shape=(V, L, 4) (or (L, 4) for one row)
        """
        return self.h5[vfile.allele_path(allele, sf.contrib(self.dna_input(), task))][
            rows].astype(np.float64)

    def inputs(self, allele: str, rows=slice(None)) -> np.ndarray:
        """One allele's scored sequences (``rows`` of them).

        Parameters
        ----------
        allele : {'ref', 'alt'}
        rows : slice or int, optional

        Returns
        -------
        numpy.ndarray, shape=(V, L, 4) (or (L, 4) for one row)
            One-hot, along the genome's + strand.
        """
        return self.h5[vfile.allele_path(allele, sf.inputs(self.dna_input()))][rows]

    def preds(self, allele: str, task: str) -> np.ndarray:
        """One allele's scored output (logit).

        Parameters
        ----------
        allele : {'ref', 'alt'}
        task : str

        Returns
        -------
        numpy.ndarray, shape=(V,), float64
        """
        return self.h5[vfile.allele_path(allele, sf.preds(task))][:].astype(np.float64)

    def delta_logit(self, task: str) -> np.ndarray:
        """``preds_alt - preds_ref``.

        Parameters
        ----------
        task : str

        Returns
        -------
        numpy.ndarray, shape=(V,), float64
        """
        return self.preds("alt", task) - self.preds("ref", task)

    @property
    def width(self) -> int:
        """Bases of the summary table's windows (the file's ``summary_window_width``; default
        :data:`WIDTH`).

        Returns
        -------
        int
        """
        return int(self.attrs.get("summary_window_width", WIDTH))

    @property
    def length(self) -> int:
        """Bases of every scored window.

        Returns
        -------
        int
            L.
        """
        return int(self.h5[vfile.allele_path("ref", sf.contrib(self.dna_input(),
                                                              self.tasks()[0]))].shape[1])

    def seq_starts(self) -> np.ndarray:
        """0-based genome start of each scored sequence (``/metadata/ranges/start``).

        Returns
        -------
        numpy.ndarray, shape=(V,), int64
        """
        return self.h5[sf.ranges("start")][:].astype(np.int64)

    def label(self, i: int) -> str:
        """The variant as every output names it: 'chr1:1,234 A>G' (1-based position).

        Parameters
        ----------
        i : int
            Its row.

        Returns
        -------
        str
        """
        return f"{self.chrom[i]}:{int(self.pos[i]):,} {self.ref[i]}>{self.alt[i]}"

    def keys(self) -> list[tuple[str, int, str, str]]:
        """(chrom, pos, ref, alt) of every variant: how files of several models are matched.

        Returns
        -------
        list of (str, int, str, str)
        """
        return list(zip(self.chrom.tolist(), self.pos.tolist(), self.ref.tolist(),
                        self.alt.tolist()))

    def windows(self, task: str, width: int = WIDTH) -> np.ndarray:
        """Each variant's window in genome coordinates
        (:func:`~kipoi_deeplift.io.variantfile.window_starts`, as the summary table's).

        Parameters
        ----------
        task : str
        width : int, optional
            Bases. Default :data:`WIDTH`.

        Returns
        -------
        numpy.ndarray, shape=(V,), int64
            0-based genome start of each window (it ends ``min(width, L)`` bases later).
        """
        starts = np.empty(self.n, np.int64)
        for lo in range(0, self.n, CHUNK):
            rows = slice(lo, min(lo + CHUNK, self.n))
            starts[rows] = vfile.window_starts(self.contrib("ref", task, rows),
                                               self.contrib("alt", task, rows), width)
        return self.seq_starts() + starts

    def find(self, spec: str) -> int:
        """The row of one variant: an id of /variants/id, or ``chrom:pos[:ref:alt]``.

        Parameters
        ----------
        spec : str
            ``rs123``, ``chr1:1234`` or ``chr1:1234:A:G`` (pos 1-based; commas allowed).

        Returns
        -------
        int
            The first variant that matches; UserError, naming a few ids, where none does.
        """
        hits = np.flatnonzero(self.ids == spec)
        parts = spec.split(":")
        if not hits.size and len(parts) in (2, 4) and parts[1].replace(",", "").isdigit():
            hit = (self.chrom == parts[0]) & (self.pos == int(parts[1].replace(",", "")))
            if len(parts) == 4:
                hit &= (self.ref == parts[2]) & (self.alt == parts[3])
            hits = np.flatnonzero(hit)
        if not hits.size:
            some = ", ".join(f"{self.ids[i] or '.'} ({self.chrom[i]}:{self.pos[i]}:"
                             f"{self.ref[i]}:{self.alt[i]})" for i in range(min(5, self.n)))
            raise UserError(f"--variant {spec}: not in {self.path} ({self.n} variants; give an "
                            f"id or CHROM:POS[:REF:ALT], e.g. {some})")
        return int(hits[0])
