"""Loading Kipoi models: Kipoi resolves sources, downloads, model.yaml and dataloaders; the Keras
files are read by this package, because Kipoi 0.8's own Keras loader fails on Keras 3.

Legacy files (Keras 1/2 JSON architectures, weights-only or full HDF5) are read with tf_keras;
native ``.keras`` files with Keras 3 (:func:`load_keras`, in :mod:`.keras_files`, which Kipoi
is handed here while it loads).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import UserError, describe
from ..quiet import captured_stderr
from ..zoo import Loader, ZooConfig, identify, loader as zoo_loader
from ..zoo.loaders import standing_in
from .keras_files import ZOO_HINT, load_keras

__all__ = ["ZOO_HINT", "KipoiModel", "UnloadableDataloader", "describe_model", "load_keras",
           "load_kipoi_model", "load_model", "looks_like_path", "refusal"]


def _kipoi_keras_class(loader: Loader):
    """A kipoi BaseModel with KerasModel's arguments that loads through :func:`load_keras`, or
    through a zoo config's ``rebuild(weights)`` for files no Python 3 Keras can read."""
    import kipoi.model

    class DeepliftKerasModel(kipoi.model.BaseModel):
        """Kipoi's Keras model class, loading through this package's Keras 3/tf_keras loader."""
        MODEL_PACKAGE = "keras"

        def __init__(self, weights, arch=None, custom_objects=None, backend=None,
                     image_dim_ordering=None):
            self.weights, self.arch = weights, arch
            self.model = loader.keras_model(weights, arch, custom_objects, read=load_keras)

        def predict_on_batch(self, x):
            """Predictions of the Keras model for one dataloader batch ``x``."""
            return self.model.predict_on_batch(x)

    return DeepliftKerasModel


@contextlib.contextmanager
def _quiet_schema_notes():
    """kipoi_utils warns about every model.yaml field its schema classes do not know (e.g.
    kipoiseq's ``postprocessing``): notes for Kipoi's developers, not for a scoring run."""
    import logging

    log = logging.getLogger("kipoi_utils.external.related.mixins")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _keras_loader_for_kipoi(loader: Loader):
    """Kipoi's Keras model class replaced by ours while Kipoi loads (Kipoi 0.8's fails on
    Keras 3), and the classes ``loader`` stands in for (:func:`.zoo.loaders.standing_in`)."""
    import kipoi.model

    saved = (kipoi.model.AVAILABLE_MODELS["keras"], kipoi.model.KerasModel)
    kipoi.model.AVAILABLE_MODELS["keras"] = kipoi.model.KerasModel = _kipoi_keras_class(loader)
    try:
        with standing_in(loader, load_keras):
            yield
    finally:
        kipoi.model.AVAILABLE_MODELS["keras"], kipoi.model.KerasModel = saved


def _raised_loading_a_dataloader(e: BaseException) -> bool:
    """Whether Kipoi raised ``e`` while it loaded the model's default dataloader (which it does
    before the model's own files)."""
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        path = code.co_filename.replace(os.sep, "/")
        if (code.co_name == "get_dataloader" and path.endswith("/kipoi/data.py")) or \
                (code.co_name == "get" and path.endswith("/kipoi/specs.py")):
            return True
        tb = tb.tb_next
    return False


class UnloadableDataloader:
    """Stands for a model's default dataloader that Kipoi could not load: using it raises the
    reason, and how to score with another dataloader.

    Parameters
    ----------
    model : str
        The Kipoi model's name, as the message names it.
    reason : str
        Why Kipoi could not load the dataloader (the error, in one line).

    Notes
    -----
    Calling it, or reading any attribute but a dunder one, raises ``UserError`` with the
    reason and ``--dataloader`` choices (kipoiseq's ``SeqIntervalDl``, or one of a source).
    """

    def __init__(self, model: str, reason: str):
        self._message = (
            f"the default dataloader of model {model!r} cannot be loaded ({reason}); score "
            "with another one: --dataloader kipoiseq.dataloaders.SeqIntervalDl "
            "--dataloader-source py (kipoiseq's BED + FASTA reader, forward strand unless "
            "\"use_strand\": true) or --dataloader NAME of a Kipoi source")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise UserError(self._message)

    def __call__(self, *args, **kwargs):
        raise UserError(self._message)


