"""The collection of results: the pass's outputs checked for non-finite values, copied into
arrays of the whole run and made into an :class:`~kipoi_deeplift.core.result.Explanation`."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .methods import is_exact
from .result import Explanation, relative_error
from .tasks import Task


class ConvergenceWarning(UserWarning):
    """Contributions do not add up to f(x) - f(reference) within the tolerance.

    Parameters
    ----------
    message : str
        The warning, naming the worst error, its task and the layers to blame.
    """


def explanation(out: list, run: Any, rule: str, names: Sequence[str]) -> Explanation:
    """An Explanation of the pass's outputs.

    Parameters
    ----------
    out : list of dict
        Per task of ``run``: the pass's arrays, ``contrib`` (per input, (N, ...)), ``hyp``
        (per input of ``run.hyp_inputs``, (N, L, 4)), ``neuron`` (per layer of ``run.layers``,
        (N, ...)), ``delta``, ``convergence`` and ``pred`` ((N,) each).
    run : Settings
        The run's settings (:class:`kipoi_deeplift.core.settings.Settings`).
    rule : str
        The method that made the scores.
    names : sequence of str
        The model's input names, in order.

    Returns
    -------
    Explanation
        The scores by input, task and layer.
    """
    contrib: dict = {name: {} for name in names}
    hyp: dict = {}
    neuron: dict = {}
    delta, conv, preds = {}, {}, {}
    for task, o in zip(run.tasks, out):
        for name, c in zip(names, o["contrib"]):
            contrib[name][task.name] = c
        for i, h in zip(run.hyp_inputs, o["hyp"]):
            hyp.setdefault(names[i], {})[task.name] = h
        for layer, c in zip(run.layers, o["neuron"]):
            neuron.setdefault(layer, {})[task.name] = c
        delta[task.name], conv[task.name] = o["delta"], o["convergence"]
        preds[task.name] = o["pred"]
    return Explanation(contrib=contrib, delta=delta, convergence=conv, preds=preds,
                       hyp_contrib=hyp, neuron_contrib=neuron, rule=rule,
                       references=run.references, n_references=run.k, seed=run.seed,
                       tasks=[t.name for t in run.tasks], exact=is_exact(rule))


class Collector:
    """Batches' outputs copied into arrays of the whole run as they come (one copy, no
    concatenation at the end).

    Parameters
    ----------
    n : int
        Sequences in the whole run.
    """

    def __init__(self, n: int):
        self.n = n
        self.whole = None

    def put(self, start: int, out: list) -> None:
        """Copy one batch's outputs into the run's arrays.

        Parameters
        ----------
        start : int
            The index in the run of the batch's first sequence.
        out : list of dict
            The pass's outputs, per task (arrays (n, ...)).
        """
        if self.whole is None:
            self.whole = tree_map(lambda a: np.empty((self.n,) + a.shape[1:], a.dtype), out)
        tree_map(lambda a, whole: whole.__setitem__(slice(start, start + len(a)), a), out,
                 self.whole)

    def explanation(self, run: Any, rule: str, names: Sequence[str]) -> Explanation:
        """The whole run's Explanation (see :func:`explanation`).

        Parameters
        ----------
        run : Settings
            The run's settings.
        rule : str
            The method that made the scores.
        names : sequence of str
            The model's input names, in order.

        Returns
        -------
        Explanation
            The scores of all ``n`` sequences.
        """
        return explanation(self.whole, run, rule, names)


def tree_map(f: Callable, out: Any, *more: Any) -> Any:
    """``f`` applied to every array of the pass's outputs.

    Parameters
    ----------
    f : callable
        ``f(array, *arrays_of_more)``.
    out : list, dict or np.ndarray
        The pass's outputs (nested lists and dicts of arrays).
    *more : list, dict or np.ndarray
        Trees of the same shape; ``f`` gets their arrays at the same place.

    Returns
    -------
    list, dict or Any
        ``out``'s tree with ``f``'s result in place of each array.
    """
    if isinstance(out, dict):
        return {key: tree_map(f, v, *(m[key] for m in more)) for key, v in out.items()}
    if isinstance(out, list):
        return [tree_map(f, v, *(m[i] for m in more)) for i, v in enumerate(out)]
    return f(out, *more)


def check_finite(res: Explanation, index_offset: int = 0) -> None:
    """Refuse a result with a non-finite delta, convergence or contribution.

    NaN compares false with every tolerance: a non-finite result is refused, never passed off
    as exact.

    Parameters
    ----------
    res : Explanation
        The result to check.
    index_offset : int
        The index of its first sequence in the run (for the message).
    """
    for task, delta in res.delta.items():
        bad = ~np.isfinite(delta) | ~np.isfinite(res.convergence[task])
        for by_task in res.contrib.values():
            a = by_task[task]
            bad |= ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        if bad.any():
            raise non_finite(task, bad, index_offset)


def check_rows(out: list, tasks: Sequence[Task], offset: int) -> None:
    """Refuse a batch with a non-finite result, as :func:`check_finite` does a whole result.

    Parameters
    ----------
    out : list of dict
        The pass's outputs per task, with ``finite`` ((n,) bool).
    tasks : sequence of Task
        The tasks, in the order of ``out``.
    offset : int
        The index in the run of the batch's first sequence (for the message).
    """
    for task, o in zip(tasks, out):
        bad = ~o["finite"]
        if bad.any():
            raise non_finite(task.name, bad, offset)


def non_finite(task: str, bad: np.ndarray, offset: int) -> ValueError:
    """The error for sequences whose scores are not finite.

    Parameters
    ----------
    task : str
        The task's name.
    bad : np.ndarray
        (n,) bool: the sequences with a non-finite score.
    offset : int
        The index in the run of ``bad[0]``'s sequence.

    Returns
    -------
    ValueError
        Naming how many sequences, the first and what to check.
    """
    return ValueError(f"task {task!r}: the model gave NaN or inf for {int(bad.sum())} "
                      f"sequence(s), first at sequence {offset + int(np.argmax(bad))} (at the "
                      "input or at a reference): check the inputs, the references and the "
                      "weights")


def worst_error(res: Explanation) -> tuple[float, str | None]:
    """The largest summation-to-delta error relative to max(1, |delta|) (as
    :attr:`Explanation.max_relative_error`), and the task it is found in.

    Returns
    -------
    tuple of (float, str or None)
        The error, and its task (``None`` when there is none above 0).
    """
    worst, worst_task = 0.0, None
    for task, err in res.convergence.items():
        scaled = relative_error(err, res.delta[task])
        if scaled.size and scaled.max() > worst:
            worst, worst_task = float(scaled.max()), task
    return worst, worst_task


def check_convergence(res: Explanation, tolerance: float, blame: Callable[[], str]) -> None:
    """Warn (:class:`ConvergenceWarning`) where the worst summation-to-delta error of ``res``
    (:func:`worst_error`) exceeds ``tolerance``.

    Parameters
    ----------
    res : Explanation
        A call's scores.
    tolerance : float
        The relative error above which to warn.
    blame : callable
        ``blame() -> str``: the layers most likely to blame, called only to warn
        (:meth:`~kipoi_deeplift.core.engine.DeepLift.blame`).
    """
    worst, worst_task = worst_error(res)
    if worst <= tolerance:
        return
    warnings.warn(
        f"summation-to-delta error {worst:.3g} (relative) exceeds tolerance "
        f"{tolerance:g} for task {worst_task!r}; {blame()}",
        ConvergenceWarning, stacklevel=3)
