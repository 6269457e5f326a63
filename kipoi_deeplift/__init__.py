"""DeepLIFT importance scores for Kipoi models on TensorFlow 2 / Keras 3.

Parts: ``core`` (the DeepLIFT engine, framework-neutral), ``backends`` (TensorFlow: the model
walked, rules resolved, passes compiled), ``kipoi`` (Kipoi models, dataloaders, zoo configs and
rebuilt published models), ``io`` (the score file and the files derived from it), ``analysis``
(compare, report, plots), and the command line (``cli``).

The names below load on first use (PEP 562), so that ``kipoi-deeplift`` can start, parse its
arguments and quiet TensorFlow's start-up before TensorFlow is imported.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys

# TensorFlow's C++ INFO/WARNING lines after its start are not for our users; set
# TF_CPP_MIN_LOG_LEVEL yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ._version import __version__  # noqa: E402
from .errors import UserError  # noqa: E402

#: Where each old module name lives now (see the README's architecture section): core (the
#: engine), backends.tf (the framework's side), kipoi (the Kipoi adapter, zoo configs and
#: rebuilds), io (score files and what derives from them), analysis (compare, report, plots).
_WHERE = {
    **{m: "core" for m in ("engine", "backend", "methods", "references", "batching", "result")},
    **{m: "backends.tf" for m in ("graph", "resolve", "rules", "nonlinear", "maxima",
                                  "recurrent", "passes", "context")},
    **{m: "kipoi" for m in ("loading", "schema", "preflight", "options", "zoo", "zoo_layers",
                            "scoring", "distributed", "rebuild")},
    **{m: "io" for m in ("scorefile", "writers", "derived", "orientation", "genome", "merge",
                         "resume")},
    **{m: "analysis" for m in ("compare", "report", "plots")},
}


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import kipoi_deeplift.engine`` / ``from kipoi_deeplift.rebuild import deepbind``: an
    old module path (see :data:`_WHERE`) imports the module where it lives now, as the same
    module object (no second copy with its own state)."""

    @staticmethod
    def _new_name(fullname: str) -> str | None:
        parts = fullname.split(".")
        if len(parts) < 2 or parts[0] != __name__ or parts[1] not in _WHERE:
            return None
        return ".".join([__name__, _WHERE[parts[1]], *parts[1:]])

    def find_spec(self, fullname, path=None, target=None):
        new = self._new_name(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=importlib.util.find_spec(new)
                                               .submodule_search_locations is not None)

    def create_module(self, spec):
        return importlib.import_module(self._new_name(spec.name))

    def exec_module(self, module):
        """Nothing: the module ran when it was imported under its own name."""


if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
    sys.meta_path.insert(0, _OldPaths())

_LAZY = {
    "DeepLift": "core.engine", "RULES": "core.engine", "ConvergenceWarning": "core.engine",
    "Explanation": "core.result", "dinuc_shuffle": "core.references",
    "register_rule": "backends.tf.rules", "unregister_rule": "backends.tf.rules",
    "state_monotone": "backends.tf.rules",
    "METHODS": "core.methods", "Options": "kipoi.options",
}

__all__ = ["DeepLift", "Explanation", "ConvergenceWarning", "METHODS", "Options", "RULES",
           "UserError", "cli_main", "dinuc_shuffle", "register_rule", "unregister_rule",
           "state_monotone", "score",
           "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _WHERE:        # kd.engine, kd.plots, ...: the module, wherever it lives
        return importlib.import_module(f".{_WHERE[name]}.{name}", __name__)
    if name in ("core", "backends", "kipoi", "io", "analysis", "cli", "errors", "quiet"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def score(*args, **kwargs):
    """Score a Kipoi model on its dataloader into an HDF5 file (see :func:`scoring.score`)."""
    from .kipoi.scoring import score as _score
    from .quiet import quiet_tensorflow_start

    quiet_tensorflow_start()
    return _score(*args, **kwargs)


def cli_main(command, raw_args):
    """Kipoi's plugin protocol: ``kipoi deeplift ...`` dispatches here."""
    from .cli import cli_main as _cli_main

    return _cli_main(command, raw_args)
