"""The methods a user asks for and the max-pooling modes, as plain data (no framework).

Three words, three things: the **method** (``DeepLift(model, rule=...)``) is what the user asks
for; a backend turns it into a **layer rule** per layer type and a **nonlinearity rule** per
elementwise nonlinearity (see :mod:`kipoi_deeplift.backends.tf.resolve`). The command line, the
zoo configs and the engine check their choices against these tables.
"""
from __future__ import annotations

#: method -> (pass mode, nonlinearity rule after Dense / after Conv / anywhere else).
#: RevealCancel needs the linear layer before the nonlinearity; elsewhere it is Rescale.
METHODS: dict[str, tuple[str, dict[str, str]]] = {
    "rescale": ("deeplift", {"dense": "rescale", "conv": "rescale", "other": "rescale"}),
    "reveal-cancel": ("deeplift", {"dense": "reveal-cancel", "conv": "reveal-cancel",
                                   "other": "rescale"}),
    # The authors' recommendation for genomics: RevealCancel on fully connected layers,
    # Rescale on convolutions.
    "genomics-default": ("deeplift", {"dense": "reveal-cancel", "conv": "rescale",
                                      "other": "rescale"}),
    "grad-input": ("gradient", {"dense": "gradient", "conv": "gradient", "other": "gradient"}),
    "gradient": ("gradient", {"dense": "gradient", "conv": "gradient", "other": "gradient"}),
    # In-silico mutagenesis: forward passes of every single-base substitution (no references,
    # no backward pass); the layers are only run forward.
    "ism": ("ism", {"dense": "gradient", "conv": "gradient", "other": "gradient"}),
}

#: How multipliers pass max pooling and Maximum/Minimum merges: ``gradient`` (the authors'
#: original mode, not exact) or ``exact`` (summation-to-delta holds).
MAXPOOL_MODES: tuple[str, ...] = ("gradient", "exact")


def pass_mode(method: str) -> str:
    """The pass a method runs: ``deeplift``, ``gradient`` or ``ism``.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS` (``rescale``, ``grad-input``, ``ism``, ...).

    Returns
    -------
    str
        ``deeplift`` (multipliers against references), ``gradient`` (plain gradients) or
        ``ism`` (forward passes of substitutions only).
    """
    return METHODS[method][0]


def is_exact(method: str) -> bool:
    """Whether summation-to-delta is expected to hold for scores made by ``method``.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.

    Returns
    -------
    bool
        True for the DeepLIFT rules (contributions add up to f(x) - f(reference)); False for
        ``grad-input``, ``gradient`` and ``ism``, whose scores are not meant to.
    """
    return pass_mode(method) == "deeplift"
