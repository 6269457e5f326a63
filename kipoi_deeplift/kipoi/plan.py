"""A scoring run, planned: the records that flow from preparation to the stream
(:class:`Scorer`: the model's side; :class:`RunPlan`: the whole run, frozen) and the model's
side built from a Kipoi model and the run's options (:func:`scorer`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.engine import DeepLift
from ..errors import UserError
from ..zoo import ZooConfig, function, output_task_names
from .arguments import neurons_for_rank, parse_neurons, tasks_arg
from .data import Data
from .loading import KipoiModel
from .schema import InputPlan, canonical_model, input_labels, plan_inputs, task_names


@dataclass(frozen=True)
class Scorer:
    """What scoring needs of the model.

    Parameters
    ----------
    inputs : InputPlan
        The model's inputs as the schema names them, and which one is the DNA.
    labels : Mapping[str, str]
        Keras input name -> schema name.
    engine : DeepLift
        The engine of the model cut at its scored output.
    tasks : tuple
        The engine's tasks (outputs or hidden neurons), resolved once.
    """

    inputs: InputPlan
    labels: Mapping[str, str]
    engine: DeepLift
    tasks: tuple

    @property
    def by_label(self) -> dict[str, str]:
        """Schema name -> Keras input name.

        Returns
        -------
        dict
        """
        return {v: k for k, v in self.labels.items()}

    @property
    def task_names(self) -> list[str]:
        """The names of the engine's tasks, in order.

        Returns
        -------
        list of str
        """
        return [t.name for t in self.tasks]

    @property
    def dna_label(self) -> str | None:
        """The DNA input's schema name.

        Returns
        -------
        str or None
            ``None`` where the model has none.
        """
        return self.labels.get(self.inputs.dna)


@dataclass(frozen=True)
class RunPlan:
    """One scoring run, prepared and frozen: what was asked, the model, the engine, the data.

    Parameters
    ----------
    options : Options
        What was asked.
    out_path : Path
        The score file.
    model : KipoiModel
    config : ZooConfig or None
        The zoo config applied.
    settings : Mapping
        The layered DeepLIFT settings (keys of :data:`.options.DEFAULTS`).
    scorer : Scorer
    references : Any
        The references as the engine takes them.
    batch_size : int
    data : Data
    hypothetical : bool
        Whether hypothetical contributions are written (asked, or a derived format reads them).
    device : str
        The device computed on (``CPU``, ``GPU:0``...); ``scope``: its TensorFlow scope.
    started : datetime
    t0 : float
        ``time.perf_counter()`` at the start.
    found : tuple
        Interrupted runs' partial files; ``partial``: the one --resume continues.
    attrs : Mapping
        The score file's attributes (provenance).
    members : tuple of (KipoiModel, ZooConfig or None)
        An ensemble's members in order (the first is ``model``); empty for one model.
    strand_plan : StrandPlan or None
        Under ``--strands reverse|both``: the tasks scored on each strand and how the reverse
        strand's are read back (:mod:`.strand_check`); ``None`` for ``forward``.
    """

    options: Any
    out_path: Path
    model: KipoiModel
    config: ZooConfig | None
    settings: Mapping[str, Any]
    scorer: Scorer
    references: Any
    batch_size: int
    data: Data
    hypothetical: bool
    device: str
    scope: Any
    started: datetime
    t0: float
    found: tuple = ()
    partial: Any = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    members: tuple = ()
    strand_plan: Any = None


def scorer(km: KipoiModel, model_defaults: Mapping[str, Any], options, settings: Mapping
           ) -> Scorer:
    """The model cut at its scored output, its DNA input found, the engine and its tasks.

    Parameters
    ----------
    km : KipoiModel
    model_defaults : Mapping
        model.yaml's ``postprocessing: deeplift:`` block over the zoo config's.
    options : Options
    settings : Mapping
        The layered DeepLIFT settings (rule, maxpool, ...).
    """
    from ..backends.tf.graph import cut_at, signature

    keras_model = cut_at(km.keras_model, model_defaults.get("output_layer"))
    if model_defaults.get("profile_head"):
        keras_model = function(model_defaults["profile_head"])(keras_model)
    names, shapes, _, out_shapes = signature(keras_model)
    labels = input_labels(km.schema, names)     # Keras name -> schema name
    by_label = {v: k for k, v in labels.items()}
    # model.yaml's postprocessing names the input for this very file: checked strictly, as
    # --input is. A zoo config covers many files: its input is a hint, used only where the
    # model has it.
    wanted = options.input if options.input is not None else km.postprocessing.get("input")
    if wanted is None and model_defaults.get("input") in set(by_label) | set(names):
        wanted = model_defaults["input"]
    inputs = plan_inputs(km.schema, names, [s[1:] for s in shapes], by_label.get(wanted, wanted))
    scoring_model = canonical_model(keras_model, names, inputs.layouts)
    n_units = sum(int(np.prod(s[1:])) if len(s) > 1 else 1 for s in out_shapes)
    try:
        engine = DeepLift(scoring_model, rule=settings["rule"], maxpool=settings["maxpool"],
                          jit=options.jit,
                          task_names=task_names(km.schema, n_units, km.source_dir) or
                          output_task_names(model_defaults.get("output_names"), out_shapes))
        tasks = chosen_tasks(engine, options)
        for layer in options.layers:
            engine.layer_key(layer)
    except ValueError as e:
        raise UserError(str(e)) from e
    return Scorer(inputs, labels, engine, tuple(tasks))


def chosen_tasks(engine: DeepLift, options) -> list:
    """The tasks: outputs named by --tasks (default all), or --target-layer's neurons.

    Parameters
    ----------
    engine : DeepLift
        The engine of the model.
    options : Options
        The run's options (``tasks``, ``target_layer``, ``target_neuron``).

    Returns
    -------
    list
        The engine's tasks; ``UserError`` where --target-layer meets an input of unfixed length.
    """
    if options.target_layer is None:
        return engine.select_tasks(tasks_arg(options.tasks, engine.task_names))
    shapes = [tuple(s[1:]) for s in engine.plan.input_shapes]
    if any(d is None for s in shapes for d in s):
        raise UserError("--target-layer needs a model whose input length is fixed")
    rank = len(engine.tensor_shapes([np.zeros((1,) + s, np.float32) for s in shapes])
               [engine.layer_key(options.target_layer)])
    neurons = neurons_for_rank(parse_neurons(options.target_neuron), rank)
    return engine.hidden_tasks(options.target_layer, neurons)
