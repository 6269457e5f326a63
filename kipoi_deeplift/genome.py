"""The reference genome as the tool reads it (a FASTA file with its pyfaidx index)."""
from __future__ import annotations


def fasta_sizes(path: str) -> dict[str, int]:
    """Chromosome name -> length, from the FASTA's index (pyfaidx builds it if missing)."""
    import pyfaidx

    fa = pyfaidx.Fasta(path)
    try:
        return {name: len(rec) for name, rec in fa.records.items()}
    finally:
        fa.close()
