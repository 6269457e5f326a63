"""What an explanation returns: arrays by input, task and layer, with how well they converged."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Explanation:
    """DeepLIFT scores for N sequences.

    ``contrib[input][task]`` has the input's shape (N, L, 4): multiplier times (x - reference),
    averaged over references. ``hyp_contrib`` holds the hypothetical contributions of DNA
    inputs, ``neuron_contrib[layer][task]`` the contribution of each neuron of a hidden layer.
    ``delta[task]`` is f(x) minus the mean f(reference) of the scored output (the logit where
    the model ends in sigmoid/softmax); ``convergence[task]`` the largest, over references, of
    |sum of contributions - (f(x) - f(reference))|; ``preds[task]`` the scored output at x.
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

    @property
    def max_relative_error(self) -> float:
        """The largest summation-to-delta error relative to max(1, |delta|): the measure the
        tolerance applies to (absolute for small deltas, relative for large ones)."""
        errs = [float(np.max(v / np.maximum(1.0, np.abs(self.delta[t]))))
                for t, v in self.convergence.items() if v.size]
        return max(errs) if errs else 0.0

    @property
    def max_convergence_error(self) -> float:
        """The largest summation-to-delta error over all sequences and tasks."""
        errs = [float(np.max(v)) for v in self.convergence.values() if v.size]
        return max(errs) if errs else 0.0
