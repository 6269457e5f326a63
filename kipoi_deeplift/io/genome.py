"""The reference genome as the tool reads it (a FASTA file with its pyfaidx index)."""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

from ..errors import Notice, UserError, describe


def _index_is_fresh(path: str) -> bool:
    fai = path + ".fai"
    return os.path.exists(fai) and os.path.getmtime(fai) >= os.path.getmtime(path)


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "kipoi_deeplift" / "fasta-index"


def indexed_fasta(path: str) -> str:
    """A path to read ``path`` through whose pyfaidx index exists or can be built.

    pyfaidx builds ``FASTA.fai`` beside the FASTA; in a read-only directory (a shared genome
    folder) it fails and names a Python argument a command-line user cannot give. There the
    index is built once in the user's cache, beside a symbolic link to the FASTA, and the
    link's path is returned: every reader (the dataloader included) finds the index there.

    Parameters
    ----------
    path : str
        The FASTA file.

    Returns
    -------
    str
        ``path`` itself where its index is fresh or its folder writable; else the link in
        ``$XDG_CACHE_HOME/kipoi_deeplift/fasta-index`` (keyed by the file's path, size and
        time).

    Raises
    ------
    UserError
        Where the folder is read-only and the index cannot be built in the cache either.
    """
    if _index_is_fresh(path) or os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        return path
    real = os.path.realpath(path)
    st = os.stat(real)
    key = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    link = _cache_root() / key / os.path.basename(path)
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(real)
        if not _index_is_fresh(str(link)):
            import pyfaidx

            pyfaidx.Fasta(str(link)).close()
            warnings.warn(f"the FASTA's folder is read-only and holds no index: built one in "
                          f"{link.parent} (reused by later runs)", Notice, stacklevel=2)
    except OSError as e:
        raise UserError(
            f"the FASTA {path!r} has no index ({os.path.basename(path)}.fai) and its folder is "
            f"read-only; building one in {link.parent} failed too ({describe(e, 80)}): index a "
            "copy in a folder you can write (samtools faidx COPY.fa) and give that, or set "
            "XDG_CACHE_HOME to a folder you can write") from e
    return str(link)


def fasta_sizes(path: str) -> dict[str, int]:
    """Chromosome lengths from the FASTA's index (built if missing; see :func:`indexed_fasta`).

    Parameters
    ----------
    path : str
        The FASTA file.

    Returns
    -------
    dict of str to int
        Chromosome name -> length.
    """
    import pyfaidx

    fa = pyfaidx.Fasta(indexed_fasta(path))
    try:
        return {name: len(rec) for name, rec in fa.records.items()}
    finally:
        fa.close()


def find_arg(args: Mapping[str, Any], *words) -> str | None:
    """The first string argument whose name contains one of ``words``.

    Parameters
    ----------
    args : mapping of str to object
        The dataloader's arguments (name -> value).
    *words : str
        Lower-case parts of a name, e.g. ``"fasta"`` or ``"intervals"``.

    Returns
    -------
    str or None
        The value (a dataloader's FASTA or intervals file), None where no name matches.
    """
    key = find_key(args, *words)
    return None if key is None else args[key]


def find_key(args: Mapping[str, Any], *words) -> str | None:
    """The name of the first string argument whose name contains one of ``words``.

    Parameters
    ----------
    args : mapping of str to object
        The dataloader's arguments (name -> value).
    *words : str
        Lower-case parts of a name.

    Returns
    -------
    str or None
        The argument's name, None where none matches.
    """
    for k, v in args.items():
        if isinstance(v, str) and any(w in k.lower() for w in words):
            return k
    return None
