"""DeepLIFT importance scores for Kipoi models on TensorFlow 2 / Keras 3.

Parts: ``core`` (the DeepLIFT engine, framework-neutral), ``backends`` (TensorFlow: the model
walked, rules resolved, passes compiled), ``kipoi`` (Kipoi models and dataloaders), ``zoo``
(configs for published Kipoi models, their loaders, layers and rebuilds), ``io`` (the score
file and the files derived from it), ``analysis`` (compare, report, plots), and the command
line (``cli``: the entry points and ``score``; ``commands``: the other sub-commands).

The names below load on first use (PEP 562), so that ``kipoi-deeplift`` can start, parse its
arguments and quiet TensorFlow's start-up before TensorFlow is imported.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

# TensorFlow's C++ INFO/WARNING lines after its start are not for our users; set
# TF_CPP_MIN_LOG_LEVEL yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ._version import __version__  # noqa: E402
from .errors import UserError  # noqa: E402

#: Where each old module path lives now (relative to the package; see the README's
#: architecture section): core (the engine), backends.tf (the framework's side), kipoi (the
#: Kipoi adapter), zoo (configs, loaders, layers, rebuilds), io (score files and what derives
#: from them), analysis (compare, report, plots). The zoo moved twice: from the top level
#: (``rebuild``, ``zoo_layers``; ``zoo`` is its own name again) into ``kipoi/``, then out.
_WHERE = {
    **{m: f"core.{m}" for m in ("engine", "backend", "methods", "references", "batching",
                                "result")},
    **{m: f"backends.tf.{m}" for m in ("graph", "resolve", "rules", "nonlinear", "maxima",
                                       "recurrent", "passes", "context")},
    **{m: f"kipoi.{m}" for m in ("loading", "schema", "preflight", "options", "scoring",
                                 "distributed")},
    **{m: f"io.{m}" for m in ("scorefile", "writers", "derived", "orientation", "genome",
                              "merge", "resume")},
    **{m: f"analysis.{m}" for m in ("compare", "report", "plots")},
    "rebuild": "zoo.rebuild", "zoo_layers": "zoo.layers",
    "kipoi.rebuild": "zoo.rebuild", "kipoi.zoo": "zoo", "kipoi.zoo_layers": "zoo.layers",
}

#: Module -> (module, function) run right after it is imported: a part that completes another
#: part's table without that part importing it (the zoo's layers add their rows to the
#: layer-rule table; the backends never import the zoo).
_AFTER_IMPORT = {f"{__name__}.backends.tf.rules": (f"{__name__}.zoo.layers", "register_rules")}


class _Then(importlib.abc.Loader):
    """A module's own loader, then a function of :data:`_AFTER_IMPORT`."""

    def __init__(self, loader, then: tuple[str, str]):
        self._loader, self._then = loader, then

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        getattr(importlib.import_module(self._then[0]), self._then[1])()

    def __getattr__(self, name):       # get_source, get_code, resource readers, ...
        return getattr(self._loader, name)


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import kipoi_deeplift.engine`` / ``from kipoi_deeplift.kipoi.rebuild import
    deepbind``: an old module path (see :data:`_WHERE`) imports the module where it lives
    now, as the same module object (no second copy with its own state). Also runs
    :data:`_AFTER_IMPORT`."""

    @staticmethod
    def _new_name(fullname: str) -> str | None:
        parts = fullname.split(".")
        if parts[0] != __name__:
            return None
        for n in (2, 1):        # the longest old path first: kipoi.zoo before kipoi
            old = ".".join(parts[1:1 + n])
            if len(parts) > n and old in _WHERE:
                return ".".join([__name__, _WHERE[old], *parts[1 + n:]])
        return None

    def find_spec(self, fullname, path=None, target=None):
        if fullname in _AFTER_IMPORT:
            return self._then_spec(fullname, path, target)
        new = self._new_name(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=importlib.util.find_spec(new)
                                               .submodule_search_locations is not None)

    def _then_spec(self, fullname, path, target):
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if finder is not self and find else None
            if spec is not None:
                spec.loader = _Then(spec.loader, _AFTER_IMPORT[fullname])
                return spec
        return None

    def create_module(self, spec):
        module = importlib.import_module(self._new_name(spec.name))
        # importlib sets __spec__ on what this returns (the module's own): kept here and put
        # back in exec_module, so that importlib.resources and reload still find the module.
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        """Nothing runs (the module ran when it was imported under its own name); its own
        ``__spec__`` is put back."""
        if isinstance(module.__spec__.loader_state, importlib.machinery.ModuleSpec):
            module.__spec__ = module.__spec__.loader_state


if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
    sys.meta_path.insert(0, _OldPaths())

_LAZY = {
    "DeepLift": "core.engine", "RULES": "core.engine", "ConvergenceWarning": "core.engine",
    "Explanation": "core.result", "dinuc_shuffle": "core.references",
    "register_rule": "backends.tf.rules", "unregister_rule": "backends.tf.rules",
    "state_monotone": "backends.tf.rules",
    "METHODS": "core.methods", "Options": "kipoi.options", "Ensemble": "core.ensemble",
}

__all__ = ["DeepLift", "Ensemble", "Explanation", "ConvergenceWarning", "METHODS", "Options",
           "RULES",
           "UserError", "cli_main", "dinuc_shuffle", "register_rule", "unregister_rule",
           "state_monotone", "score", "variants",
           "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _WHERE:        # kd.engine, kd.plots, ...: the module, wherever it lives
        return importlib.import_module(f".{_WHERE[name]}", __name__)
    if name in ("core", "backends", "kipoi", "zoo", "io", "analysis", "cli", "errors",
                "quiet"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def score(*args, **kwargs):
    """Score a Kipoi model on its dataloader into an HDF5 file (see :func:`scoring.score`)."""
    from .kipoi.scoring import score as _score
    from .quiet import quiet_tensorflow_start

    quiet_tensorflow_start()
    return _score(*args, **kwargs)


def variants(*args, **kwargs):
    """Score the variants of a VCF with a DNA model into a variants file (see
    :func:`kipoi_deeplift.kipoi.variants.variants`): ``variants(model, vcf=..., fasta=...,
    output=..., summary=..., bigwig=..., width=10, motifs=..., rule=..., ...)``."""
    from .kipoi.variants import variants as _variants
    from .quiet import quiet_tensorflow_start

    quiet_tensorflow_start()
    return _variants(*args, **kwargs)


def cli_main(command, raw_args):
    """Kipoi's plugin protocol: ``kipoi deeplift ...`` dispatches here.

    Parameters
    ----------
    command : str
        The Kipoi sub-command (``'deeplift'``).
    raw_args : sequence of str
        The arguments after ``kipoi deeplift``.

    Returns
    -------
    None
        It never returns: :func:`kipoi_deeplift.cli.cli_main` runs the command line and exits
        with its status.
    """
    from .cli import cli_main as _cli_main

    return _cli_main(command, raw_args)
