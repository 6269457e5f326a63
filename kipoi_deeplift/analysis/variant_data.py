"""Reading a variants file (``kipoi-deeplift variants``) for ``plot --variant`` and ``compare``.

The layout read here (the user contract; strings as variable-length str or fixed bytes)::

    /variants/{chrom,pos,id,ref,alt}             (V,)  pos 1-based, as in the VCF
    /ref/contrib/<input>/<task>                  (V, L, 4) projected on the observed base
    /alt/contrib/<input>/<task>                  (V, L, 4)
    /ref/preds/<task>, /alt/preds/<task>         (V,)  the scored output (logit)
    /ref/delta/<task>, /alt/delta/<task>         (V,)  optional
    /metadata/ranges/{chr,start,end,id,strand}   (V,)  the windows, 0-based half-open,
                                                       centred on the variant
    attrs on /: as a score file's, with ``file_kind = "variants"``

``delta_logit`` is ``preds_alt - preds_ref`` per task. A variant's *window* is the ``width``
bases (default :data:`WIDTH`) where the per-base change ``|alt - ref|`` (contributions summed
over the 4 channels, then made absolute base by base, so that a gain beside a loss does not
cancel) sums highest, found with :func:`kipoi_deeplift.io.coordinates.top_window`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import UserError
from ..io import scorefile as sf
from ..io.coordinates import sequence_start, top_window

#: Bases of a variant's window (``--width``).
WIDTH = 10
#: Variants whose contributions are read at a time (a file may hold 10^5 windows of 1 kb).
CHUNK = 2048
ALLELES = ("ref", "alt")


def strings(ds) -> np.ndarray:
    """A dataset of strings as str, whether stored as variable-length str or fixed bytes.

    Parameters
    ----------
    ds : h5py.Dataset, shape=(V,)

    Returns
    -------
    numpy.ndarray, shape=(V,), of str
    """
    a = ds[:]
    if a.dtype.kind in ("O", "S"):
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in a], dtype=str)
    return a.astype(str)


def is_variants_file(path: str | Path) -> bool:
    """Whether ``path`` is a variants file (``file_kind = "variants"``, or ``/variants`` and
    ``/ref`` groups in a file without the attribute).

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
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            return kind == "variants" or ("variants" in f and "ref" in f and "contrib" not in f)
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
        if "variants" not in self.h5 or "ref/contrib" not in self.h5 or \
                "alt/contrib" not in self.h5:
            self.close()
            raise UserError(f"{self.path} is not a variants file (no /variants, /ref/contrib "
                            "and /alt/contrib): write it with `kipoi-deeplift variants`")
        v = self.h5["variants"]
        self.chrom, self.ids, self.ref, self.alt = (strings(v[k]) for k in
                                                    ("chrom", "id", "ref", "alt"))
        self.pos = v["pos"][:].astype(np.int64)

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
        return Path(str(self.attrs.get("model", self.path))).name or str(self.path)

    def dna_input(self) -> str:
        """The DNA input's name (the first under /ref/contrib when none is recorded).

        Returns
        -------
        str
        """
        return self.attrs.get("dna_input") or next(iter(self.h5["ref/contrib"]))

    def tasks(self) -> list[str]:
        """The tasks with contributions of both alleles, in the file's order.

        Returns
        -------
        list of str
        """
        name = sf.h5_key(self.dna_input())
        ref, alt = self.h5.get(f"ref/contrib/{name}", {}), self.h5.get(f"alt/contrib/{name}", {})
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
            if f"{allele}/preds/{task}" not in self.h5:
                raise UserError(f"{self.path} has no /{allele}/preds/{task}")
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
        key = f"{allele}/contrib/{sf.h5_key(self.dna_input())}/{sf.h5_key(task)}"
        return self.h5[key][rows].astype(np.float64)

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
        return self.h5[f"{allele}/preds/{sf.h5_key(task)}"][:].astype(np.float64)

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
    def length(self) -> int:
        """Bases of every scored window.

        Returns
        -------
        int
            L.
        """
        key = f"ref/contrib/{sf.h5_key(self.dna_input())}"
        return int(self.h5[key][next(iter(self.h5[key]))].shape[1])

    def seq_starts(self) -> np.ndarray:
        """0-based genome start of each scored window (from /metadata/ranges; without
        ranges, the window is taken as centred on the variant).

        Returns
        -------
        numpy.ndarray, shape=(V,), int64
        """
        length = self.length
        if sf.ranges("start") in self.h5:
            r = self.h5["metadata/ranges"]
            return sequence_start(r["start"][:].astype(np.int64), r["end"][:].astype(np.int64),
                                  length)
        return self.pos - 1 - length // 2

    def reversed_rows(self) -> np.ndarray:
        """Which windows the model read as the reverse complement.

        Returns
        -------
        numpy.ndarray, shape=(V,), bool
        """
        if sf.ranges("strand") not in self.h5 and sf.ORIENTATION not in self.h5:
            return np.zeros(self.n, bool)
        from ..io.orientation import reversed_rows

        strand = strings(self.h5[sf.ranges("strand")]) if sf.ranges("strand") in self.h5 \
            else None
        orient = strings(self.h5[sf.ORIENTATION]) if sf.ORIENTATION in self.h5 else None
        return np.asarray(reversed_rows(orient, strand, self.n), bool)

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
        """Each variant's window (see the module's docstring) in genome coordinates.

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
            change = np.abs(self.contrib("alt", task, rows).sum(-1) -
                            self.contrib("ref", task, rows).sum(-1))
            starts[rows] = top_window(change, width)[0]
        flip = self.reversed_rows()
        w = min(int(width), self.length)
        # the window [s, s + w) of a sequence read reversed lies at L - s - w along the genome
        starts = np.where(flip, self.length - starts - w, starts)
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
