"""The model's side of a run, prepared once: the model (or the members of an ensemble) loaded
with its zoo config, the DeepLIFT settings layered over its defaults, the engine built and the
references decided. ``score`` and ``variants`` start here; what they read (a dataloader, a VCF)
is theirs."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

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
    members : tuple of (KipoiModel, ZooConfig or None)
        An ensemble's members, in order (the first is ``model``); empty for one model.
    """

    model: KipoiModel
    config: ZooConfig | None
    model_defaults: Mapping[str, Any]
    settings: Mapping[str, Any]
    scorer: Scorer
    references: Any
    members: tuple = ()


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


def prepare_models(models: str | KipoiModel | Sequence[str | KipoiModel], options
                   ) -> ModelSide:
    """One model as :func:`prepare_model`, or several as an ensemble.

    The first member's dataloader, schema, DeepLIFT settings and references are the run's; each
    member is cut at its own scored output and loaded with its own zoo config; the engine is
    an :class:`~kipoi_deeplift.core.ensemble.Ensemble` whose tasks are the first member's,
    found by name in the others.

    Parameters
    ----------
    models : str, PathLike, KipoiModel or a sequence of them
        Kipoi model names or directories, or loaded models.
    options : Options
        The run's options; ``--input`` names the first member's DNA input (the others' are
        found from their schemas), ``--source`` and ``--zoo-config`` apply to every member.

    Returns
    -------
    ModelSide
        ``members`` lists every member's model and config (empty for one model).
    """
    models = [models] if isinstance(models, (str, os.PathLike, KipoiModel)) else list(models)
    if not models:
        raise UserError("no model given: name a Kipoi model or a model directory")
    if len(models) == 1:
        if options.keep_members:
            raise UserError("--keep-members needs several models (an ensemble): give two or "
                            "more MODEL names")
        return prepare_model(models[0], options)
    if options.layers or options.target_layer is not None:
        raise UserError("an ensemble explains its outputs only: hidden layers (--layers, "
                        "--target-layer) are each member's own; score the members one by one")
    first = prepare_model(models[0], options)
    # The first member's method and max-pooling mode are every member's (a member's own
    # defaults would make the mean a mix, and the file could record only one); the others'
    # tasks are found by the first's names (an index of --tasks could name another task
    # there), their DNA input by their own schema.
    own = replace(options, tasks=None, dataloader=None, input=None,
                  rule=first.settings["rule"], maxpool=first.settings["maxpool"])
    rest = [prepare_model(m, own) for m in models[1:]]
    sides = [first, *rest]
    names = _member_names([s.model.name for s in sides])
    if options.strands != "forward":
        _same_strand_channels(sides, names)
    from ..core.ensemble import Ensemble

    try:
        engine = Ensemble([s.scorer.engine for s in sides], names,
                          keep_members=options.keep_members)
        tasks = engine.select_tasks(list(first.scorer.tasks))
    except ValueError as e:
        raise UserError(str(e)) from e
    dna = [s.scorer.inputs.dna is not None for s in sides]
    if any(dna) and not all(dna):
        odd = ", ".join(n for n, d in zip(names, dna) if not d)
        raise UserError(f"the members' inputs differ: {odd} has no one-hot DNA input; an "
                        "ensemble's members read the same sequences")
    scorer = replace(first.scorer, engine=engine, tasks=tuple(tasks))
    return replace(first, scorer=scorer,
                   members=tuple((s.model, s.config) for s in sides))


def _same_strand_channels(sides: Sequence[ModelSide], names: Sequence[str]) -> None:
    """Refuse members that declare different ``strand_channels`` (one mapping reads every
    member's reverse strand back)."""
    declared = [s.model_defaults.get("strand_channels") for s in sides]
    if any(d != declared[0] for d in declared[1:]):
        listed = "; ".join(f"{n}: {d}" for n, d in zip(names, declared))
        raise UserError(f"--strands: the members declare different strand_channels ({listed})"
                        "; an ensemble's members read their strands alike")


def _member_names(names: Sequence[str]) -> list[str]:
    """The members' names, numbered where one model is given twice (folds of one name)."""
    return [n if names.count(n) == 1 else f"{n} #{i}" for i, n in enumerate(names)]


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
