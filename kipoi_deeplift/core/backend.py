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
    """What the engine reads of a backend's plan (tensors are named by integer keys)."""

    input_names: list[str]            # model inputs, in model order
    input_shapes: list[tuple]         # each (None, ...): batch axis first
    output_keys: list[int]            # the tensors that are model outputs
    output_names: list[str]
    output_shapes: list[tuple]
    layer_outputs: dict[str, list[int]]   # layer (call) name -> its output tensors' keys


class Backend(Protocol):
    """A model made ready for DeepLIFT passes with one method and max-pooling mode."""

    plan: PlanInfo

    def function(self, tasks: tuple, layers: tuple, hyp_inputs: tuple,
                 fuse: bool = True, onehot_inputs: tuple = ()) -> Callable:
        """``fn(xs, rs)``: per input, sequences (n, ...) and their references (a
        :class:`~kipoi_deeplift.core.references.ReferenceBatch`: tokens (n*k, L), rows
        (n*k, ...) or shared (k, ...), made into rows by the backend, on its device) ->
        per task a dict: ``contrib``/``hyp`` (lists over inputs of (n, ...)), ``neuron``
        (list over ``layers``), ``delta``, ``convergence``, ``pred`` (each (n,)) and
        ``finite`` ((n,) bool: every contribution, delta and error of the row is finite).
        ``tasks`` carry ``key`` (a plan tensor) and ``unit`` (flat index within it).
        ``fuse=False`` leaves out compilations that pay only over many batches (the same
        numbers; slower per batch, quicker to start). ``onehot_inputs``: the inputs whose
        rows are one-hot DNA (the backend may take a cheaper form of their contributions);
        ``hyp_inputs`` are among them."""

    def predict(self, tasks: tuple) -> Callable:
        """``fn(xs)``: inputs (each (rows, ...)), numpy -> (rows, len(tasks), 2): per task the
        scored output as the DeepLIFT objective has it (softmax logits centred) and as it is
        (``pred``). One forward pass for every task (in-silico mutagenesis)."""

    def tensor_shapes(self, xs: Sequence[np.ndarray]) -> dict[int, tuple]:
        """Every plan tensor's shape (batch axis excluded) for inputs like ``xs``."""

    def device_kind(self) -> str:
        """'GPU' or 'CPU': where the passes run (for the batch-size cap)."""

    def inexact_layers(self, maxpool: str) -> list[str]:
        """Descriptions of the layers whose rules do not keep summation-to-delta."""

    def low_precision(self) -> list[str]:
        """The compute dtypes below float32 that the model's layers use."""

    def final_activations(self) -> dict[int, str]:
        """Output tensor key -> ``sigmoid`` or ``softmax`` where the model ends in one (its
        tasks are scored at the logit before it)."""


#: backend name -> "module:class" (imported only when a model is explained with it).
BACKENDS: dict[str, str] = {"tensorflow": "kipoi_deeplift.backends.tf:Backend"}


def for_model(model: Any, method: str, maxpool: str, eps: float, jit: bool,
              rules: Mapping[Any, Any] | None = None, backend: str = "tensorflow") -> Backend:
    """The ``backend`` prepared for ``model`` with ``method`` (see
    :data:`kipoi_deeplift.core.methods.METHODS`), ``maxpool`` mode, Rescale's ``eps``, XLA
    compilation ``jit`` and per-model layer ``rules``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), cls)(model, method, maxpool, eps, jit, rules)
