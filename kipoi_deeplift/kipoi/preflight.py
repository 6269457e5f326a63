"""Checks of a dataloader's arguments before any work: names and files (the intervals
against the genome: :mod:`.intervals`).

Kipoi dataloaders fail late and obscurely on bad input, so the common mistakes are caught here,
each with one line that says what is wrong and what to do.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

from ..errors import UserError
from ..io.genome import find_arg

__all__ = ["check_arguments", "find_arg"]

_PATHLIKE = re.compile(r"(file|fasta|bed|path|fa)$|^(fasta|intervals|bed|gtf|bigwig)", re.I)


def _unspecified(v) -> bool:
    return type(v).__name__ == "UNSPECIFIED" or v is None


def check_arguments(factory, args: Mapping[str, Any]) -> dict:
    """``args`` checked against the dataloader's declared arguments.

    Unknown and missing arguments are refused, and every path-like argument must name an
    existing file.

    Parameters
    ----------
    factory : type
        The Kipoi dataloader class (its ``args`` declare the arguments).
    args : Mapping[str, Any]
        The arguments given.

    Returns
    -------
    dict
        ``args`` as a dict; ``UserError`` with one line for the first problem.
    """
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
