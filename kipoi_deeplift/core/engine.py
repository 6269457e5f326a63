"""The DeepLIFT engine: one forward pass over inputs and references, one backward pass per task.

This module is the framework-neutral half (numpy) and imports no framework. It ties together
the parts, one job each: :mod:`.settings` (inputs checked, references settled),
:mod:`.tasks` (what to explain), :mod:`.stream` (the batch stream), :mod:`.collect` (results
collected and checked) and :mod:`.ism` (in-silico mutagenesis). A backend
(:mod:`kipoi_deeplift.core.backend`; TensorFlow's is :mod:`kipoi_deeplift.backends.tf`) walks
the model layer by layer, decides each step's rules once and compiles the pass whose backward
pass yields DeepLIFT multipliers for the reference rows, all references and sequences of a
batch at once.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import batching
from . import settings as settle
from . import tasks as task_lib
from .backend import for_model
from .collect import Collector, ConvergenceWarning, check_convergence, explanation
from .ism import ISM_ROWS, ism, ism_stream
from .methods import MAXPOOL_MODES, METHODS, is_exact, pass_mode
from .result import Explanation
from .settings import Settings
from .stream import default_workers, in_batch, passes
from .tasks import Task

#: The methods ``rule=`` accepts: the old name of :data:`~.methods.METHODS`, kept for callers.
RULES = METHODS

__all__ = ["DeepLift", "ConvergenceWarning", "Explanation", "RULES", "Task"]


class DeepLift:
    """DeepLIFT for a Keras 3 or tf_keras model.

    Parameters
    ----------
    model : keras.Model
        A Keras 3 or tf_keras model (or a Kipoi model wrapper holding one as ``.model``).
    rule : str
        The method: ``rescale``, ``reveal-cancel``, ``genomics-default`` (RevealCancel after Dense
        layers, Rescale after convolutions), ``grad-input`` (gradient x (input - reference)),
        ``gradient`` (saliency) or ``ism`` (in-silico mutagenesis, :mod:`kipoi_deeplift.core.ism`).
    task_names : sequence of str, optional
        Names of the output units (over all units of all outputs, in order); by default a one-unit
        output is named after the output and the units of a multi-unit output by their index.
    tolerance : float
        The summation-to-delta error (scaled by max(1, |delta|)) above which :meth:`explain` warns.
    eps : float
        Rescale's threshold on |x - reference| below which the gradient is used.
    maxpool : str
        How multipliers pass max pooling and ``Maximum``/``Minimum`` merges: ``exact`` (the pooled
        difference is carried by one position, so summation-to-delta holds) or ``gradient`` (the
        DeepLIFT authors' original mode: through the input's max, except that tied maxima of a
        reduction share the multiplier; not exact); see :mod:`kipoi_deeplift.backends.tf.maxima`.
    jit : bool
        Compile the whole pass with XLA (it helps on GPUs; compilation costs seconds); without it
        only the per-batch multipliers are XLA-compiled, in calls (or announced runs) large enough
        to repay it (:attr:`FUSE_AFTER`, :meth:`expect`).
    allow_mixed_precision : bool
        Accept a model computing in float16/bfloat16 (refused by default).
    rules : mapping, optional
        Layer rules for this model only (a layer class or class name -> ``fn(ctx, layer, args,
        kwargs)``, as for :func:`kipoi_deeplift.register_rule`, which registers for every model).
    """

    #: Variant rows per forward call of in-silico mutagenesis (:data:`.ism.ISM_ROWS`).
    ISM_ROWS = ISM_ROWS

    def __init__(self, model, rule: str = "rescale", task_names: Sequence[str] | None = None,
                 tolerance: float = 1e-3, eps: float = 1e-7, maxpool: str = "exact",
                 jit: bool = False, allow_mixed_precision: bool = False,
                 rules: Mapping[Any, Any] | None = None):
        if rule not in METHODS:
            raise ValueError(f"unknown rule {rule!r}: use one of {', '.join(METHODS)}")
        if maxpool not in MAXPOOL_MODES:
            raise ValueError(f"unknown maxpool mode {maxpool!r}: use one of "
                             f"{', '.join(MAXPOOL_MODES)}")
        if not hasattr(model, "inputs") and hasattr(model, "model"):  # a Kipoi model wrapper
            model = model.model
        self.model = model
        self.rule = rule
        self.maxpool = maxpool
        self.jit = jit
        #: The pass the method runs (``deeplift``, ``gradient``, ``ism``); prefer :attr:`exact`.
        self.mode = pass_mode(rule)
        self.tolerance = tolerance
        self.eps = eps
        # The framework's side: the model walked, its steps' rules decided once, the passes
        # compiled (kipoi_deeplift/backends/tf for Keras models).
        self._backend = for_model(model, rule, maxpool, eps, jit, rules)
        low = self._backend.low_precision()
        if low and not allow_mixed_precision:
            # Contributions are checked in float32: half precision loses summation-to-delta.
            raise ValueError(f"the model computes in {', '.join(low)} (mixed precision); "
                             "DeepLIFT scores are checked in float32: load it with a float32 "
                             "policy, or pass allow_mixed_precision=True")
        self.plan = self._backend.plan
        self.tasks = task_lib.output_tasks(self.plan.output_keys, self.plan.output_names,
                                           self.plan.output_shapes, task_names)
        self._expected = 0    # sequences of a run announced by expect() (see FUSE_AFTER)

    #: Tiered compilation: tensor elements of a call (or of a run announced with
    #: :meth:`expect`) from which the per-batch multipliers run XLA-compiled
    #: (:data:`kipoi_deeplift.core.batching.FUSE_AFTER`, where the measurements are).
    FUSE_AFTER = batching.FUSE_AFTER

    # -- public ---------------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The method asked for (``rule=``): a key of :data:`~.methods.METHODS`."""
        return self.rule

    @property
    def exact(self) -> bool:
        """Whether summation-to-delta is expected to hold for this method's scores (the
        DeepLIFT rules), so that errors above :attr:`tolerance` are worth a warning."""
        return is_exact(self.rule)

    @property
    def input_names(self) -> list[str]:
        """The model's input names, in model order."""
        return list(self.plan.input_names)

    @property
    def task_names(self) -> list[str]:
        """Every output unit's task name, in output order."""
        return [t.name for t in self.tasks]

    def explain(self, x, references: Any = "dinuc-shuffle", n_references: int = 20,
                seed: int = 0, tasks: Sequence[int | str | Task] | None = None,
                layers: Sequence[str] = (), hypothetical: bool = False,
                batch_size: int | None = None, progress: bool | None = None,
                target_layer: str | None = None, target_neuron: Any = None,
                index_offset: int = 0, memory_cap: int | None = None) -> Explanation:
        """Contributions of every input position to each task, for every sequence of ``x``.

        Parameters
        ----------
        x : np.ndarray, dict or list
            (N, L, 4) for a one-input model, else a dict by input name or a list in model
            order of arrays (N, ...).
        references : str, np.ndarray or dict
            A name (``dinuc-shuffle``, ``shuffle``, ``zeros``, ``uniform``, ``gc:FRACTION``)
            applied to the DNA inputs (others get zeros), an array ((L, 4) one, (K, L, 4)
            shared, (N, K, L, 4) per sequence), or a dict by input name of either.
        n_references : int
            Random references per sequence.
        seed : int
            Random references are seeded by (seed, sequence index).
        tasks : sequence of int, str or Task, optional
            Task names, indices or :class:`Task` objects (default: all outputs' units).
        layers : sequence of str
            Hidden layers whose per-neuron contributions to return.
        hypothetical : bool
            Also return hypothetical contributions of the DNA inputs.
        batch_size : int, optional
            Sequences per pass; ``None``: the largest whose estimated memory fits
            ``memory_cap`` (see :mod:`kipoi_deeplift.core.batching`).
        progress : bool, optional
            Show a progress bar (``None``: for runs of several batches).
        target_layer : str, optional
            Explain neurons of this hidden layer instead of the model's outputs.
        target_neuron : int, tuple or list, optional
            With ``target_layer``: a flat index, an index tuple within the layer's output
            such as ``(position, filter)`` (``None`` sums an axis), or a list of them.
        index_offset : int
            The index of ``x[0]`` in a larger data set (a data set scored in pieces gets the
            same references).
        memory_cap : int, optional
            Bytes a batch may use (default: a quarter of the free memory, at most 8 GiB).

        Returns
        -------
        Explanation
            ``contrib[input][task]`` shaped as the input, e.g. (N, L, 4); ``delta``,
            ``convergence`` and ``preds`` (N,) per task; ``method`` and ``exact``.
        """
        xs = self._inputs(x)
        n = xs[0].shape[0]
        run = settle.settle_run(self, xs, references, n_references, seed, tasks, layers,
                                hypothetical, target_layer, target_neuron, n_sequences=n)
        if self.mode == "ism":
            return ism(self._backend.predict(tuple(run.tasks)), xs, run.tasks,
                       self.plan.input_names, hypothetical, progress, seed, self.rule,
                       self.ISM_ROWS, index_offset)
        if batch_size is None:
            batch_size = self.batch_size(run.k, n, xs, memory_cap)
        batches = (([v[a:a + batch_size] for v in xs], index_offset + a, a)
                   for a in range(0, n, batch_size))
        collected = Collector(n)
        with batching.progress(n, progress if progress is not None else
                               (None if n > batch_size else False)) as bar:
            # One batch: nothing to overlap, so no threads to start.
            for out, start in self._run(run, batches, batch_size, xs, checked=True,
                                        expected=max(n, self._expected),
                                        depth=2 if n > batch_size else 0):
                collected.put(start, out)
                bar.update(len(out[0]["delta"]))
        res = collected.explanation(run, self.rule, self.plan.input_names)
        if self.exact:
            check_convergence(res, self.tolerance, self.blame)
        return res

    def stream(self, batches: Iterable[tuple[Any, int, Any]], batch_size: int,
               references: Any = "dinuc-shuffle", n_references: int = 20, seed: int = 0,
               tasks: Sequence[int | str | Task] | None = None, layers: Sequence[str] = (),
               hypothetical: bool = False, target_layer: str | None = None,
               target_neuron: Any = None, depth: int = 2,
               workers: int | None = None) -> Iterator[tuple[Explanation, Any]]:
        """Explain a stream of batches, as a genome-wide run reads them.

        ``batches`` is read (one thread) and each batch's references are made (``workers``
        threads) in the background, up to ``depth`` batches ahead of the pass, so reading,
        reference making and the pass overlap; every batch runs padded to ``batch_size`` (one
        compiled shape). Summation-to-delta is left to the caller (``max_relative_error`` of
        each result, where its ``exact`` is True).

        Parameters
        ----------
        batches : iterable of tuple
            ``(x, index_offset, tag)``: a batch of at most ``batch_size`` sequences (as
            :meth:`explain` takes it), the index of its first sequence in the whole run
            (references are seeded by (seed, index); per-sequence reference arrays are indexed
            by it) and anything to hand back with the result. An item may carry a fourth
            element, a :class:`~kipoi_deeplift.core.references.Draws` (keys by locus,
            strands) that seeds its random references instead of the index.
        batch_size : int
            The most sequences of a batch; every batch is padded to it.
        references, n_references, seed, tasks, layers, hypothetical, target_layer, \
target_neuron
            As for :meth:`explain`, settled on the first batch.
        depth : int
            Batches prepared ahead of the pass.
        workers : int, optional
            Threads making references (default: a quarter of the cores, 1 to 4).

        Returns
        -------
        iterator of (Explanation, Any)
            Each batch's scores (arrays (n, ...)) and its tag, in order. Errors are
            ``ValueError`` naming the batch's sequences.
        """
        it = iter(batches)
        first = next(it, None)
        if first is None:
            return
        try:
            xs = self._inputs(first[0])
            run = settle.settle_run(self, xs, references, n_references, seed, tasks, layers,
                                    hypothetical, target_layer, target_neuron)
        except ValueError as e:
            raise in_batch(e, first[1], first[0]) from e
        if self.mode == "ism":
            yield from ism_stream(self._backend.predict(tuple(run.tasks)),
                                  itertools.chain([first], it), self._inputs, run.tasks,
                                  self.plan.input_names, hypothetical, seed, self.rule,
                                  self.ISM_ROWS)
            return

        def items():
            yield (xs, *first[1:])
            yield from it

        if workers is None:
            workers = default_workers()
        for out, tag in self._run(run, items(), batch_size, xs, checked=False, depth=depth,
                                  expected=self._expected, workers=workers):
            yield explanation(out, run, self.rule, self.plan.input_names), tag

    def expect(self, sequences: int) -> None:
        """Announce a run of ``sequences`` sequences to come batch by batch (as ``score``
        streams them): :attr:`FUSE_AFTER` then weighs the whole run, not each batch, so a
        long run's batches are XLA-compiled from the first.

        Parameters
        ----------
        sequences : int
            The run's length in sequences (the largest announced counts).
        """
        self._expected = max(self._expected, int(sequences))

    # -- the batch loop -----------------------------------------------------------------
    def _run(self, run: Settings, items: Iterable, batch_size: int, like: list,
             checked: bool, expected: int = 0, depth: int = 2,
             workers: int = 1) -> Iterator[tuple[list, Any]]:
        """The pass compiled for ``run`` (fused where the run is large enough: see
        :attr:`FUSE_AFTER`; ``like``: inputs shaped as the run's) and run over ``items`` by
        :func:`.stream.passes`; ``checked``: the inputs were checked already."""
        per_row = (run.k + 1) * sum(int(np.prod(s)) for s in self.tensor_shapes(like).values())
        fn = self._backend.function(
            run.tasks, run.layers, run.hyp_inputs,
            fuse=max(batch_size, expected) * per_row >= self.FUSE_AFTER,
            onehot_inputs=run.dna_inputs)
        yield from passes(fn, run, items, batch_size, self.plan.input_names,
                          None if checked else self._inputs, depth, workers)

    # -- a run's inputs (its settings: settings.settle_run) -----------------------------------
    def _inputs(self, x) -> list[np.ndarray]:
        """``x`` as checked float32 arrays in model order (:func:`.settings.check_inputs`)."""
        return settle.check_inputs(x, self.plan.input_names, self.plan.input_shapes)

    # -- tasks, layers, shapes --------------------------------------------------------------
    def output_of(self, task: Task) -> tuple[str, str | None, int]:
        """Where ``task`` (an output's, or a hidden neuron's :class:`Task`) is scored.

        Returns
        -------
        tuple of (str, str or None, int)
            The output or hidden layer it belongs to; ``sigmoid``/``softmax`` where that output
            ends in one and the scores and ``preds`` are taken at its logit, else ``None``; the
            output's number of units (1 for a hidden neuron).
        """
        return task_lib.output_of(task, self.plan.output_keys, self.plan.output_shapes,
                                  self._backend.final_activations)

    def layer_key(self, name: str) -> int:
        """The plan's tensor key of a layer's output, or a ``ValueError`` naming the layers.

        Parameters
        ----------
        name : str
            The layer's name.

        Returns
        -------
        int
            The key of the layer's (first) output tensor in the backend's plan.
        """
        if name not in self.plan.layer_outputs:
            raise ValueError(f"unknown layer {name!r}; layers: "
                             f"{', '.join(self.plan.layer_outputs)}")
        return self.plan.layer_outputs[name][0]

    def tensor_shapes(self, xs: Sequence[np.ndarray]) -> dict[int, tuple]:
        """Shapes of every tensor of the plan for inputs like ``xs`` (arrays (N, ...) per input),
        from one plain pass over their first row.

        Returns
        -------
        dict of int to tuple
            Plan tensor key -> its shape, batch axis excluded.
        """
        return self._backend.tensor_shapes(xs)

    def batch_size(self, n_references: int, most: int, xs: Sequence[np.ndarray] | None = None,
                   memory_cap: int | None = None, device: str | None = None) -> int:
        """The largest batch whose estimated memory fits (see :mod:`kipoi_deeplift.core.batching`).

        Parameters
        ----------
        n_references : int
            References per sequence.
        most : int
            The most sequences wanted; the batch is also at most
            :data:`kipoi_deeplift.core.batching.MOST` on the device.
        xs : sequence of np.ndarray, optional
            Inputs like those to explain, arrays (N, ...) per input (default: the model's
            declared shapes, and 32 sequences where a length is not fixed).
        memory_cap : int, optional
            Bytes a batch may use (default: a quarter of the free memory of ``device``, at
            most 8 GiB).
        device : str, optional
            ``'CPU'``, ``'GPU'``, ... (default: the one the passes run on).

        Returns
        -------
        int
            Sequences, 1 to ``most``.
        """
        device = device or self._backend.device_kind()
        most = min(most, batching.most(device))
        if xs is None:
            xs = batching.declared_inputs(self.plan.input_shapes)
            if xs is None:
                return min(most, 32)
        cap = memory_cap or batching.default_cap(device)
        return batching.choose(self.tensor_shapes(xs).values(), n_references, most, cap)

    def hidden_tasks(self, layer: str, neuron: Any, xs: Sequence[np.ndarray] | None = None
                     ) -> list[Task]:
        """Tasks for neurons of a hidden layer.

        Parameters
        ----------
        layer : str
            The hidden layer's name.
        neuron : int, tuple or list
            A flat index, an index tuple within the layer's output (batch axis excluded;
            ``None`` at an axis sums the neurons along it, e.g. ``(None, 3)``: filter 3 of a
            convolution over every position), or a list of them.
        xs : sequence of np.ndarray, optional
            Inputs like those to explain (default: the model's declared shapes), for layers
            whose shape depends on the input length.

        Returns
        -------
        list of Task
            One per neuron given, named ``layer[i,j]`` (``*`` at a summed axis).
        """
        key = self.layer_key(layer)
        if xs is None:
            xs = batching.declared_inputs(self.plan.input_shapes)
            if xs is None:
                raise ValueError(f"target_layer={layer!r}: the model's input length is not "
                                 "fixed; give inputs")
        return task_lib.neuron_tasks(layer, key, self.tensor_shapes(xs)[key], neuron)

    def select_tasks(self, tasks: Any) -> list[Task]:
        """The tasks named (or indexed) by ``tasks``, or given as :class:`Task` objects of this
        model (as ``select_tasks`` returns them, so a caller resolves names once); all when
        ``None`` (see :func:`.tasks.select`).

        Parameters
        ----------
        tasks : None, int, str, Task or a sequence of them
            Task names, indices into :attr:`tasks`, or :class:`Task` objects of this model.

        Returns
        -------
        list of Task
            The tasks chosen, in the order given.
        """
        return task_lib.select(self.tasks, tasks,
                               [keys[0] for keys in self.plan.layer_outputs.values()])

    # -- results ----------------------------------------------------------------------------
    def blame(self) -> str:
        """Which layer types most likely break summation-to-delta in this model, and why.

        Returns
        -------
        str
            ``most likely ...``, naming the layers whose rules are inexact (with this
            :attr:`maxpool` mode), or float32 round-off where none is.
        """
        inexact = self._backend.inexact_layers(self.maxpool)
        return ("most likely " + "; ".join(inexact)) if inexact else \
            "no layer here uses an inexact rule: most likely float32 round-off"
