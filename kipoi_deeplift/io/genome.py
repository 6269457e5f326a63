"""The reference genome as the tool reads it (a FASTA file with its pyfaidx index)."""
from __future__ import annotations

from typing import Any, Mapping


def fasta_sizes(path: str) -> dict[str, int]:
    """Chromosome name -> length, from the FASTA's index (pyfaidx builds it if missing)."""
    import pyfaidx

    fa = pyfaidx.Fasta(path)
    try:
        return {name: len(rec) for name, rec in fa.records.items()}
    finally:
        fa.close()


def find_arg(args: Mapping[str, Any], *words) -> str | None:
    """The first string argument whose name contains one of ``words`` (a dataloader's FASTA
    or intervals file)."""
    for k, v in args.items():
        if isinstance(v, str) and any(w in k.lower() for w in words):
            return v
    return None
