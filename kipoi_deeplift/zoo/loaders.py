"""How a zoo config's models are loaded where Kipoi's own way does not apply (the *load* step's
zoo side): a :class:`Loader` built from the config, and the Kipoi model classes that stand in
for Kipoi's PyTorch class (rebuilt in Keras 3) and for a model's own class while Kipoi loads.

Reading a Keras file is the Kipoi adapter's (``kipoi_deeplift.kipoi.loading.load_keras``): it
is passed in as ``read``, so that the zoo does not import the adapter that imports it.
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import UserError
from .config import ZooConfig, function

#: ``read(weights, arch=None, custom_objects=None) -> Keras model``
KerasReader = Callable[..., Any]


@dataclass(frozen=True)
class Loader:
    """How a model's files become a Keras model, where Kipoi's own way does not apply.

    Chosen by a zoo config: a ``rebuild`` of the published files, and/or the model's own Kipoi
    class (``defined_as`` in model.yaml, e.g. ``model.BPNetOldSeqModel``) replaced by one that
    reads the Keras file that class would read, without importing the model's model.py (whose
    TensorFlow 1 / Keras 2 imports do not run on this stack).

    Parameters
    ----------
    rebuild : callable or None
        ``rebuild(weights, arch=...) -> Keras model``.
    kipoi_class : str or None
        Kipoi's ``defined_as`` replaced (a glob).
    weights_arg : str, default "weights"
        That class's argument holding the Keras file.
    arch_arg : str or None
        ... and the one holding an architecture JSON.
    then : callable or None
        ``then(Keras model, model directory) -> Keras model``.
    """

    rebuild: Callable | None = None      # (weights, arch=...) -> Keras model
    kipoi_class: str | None = None       # Kipoi's ``defined_as`` replaced (a glob)
    weights_arg: str = "weights"         # that class's argument holding the Keras file
    arch_arg: str | None = None          # ... and the one holding an architecture JSON
    then: Callable | None = None         # (Keras model, model directory) -> Keras model

    def replaces(self, defined_as: str | None) -> bool:
        """Whether Kipoi's ``defined_as`` is the class this loader stands in for.

        Parameters
        ----------
        defined_as : str or None
            ``defined_as`` in model.yaml.

        Returns
        -------
        bool
        """
        return bool(self.kipoi_class and defined_as and
                    fnmatch.fnmatch(defined_as, self.kipoi_class))

    def keras_model(self, weights: str, arch: str | None = None,
                    custom_objects: str | None = None, read: KerasReader | None = None):
        """The Keras model of these files (in the model's directory: Kipoi loads there).

        Parameters
        ----------
        weights, arch, custom_objects : str
            The files Kipoi's model arguments name.
        read : callable, optional
            How a Keras file is read where there is no ``rebuild``
            (``kipoi_deeplift.kipoi.loading.load_keras``).

        Returns
        -------
        keras.Model
            The rebuilt or read model, ``then`` applied.
        """
        if self.rebuild:
            model = self.rebuild(weights, **({"arch": arch} if arch else {}))
        elif read is None:
            raise ValueError("a Loader without a rebuild needs read= to read the Keras file")
        else:
            model = read(weights, arch, custom_objects)
        return self.then(model, os.getcwd()) if self.then else model


def loader(cfg: ZooConfig | None) -> Loader | None:
    """How the config's models are loaded: its ``rebuild:`` and ``kipoi_class:``.

    ``kipoi_class:`` is the model's own Kipoi class that this package reads instead:
    ``defined_as``, the argument holding the Keras file, an architecture argument, a function
    applied to the loaded model.

    Parameters
    ----------
    cfg : ZooConfig or None
        The config.

    Returns
    -------
    Loader or None
        ``None`` for no config.
    """
    if not cfg:
        return None
    own = cfg.kipoi_class
    return Loader(rebuild=function(cfg.rebuild) if cfg.rebuild else None,
                  kipoi_class=own.defined_as if own else None,
                  weights_arg=own.weights if own else "weights",
                  arch_arg=own.arch if own else None,
                  then=function(own.then) if own and own.then else None)


def own_class(loader: Loader, read: KerasReader):
    """A kipoi BaseModel standing in for a model's own class (``loader.kipoi_class``).

    It takes that class's arguments and reads the Keras file named by ``loader.weights_arg``.

    Parameters
    ----------
    loader : Loader
        The config's loader.
    read : callable
        How a Keras file is read (``kipoi_deeplift.kipoi.loading.load_keras``).

    Returns
    -------
    type
        A subclass of ``kipoi.model.BaseModel``.
    """
    import kipoi.model

    class DeepliftOwnClassModel(kipoi.model.BaseModel):
        """A model's own Kipoi class, read as the Keras model it wraps."""
        MODEL_PACKAGE = "keras"

        def __init__(self, **args):
            if loader.weights_arg not in args:
                raise UserError(f"model.yaml gives {sorted(args)} but the zoo config reads "
                                f"the Keras file from argument {loader.weights_arg!r}")
            self.weights = args[loader.weights_arg]
            self.arch = args.get(loader.arch_arg) if loader.arch_arg else None
            self.model = loader.keras_model(self.weights, self.arch, read=read)

        def predict_on_batch(self, x):
            """Predictions of the Keras model for one dataloader batch ``x``."""
            return self.model.predict_on_batch(x)

    return DeepliftOwnClassModel


def torch_class(loader: Loader):
    """A kipoi BaseModel with PyTorchModel's arguments, whose model is a Keras 3 rebuild.

    The zoo config's rebuild reads the state dict in ``weights`` (torch only reads the file;
    the module file is not run).

    Parameters
    ----------
    loader : Loader
        The config's loader, with a ``rebuild``.

    Returns
    -------
    type
        A subclass of ``kipoi.model.BaseModel``.
    """
    import kipoi.model

    class DeepliftRebuiltTorchModel(kipoi.model.BaseModel):
        """Kipoi's PyTorch model class, rebuilt in Keras 3 from the published state dict."""
        MODEL_PACKAGE = "pytorch"

        def __init__(self, weights, module_class=None, module_kwargs=None, module_obj=None,
                     module_file=None, auto_use_cuda=True):
            self.weights = weights
            self.model = loader.rebuild(weights)

        def predict_on_batch(self, x):
            """Predictions of the Keras rebuild for one dataloader batch ``x``."""
            return self.model.predict_on_batch(x)

    return DeepliftRebuiltTorchModel


@contextlib.contextmanager
def standing_in(loader: Loader, read: KerasReader) -> Iterator[None]:
    """While Kipoi loads a model, its classes replaced by this package's.

    Its PyTorch model class is replaced by the rebuild (where ``loader`` has one), and the
    model's own class by :func:`own_class` where ``loader`` stands in for it (Kipoi imports
    ``defined_as`` through ``kipoi.model.load_obj``).

    Parameters
    ----------
    loader : Loader
        The config's loader.
    read : callable
        How a Keras file is read (``kipoi_deeplift.kipoi.loading.load_keras``).

    Yields
    ------
    None
    """
    import kipoi.model

    torch_cls = torch_class(loader) if loader.rebuild else kipoi.model.PyTorchModel
    own_cls = own_class(loader, read)
    original_load_obj = kipoi.model.load_obj

    def load_obj(name: str):
        return own_cls if loader.replaces(name) else original_load_obj(name)

    saved = (kipoi.model.AVAILABLE_MODELS["pytorch"], kipoi.model.PyTorchModel)
    kipoi.model.AVAILABLE_MODELS["pytorch"] = kipoi.model.PyTorchModel = torch_cls
    kipoi.model.load_obj = load_obj
    try:
        yield
    finally:
        kipoi.model.AVAILABLE_MODELS["pytorch"], kipoi.model.PyTorchModel = saved
        kipoi.model.load_obj = original_load_obj
