"""Variants as ``kipoi-deeplift variants`` reads them: a VCF (plain or bgzipped) read with pysam
(htslib's parser, the one bcftools uses), one variant per ALT allele, and each variant's
sequences of the model's length read from the FASTA around it, with its REF allele checked
against the genome.

Windows: a variant at 1-based ``pos`` whose REF has ``r`` bases is scored in the 0-based window
``[start, start + L)`` with ``start = (pos - 1) + r // 2 - L // 2``: the middle of the REF allele
sits at the window's middle base ``L // 2`` (for an SNV, the variant's base is base ``L // 2``).
SNVs and MNVs (REF and ALT of the same length) are scored; everything else is listed with the
reason it was not (:attr:`Variant.reason`), never dropped.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import UserError, describe

#: One-hot row of each base; N is 0.25 in every channel (as kipoiseq writes it), other IUPAC
#: codes all zero.
_ROWS = {b: np.eye(4, dtype=np.float32)[i] for i, b in enumerate("ACGT")}
_N_ROW = np.full(4, 0.25, np.float32)
_ZERO = np.zeros(4, np.float32)


@dataclass(frozen=True)
class Variant:
    """One ALT allele of one VCF record.

    Parameters
    ----------
    chrom : str
    pos : int
        1-based, as in the VCF.
    id : str
        The record's ID; ``chrom:pos:ref:alt`` where the VCF has ``.``.
    ref, alt : str
        The alleles as the VCF writes them (upper-cased).
    reason : str
        Why it is not scored (``''``: it is scored).
    window_start : int
        0-based genome start of its window (-1 where there is none).
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    reason: str = ""
    window_start: int = -1

    @property
    def kind(self) -> str:
        """``SNV`` (one base), ``MNV`` (several, REF and ALT of one length) or ``other``.

        Returns
        -------
        str
        """
        if len(self.ref) != len(self.alt) or not _plain(self.alt) or not _plain(self.ref):
            return "other"
        return "SNV" if len(self.ref) == 1 else "MNV"

    @property
    def scored(self) -> bool:
        """Whether the variant is scored (no :attr:`reason`)."""
        return not self.reason

    def offset(self, length: int) -> int:
        """Position of the variant's first base in its window of ``length`` bases.

        Parameters
        ----------
        length : int
            The model's input length L.

        Returns
        -------
        int
            ``L // 2 - len(ref) // 2``.
        """
        return length // 2 - len(self.ref) // 2


def _plain(allele: str) -> bool:
    return bool(allele) and set(allele) <= set("ACGT")


def window_start(pos: int, ref: str, length: int) -> int:
    """The 0-based genome start of a variant's window (see the module's docstring).

    Parameters
    ----------
    pos : int
        1-based position of the variant's first base.
    ref : str
        The REF allele.
    length : int
        The model's input length L.

    Returns
    -------
    int
        ``(pos - 1) + len(ref) // 2 - length // 2``.
    """
    return (pos - 1) + len(ref) // 2 - length // 2


def first_reason(ref: str, alt: str) -> str:
    """Why an allele pair cannot be scored base by base, from the alleles alone.

    Parameters
    ----------
    ref, alt : str
        The alleles (upper case).

    Returns
    -------
    str
        ``''`` for an SNV or MNV of A/C/G/T bases, else the reason.
    """
    if alt in ("", ".", "*") or alt.startswith("<") or "[" in alt or "]" in alt:
        return f"symbolic ALT {alt or '.'} (no sequence to score)"
    if not _plain(ref):
        return f"REF {ref} holds bases other than A/C/G/T"
    if not _plain(alt):
        return f"ALT {alt} holds bases other than A/C/G/T"
    if len(ref) != len(alt):
        return (f"indel (REF {len(ref)} bp, ALT {len(alt)} bp): the alleles' "
                "sequences do not align base by base")
    if ref == alt:
        return "ALT equals REF"
    return ""


def read_vcf(path: str | Path) -> list[Variant]:
    """Every ALT allele of every record of a VCF, in file order.

    Parameters
    ----------
    path : str or Path
        A VCF, plain or compressed (``.vcf.gz``, bgzip or gzip).

    Returns
    -------
    list of Variant
        One per ALT (a multi-allelic record gives several with the same ID); ``reason`` set
        from the alleles (:func:`first_reason`), windows not yet placed.
    """
    import pysam

    if not Path(path).is_file():
        raise UserError(f"--vcf {path}: no such file")
    pysam.set_verbosity(0)      # htslib's warnings (contigs missing from the header) are noise
    out: list[Variant] = []
    try:
        with _readable(Path(path)) as name, pysam.VariantFile(name) as vcf:
            for rec in vcf:
                out.extend(_alleles(rec))
    except (OSError, ValueError, NotImplementedError) as e:
        raise UserError(f"--vcf {path}: cannot read it as a VCF ({describe(e, 120)})") from e
    return out


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[str]:
    """A name htslib reads ``path`` by: itself, or for a gzip file that is not bgzip (htslib
    refuses to read those: "seek not implemented") a decompressed temporary copy."""
    with open(path, "rb") as f:
        head = f.read(18)
    bgzf = len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC"
    if head[:2] != b"\x1f\x8b" or bgzf:
        yield str(path)
        return
    import gzip
    import shutil
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".vcf") as tmp:
        with gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, tmp)
        tmp.flush()
        yield tmp.name


