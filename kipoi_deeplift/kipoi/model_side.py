"""The model's side of a run, prepared once: the model (or the members of an ensemble) loaded
with its zoo config, the DeepLIFT settings layered over its defaults, the engine built and the
references decided. ``score`` and ``variants`` start here; what they read (a dataloader, a VCF)
is theirs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import UserError, describe
from ..zoo import ZooConfig, score_defaults
from . import options as options_lib
from .arguments import references_arg
from .loading import KipoiModel, load_model
from .plan import Scorer, scorer


@dataclass(frozen=True)
class ModelSide:
    """The model's side of a run.

    Parameters
    ----------
    model : KipoiModel
        The model whose dataloader, schema and name the run uses.
    config : ZooConfig or None
        Its zoo config.
    model_defaults : Mapping
        model.yaml's ``postprocessing: deeplift:`` block over the zoo config's.
    settings : Mapping
        The layered DeepLIFT settings (keys of :data:`.options.DEFAULTS`).
    scorer : Scorer
        Inputs, labels, engine and tasks.
    references : Any
        The references as the engine takes them (a name, or arrays by input).
    """

    model: KipoiModel
    config: ZooConfig | None
    model_defaults: Mapping[str, Any]
    settings: Mapping[str, Any]
    scorer: Scorer
    references: Any


def prepare_model(model: str | KipoiModel, options) -> ModelSide:
    """Load the model, layer the settings, build the engine and decide the references.

    Parameters
    ----------
    model : str or KipoiModel
        A Kipoi model name or directory, or a loaded model.
    options : Options
        The run's options (``source``, ``zoo_config``, ``dataloader``, the DeepLIFT flags).

    Returns
    -------
    ModelSide
    """
    km, config = load_model(model, options.source, options.zoo_config)
    if options.dataloader:
        km.dataloader = other_dataloader(options.dataloader,
                                         options.dataloader_source or km.source)
    model_defaults = {**score_defaults(config), **km.postprocessing}
    settings = options_lib.layered(options, model_defaults)
    side = scorer(km, model_defaults, options, settings)
    references = references_arg(settings["references"], side.by_label, side.inputs.dna,
                                model_defaults.get("references",
                                                   options_lib.DEFAULTS["references"]))
    return ModelSide(km, config, model_defaults, settings, side, references)


def other_dataloader(name: str, source: str):
    """A dataloader other than the model's default, as ``kipoi predict --dataloader``.

    Parameters
    ----------
    name : str
        The dataloader's name in ``source``.
    source : str
        A Kipoi source (``kipoi``, ``dir``, ...).

    Returns
    -------
    Any
        Kipoi's dataloader factory; ``UserError`` where it cannot be loaded.
    """
    import kipoi

    try:
        return kipoi.get_dataloader_factory(name, source)
    except Exception as e:
        raise UserError(f"cannot load dataloader {name!r} from Kipoi source {source!r}: "
                        f"{describe(e)}") from e
