"""What an explanation is about: model output units and hidden neurons, as typed records.

A :class:`Task` carries its layer (or output) and its neuron index as fields; its
:attr:`Task.name` is derived from them (or given, for output units), and is what score files
record, so its spelling is fixed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Task:
    """One scalar unit to explain: a model output's unit, or a hidden neuron (or a sum of
    hidden neurons).

    Parameters
    ----------
    layer : str
        The model output's name, or the hidden layer's.
    index : tuple of (int or None)
        The unit's index within that tensor's shape (batch axis excluded); for a hidden task
        ``None`` at an axis sums the neurons along it, e.g. ``(None, 3)``: filter 3 at every
        position.
    key : int
        The backend plan's key of that tensor.
    unit : int or tuple of int
        The flat index within that tensor, or the flat indices whose neurons are summed.
    label : str or None
        An output unit's name (the output's own, its index, or one given with ``task_names``);
        ``None`` for a hidden task, whose name is ``layer[index]``.
    """

    layer: str
    index: tuple[int | None, ...]
    key: int
    unit: int | tuple[int, ...]
    label: str | None = None

    @property
    def hidden(self) -> bool:
        """Whether the task is a hidden layer's neuron(s), not a model output's unit.

        Returns
        -------
        bool
            True when ``label`` is ``None``.
        """
        return self.label is None

    @property
    def name(self) -> str:
        """The task's name as score files record it.

        Returns
        -------
        str
            An output unit's label, or ``layer[i,j]`` for a hidden neuron (``*`` at a summed axis).
        """
        if self.label is not None:
            return self.label
        return f"{self.layer}[{','.join('*' if i is None else str(i) for i in self.index)}]"


def output_tasks(keys: Sequence[int], names: Sequence[str], shapes: Sequence[tuple],
                 task_names: Sequence[str] | None = None) -> list[Task]:
    """One task per unit of every model output, in output order.

    Parameters
    ----------
    keys, names, shapes : sequence
        Per model output: its plan key, its name and its shape (batch axis first).
    task_names : sequence of str, optional
        A name for every unit of every output, in order. By default a one-unit output is named
        after the output, and the units of a multi-unit output by their flat index (prefixed
        by ``output_`` where the model has several outputs).

    Returns
    -------
    list of Task
        One per output unit.
    """
    tasks = []
    single = len(names) == 1
    for key, name, shape in zip(keys, names, shapes):
        inner = tuple(shape[1:])
        units = int(np.prod(list(inner))) if len(shape) > 1 else 1
        for u in range(units):
            label = name if units == 1 else str(u) if single else f"{name}_{u}"
            index = tuple(int(i) for i in np.unravel_index(u, inner)) if inner else ()
            tasks.append(Task(name, index, key, u, label))
    if task_names is not None:
        task_names = list(task_names)
        if len(task_names) != len(tasks):
            raise ValueError(f"task_names has {len(task_names)} names; the model has "
                             f"{len(tasks)} output units")
        tasks = [Task(t.layer, t.index, t.key, t.unit, str(nm))
                 for nm, t in zip(task_names, tasks)]
    return tasks


def neuron_tasks(layer: str, key: int, shape: tuple, neuron: Any) -> list[Task]:
    """Tasks for neurons of a hidden layer.

    Parameters
    ----------
    layer : str
        The layer's name.
    key : int
        The plan key of its output.
    shape : tuple of int
        Its output's shape, batch axis excluded.
    neuron : int, tuple, np.ndarray or list of them
        A flat index, an index tuple of length ``len(shape)`` (``None`` at an axis sums the
        neurons along it), or a list of them.

    Returns
    -------
    list of Task
        One per neuron (or per sum of neurons) given.
    """
    size = int(np.prod(shape))
    if neuron is None:
        raise ValueError(f"target_layer={layer!r} needs target_neuron= (a flat index < "
                         f"{size} or an index tuple within shape {shape})")
    many = isinstance(neuron, list) or (isinstance(neuron, np.ndarray) and neuron.ndim > 0
                                        and not isinstance(neuron, tuple))
    return [_neuron_task(layer, key, shape, size, idx)
            for idx in (list(neuron) if many else [neuron])]


def _neuron_task(layer: str, key: int, shape: tuple, size: int, idx: Any) -> Task:
    """The task of one flat index or index tuple ``idx`` of a hidden layer."""
    if isinstance(idx, (tuple, np.ndarray)) and len(idx) == len(shape):
        fixed = tuple(None if i is None else int(i) for i in idx)
        if any(i is not None and not 0 <= i < d for i, d in zip(fixed, shape)):
            raise ValueError(f"target_neuron {tuple(idx)} is outside layer {layer!r}'s "
                             f"output shape {shape}")
        grid = np.indices(shape).reshape(len(shape), -1)
        keep = np.ones(grid.shape[1], bool)
        for axis, i in enumerate(fixed):
            if i is not None:
                keep &= grid[axis] == i
        flats = tuple(int(f) for f in np.flatnonzero(keep))
        return Task(layer, fixed, key, flats[0] if len(flats) == 1 else flats)
    if isinstance(idx, (int, np.integer)) and not isinstance(idx, bool):
        if not 0 <= int(idx) < size:
            raise ValueError(f"target_neuron {int(idx)} out of range: layer {layer!r} "
                             f"has {size} neurons (shape {shape})")
        unit = int(idx)
        return Task(layer, tuple(int(i) for i in np.unravel_index(unit, shape)), key, unit)
    raise ValueError(f"target_neuron {idx!r}: give a flat index or an index tuple "
                     f"of length {len(shape)} (layer {layer!r} has shape {shape})")


def output_of(task: Task, keys: Sequence[int], shapes: Sequence[tuple],
              final_activations: Any) -> tuple[str, str | None, int]:
    """Where ``task`` is scored (:meth:`kipoi_deeplift.core.engine.DeepLift.output_of`).

    Parameters
    ----------
    task : Task
        An output's or a hidden neuron's task.
    keys, shapes : sequence
        Per model output: its plan key and its shape (batch axis first).
    final_activations : callable
        ``final_activations() -> dict`` of output key -> ``sigmoid``/``softmax`` (the
        backend's), called for an output's task.

    Returns
    -------
    tuple of (str, str or None, int)
        The output or hidden layer; its final activation or ``None``; its number of units
        (1 for a hidden neuron).
    """
    if task.hidden:
        return task.layer, None, 1
    for key, shape in zip(keys, shapes):
        if key == task.key:
            units = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            return task.layer, final_activations().get(key), units
    raise ValueError(f"task {task.name!r} is not one of this model's outputs")


def select(tasks: Sequence[Task], wanted: Any, hidden_keys: Sequence[int]) -> list[Task]:
    """The tasks ``wanted`` of a model whose output tasks are ``tasks``.

    Parameters
    ----------
    tasks : sequence of Task
        The model's output tasks, in order.
    wanted : None, int, str, Task or a sequence of them
        Task names, indices into ``tasks``, or :class:`Task` objects of this model (an output's,
        or a hidden neuron's whose key is among ``hidden_keys``); ``None``: all of ``tasks``.
    hidden_keys : sequence of int
        The plan keys of the model's layer outputs.

    Returns
    -------
    list of Task
        The tasks chosen, in the order given.
    """
    if wanted is None:
        return list(tasks)
    if isinstance(wanted, (str, int, np.integer, Task)):
        wanted = [wanted]
    by_name = {t.name: t for t in tasks}
    chosen = []
    for t in wanted:
        if isinstance(t, Task) and (t in tasks or t.key in hidden_keys):
            chosen.append(t)
        elif isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            if not -len(tasks) <= t < len(tasks):
                raise ValueError(f"task index {t} out of range: the model has "
                                 f"{len(tasks)} tasks")
            chosen.append(tasks[t])
        elif str(t) in by_name:
            chosen.append(by_name[str(t)])
        else:
            shown = ", ".join(list(by_name)[:20]) + (" ..." if len(by_name) > 20 else "")
            raise ValueError(f"unknown task {t!r}; tasks: {shown}")
    if not chosen:
        raise ValueError("no tasks selected")
    return chosen