def _alleles(rec) -> Iterator[Variant]:
    """One :class:`Variant` per ALT of a pysam record."""
    ref = (rec.ref or "").upper()
    for alt in rec.alts or (".",):
        alt = alt.upper()
        vid = rec.id if rec.id not in (None, ".") else f"{rec.chrom}:{rec.pos}:{ref}:{alt}"
        yield Variant(str(rec.chrom), int(rec.pos), str(vid), ref, alt, first_reason(ref, alt))


@dataclass
class Sequences:
    """The scored variants' REF and ALT sequences, in the order of the scored variants.

    Parameters
    ----------
    variants : list of Variant
        Every variant, scored or not, in VCF order (windows placed, reasons filled).
    ref, alt : numpy.ndarray, shape=(V, L, 4), float32
        One-hot sequences of the V scored variants (``variants[i]`` for ``i`` in ``rows``).
    rows : numpy.ndarray, shape=(V,), int64
        Index in ``variants`` of each scored variant.
    """

    variants: list[Variant]
    ref: np.ndarray
    alt: np.ndarray
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def scored(self) -> list[Variant]:
        """The scored variants, in the order of :attr:`ref` and :attr:`alt`."""
        return [self.variants[i] for i in self.rows]


def one_hot(seq: str) -> np.ndarray:
    """A DNA string as one-hot rows in ACGT order.

    Parameters
    ----------
    seq : str

    Returns
    -------
    numpy.ndarray, shape=(len(seq), 4), float32
        N as 0.25 in each channel, other codes all zero.
    """
    return np.stack([_ROWS.get(b, _N_ROW if b == "N" else _ZERO) for b in seq.upper()]) \
        if seq else np.zeros((0, 4), np.float32)


def sequences(variants: Sequence[Variant], fasta: str, length: int) -> Sequences:
    """Each variant's window read from the FASTA, its REF checked, its ALT put in.

    Parameters
    ----------
    variants : sequence of Variant
        From :func:`read_vcf`.
    fasta : str
        The genome (indexed by pyfaidx where it has no index).
    length : int
        The model's input length L.

    Returns
    -------
    Sequences
        Variants whose chromosome is not in the FASTA, whose window runs off it or whose REF
        differs from the genome (case ignored) get their reason and are not scored.
    """
    import pyfaidx

    from .genome import indexed_fasta

    if not Path(fasta).is_file():
        raise UserError(f"--fasta {fasta}: no such file")
    try:
        fa = pyfaidx.Fasta(indexed_fasta(fasta), as_raw=True, sequence_always_upper=True)
    except Exception as e:
        raise UserError(f"--fasta {fasta}: cannot read it ({describe(e, 120)})") from e
    placed, ref_rows, alt_rows, rows = [], [], [], []
    try:
        for v in variants:
            v = _placed(v, fa, length)
            if v.scored:
                seq = one_hot(fa[v.chrom][v.window_start:v.window_start + length])
                alt = seq.copy()
                at = v.offset(length)
                alt[at:at + len(v.alt)] = one_hot(v.alt)
                ref_rows.append(seq)
                alt_rows.append(alt)
                rows.append(len(placed))
            placed.append(v)
    finally:
        fa.close()
    shape = (0, length, 4)
    return Sequences(placed, np.stack(ref_rows) if ref_rows else np.zeros(shape, np.float32),
                     np.stack(alt_rows) if alt_rows else np.zeros(shape, np.float32),
                     np.asarray(rows, np.int64))


def _placed(v: Variant, fa, length: int) -> Variant:
    """The variant with its window placed and, where it cannot be scored, the reason."""
    start = window_start(v.pos, v.ref, length)
    v = replace(v, window_start=start)
    if not v.scored:
        return v
    if v.chrom not in fa.keys():
        return replace(v, reason=f"chromosome {v.chrom} is not in the FASTA")
    size = len(fa[v.chrom])
    if v.pos - 1 + len(v.ref) > size:
        return replace(v, reason=f"position past the end of {v.chrom} ({size} bp)")
    genome = fa[v.chrom][v.pos - 1:v.pos - 1 + len(v.ref)]
    if genome != v.ref:
        return replace(v, reason=f"REF {v.ref} does not match the FASTA ({genome})")
    if start < 0 or start + length > size:
        return replace(v, reason=f"its {length} bp window [{start}, {start + length}) runs off "
                                 f"{v.chrom} ({size} bp)")
    return v


def reason_counts(variants: Sequence[Variant]) -> dict[str, int]:
    """How many variants were not scored, by the kind of reason.

    Parameters
    ----------
    variants : sequence of Variant

    Returns
    -------
    dict of str to int
        ``REF mismatch``, ``indel``, ``symbolic ALT``, ``window off the chromosome``, ... ->
        count, in order of first appearance.
    """
    kinds = {"does not match": "REF mismatch", "indel": "indel", "symbolic": "symbolic ALT",
             "runs off": "window off the chromosome", "not in the FASTA": "chromosome not in "
             "the FASTA", "past the end": "past the chromosome's end", "other than":
             "non-ACGT allele", "equals REF": "ALT equals REF"}
    out: dict[str, int] = {}
    for v in variants:
        if v.reason:
            kind = next((k for w, k in kinds.items() if w in v.reason), v.reason)
            out[kind] = out.get(kind, 0) + 1
    return out
