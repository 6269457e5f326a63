"""What a run decides once, before any pass: the inputs checked, references per input and how
many, and the record (:class:`Settings`) the batch stream reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from . import references as refs
from .tasks import Task


@dataclass(frozen=True)
class Settings:
    """What a run decides once (:meth:`kipoi_deeplift.core.engine.DeepLift.explain` and
    :meth:`~kipoi_deeplift.core.engine.DeepLift.stream` settle it on their first batch).

    Parameters
    ----------
    specs : tuple
        Per input: a reference name or array.
    k : int
        References per sequence.
    n_references : int
        References asked for (``k`` may differ: one for ``zeros``, an array's own count).
    seed : int
        The seed of random references.
    tasks : tuple of Task
        The tasks to explain.
    layers : tuple of str
        Hidden layers whose per-neuron contributions are returned.
    hyp_inputs : tuple of int
        Indices of the inputs with hypothetical contributions.
    dna_inputs : tuple of int
        Indices of the one-hot DNA inputs (as the first batch has them).
    references : str
        What :attr:`Explanation.references` records (a name, or ``array``).
    """

    specs: tuple
    k: int
    n_references: int
    seed: int
    tasks: tuple[Task, ...]
    layers: tuple[str, ...]
    hyp_inputs: tuple[int, ...]
    dna_inputs: tuple[int, ...]
    references: str


def settle_references(xs: Sequence[np.ndarray], names: Sequence[str], references: Any,
                      n_references: Any, n_sequences: int | None) -> tuple[list, int]:
    """What each input's references are made of, and how many per sequence, checked.

    Parameters
    ----------
    xs : sequence of np.ndarray
        The checked inputs (N, ...), in model order.
    names : sequence of str
        The model's input names, in order.
    references : str, np.ndarray, dict or list
        As :meth:`~kipoi_deeplift.core.engine.DeepLift.explain` takes them
        (:func:`reference_specs`).
    n_references : int
        References asked for: a positive integer.
    n_sequences : int or None
        The sequences of the whole run where known (per-sequence reference arrays must cover
        them).

    Returns
    -------
    specs : list
        One reference name or array per input.
    k : int
        References per sequence.
    """
    if isinstance(n_references, bool) or not isinstance(n_references, (int, np.integer)) \
            or n_references < 1:
        raise ValueError(f"n_references must be a positive integer, got {n_references!r}")
    specs = reference_specs(references, xs, names)
    return specs, reference_count(specs, n_references, xs, names, n_sequences)


def settle(xs: Sequence[np.ndarray], specs: Sequence, k: int, references: Any,
           n_references: int, seed: int, tasks: Sequence[Task], layers: Sequence[str],
           hypothetical: bool) -> Settings:
    """A run's :class:`Settings`, its tasks and layers checked already.

    Parameters
    ----------
    xs : sequence of np.ndarray
        The checked inputs (N, ...), in model order.
    specs, k
        What :func:`settle_references` found.
    references : Any
        The references as given (a name is recorded, anything else as ``array``).
    n_references, seed : int
        As given.
    tasks : sequence of Task
        The tasks to explain.
    layers : sequence of str
        Hidden layers whose per-neuron contributions are returned.
    hypothetical : bool
        Whether the DNA inputs get hypothetical contributions.

    Returns
    -------
    Settings
        The run's settings.
    """
    dna = tuple(i for i, v in enumerate(xs) if v.ndim == 3 and refs.is_one_hot(v))
    hyp_inputs = dna if hypothetical else ()
    if hypothetical and not hyp_inputs:
        raise ValueError("hypothetical=True needs a one-hot DNA input of shape (N, L, 4)")
    return Settings(tuple(specs), k, int(n_references), int(seed), tuple(tasks),
                    tuple(layers), hyp_inputs, dna,
                    references if isinstance(references, str) else "array")


def settle_run(model: Any, xs: Sequence[np.ndarray], references: Any, n_references: Any,
               seed: int, tasks: Any, layers: Sequence[str], hypothetical: bool,
               target_layer: str | None, target_neuron: Any,
               n_sequences: int | None = None) -> Settings:
    """Everything a run decides once, checked before any pass, in this order: the references
    (:func:`settle_references`), the tasks and layers (which need the model), the inputs with
    hypothetical contributions (:func:`settle`).

    Parameters
    ----------
    model : DeepLift
        The engine (:class:`kipoi_deeplift.core.engine.DeepLift`): its ``plan``,
        ``hidden_tasks``, ``select_tasks``, ``layer_key`` and ``mode``.
    xs : sequence of np.ndarray
        The checked inputs (N, ...), in model order.
    references, n_references, seed, tasks, layers, hypothetical, target_layer, target_neuron
        As for :meth:`~kipoi_deeplift.core.engine.DeepLift.explain`.
    n_sequences : int, optional
        The sequences of the whole run where known (per-sequence reference arrays must cover
        them).

    Returns
    -------
    Settings
        The run's settings.
    """
    specs, k = settle_references(xs, model.plan.input_names, references, n_references,
                                 n_sequences)
    if target_layer is not None:
        if tasks is not None:
            raise ValueError("give tasks= or target_layer=, not both")
        task_list = model.hidden_tasks(target_layer, target_neuron, xs)
    elif target_neuron is not None:
        raise ValueError("target_neuron= needs target_layer= (the layer it belongs to)")
    else:
        task_list = model.select_tasks(tasks)
    layers = tuple(layers)
    for name in layers:
        model.layer_key(name)
    if layers and model.mode == "ism":
        raise ValueError("in-silico mutagenesis gives no per-neuron contributions: "
                         "drop layers= (or use a DeepLIFT rule)")
    return settle(xs, specs, k, references, n_references, seed, task_list, layers,
                  hypothetical)


def check_inputs(x: Any, names: Sequence[str], shapes: Sequence[tuple]) -> list[np.ndarray]:
    """A batch's inputs as float32 arrays in model order, checked against the model.

    Parameters
    ----------
    x : np.ndarray, dict or list
        An array for a one-input model, else a dict by input name or a list in model order;
        each (N, ...).
    names : sequence of str
        The model's input names, in order.
    shapes : sequence of tuple
        The model's input shapes (batch axis first; ``None`` where not fixed).

    Returns
    -------
    list of np.ndarray
        One float32 array (N, ...) per input, in model order.
    """
    names = list(names)
    if isinstance(x, Mapping):
        missing = [k for k in names if k not in x]
        extra = [k for k in x if k not in names]
        if missing or extra:
            raise ValueError(f"inputs by name must be exactly {names}; missing {missing}, "
                             f"unknown {extra}")
        values = [x[k] for k in names]
    elif isinstance(x, (list, tuple)):
        if len(x) != len(names):
            raise ValueError(f"the model has {len(names)} inputs {names}, got {len(x)} arrays")
        values = list(x)
    else:
        if len(names) != 1:
            raise ValueError(f"the model has {len(names)} inputs {names}: pass a dict by "
                             "input name or a list in that order")
        values = [x]
    out = [_checked(name, v, shape) for name, v, shape in zip(names, values, shapes)]
    if len({v.shape[0] for v in out}) != 1:
        raise ValueError(f"inputs differ in number of sequences: "
                         f"{ {n: v.shape[0] for n, v in zip(names, out)} }")
    if out[0].shape[0] == 0:
        raise ValueError("no sequences to explain (the input is empty)")
    return out


def _checked(name: str, v: Any, shape: tuple) -> np.ndarray:
    """One input as float32, refused when its type, shape or values do not fit."""
    v = np.asarray(v)
    if v.dtype.kind not in "biuf":
        raise TypeError(f"input {name!r} has dtype {v.dtype}; expected numbers "
                        "(e.g. one-hot float32)")
    if v.ndim != len(shape) or any(d is not None and d != s
                                   for d, s in zip(shape[1:], v.shape[1:])):
        want = "(N, " + ", ".join("?" if d is None else str(d) for d in shape[1:]) + ")"
        raise ValueError(f"input {name!r} has shape {v.shape}; the model expects {want}")
    v = v.astype(np.float32, copy=False)  # float32 batches: no copy
    bad = ~np.isfinite(v)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise ValueError(f"input {name!r} contains NaN or inf (first at sequence {first})")
    return v


def reference_specs(references: Any, xs: Sequence[np.ndarray],
                    names: Sequence[str]) -> list:
    """Per input, what its references are made of.

    Parameters
    ----------
    references : str, np.ndarray, dict or list
        A name applied to the one-hot DNA inputs (others get ``zeros``), an array for a
        one-input model, a dict by input name, or a list in model order.
    xs : sequence of np.ndarray
        The checked inputs (N, ...), in model order.
    names : sequence of str
        The model's input names, in order.

    Returns
    -------
    list
        One reference name or array per input, in model order.
    """
    names = list(names)
    if isinstance(references, Mapping):
        unknown = [k for k in references if k not in names]
        if unknown:
            raise ValueError(f"references given for unknown inputs {unknown}; inputs: {names}")
        given = dict(references)
    elif isinstance(references, (list, tuple)) and len(names) > 1:
        if len(references) != len(names):
            raise ValueError(f"references: the model has {len(names)} inputs, got "
                             f"{len(references)}")
        given = dict(zip(names, references))
    elif isinstance(references, str):
        refs.validate_reference_name(references)
        given = {n: references for n, v in zip(names, xs)
                 if refs.is_one_hot(v) and v.ndim == 3}
        if not given and len(names) == 1:
            given = {names[0]: references}   # let the input check explain the failure
    else:
        if len(names) != 1:
            raise ValueError("reference arrays for a model with several inputs must be a "
                             "dict by input name")
        given = {names[0]: references}
    return [given.get(n, "zeros") for n in names]


def reference_count(specs: Sequence, n_references: int, xs: Sequence[np.ndarray],
                    names: Sequence[str], n_sequences: int | None) -> int:
    """References per sequence, the same for every input that has more than one.

    Parameters
    ----------
    specs : sequence
        Per input, a reference name or array (:func:`reference_specs`).
    n_references : int
        References asked for.
    xs : sequence of np.ndarray
        The checked inputs (N, ...), in model order.
    names : sequence of str
        The model's input names, in order.
    n_sequences : int or None
        The sequences of the whole run where known (per-sequence reference arrays must cover
        them).

    Returns
    -------
    int
        The references per sequence, K.
    """
    counts = set()
    for spec, v, name in zip(specs, xs, names):
        c = refs.reference_count(spec, n_references, v.shape[1:])
        if c < 1:
            # Shape errors get their full message from make_references.
            refs.make_references(spec, v[:1], n_references, 0, [0], name)
        if not isinstance(spec, str) and np.ndim(spec) == v.ndim + 1 \
                and n_sequences is not None and np.shape(spec)[0] != n_sequences:
            raise ValueError(f"per-sequence references for input {name!r} cover "
                             f"{np.shape(spec)[0]} sequences, the input has {n_sequences}")
        if isinstance(spec, str) and spec == "dinuc-shuffle":
            refs.require_one_hot(v, name)
        counts.add(c)
    if len(counts - {1}) > 1:
        raise ValueError(f"inputs have different numbers of references {sorted(counts)}")
    return max(counts)
