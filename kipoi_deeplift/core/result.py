"""What an explanation returns: arrays by input, task and layer, with how well they converged."""
from __future__ import annotations

from dataclasses import dataclass, field

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
