"""DeepLIFT importance scores for Kipoi models on TensorFlow 2 / Keras 3.

The names below load on first use (PEP 562), so that ``kipoi-deeplift`` can start, parse its
arguments and quiet TensorFlow's start-up before TensorFlow is imported.
"""
from __future__ import annotations

import importlib

from ._version import __version__
from .errors import UserError

_LAZY = {
    "DeepLift": "engine", "RULES": "engine", "ConvergenceWarning": "engine",
    "Explanation": "result", "dinuc_shuffle": "references", "register_rule": "rules",
    "unregister_rule": "rules", "METHODS": "resolve",
}
_SUBMODULES = {"engine", "references", "rules", "maxima", "nonlinear", "context", "graph",
               "result", "schema", "scoring", "loading", "writers", "preflight", "plots", "cli",
               "resolve", "scorefile", "derived", "resume", "orientation", "genome", "zoo",
               "compare", "merge", "report", "distributed", "batching", "recurrent"}

__all__ = ["DeepLift", "Explanation", "ConvergenceWarning", "METHODS", "RULES", "UserError",
           "cli_main", "dinuc_shuffle", "register_rule", "unregister_rule", "score",
           "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def score(*args, **kwargs):
    """Score a Kipoi model on its dataloader into an HDF5 file (see :func:`scoring.score`)."""
    from .scoring import score as _score

    return _score(*args, **kwargs)


def cli_main(command, raw_args):
    """Kipoi's plugin protocol: ``kipoi deeplift ...`` dispatches here."""
    from .cli import cli_main as _cli_main

    return _cli_main(command, raw_args)
