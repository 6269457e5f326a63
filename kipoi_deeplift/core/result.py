"""What an explanation returns: arrays by input, task and layer, with how well they converged."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Mapping, Sequence

import numpy as np

from .methods import METHODS, is_exact


@dataclass
class Explanation:
    """DeepLIFT (or gradient, or in-silico mutagenesis) scores for N sequences.

    Parameters
    ----------
    contrib : dict of str to dict of str to np.ndarray
        ``contrib[input][task]``, shaped as the input, e.g. (N, L, 4): multiplier times
        (x - reference), averaged over references.
    delta : dict of str to np.ndarray
        ``delta[task]``, (N,): f(x) minus the mean f(reference) of the scored output (the logit
        where the model ends in sigmoid/softmax).
    convergence : dict of str to np.ndarray
        ``convergence[task]``, (N,): the largest, over references, of
        |sum of contributions - (f(x) - f(reference))|.
    preds : dict of str to np.ndarray
        ``preds[task]``, (N,): the scored output at x.
    hyp_contrib : dict of str to dict of str to np.ndarray
        Hypothetical contributions of the DNA inputs, (N, L, 4) each.
    neuron_contrib : dict of str to dict of str to np.ndarray
        ``neuron_contrib[layer][task]``, (N, *layer shape): each hidden neuron's contribution.
    rule : str
        The method that made the scores (a key of :data:`kipoi_deeplift.core.methods.METHODS`).
    references, n_references, seed
        The references: a name or ``array`` (``none`` for ISM), how many per sequence, and
        the seed of random ones.
    tasks : list of str
        Task names, in the order they were scored.
    exact : bool or None
        Whether summation-to-delta is expected to hold (the DeepLIFT rules: True;
        ``grad-input``, ``gradient``, ``ism``: False). ``None``: found from ``rule``.
    members : list of Explanation
        An ensemble's: each member's own explanation of the same sequences (kept with
        ``keep_members``), in member order; empty otherwise.
    """

    contrib: dict[str, dict[str, np.ndarray]]
    delta: dict[str, np.ndarray]
    convergence: dict[str, np.ndarray]
    preds: dict[str, np.ndarray]
    hyp_contrib: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    neuron_contrib: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    rule: str = "rescale"
    references: str = "dinuc-shuffle"
    n_references: int = 1
    seed: int = 0
    tasks: list[str] = field(default_factory=list)
    exact: bool | None = None
    members: list["Explanation"] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.exact is None:
            # An unknown method name promises nothing.
            self.exact = self.rule in METHODS and is_exact(self.rule)

    @property
    def method(self) -> str:
        """The method that made these scores (``DeepLift(model, rule=...)``).

        Returns
        -------
        str
            ``rescale``, ``reveal-cancel``, ``genomics-default``, ``grad-input``, ``gradient`` or
            ``ism``.
        """
        return self.rule

    @property
    def max_relative_error(self) -> float:
        """The largest summation-to-delta error relative to max(1, |delta|): the measure the
        tolerance applies to (absolute for small deltas, relative for large ones).

        Returns
        -------
        float
            Over all sequences and tasks (0 when there are none).
        """
        errs = [float(np.max(relative_error(v, self.delta[t])))
                for t, v in self.convergence.items() if v.size]
        return max(errs) if errs else 0.0

    @property
    def max_convergence_error(self) -> float:
        """The largest summation-to-delta error over all sequences and tasks.

        Returns
        -------
        float
            Absolute (0 when there are none).
        """
        errs = [float(np.max(v)) for v in self.convergence.values() if v.size]
        return max(errs) if errs else 0.0


def relative_error(error: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The summation-to-delta error as the tolerance judges it: relative to max(1, |delta|),
    so absolute where the output barely moves and relative where it moves by more than 1.

    Parameters
    ----------
    error : numpy.ndarray, shape=(N,)
        |sum of contributions - delta| (a file's ``/convergence/<task>``).
    delta : numpy.ndarray, shape=(N,)
        f(x) minus the mean f(reference) (``/delta/<task>``).

    Returns
    -------
    numpy.ndarray, shape=(N,)
        ``error / max(1, |delta|)``, in the arrays' precision (float32 files stay float32).
    """
    return error / np.maximum(1.0, np.abs(delta))


#: The fields :func:`mean_of` averages (nested dicts of arrays, or dicts of arrays).
AVERAGED = ("contrib", "delta", "convergence", "preds", "hyp_contrib", "neuron_contrib")


def mean_of(explanations: Sequence[Explanation], members: Sequence[Explanation] = ()
            ) -> Explanation:
    """The mean of explanations of the same sequences and tasks (an ensemble's members, or a
    sequence's two strands read in the same orientation).

    Contributions, delta and preds are averaged (in float64, stored in the arrays' own dtype),
    so the mean's contributions sum to the mean delta wherever each one's sum to its own;
    ``convergence`` is the mean of the explanations' errors, a bound on the mean's error.

    Parameters
    ----------
    explanations : sequence of Explanation
        At least one; every one with the same inputs, tasks and shapes.
    members : sequence of Explanation, optional
        Kept as the result's :attr:`Explanation.members`.

    Returns
    -------
    Explanation
        The first's method, references and tasks, the others' arrays averaged in.
    """
    if not explanations:
        raise ValueError("nothing to average")

    def mean(parts: Sequence[Mapping]) -> dict:
        first = parts[0]
        return {k: mean([p[k] for p in parts]) if isinstance(first[k], Mapping) else
                (sum(np.asarray(p[k], np.float64) for p in parts) / len(parts))
                .astype(np.asarray(first[k]).dtype) for k in first}

    return replace(explanations[0], members=list(members),
                   **{f.name: mean([getattr(e, f.name) for e in explanations])
                      for f in fields(Explanation) if f.name in AVERAGED})