@dataclass
class KipoiModel:
    """A Kipoi model ready for scoring: the Keras model and what Kipoi knows about it.

    Parameters
    ----------
    name : str
        The model as given: a Kipoi model name or a model directory.
    source : str
        Its Kipoi source (``'kipoi'``, another source's name, or ``'dir'``).
    keras_model : keras.Model or tf_keras.Model
        The model read from its files (or a zoo config's rebuild).
    schema : kipoi.specs.ModelSchema
        model.yaml's inputs and targets.
    dataloader : type or UnloadableDataloader
        The default dataloader class (a Kipoi factory), or a stand-in that raises why it
        could not be loaded.
    source_dir : str
        The local directory of the model's files and model.yaml.
    weight_files : dict of str to str
        Argument name (``weights``, ``arch``) -> local path.
    postprocessing : dict
        model.yaml's ``postprocessing: deeplift:`` block (empty when absent).
    """

    name: str
    source: str
    keras_model: Any
    schema: Any
    dataloader: Any                     # the default dataloader class (a Kipoi factory)
    source_dir: str
    weight_files: dict = field(default_factory=dict)   # argument name -> local path
    postprocessing: dict = field(default_factory=dict)  # model.yaml's postprocessing: deeplift:

    def sha256(self) -> dict:
        """sha256 of each weight/architecture file, for provenance.

        Returns
        -------
        dict of str to str
            Argument name (as :attr:`weight_files`) -> the file's sha256, in hexadecimal.
        """
        out = {}
        for arg, path in self.weight_files.items():
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[arg] = h.hexdigest()
        return out


def looks_like_path(model: str) -> bool:
    """A model given as a path (absolute, ./, ../, ~) rather than a zoo name.

    Parameters
    ----------
    model : str
        The model as given on the command line or to :func:`load_model`.

    Returns
    -------
    bool
        True for a path, or an existing directory; False for a Kipoi model name.
    """
    return model.startswith(("/", "./", "../", "~")) or os.path.isdir(model)


def _source_name(model: str, source: str) -> str:
    if source == "dir":
        path = Path(model)
        if not path.is_dir():
            raise UserError(f"model directory {model!r} does not exist")
        if not (path / "model.yaml").exists():
            raise UserError(f"{model!r} has no model.yaml: give a Kipoi model directory")
    return source


def _postprocessing(source_dir: str) -> dict:
    """The ``postprocessing: deeplift:`` block of model.yaml (Kipoi 0.8 dropped the field)."""
    path = Path(source_dir) / "model.yaml"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    block = (raw.get("postprocessing") or {}).get("deeplift") or {}
    return dict(block) if isinstance(block, dict) else {}


def refusal(model: str, kind: str, descr=None) -> str:
    """Why a model of this Kipoi type cannot be scored, and what to use instead.

    Parameters
    ----------
    model : str
        The model's name, as the message names it.
    kind : str
        Its Kipoi type (model.yaml's ``type``, or the class it is ``defined_as``).
    descr : kipoi.specs.ModelDescription, optional
        Kipoi's description of the model: its ``info.doc`` tells a gapped k-mer SVM.

    Returns
    -------
    str
        One message: what the model is, why DeepLIFT is not applied, and what to use instead
        (GkmExplain, a zoo rebuild, ``kipoi-deeplift zoo list``).
    """
    text = f"{kind} {getattr(getattr(descr, 'info', None), 'doc', '')}".lower()
    if "gkm" in text or "svm" in text:
        return (f"model {model!r} is a gapped k-mer SVM ({kind}): DeepLIFT needs a neural "
                "network's layers and does not apply; GkmExplain (Shrikumar et al. 2019) is "
                "the analogous method for gkm-SVMs")
    if kind in ("tensorflow", "kipoi.model.TensorFlowModel"):
        return (f"model {model!r} is a TensorFlow 1 graph (type: tensorflow): it has no layers "
                "to apply DeepLIFT's rules to, only a frozen graph of operations; it is not "
                f"scored (Basenji and epidermal_basset are such models); {ZOO_HINT}")
    if kind in ("pytorch", "kipoi.model.PyTorchModel"):
        return (f"model {model!r} is a PyTorch model with no Keras rebuild: DeepSEA, Beluga "
                f"and Basset have one (`--zoo-config`); {ZOO_HINT}")
    return (f"model {model!r} is of type {kind!r}; kipoi_deeplift scores Keras models (type: "
            f"keras) and rebuilt PyTorch ones; {ZOO_HINT}")


def describe_model(model: str, source: str) -> Any:
    """Kipoi's description of a model: model.yaml parsed, nothing downloaded (the *describe*
    step of loading, see :func:`load_model`).

    Parameters
    ----------
    model, source : str
        A Kipoi model name and its Kipoi source, or a directory and ``'dir'``.

    Returns
    -------
    kipoi.specs.ModelDescription
        Or ``UserError``: no such directory or model.yaml, or Kipoi cannot find or read it.
    """
    import kipoi

    _source_name(model, source)
    noise: list[str] = []
    try:
        with captured_stderr(noise):
            return kipoi.get_model_descr(model, source=source)
    except UserError:
        raise
    except Exception as e:
        git = [line for line in noise if line.startswith("fatal:")]
        where = f" ({git[-1]})" if git else ""
        what = "read the model.yaml of" if source == "dir" else "find"
        raise UserError(f"cannot {what} model {model!r} in Kipoi source {source!r}{where}: "
                        f"{describe(e)}") from e


