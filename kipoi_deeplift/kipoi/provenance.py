"""What a score file records of the run that made it: its attributes (provenance) and the
``kipoi-deeplift score`` command that reruns it, both from the option table's rows
(:mod:`.options`) and the run's plan."""
from __future__ import annotations

import hashlib
import json
import os
import shlex
from typing import Any

from .._version import __version__
from ..core import references as refs_lib
from ..io import scorefile
from . import options as options_lib
from . import preflight
from .arguments import parse_shard
from .plan import RunPlan

#: What /metadata/orientation holds (an attribute of every file).
ORIENTATION = ("per sequence in /metadata/orientation: genome or reverse_complement, found by "
               "comparing /inputs with the FASTA; unknown (no FASTA, too few called bases, a "
               "palindrome) falls back to /metadata/ranges/strand")


def values(plan: RunPlan) -> dict[str, Any]:
    """Every option's value in this run, by row name, and ``task_names``.

    The values include the layered settings, the tasks the engine resolved, the batch size
    chosen, ...

    Parameters
    ----------
    plan : RunPlan
        The prepared run.

    Returns
    -------
    dict
        Row name -> value.
    """
    o, data, scorer = plan.options, plan.data, plan.scorer
    given = {r.name: getattr(o, r.name, r.field_default) for r in options_lib.SCORE_OPTIONS
             if not r.argument}
    return {**given, **plan.settings,
            "source": plan.model.source, "dataloader_args": data.args,
            "output": str(plan.out_path),
            "tasks": scorer.task_names if o.target_layer is None else None,
            "task_names": scorer.task_names, "input": scorer.dna_label,
            "batch_size": plan.batch_size, "hypothetical": plan.hypothetical,
            "shard": None if o.shard is None else "/".join(map(str, parse_shard(o.shard))),
            "zoo_config": plan.config.name if plan.config else "none",
            "dataloader_source": o.dataloader_source if o.dataloader else None,
            "device": plan.device}


def attributes(plan: RunPlan) -> dict[str, Any]:
    """The score file's attributes.

    What made it (see :data:`scorefile.PROVENANCE`), the options' as their rows record them, and
    the command that reruns it.

    Parameters
    ----------
    plan : RunPlan
        The prepared run.

    Returns
    -------
    dict
        Attribute name -> value (str, int or JSON text).
    """
    data, scorer = plan.data, plan.scorer
    run = values(plan)
    first, total = data.first, data.total
    found = data.intervals
    attrs = {
        "kipoi_deeplift_version": __version__, **model_attributes(plan.model, plan.members),
        "shard_start": first, "shard_stop": first + (total or 0),
        "orientation": ORIENTATION, **versions(), "start_time": plan.started.isoformat(),
        **scorefile.CONVENTIONS, "format_version": scorefile.FORMAT_VERSION,
        "reference_stream": refs_lib.SCORE_STREAM,
        "references_sha256": sha256_of(plan.settings["references"]),
        "intervals_sha256": sha256_of(preflight.find_arg(data.args, "interval", "bed")),
        "skipped_invalid": found.skipped if found is not None else 0,
        "invalid_bed": str(found.invalid_bed or "") if found is not None else "",
        scorefile.TASK_OUTPUTS: task_outputs(scorer),
        **options_lib.attributes(run),
    }
    if plan.members:        # as given: each member finds its own source, config and input
        o = plan.options
        run = {**run, "source": o.source, "zoo_config": o.zoo_config, "input": o.input}
    attrs["command"] = shlex.join(options_lib.command(
        [m.name for m, _ in plan.members] or plan.model.name, run))
    return attrs


def model_attributes(model, members: tuple = ()) -> dict[str, str]:
    """The attributes naming the model: ``model`` and ``weights_sha256``; for an ensemble also
    ``members``.

    Parameters
    ----------
    model : KipoiModel
        The model (an ensemble's first member).
    members : tuple of (KipoiModel, ZooConfig or None)
        An ensemble's members in order; empty for one model.

    Returns
    -------
    dict
        ``model`` (an ensemble's names joined by `` + ``), ``weights_sha256`` (JSON; a list
        for an ensemble) and, for an ensemble, ``members`` (JSON: each member's name, source,
        zoo config and weights' sha256).
    """
    if not members:
        return {"model": model.name, "weights_sha256": json.dumps(model.sha256())}
    listed = [{"model": km.name, "source": km.source,
               "zoo_config": config.name if config else "none",
               "weights_sha256": km.sha256()} for km, config in members]
    return {"model": " + ".join(m["model"] for m in listed),
            "weights_sha256": json.dumps([m["weights_sha256"] for m in listed]),
            "members": json.dumps(listed)}


def task_outputs(scorer) -> str:
    """The :data:`scorefile.TASK_OUTPUTS` attribute: each task's output, the final activation
    its logit is taken before, and that output's units.

    Parameters
    ----------
    scorer : Scorer
        The run's engine and tasks.

    Returns
    -------
    str
        JSON ``{task: [output, "sigmoid" | "softmax" | "", units]}``.
    """
    return json.dumps({t.name: [o, a or "", n] for t in scorer.tasks
                       for o, a, n in [scorer.engine.output_of(t)]})


def sha256_of(path) -> str:
    """sha256 of a file argument (intervals, a references file).

    Parameters
    ----------
    path : str or Any
        A path; anything that is not an existing file gives ``''``.

    Returns
    -------
    str
        The hex digest, or ``''``.
    """
    if not isinstance(path, str) or not os.path.isfile(path):
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """The TensorFlow and Keras versions (results may differ in the last bits between them).

    Returns
    -------
    dict
        ``tensorflow_version`` and ``keras_version``.
    """
    import keras
    import tensorflow as tf

    return {"tensorflow_version": tf.__version__, "keras_version": keras.__version__}
