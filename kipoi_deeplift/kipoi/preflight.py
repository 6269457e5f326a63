"""Checks of a dataloader's arguments before any work: names, files, intervals vs the FASTA.

Kipoi dataloaders fail late and obscurely on bad input (kipoiseq even returns a shorter sequence
for an interval past a chromosome end), so the common mistakes are caught here, each with one
line that says what is wrong and what to do.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

from ..errors import UserError, describe
from ..io.genome import find_arg

_PATHLIKE = re.compile(r"(file|fasta|bed|path|fa)$|^(fasta|intervals|bed|gtf|bigwig)", re.I)


def _unspecified(v) -> bool:
    return type(v).__name__ == "UNSPECIFIED" or v is None


def check_arguments(factory, args: Mapping[str, Any]) -> dict:
    """``args`` checked against the dataloader's declared arguments."""
    declared = dict(getattr(factory, "args", None) or {})
    if declared:
        unknown = [k for k in args if k not in declared]
        if unknown:
            raise UserError(f"the dataloader has no argument {unknown[0]!r}; its arguments: "
                            f"{', '.join(declared)}")
        missing = [k for k, a in declared.items() if not getattr(a, "optional", False)
                   and _unspecified(getattr(a, "default", None)) and k not in args]
        if missing:
            doc = getattr(declared[missing[0]], "doc", "") or ""
            raise UserError(f"the dataloader needs argument {missing[0]!r} ({doc.strip()[:80]}); "
                            "give it in --dataloader-args")
    for k, v in args.items():
        if not _PATHLIKE.search(k):
            continue
        what = "FASTA file" if "fasta" in k.lower() else "file"
        optional = getattr(declared.get(k), "optional", False)
        if v is None and optional:
            continue
        if not isinstance(v, (str, os.PathLike)):
            # JSON null, a number or a YAML value Kipoi read as null: kipoiseq fails on these
            # only in a destructor, with a traceback.
            shown = "null" if v is None else repr(v)
            raise UserError(f"dataloader argument {k!r} must be the path of a {what}, got "
                            f"{shown}")
        if not os.path.exists(v):
            raise UserError(f"dataloader argument {k!r}: {what} {str(v)!r} does not exist")
    return dict(args)


def read_intervals(path: str, headers_ok: bool = True) -> list[tuple[str, int, int]]:
    """(chrom, start, end) of each line of a BED-like file. Comment, track, browser and header
    lines are skipped, or refused when ``headers_ok`` is false (kipoiseq reads every line as an
    interval and then fails with a misleading column count)."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                if not headers_ok and line.strip():
                    raise UserError(f"{path} line {n} is a header or comment "
                                    f"({line.strip()[:30]!r}), which this dataloader reads as an "
                                    "interval: remove such lines (grep -v '^#\\|^track\\|"
                                    "^browser')")
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise UserError(f"{path} line {n}: expected chrom, start, end separated by tabs")
            try:
                out.append((parts[0], int(parts[1]), int(parts[2])))
            except ValueError:
                if n == 1 and headers_ok:      # a header line
                    continue
                if n == 1:
                    raise UserError(f"{path} line 1 is a header ({line.strip()[:30]!r}), which "
                                    "this dataloader reads as an interval: remove it") from None
                raise UserError(f"{path} line {n}: start and end must be integers") from None
    return out


def bed_names(path: str) -> list[str] | None:
    """Column 4 (name) of each interval line of a BED file, or ``None`` where a line has no
    name (kipoiseq drops the column and numbers the intervals '0', '1', ...)."""
    names = []
    try:
        with open(path) as f:
            for line in f:
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 4 or not parts[1].strip().isdigit():
                    if names or len(parts) < 4:
                        return None
                    continue          # a header line
                names.append(parts[3])
    except OSError:
        return None
    return names or None


def resized(args: Mapping[str, Any], length: int | None) -> tuple[int, int]:
    """(intervals whose width is not ``length``, intervals): those the dataloader resizes."""
    bed = find_arg(args, "interval", "bed")
    if bed is None or not length:
        return 0, 0
    intervals = read_intervals(bed)
    return sum(1 for _, start, end in intervals if end - start != length), len(intervals)


def check_intervals(args: Mapping[str, Any], length: int | None,
                    headers_ok: bool = True) -> int:
    """Every interval on a chromosome of the FASTA and inside it (after the dataloader centres
    it on ``length`` bases); returns the number of intervals. ``headers_ok=False`` for
    dataloaders that read every line (kipoiseq's)."""
    bed = find_arg(args, "interval", "bed")
    fasta = find_arg(args, "fasta")
    if bed is None:
        return -1
    intervals = read_intervals(bed, headers_ok)
    if not intervals:
        raise UserError(f"the intervals file {bed!r} has no intervals")
    if fasta is None:
        return len(intervals)
    from ..io.genome import fasta_sizes

    try:
        sizes = fasta_sizes(fasta)
    except Exception as e:
        raise UserError(f"cannot read the FASTA file {fasta!r}: {describe(e, 200)}") from e
    for i, (chrom, start, end) in enumerate(intervals):
        # Counted from 0, as the score file's rows and --example are.
        where = f"interval {i} (from 0; BED {chrom}:{start}-{end})"
        if chrom not in sizes:
            shown = ", ".join(list(sizes)[:10]) + (" ..." if len(sizes) > 10 else "")
            raise UserError(f"{where}: chromosome {chrom!r} is not in the FASTA {fasta!r} "
                            f"(it has {shown})")
        if length and end - start != length:      # the dataloader centres it (kipoiseq)
            centre = (start + end) // 2
            start, end = centre - length // 2, centre + length // 2 + length % 2
        if start < 0 or end > sizes[chrom]:
            raise UserError(f"{where} runs past the end of {chrom} ({sizes[chrom]} bp)"
                            + (f" once centred on the model's {length} bp" if length else "")
                            + "; remove or move it")
    return len(intervals)