def _kipoi_get_model(model: str, source: str, loader: Loader):
    """``kipoi.get_model``, files read as ``loader`` says, dataloader possibly unloadable."""
    import kipoi

    noise: list[str] = []
    try:
        with _keras_loader_for_kipoi(loader), captured_stderr(noise), _quiet_schema_notes():
            return kipoi.get_model(model, source=source, with_dataloader=True)
    except UserError:
        raise
    except Exception as e:
        if not _raised_loading_a_dataloader(e):
            raise UserError(f"cannot load model {model!r}: {describe(e)}") from e
        # The model may load without its default dataloader (Kipoi's 2018 DeepBind one
        # imports genomelake, which does not install on Python 3.11): `--dataloader` can
        # still score it, so the error waits until that dataloader is used.
        try:
            with _keras_loader_for_kipoi(loader), captured_stderr(noise), \
                    _quiet_schema_notes():
                mod = kipoi.get_model(model, source=source, with_dataloader=False)
        except Exception:
            raise UserError(f"cannot load model {model!r}: {describe(e)}") from e
        mod.default_dataloader = UnloadableDataloader(model, describe(e))
        return mod


def load_kipoi_model(model: str, source: str = "kipoi", loader: Loader | None = None,
                     select: Callable | None = None, descr: Any = None) -> KipoiModel:
    """Load a Kipoi model (zoo name with ``source='kipoi'``, or a directory with ``'dir'``).

    Kipoi pulls the model, downloads its files (Zenodo URLs in model.yaml), parses model.yaml
    and resolves the default dataloader; the Keras files are read by :func:`load_keras`, or as
    a zoo config's :class:`~kipoi_deeplift.zoo.Loader` says (a rebuild, the model's own class
    replaced).

    Parameters
    ----------
    model, source : str
        As :func:`describe_model`.
    loader : kipoi_deeplift.zoo.Loader, optional
        How the files are read (default: as Kipoi's model type says).
    select : callable, optional
        ``select(descr) -> Loader or None``, given Kipoi's description of the model: the
        choice can then depend on what the model is, not on how its path was written.
    descr : kipoi.specs.ModelDescription, optional
        :func:`describe_model`'s result, when already at hand.

    Returns
    -------
    KipoiModel
        Or ``UserError``: Kipoi cannot find or load the model, or DeepLIFT does not apply to
        its type.
    """
    if descr is None:
        descr = describe_model(model, source)
    if select is not None:
        loader = select(descr)
    loader = loader or Loader()
    kind = descr.type or descr.defined_as
    torch_rebuilt = loader.rebuild is not None and kind in ("pytorch", "kipoi.model.PyTorchModel")
    if kind not in ("keras", "kipoi.model.KerasModel") and not torch_rebuilt and \
            not loader.replaces(descr.defined_as):
        raise UserError(refusal(model, str(kind), descr))
    mod = _kipoi_get_model(model, source, loader)
    files = {k: os.path.join(mod.source_dir, v) if not os.path.isabs(v) else v
             for k, v in mod.args.items() if k in ("weights", "arch") and isinstance(v, str)}
    return KipoiModel(name=model, source=source, keras_model=mod.model, schema=mod.schema,
                      dataloader=mod.default_dataloader, source_dir=mod.source_dir,
                      weight_files=files, postprocessing=_postprocessing(mod.source_dir))


def load_model(model: str | KipoiModel, source: str | None = None,
               zoo_config: str | None = None) -> tuple[KipoiModel, ZooConfig | None]:
    """A Kipoi model and the zoo config that applies to it, in three steps: *describe* (Kipoi
    reads model.yaml), *identify* (:func:`kipoi_deeplift.zoo.identify`: by ``zoo_config``,
    else the name or path, else model.yaml) and *load* (:func:`load_kipoi_model` with the
    config's :func:`~kipoi_deeplift.zoo.loader`).

    Parameters
    ----------
    model : str or KipoiModel
        A Kipoi model name or directory (a :class:`KipoiModel` is returned, with no config).
    source : str, optional
        The Kipoi source (default: ``dir`` for a path, else ``kipoi``).
    zoo_config : str, optional
        A config name (``--zoo-config``), ``"none"`` for none; default: found.

    Returns
    -------
    (KipoiModel, ZooConfig or None)
    """
    if isinstance(model, KipoiModel):
        return model, None
    name = str(model)
    source = source or ("dir" if looks_like_path(name) else "kipoi")
    descr = describe_model(name, source)
    config = identify(name, descr, zoo_config)
    return load_kipoi_model(name, source, zoo_loader(config), descr=descr), config
