"""The seam between the framework-neutral engine and a framework that runs the passes.

The engine (:mod:`kipoi_deeplift.core.engine`) needs four things of a model, whatever built it:
its plan's names and shapes, the shapes of every tensor for given inputs, a compiled pass
(numpy in, numpy out) and, when summation-to-delta fails, which layers to blame. A backend is a
class with that interface, named in :data:`BACKENDS` by its import path, so that importing the
core never imports a framework. TensorFlow (Keras 3 and tf_keras) is the one backend today.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np


class PlanInfo(Protocol):
    """What the engine reads of a backend's plan (tensors are named by integer keys).

    Parameters
    ----------
    input_names : list of str
        The model's inputs, in model order.
    input_shapes : list of tuple
        Each input's shape ``(None, ...)``, batch axis first.
    output_keys : list of int
        The plan tensors that are model outputs.
    output_names : list of str
        The outputs' names, in the order of ``output_keys``.
    output_shapes : list of tuple
        The outputs' shapes ``(None, ...)``.
    layer_outputs : dict of str to list of int
        Layer (call) name -> its output tensors' keys.
    """

    input_names: list[str]            # model inputs, in model order
    input_shapes: list[tuple]         # each (None, ...): batch axis first
    output_keys: list[int]            # the tensors that are model outputs
    output_names: list[str]
    output_shapes: list[tuple]
    layer_outputs: dict[str, list[int]]   # layer (call) name -> its output tensors' keys


class Backend(Protocol):
    """A model made ready for DeepLIFT passes with one method and max-pooling mode.

    Parameters
    ----------
    model : keras.Model
        The model to explain.
    method : str
        A key of :data:`kipoi_deeplift.core.methods.METHODS`.
    maxpool : str
        ``exact`` or ``gradient`` (see :data:`kipoi_deeplift.core.methods.MAXPOOL_MODES`).
    eps : float
        Rescale's threshold on |x - reference|.
    jit : bool
        Compile the whole pass with XLA.
    rules : mapping, optional
        Per-model layer rules (layer class or class name -> ``fn(ctx, layer, args, kwargs)``).
    """

    plan: PlanInfo

    def function(self, tasks: tuple, layers: tuple, hyp_inputs: tuple,
                 fuse: bool = True, onehot_inputs: tuple = ()) -> Callable:
        """The compiled DeepLIFT pass for ``tasks``.

        Parameters
        ----------
        tasks : tuple of Task
            What to explain; each carries ``key`` (a plan tensor) and ``unit`` (flat index
            within it).
        layers : tuple of str
            Hidden layers whose per-neuron contributions to return.
        hyp_inputs : tuple of int
            Inputs whose hypothetical contributions to return (among ``onehot_inputs``).
        fuse : bool
            ``False`` leaves out compilations that pay only over many batches (the same
            numbers; slower per batch, quicker to start).
        onehot_inputs : tuple of int
            The inputs whose rows are one-hot DNA (the backend may take a cheaper form of their
            contributions).

        Returns
        -------
        callable
            ``fn(xs, rs)``: per input, sequences (n, ...) and their references (a
            :class:`~kipoi_deeplift.core.references.ReferenceBatch`: tokens (n*k, L), rows (n*k,
            ...) or shared (k, ...), made into rows by the backend, on its device) -> per task a
            dict: ``contrib``/``hyp`` (lists over inputs of (n, ...)), ``neuron`` (list over
            ``layers``), ``delta``, ``convergence``, ``pred`` (each (n,)) and ``finite`` ((n,)
            bool: every contribution, delta and error of the row is finite).
        """

    def predict(self, tasks: tuple) -> Callable:
        """One forward pass for every task (in-silico mutagenesis).

        Parameters
        ----------
        tasks : tuple of Task
            The outputs to read.

        Returns
        -------
        callable
            ``fn(xs)``: inputs (each (rows, ...)), numpy -> (rows, len(tasks), 2): per task the
            scored output as the DeepLIFT objective has it (softmax logits centred) and as it is
            (``pred``).
        """

    def tensor_shapes(self, xs: Sequence[np.ndarray]) -> dict[int, tuple]:
        """Every plan tensor's shape for inputs like ``xs``.

        Parameters
        ----------
        xs : sequence of np.ndarray
            Per input, arrays (N, ...).

        Returns
        -------
        dict of int to tuple
            Plan tensor key -> its shape, batch axis excluded.
        """

    def device_kind(self) -> str:
        """Where the passes run (for the batch-size cap).

        Returns
        -------
        str
            ``'GPU'`` or ``'CPU'``.
        """

    def inexact_layers(self, maxpool: str) -> list[str]:
        """The layers whose rules do not keep summation-to-delta.

        Parameters
        ----------
        maxpool : str
            The max-pooling mode (``exact`` or ``gradient``).

        Returns
        -------
        list of str
            A description of each such layer type.
        """

    def low_precision(self) -> list[str]:
        """The compute dtypes below float32 that the model's layers use.

        Returns
        -------
        list of str
            Dtype names (``float16``, ``bfloat16``); empty for a float32 model.
        """

    def final_activations(self) -> dict[int, str]:
        """The outputs that end in a sigmoid or softmax.

        Their tasks are scored at the logit before it.

        Returns
        -------
        dict of int to str
            Output tensor key -> ``sigmoid`` or ``softmax``.
        """


#: backend name -> "module:class" (imported only when a model is explained with it).
BACKENDS: dict[str, str] = {"tensorflow": "kipoi_deeplift.backends.tf:Backend"}


def for_model(model: Any, method: str, maxpool: str, eps: float, jit: bool,
              rules: Mapping[Any, Any] | None = None, backend: str = "tensorflow") -> Backend:
    """The ``backend`` prepared for ``model``.

    Parameters
    ----------
    model : keras.Model
        The model to explain.
    method : str
        A key of :data:`kipoi_deeplift.core.methods.METHODS`.
    maxpool : str
        The max-pooling mode.
    eps : float
        Rescale's threshold on |x - reference|.
    jit : bool
        XLA compilation of the whole pass.
    rules : mapping, optional
        Per-model layer rules.
    backend : str
        A key of :data:`BACKENDS`.

    Returns
    -------
    Backend
        An instance of the backend's class.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), cls)(model, method, maxpool, eps, jit, rules)
