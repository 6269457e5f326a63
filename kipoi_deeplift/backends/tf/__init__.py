"""The TensorFlow backend: Keras 3 and tf_keras models.

The model is walked into a plan (:mod:`.graph`), each step's rules are decided once
(:mod:`.resolve`, from the layer-rule table :mod:`.rules` and the nonlinearity rules
:mod:`.nonlinear`, :mod:`.maxima`, :mod:`.recurrent`) and the passes are compiled
(:mod:`.passes`). :class:`Backend` is what the engine sees of all this.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ...quiet import quiet_tensorflow_start

quiet_tensorflow_start()     # TensorFlow's C++ start-up lines discarded (the first import)

import tensorflow as tf  # noqa: E402

from ...core.methods import METHODS  # noqa: E402
from .context import FINAL_ACTIVATIONS, activation_name  # noqa: E402
from .graph import Plan, build_plan  # noqa: E402
from .passes import TFPass  # noqa: E402
from .resolve import readout, resolve  # noqa: E402
from .rules import expandable  # noqa: E402


class Backend:
    """``model`` (Keras 3 or tf_keras) prepared for DeepLIFT passes.

    Parameters
    ----------
    model : keras.Model
    method : str
        A key of :data:`kipoi_deeplift.core.methods.METHODS`.
    maxpool : str
    eps : float
        Rescale's threshold.
    jit : bool
        XLA compilation of the whole pass.
    rules : mapping, optional
        Per-model layer rules (see :func:`kipoi_deeplift.backends.tf.resolve.resolve`).
    """

    def __init__(self, model, method: str, maxpool: str, eps: float, jit: bool,
                 rules: Mapping[Any, Any] | None = None):
        self.model = model
        # Custom layers without a rule (here or in ``rules``) are walked into the layers
        # and operations they are made of, each of which has one.
        scoped = set(rules or {})

        def expand(layer, shapes, bind):
            return type(layer) not in scoped and type(layer).__name__ not in scoped and \
                expandable(layer, shapes, bind)

        self.plan: Plan = build_plan(model, expand=expand)
        # Every step's rules, decided once: the passes only follow them.
        self.specs = resolve(self.plan, method, rules)
        self._pass = TFPass(self.plan, self.specs, METHODS[method][0], method, maxpool, eps,
                            jit, readout(self.plan, self.specs))

    def function(self, tasks: tuple, layers: tuple, hyp_inputs: tuple,
                 fuse: bool = True, onehot_inputs: tuple = ()) -> Callable:
        """The compiled DeepLIFT pass for ``tasks``.

        Parameters
        ----------
        tasks, layers, hyp_inputs, fuse, onehot_inputs
            See :meth:`kipoi_deeplift.core.backend.Backend.function`.

        Returns
        -------
        callable
            ``fn(xs, rs)``, as documented there.
        """
        return self._pass.function(tasks, layers, hyp_inputs, fuse, onehot_inputs)

    def predict(self, tasks: tuple) -> Callable:
        """One forward pass for every task (in-silico mutagenesis).

        Parameters
        ----------
        tasks : tuple of Task
            See :meth:`kipoi_deeplift.core.backend.Backend.predict`.

        Returns
        -------
        callable
            ``fn(xs)`` -> (rows, len(tasks), 2), as documented there.
        """
        return self._pass.predict(tasks)

    def tensor_shapes(self, xs: Sequence[np.ndarray]) -> dict[int, tuple]:
        """Every plan tensor's shape (batch axis excluded) for inputs like ``xs``; the first time
        for a shape, the walked steps' outputs are checked against the model's own.

        Parameters
        ----------
        xs : sequence of np.ndarray
            Per input, (N, ...).

        Returns
        -------
        dict of int to tuple
        """
        key = tuple(tuple(v.shape[1:]) for v in xs)
        fresh = key not in self._pass.first_outputs
        shapes = self._pass.tensor_shapes(xs)
        if fresh:
            self._check_forward(xs, self._pass.first_outputs[key])
        return shapes

    def _check_forward(self, xs, walked: list) -> None:
        """The model's outputs for the first row of ``xs`` must be what its walked steps
        compute (each rule's forward pass): otherwise a rule computes another function than
        its layer, and every score would explain that function."""
        first = [np.asarray(v[:1]) for v in xs]
        try:
            own = self.model(first if len(first) > 1 else first[0], training=False)
        except Exception:   # a model that cannot be called so: the walked steps stand alone
            return
        if isinstance(own, dict) and set(self.plan.output_names) <= set(own):
            own = [own[n] for n in self.plan.output_names]
        own = [np.asarray(o, np.float64) for o in tf.nest.flatten(own)]
        for name, mine, theirs in zip(self.plan.output_names, walked, own):
            if not (np.isfinite(mine).all() and np.isfinite(theirs).all()):
                continue       # non-finite outputs are refused by the engine, with its message
            scale = max(1.0, float(np.abs(theirs).max()))
            diff = float(np.abs(np.asarray(mine, np.float64) - theirs).max())
            if not diff <= 1e-4 * scale:
                raise ValueError(
                    f"the model's output {name!r} differs by {diff:.3g} from what its layers' "
                    "rules compute (a layer's rule computes another function than the layer): "
                    "please report it with the model; give that layer a rule with "
                    "DeepLift(model, rules=...)")

    def device_kind(self) -> str:
        """Where the passes run.

        Returns
        -------
        str
            'GPU' where TensorFlow sees one, else 'CPU'.
        """
        return self._pass.device_kind()

    def inexact_layers(self, maxpool: str) -> list[str]:
        """The layer types whose rule breaks summation-to-delta.

        Parameters
        ----------
        maxpool : str
            The max-pooling mode (max-like layers are exact with ``exact``).

        Returns
        -------
        list of str
            'LayerClass (why)' for each.
        """
        found = {type(s.layer).__name__ + f" ({spec.layer_rule.note})"
                 for s, spec in zip(self.plan.steps, self.specs)
                 if not spec.layer_rule.exact or
                 (spec.layer_rule.max_like and maxpool == "gradient")}
        # A rule inferred from probes is exact if the probes saw right: name it as a suspect.
        found |= {f"{s.name} ({type(s.layer).__name__}: rule inferred from what it computes "
                  "on probe inputs)" for s, spec in zip(self.plan.steps, self.specs)
                  if spec.layer_rule.inferred}
        return sorted(found)

    def low_precision(self) -> list[str]:
        """Compute dtypes below float32 among the model's layers (mixed precision).

        Returns
        -------
        list of str
        """
        return sorted({str(getattr(layer, "compute_dtype", "float32"))
                       for layer in getattr(self.model, "layers", [])} -
                      {"float32", "float64"})

    def final_activations(self) -> dict[int, str]:
        """The outputs whose layer ends in a sigmoid or softmax (found once: the engine asks per
        task, and DeepSEA-size models have 2,000 tasks).

        Returns
        -------
        dict of int to str
            Output key -> ``sigmoid`` or ``softmax``.
        """
        if getattr(self, "_final", None) is not None:
            return self._final
        out = {}
        for step, spec in zip(self.plan.steps, self.specs):
            if not spec.is_output:
                continue
            layer = step.layer
            name = "softmax" if type(layer).__name__ == "Softmax" else \
                activation_name(getattr(layer, "activation", None))
            if name in FINAL_ACTIVATIONS:
                out.update({k: name for k in step.out_keys if k in self.plan.output_keys})
        self._final = out
        return out
