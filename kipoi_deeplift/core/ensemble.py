"""An ensemble of models explained as one: every member scores the same sequences against the
same references, and the explanation is the members' mean (``score MODEL_A MODEL_B ...``).

The mean's contributions sum to the mean of the members' deltas, so the ensemble's file
explains ``mean_m f_m(x) - mean_m mean_r f_m(r)`` exactly wherever each member's scores are
exact. The members' tasks are matched by name (they may come in another order); each member
runs its own compiled pass on the same batch in turn, fed in lockstep (one reader of the
data, so a dataloader is read once whatever the number of members).
"""
from __future__ import annotations

import queue
from dataclasses import replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import pipeline
from .result import Explanation, mean_of
from .tasks import Task

_END = object()


class Ensemble:
    """Several engines explained as one (the mean of their explanations).

    Parameters
    ----------
    members : sequence of DeepLift
        Two or more engines with the same inputs (number, order and shapes) and the same method.
    names : sequence of str, optional
        The members' names (in errors); default ``member 0``, ``member 1``, ...
    keep_members : bool
        Keep each member's explanation in the result's ``members`` (memory: one more copy of
        the arrays per member).

    Notes
    -----
    The first member's tasks, output names and plan stand for the ensemble's; the others'
    tasks are found by name.
    """

    def __init__(self, members: Sequence[Any], names: Sequence[str] | None = None,
                 keep_members: bool = True):
        members = list(members)
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two models")
        self.members = members
        self.names = list(names) if names is not None else \
            [f"member {i}" for i in range(len(members))]
        first = members[0]
        for m, name in zip(members[1:], self.names[1:]):
            if m.rule != first.rule:
                raise ValueError(f"the members' methods differ ({self.names[0]}: {first.rule}, "
                                 f"{name}: {m.rule}): score an ensemble with one --rule")
            if _shapes(m) != _shapes(first):
                raise ValueError(f"the members' inputs differ ({self.names[0]}: "
                                 f"{_shapes(first)}, {name}: {_shapes(m)}): an ensemble's "
                                 "members read the same sequences")
        self.plan = first.plan
        self.tasks = first.tasks
        self.rule, self.mode, self.maxpool = first.rule, first.mode, first.maxpool
        self.tolerance = min(m.tolerance for m in members)
        self.keep_members = keep_members

    # -- as the engine's -------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The members' method (``rule=``)."""
        return self.rule

    @property
    def exact(self) -> bool:
        """Whether summation-to-delta is expected to hold (every member's is)."""
        return all(m.exact for m in self.members)

    @property
    def input_names(self) -> list[str]:
        """The first member's input names (the others' inputs are taken in the same order)."""
        return list(self.plan.input_names)

    @property
    def task_names(self) -> list[str]:
        """The first member's task names."""
        return [t.name for t in self.tasks]

    def select_tasks(self, tasks: Any) -> list[Task]:
        """The tasks chosen (as :meth:`DeepLift.select_tasks`), found in every member.

        Parameters
        ----------
        tasks : None, int, str, Task or a sequence of them
            Names, indices into the first member's tasks, or its :class:`Task` objects.

        Returns
        -------
        list of Task
            The first member's; ``ValueError`` listing each member's tasks where a member has
            no task of a chosen name.
        """
        chosen = self.members[0].select_tasks(tasks)
        self._member_tasks(chosen)
        return chosen

    def output_of(self, task: Task) -> tuple[str, str | None, int]:
        """Where ``task`` is scored (see :meth:`DeepLift.output_of`).

        Parameters
        ----------
        task : Task
            One of the first member's tasks.

        Returns
        -------
        tuple of (str, str or None, int)
            The first member's output, final activation and units (the members score every
            task at the same activation's logit: :meth:`select_tasks` checks it).
        """
        return self.members[0].output_of(task)

    def layer_key(self, name: str) -> int:
        """Refused: hidden layers are the members' own, not the ensemble's.

        Parameters
        ----------
        name : str
            A layer's name.

        Returns
        -------
        int
            Never: raises ``ValueError``.
        """
        self._no_hidden((name,), None)
        return -1

    def hidden_tasks(self, layer: str, neuron: Any, xs: Any = None) -> list[Task]:
        """Refused, as :meth:`layer_key` (the signature of :meth:`DeepLift.hidden_tasks`).

        Parameters
        ----------
        layer : str
        neuron : int, tuple or list
        xs : optional

        Returns
        -------
        list of Task
            Never: raises ``ValueError``.
        """
        self._no_hidden((), layer)
        return []

    def expect(self, sequences: int) -> None:
        """Announce a run's length to every member (see :meth:`DeepLift.expect`).

        Parameters
        ----------
        sequences : int
            The run's length in sequences.
        """
        for m in self.members:
            m.expect(sequences)

    def batch_size(self, n_references: int, most: int, *args, **kwargs) -> int:
        """The largest batch every member fits (see :meth:`DeepLift.batch_size`).

        Returns
        -------
        int
            The smallest of the members' batch sizes.
        """
        return min(m.batch_size(n_references, most, *args, **kwargs) for m in self.members)

    def blame(self) -> str:
        """Each member's likely cause of summation-to-delta errors (see :meth:`DeepLift.blame`).

        Returns
        -------
        str
            ``name: cause`` for each member, joined by ``; ``.
        """
        return "; ".join(f"{n}: {m.blame()}" for n, m in zip(self.names, self.members))

    # -- explanations ----------------------------------------------------------------------
    def explain(self, x, tasks: Any = None, layers: Sequence[str] = (),
                target_layer: str | None = None, **kwargs) -> Explanation:
        """The members' mean explanation of ``x`` (each member's in ``members``).

        Parameters
        ----------
        x : np.ndarray, dict or list
            As :meth:`DeepLift.explain` takes it; a dict is keyed by the first member's input
            names.
        tasks : optional
            As :meth:`select_tasks`.
        layers, target_layer
            Refused when given (see :meth:`layer_key`).
        **kwargs
            :meth:`DeepLift.explain`'s other arguments (references, n_references, seed,
            hypothetical, batch_size, ...), the same for every member.

        Returns
        -------
        Explanation
            Arrays averaged over the members (:func:`.result.mean_of`), named by the first
            member's tasks.
        """
        self._no_hidden(layers, target_layer)
        xs = self._in_order(x)
        chosen = self.select_tasks(tasks)
        parts = [m.explain(xs, tasks=mt, **self._own(m, kwargs))
                 for m, mt in zip(self.members, self._member_tasks(chosen))]
        return self._mean(parts, chosen)

    def stream(self, batches: Iterable[tuple], batch_size: int, tasks: Any = None,
               layers: Sequence[str] = (), target_layer: str | None = None, depth: int = 2,
               **kwargs) -> Iterator[tuple[Explanation, Any]]:
        """Explain a stream of batches with every member, the members' mean per batch.

        Each member's :meth:`DeepLift.stream` is fed the same items in lockstep (the data
        read once, on a background thread, ``depth`` batches ahead), so the members see the
        same sequences with the same indices and locus draws, hence the same references.

        Parameters
        ----------
        batches : iterable of tuple
            As :meth:`DeepLift.stream` takes them.
        batch_size : int
            The most sequences of a batch.
        tasks, layers, target_layer
            As :meth:`explain`.
        depth : int
            Batches read ahead, and each member's own look-ahead.
        **kwargs
            :meth:`DeepLift.stream`'s other arguments, the same for every member.

        Yields
        ------
        (Explanation, Any)
            Each batch's mean (its members in ``members``) and its tag, in order.
        """
        self._no_hidden(layers, target_layer)
        chosen = self.select_tasks(tasks)
        feeds = [queue.Queue() for _ in self.members]
        streams = [m.stream(_fed(q), batch_size, tasks=mt, depth=depth, **self._own(m, kwargs))
                   for m, q, mt in zip(self.members, feeds, self._member_tasks(chosen))]
        source = pipeline.ahead(self._in_order_item, batches, depth=max(1, depth),
                                name="ensemble-read")

        def feed() -> bool:
            item = next(source, _END)
            for q in feeds:
                q.put(item)
            return item is not _END

        try:
            # Batches handed to the members ahead of the one whose results are awaited, so
            # each member's references for the next batch are made during this pass.
            pending, more = 0, True
            while more and pending < max(1, depth):
                more = feed()
                pending += more
            while pending:
                parts = [next(s) for s in streams]
                pending -= 1
                yield self._mean([p for p, _ in parts], chosen), parts[0][1]
                if more:
                    more = feed()
                    pending += more
        finally:
            for q in feeds:             # members' readers waiting for more: none comes
                q.put(_END)
            for s in streams:
                s.close()
            source.close()

    # -- helpers ---------------------------------------------------------------------------
    def _member_tasks(self, chosen: Sequence[Task]) -> list[list[Task]]:
        names = [t.name for t in chosen]
        per_member = [list(chosen)]
        for m, mname in zip(self.members[1:], self.names[1:]):
            have = set(m.task_names)
            missing = [n for n in names if n not in have]
            if missing:
                raise ValueError(
                    f"the members' tasks differ: {mname} has no task "
                    f"{', '.join(map(repr, missing[:5]))}; {self.names[0]}: "
                    f"{_listed(self.members[0].task_names)}; {mname}: {_listed(m.task_names)}"
                    "; choose tasks every member has (--tasks)")
            own = m.select_tasks(names)
            for mine, theirs in zip(chosen, own):
                _same_output(self.members[0].output_of(mine)[1], m.output_of(theirs)[1],
                             mine.name, self.names[0], mname)
            per_member.append(own)
        return per_member

    def _mean(self, parts: Sequence[Explanation], chosen: Sequence[Task]) -> Explanation:
        # Averaged by key: the members' inputs renamed to the first's (their tasks share names).
        parts = [_renamed(p, dict(zip(m.plan.input_names, self.plan.input_names)))
                 for p, m in zip(parts, self.members)]
        return mean_of(parts, members=parts if self.keep_members else ())

    def _own(self, member, kwargs: Mapping[str, Any]) -> dict:
        """``kwargs`` for one member: references given by input name keyed by its own names."""
        refs = kwargs.get("references")
        if not isinstance(refs, Mapping):
            return dict(kwargs)
        names = dict(zip(self.plan.input_names, member.plan.input_names))
        return {**kwargs, "references": {names.get(k, k): v for k, v in refs.items()}}

    def _in_order(self, x) -> list[np.ndarray]:
        if isinstance(x, Mapping):
            return [x[n] for n in self.plan.input_names]
        return list(x) if isinstance(x, (list, tuple)) else [x]

    def _in_order_item(self, item: tuple) -> tuple:
        return (self._in_order(item[0]), *item[1:])

    @staticmethod
    def _no_hidden(layers: Sequence[str], target_layer: str | None) -> None:
        if layers or target_layer is not None:
            raise ValueError("an ensemble explains its outputs only: hidden layers (--layers, "
                             "--target-layer) are each member's own; score the members one "
                             "by one")


def _same_output(first: str | None, other: str | None, task: str, name0: str,
                 name: str) -> None:
    """Refuse a task scored at different kinds of output (a sigmoid's logit, a softmax's, a
    linear output): their mean would be no one output's."""
    if first != other:
        def said(a):
            return f"the logit before {a}" if a else "a linear output"
        raise ValueError(f"the members score task {task!r} at different outputs ({name0}: "
                         f"{said(first)}; {name}: {said(other)}): an ensemble averages one "
                         "kind of output")


def _fed(q: queue.Queue) -> Iterator:
    while True:
        item = q.get()
        if item is _END:
            return
        yield item


def _shapes(engine) -> list[tuple]:
    return [tuple(s[1:]) for s in engine.plan.input_shapes]


def _listed(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return f"[{shown}{', ...' if len(names) > most else ''}] ({len(names)})"


def _renamed(e: Explanation, names: Mapping[str, str]) -> Explanation:
    """``e`` with its contributions keyed by other input names (old -> new)."""
    if all(k == v for k, v in names.items()):
        return e
    return replace(e, contrib={names.get(k, k): v for k, v in e.contrib.items()},
                   hyp_contrib={names.get(k, k): v for k, v in e.hyp_contrib.items()})
