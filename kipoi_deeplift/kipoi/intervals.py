"""The user's intervals file: every interval checked against the genome before any work, and
handed to the dataloader in a form it reads.

Peak files come as BED3, BED4/BED6 with names, narrowPeak (BED6+4), with track or header lines.
kipoiseq's dataloaders read every line, columns after the third (or the sixth with
``use_strand``) as float labels, and fail on a name ('could not convert string to float'), a
header, or a BED3 file where the strand is used. So for them the file is rewritten, once, into
a temporary BED of exactly the columns they read (chrom, start, end[, name, score, strand]);
the names stay for the outputs (``/metadata/ranges/id``), and the score file records the user's
own file. Intervals that do not fit the genome are all found first: listed in
``OUT.invalid.bed``, and either refused in one line or (``--skip-invalid``) left out.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import Notice, UserError, describe
from ..io.genome import fasta_sizes, find_key, indexed_fasta

_COMMENT = ("#", "track", "browser")
#: How many invalid intervals a refusal names (all are in OUT.invalid.bed).
SHOWN = 3


@dataclass(frozen=True)
class BedLine:
    """One interval line: its 1-based line number and its tab-separated fields.

    Parameters
    ----------
    number : int
        The line's number in the file, from 1.
    fields : tuple of str
        chrom, start, end and any further columns, as written.
    """

    number: int
    fields: tuple[str, ...]

    @property
    def chrom(self) -> str:
        """The chromosome, as the BED names it.

        Returns
        -------
        str
        """
        return self.fields[0]

    @property
    def start(self) -> int:
        """The 0-based start.

        Returns
        -------
        int
        """
        return int(self.fields[1])

    @property
    def end(self) -> int:
        """The end (exclusive).

        Returns
        -------
        int
        """
        return int(self.fields[2])

    def where(self) -> str:
        """The line as a refusal names it.

        Returns
        -------
        str
            ``line N (chrom:start-end)``.
        """
        return f"line {self.number} ({self.chrom}:{self.fields[1]}-{self.fields[2]})"


@dataclass
class BedFile:
    """A BED-like file as read: its interval lines and how many other lines it has.

    Parameters
    ----------
    path : str
        The file.
    lines : list of BedLine
        Its interval lines.
    other_lines : int
        Comments, track/browser lines, a header.
    """

    path: str
    lines: list[BedLine]
    other_lines: int          # comments, track/browser lines, a header

    @property
    def columns(self) -> int:
        """The fewest columns of any interval line.

        Returns
        -------
        int
            0 for a file without intervals.
        """
        return min((len(b.fields) for b in self.lines), default=0)


def read_bed(path: str) -> BedFile:
    """The interval lines of ``path`` (tab-separated chrom, start, end, ...).

    Comment, track and browser lines and one header line before the first interval are counted,
    not read.

    Parameters
    ----------
    path : str
        The intervals file.

    Returns
    -------
    BedFile
        ``UserError`` for a file that cannot be read or a line that is not an interval.
    """
    lines, other, header = [], 0, False
    try:
        f = open(path)
    except OSError as e:
        raise UserError(f"cannot read the intervals file {path!r}: {describe(e, 120)}") from e
    with f:
        for n, line in enumerate(f, 1):
            text = line.rstrip("\r\n")
            if not text.strip() or text.startswith(_COMMENT):
                other += bool(text.strip())
                continue
            parts = tuple(text.split("\t"))
            if len(parts) < 3:
                raise UserError(f"{path} line {n}: expected chrom, start, end separated by tabs")
            try:
                int(parts[1]), int(parts[2])
            except ValueError:
                if not lines and not header:    # a header before the first interval
                    other, header = other + 1, True
                    continue
                raise UserError(f"{path} line {n}: start and end must be integers") from None
            lines.append(BedLine(n, parts))
    return BedFile(path, lines, other)


def centred(start: int, end: int, length: int | None) -> tuple[int, int]:
    """The window the dataloader reads: ``length`` bases centred on the interval.

    It is centred as kipoiseq's ``auto_resize_len`` centres it.

    Parameters
    ----------
    start, end : int
        The interval (0-based, end exclusive).
    length : int or None
        The model's input length; unset (or the interval's own) keeps the interval itself.

    Returns
    -------
    (int, int)
        The window's start and end.
    """
    if not length or end - start == length:
        return start, end
    centre = (start + end) // 2
    return centre - length // 2, centre + length // 2 + length % 2


def problem(b: BedLine, sizes: Mapping[str, int], length: int | None,
            chrom: str | None = None) -> str | None:
    """Why interval ``b`` cannot be scored against a genome of ``sizes``, or ``None``.

    Parameters
    ----------
    b : BedLine
        The interval.
    sizes : Mapping[str, int]
        Chromosome -> length in bases (the FASTA's).
    length : int or None
        The model's input length (the interval is centred on it, see :func:`centred`).
    chrom : str, optional
        Its chromosome as the dataloader names it (default: as the BED does).

    Returns
    -------
    str or None
        The reason, worded to follow the line's place; ``None`` for a valid interval.
    """
    chrom = b.chrom if chrom is None else chrom
    if chrom not in sizes:
        shown = "" if chrom == b.chrom else f" (read as {chrom!r})"
        return f"chromosome {b.chrom!r}{shown} is not in the FASTA"
    if b.start < 0:
        return f"has a negative start ({b.start})"
    if b.end < b.start or (b.end == b.start and not length):
        return f"ends ({b.end}) before it starts ({b.start})" if b.end < b.start else \
            "is empty (start equals end)"
    start, end = centred(b.start, b.end, length)
    once = f" once centred on the model's {length} bp" if (start, end) != (b.start, b.end) \
        else ""
    if start < 0:
        return f"starts {-start} bp before the start of {b.chrom}{once}"
    if end > sizes[chrom]:
        return f"runs past the end of {b.chrom} ({sizes[chrom]} bp){once}"
    return None


@dataclass
class Intervals:
    """The intervals of a run, ready for the dataloader.

    Parameters
    ----------
    load_args : dict
        The dataloader's arguments to start it with (a rewritten BED and an indexed FASTA where
        needed; the user's own arguments are what the score file records).
    names : list of str or None
        The name of each interval the dataloader reads, by kipoiseq's interval number
        (``None``: the dataloader's own ids stand).
    total : int
        Intervals in the user's file.
    skipped : int
        How many were left out (``--skip-invalid``).
    invalid_bed : Path or None
        Where they are listed.
    resized : int
        Intervals the dataloader centres on the model's length.
    """

    load_args: dict
    names: list[str] | None = None
    total: int = 0
    skipped: int = 0
    invalid_bed: Path | None = None
    resized: int = 0
    _keep: Any = field(default=None, repr=False)   # the temporary folder of a rewritten BED


def invalid_bed_path(out_path: Path) -> Path:
    """``OUT.invalid.bed`` beside the score file ``OUT.h5``.

    Parameters
    ----------
    out_path : Path
        The score file.

    Returns
    -------
    Path
    """
    return out_path.with_name(out_path.stem + ".invalid.bed")


def _write_invalid(path: Path, bad: list[tuple[BedLine, str]]) -> None:
    """The invalid lines as they were, the reason in one last column (written whole, then
    renamed into place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.kd-tmp")
    try:
        with open(tmp, "w") as f:
            for b, why in bad:
                f.write("\t".join(b.fields) + "\t" + why.replace("\t", " ") + "\n")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {describe(e, 120)}") from e


def _summary(bad: list[tuple[BedLine, str]], total: int) -> tuple[str, str]:
    """(``'N of M intervals'``, ``'(counts by kind): the first few with their reasons'``)."""
    kinds: dict[str, int] = {}
    for _, why in bad:
        kind = ("not in the FASTA" if "not in the FASTA" in why else
                "past a chromosome end" if "past the end" in why else
                "before a chromosome start" if "before the start" in why or "negative" in why
                else "empty or reversed")
        kinds[kind] = kinds.get(kind, 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in kinds.items())
    shown = "; ".join(f"{b.where()}: {why}" for b, why in bad[:SHOWN])
    more = f"; {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    return f"{len(bad)} of {total} intervals", f"({counts}): {shown}{more}"


def _strand_column(dataloader, args: Mapping[str, Any]) -> int | None:
    """The columns a kipoiseq interval dataloader reads as the interval (6 where it uses the
    strand, else 3); ``None`` where that cannot be told from its arguments."""
    declared = getattr(dataloader, "args", None) or {}
    if "use_strand" not in declared:
        return None
    if "use_strand" in args:
        return 6 if args["use_strand"] else 3
    from kipoi_utils.utils import default_kwargs

    try:
        return 6 if default_kwargs(dataloader).get("use_strand") else 3
    except Exception:
        return None


def _kipoiseq_chrom(dataloader, args: Mapping[str, Any], first: str):
    """How kipoiseq renames chromosomes (``num_chr_fasta``): judged on the file's first line,
    'chr' is stripped (True) or added (False) for every line; ``None`` where it renames none."""
    declared = getattr(dataloader, "args", None) or {}
    if "num_chr_fasta" not in declared:
        return None
    if "num_chr_fasta" in args:
        num_chr = bool(args["num_chr_fasta"])
    else:
        from kipoi_utils.utils import default_kwargs

        try:
            num_chr = bool(default_kwargs(dataloader).get("num_chr_fasta"))
        except Exception:
            return None
    if num_chr and first.startswith("chr"):
        return lambda c: c[3:] if c.startswith("chr") else c
    if not num_chr and not first.startswith("chr"):
        return lambda c: "chr" + c
    return None


def _reads_as_given(bed: BedFile, columns: int | None) -> bool:
    """Whether kipoiseq reads ``bed`` as it is: no header lines, and exactly the columns it
    takes as the interval (more would be read as float labels, fewer refused)."""
    if bed.other_lines:
        return False
    return columns is None or all(len(b.fields) == columns for b in bed.lines)


def _kipoiseq_line(b: BedLine, columns: int | None) -> str:
    if columns == 3:
        return "\t".join(b.fields[:3])
    if columns == 6:
        f = list(b.fields[:6]) + [""] * (6 - min(6, len(b.fields)))
        name = f[3] or "."
        score = f[4] or "0"
        strand = f[5] if f[5] in ("+", "-", ".") else "+"
        return "\t".join([*f[:3], name, score, strand])
    return "\t".join(b.fields)


def prepare(args: Mapping[str, Any], dataloader, length: int | None, out_path: Path,
            skip_invalid: bool, reads_every_line: bool) -> Intervals:
    """Check the intervals of a run and make the dataloader's arguments.

    Parameters
    ----------
    args: the user's dataloader arguments (checked to exist by
        :func:`~kipoi_deeplift.kipoi.preflight.check_arguments`).
    dataloader: the dataloader class (its declared arguments and defaults are read).
    length: the model's sequence length (intervals of another width are centred on it).
    out_path: the score file; invalid intervals go to ``OUT.invalid.bed`` beside it.
    skip_invalid: leave invalid intervals out (else refuse the run, in one line).
    reads_every_line: a kipoiseq dataloader (rewritten BED where it would not read the file).
    """
    load = dict(args)
    fasta_key = find_key(args, "fasta")
    bed_key = find_key(args, "interval", "bed")
    if fasta_key is not None and os.path.exists(args[fasta_key]):
        load[fasta_key] = indexed_fasta(args[fasta_key])
    if bed_key is None:
        return Intervals(load, total=-1)
    bed = read_bed(args[bed_key])
    if not bed.lines:
        raise UserError(f"the intervals file {args[bed_key]!r} has no intervals")
    total = len(bed.lines)
    report = invalid_bed_path(out_path)
    bad: list[tuple[BedLine, str]] = []
    if fasta_key is not None:
        try:
            sizes = fasta_sizes(args[fasta_key])
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"cannot read the FASTA file {args[fasta_key]!r}: "
                            f"{describe(e, 200)}") from e
        rename = _kipoiseq_chrom(dataloader, args, bed.lines[0].chrom) \
            if reads_every_line else None
        bad = [(b, why) for b in bed.lines
               for why in [problem(b, sizes, length, rename(b.chrom) if rename else None)]
               if why]
    if bad:
        _write_invalid(report, bad)
        count, details = _summary(bad, total)
        if not skip_invalid or len(bad) == total:
            way = ("fix or remove them, or add --skip-invalid to score the rest"
                   if len(bad) < total else "none is left to score")
            raise UserError(f"{count} do not fit the genome {details}; all are listed in "
                            f"{report}: {way}")
        warnings.warn(f"skipped {count} that do not fit the genome {details} (all listed in "
                      f"{report}; counted in the score file's 'skipped_invalid' attribute)",
                      Notice, stacklevel=3)
    elif report.exists():      # an earlier run's list would say this file has bad intervals
        report.unlink()
    dropped = {id(b) for b, _ in bad}
    kept = [b for b in bed.lines if id(b) not in dropped]
    resized = sum(1 for b in kept if length and b.end - b.start != length)
    out = Intervals(load, total=total, skipped=len(bad), invalid_bed=report if bad else None,
                    resized=resized)
    columns = _strand_column(dataloader, args) if reads_every_line else None
    if reads_every_line:
        if bed.columns >= 4:
            out.names = [b.fields[3] for b in kept]
        elif bad:       # kipoiseq numbers what it reads: keep the user's interval numbers
            index = {id(b): i for i, b in enumerate(bed.lines)}
            out.names = [str(index[id(b)]) for b in kept]
        if columns == 6 and bed.columns < 6:
            warnings.warn(f"{args[bed_key]} has no strand column (BED{bed.columns}): every "
                          "interval is scored as '+' (the dataloader reverse-complements '-' "
                          "intervals: give chrom, start, end, name, score, strand to score "
                          "either strand)", Notice, stacklevel=3)
    if not bad and (not reads_every_line or _reads_as_given(bed, columns)):
        return out
    folder = tempfile.TemporaryDirectory(prefix="kipoi_deeplift-bed-")
    path = Path(folder.name) / Path(args[bed_key]).name
    with open(path, "w") as f:
        for b in kept:
            f.write((_kipoiseq_line(b, columns) if reads_every_line else "\t".join(b.fields))
                    + "\n")
    out.load_args[bed_key] = str(path)
    out._keep = folder
    return out
