"""The DeepLIFT engine: one forward pass over inputs and references, one backward pass per task.

This module is the framework-neutral half (numpy: inputs, references, tasks, the batch loop,
collection and checks) and imports no framework. A backend (:mod:`kipoi_deeplift.core.backend`;
TensorFlow's is :mod:`kipoi_deeplift.backends.tf`) walks the model layer by layer, decides each
step's rules once and compiles the pass whose backward pass yields DeepLIFT multipliers for the
reference rows, all references and sequences of a batch at once.
"""
from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import batching, pipeline
from . import references as refs
from .backend import for_model
from .methods import MAXPOOL_MODES, METHODS
from .result import Explanation

#: The methods ``rule=`` accepts (see :mod:`kipoi_deeplift.core.methods`); the old name stays.
RULES = METHODS


@dataclass(frozen=True)
class Task:
    """One scalar output unit to explain."""

    name: str
    key: int      # the plan's tensor: a model output or a hidden layer's output
    unit: int | tuple[int, ...]   # flat index within that tensor (batch axis excluded), or
    #                               indices whose neurons are summed


class DeepLift:
    """DeepLIFT for a Keras 3 or tf_keras model.

    ``rule`` is one of ``rescale``, ``reveal-cancel``, ``genomics-default`` (RevealCancel after
    Dense layers, Rescale after convolutions), ``grad-input`` (gradient x (input - reference))
    or ``gradient`` (saliency). ``maxpool`` is how multipliers pass max pooling and
    ``Maximum``/``Minimum`` merges: ``exact`` (the default: the pooled difference is carried
    by one position, so summation-to-delta holds) or ``gradient`` (the DeepLIFT authors'
    original mode: through the input's max, except that tied maxima of a reduction share the
    multiplier where the original gives each the full one; not exact); see
    :mod:`kipoi_deeplift.backends.tf.maxima`. ``task_names`` names the output units (a list
    over all units of all outputs in order); by default a one-unit output is named after the
    output and the units of a multi-unit output by their index. ``tolerance`` is the
    summation-to-delta error (scaled by max(1, |delta|)) above which :meth:`explain` warns. ``jit=True`` compiles the whole pass with XLA (it helps on
    GPUs; compilation costs seconds); without it only the per-batch multipliers are
    XLA-compiled, in calls (or announced runs) large enough to repay it
    (:attr:`FUSE_AFTER`, :meth:`expect`). Models computing in float16/bfloat16 are refused unless
    ``allow_mixed_precision=True``. ``rules`` are layer rules for this model only (a layer
    class or class name -> ``fn(ctx, layer, args, kwargs)``, as for
    :func:`kipoi_deeplift.register_rule`, which registers for every model).
    """

    def __init__(self, model, rule: str = "rescale", task_names: Sequence[str] | None = None,
                 tolerance: float = 1e-3, eps: float = 1e-7, maxpool: str = "exact",
                 jit: bool = False, allow_mixed_precision: bool = False,
                 rules: Mapping[Any, Any] | None = None):
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}: use one of {', '.join(RULES)}")
        if maxpool not in MAXPOOL_MODES:
            raise ValueError(f"unknown maxpool mode {maxpool!r}: use one of "
                             f"{', '.join(MAXPOOL_MODES)}")
        if not hasattr(model, "inputs") and hasattr(model, "model"):  # a Kipoi model wrapper
            model = model.model
        self.model = model
        self.rule = rule
        self.maxpool = maxpool
        self.jit = jit
        self.mode = METHODS[rule][0]
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
        self.tasks = self._make_tasks(task_names)
        self._expected = 0    # sequences of a run announced by expect() (see FUSE_AFTER)

    #: Tiered compilation: the per-batch multipliers (secants, max-pool weights) run as
    #: XLA-compiled functions in a call that carries at least this many tensor elements (its
    #: sequences x (K + 1) rows x every tensor of the model), or in a run announced as that
    #: long with :meth:`expect` (genome-wide `score` does); smaller calls run them as plain
    #: ops. Measured on the benchmark models (benchmarks/first_call.py: 2 CPU cores, fresh
    #: process, first call): below it XLA's compilation is most of a small run (DeepBind-size,
    #: 64 sequences: 0.43 s tiered, 0.65 s with XLA; Basset-size, one sequence: 0.96 s and
    #: 1.22 s); above it XLA pays within the first call (BPNet-size, one sequence, 2.6e7
    #: elements: 0.83 s with, 1.20 s without). Decided per call, so that a second small call
    #: never pays a compilation.
    FUSE_AFTER = 1e7

    # -- public ---------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        """The model's input names, in model order."""
        return list(self.plan.input_names)

    @property
    def task_names(self) -> list[str]:
        """Every output unit's task name, in output order."""
        return [t.name for t in self.tasks]

    def explain(self, x, references: Any = "dinuc-shuffle", n_references: int = 20,
                seed: int = 0, tasks: Sequence[int | str] | None = None,
                layers: Sequence[str] = (), hypothetical: bool = False,
                batch_size: int | None = None, progress: bool | None = None,
                target_layer: str | None = None, target_neuron: Any = None,
                index_offset: int = 0, memory_cap: int | None = None) -> Explanation:
        """Contributions of every input position to each task, for every sequence of ``x``.

        ``x`` is an array for a one-input model, else a dict by input name or a list in model
        order. ``references`` is a name (``dinuc-shuffle``, ``shuffle``, ``zeros``, ``uniform``,
        ``gc:FRACTION``) applied to the DNA inputs (others get zeros), an array ((L, 4) one,
        (K, L, 4) shared, (N, K, L, 4) per sequence), or a dict by input name of either.
        ``layers`` names hidden layers whose per-neuron contributions to return.
        ``target_layer`` with ``target_neuron`` (a flat index, an index tuple within the
        layer's output such as ``(position, filter)``, or a list of them) explains hidden
        neurons instead of the model's outputs: e.g. which bases drive one first-layer filter.
        ``index_offset`` is the index of ``x[0]`` in a larger data set: random references are
        seeded by (seed, index), so a data set scored in pieces gets the same references.
        ``batch_size=None`` picks the largest batch whose estimated memory fits ``memory_cap``
        bytes (default: a quarter of the free memory, at most 8 GiB; see
        :mod:`kipoi_deeplift.core.batching`). Batches are padded to one shape (the pass
        compiles once) and the next batch's references are made while a batch is scored.
        """
        xs = self._inputs(x)
        n = xs[0].shape[0]
        run = self._settings(xs, references, n_references, seed, tasks, layers, hypothetical,
                             target_layer, target_neuron, n_sequences=n)
        if self.mode == "ism":
            res = self._ism(xs, list(run.tasks), hypothetical, progress, seed)
            _check_finite(res, index_offset)
            return res
        if batch_size is None:
            batch_size = self.batch_size(run.k, n, xs, memory_cap)
        batches = (([v[a:a + batch_size] for v in xs], index_offset + a, a)
                   for a in range(0, n, batch_size))
        collected = _Collector(n)
        with batching.progress(n, progress if progress is not None else
                               (None if n > batch_size else False)) as bar:
            # One batch: nothing to overlap, so no threads to start.
            for out, start in self._run(run, batches, batch_size, xs, checked=True,
                                        expected=max(n, self._expected),
                                        depth=2 if n > batch_size else 0):
                collected.put(start, out)
                bar.update(len(out[0]["delta"]))
        res = collected.explanation(run, self.rule, self.plan.input_names)
        if self.mode == "deeplift":
            self._check_convergence(res)
        return res

    def stream(self, batches: Iterable[tuple[Any, int, Any]], batch_size: int,
               references: Any = "dinuc-shuffle", n_references: int = 20, seed: int = 0,
               tasks: Sequence[int | str] | None = None, layers: Sequence[str] = (),
               hypothetical: bool = False, target_layer: str | None = None,
               target_neuron: Any = None, depth: int = 2,
               workers: int | None = None) -> Iterator[tuple[Explanation, Any]]:
        """Explain a stream of batches, as a genome-wide run reads them: yields
        ``(explanation, tag)`` for each ``(x, index_offset, tag)`` of ``batches``, in order.

        ``x`` is a batch of at most ``batch_size`` sequences (as :meth:`explain` takes it),
        ``index_offset`` the index of its first sequence in the whole run (references are
        seeded by (seed, index); per-sequence reference arrays are indexed by it) and ``tag``
        anything to hand back with the result. An item may carry a fourth element, a
        :class:`~kipoi_deeplift.core.references.Draws` (keys by locus, strands) that seeds its
        random references instead of the index. ``batches`` is read (one thread) and each
        batch's references are made (``workers`` threads; default: a quarter of the cores, 1
        to 4) in the background, up to ``depth`` batches ahead of the pass, so reading,
        reference making and the pass overlap; every batch runs padded to
        ``batch_size`` (one compiled shape). The other arguments are :meth:`explain`'s,
        settled on the first batch. Errors are ``ValueError`` naming the batch's sequences.
        Summation-to-delta is left to the caller (``max_relative_error`` of each result).
        """
        it = iter(batches)
        first = next(it, None)
        if first is None:
            return
        try:
            xs = self._inputs(first[0])
            run = self._settings(xs, references, n_references, seed, tasks, layers,
                                 hypothetical, target_layer, target_neuron)
        except ValueError as e:
            raise _in_batch(e, first[1], first[0]) from e
        if self.mode == "ism":     # no references to make: each batch as it comes
            for x, offset, tag, *_ in itertools.chain([first], it):
                try:
                    res = self._ism(self._inputs(x), list(run.tasks), hypothetical, False, seed)
                    _check_finite(res, offset)
                except ValueError as e:
                    raise _in_batch(e, offset, x) from e
                yield res, tag
            return

        def items():
            yield (xs, *first[1:])
            yield from it

        if workers is None:
            workers = max(1, min(4, (os.cpu_count() or 1) // 4))
        for out, tag in self._run(run, items(), batch_size, xs, checked=False, depth=depth,
                                  expected=self._expected, workers=workers):
            yield _explanation(out, run, self.rule, self.plan.input_names), tag

    def expect(self, sequences: int) -> None:
        """Announce a run of ``sequences`` sequences to come batch by batch (as ``score``
        streams them): :attr:`FUSE_AFTER` then weighs the whole run, not each batch, so a
        long run's batches are XLA-compiled from the first."""
        self._expected = max(self._expected, int(sequences))

    # -- the batch loop -----------------------------------------------------------------
    def _run(self, run: "_Settings", items: Iterable, batch_size: int, like: list,
             checked: bool, expected: int = 0, depth: int = 2,
             workers: int = 1) -> Iterator[tuple[dict, Any]]:
        """The pass over ``items`` ((inputs, index offset, tag) each), references made and
        batches padded on ``workers`` background threads, ``depth`` batches ahead (``0``:
        here, before each pass); yields (the batch's outputs trimmed to its sequences, tag)
        in order. ``checked``: the inputs were checked
        already (:meth:`_inputs`). ``like``: inputs shaped as the run's (for the tensor count
        that decides compilation)."""
        per_row = (run.k + 1) * sum(int(np.prod(s)) for s in self.tensor_shapes(like).values())
        fn = self._backend.function(
            run.tasks, run.layers, run.hyp_inputs,
            fuse=max(batch_size, expected) * per_row >= self.FUSE_AFTER,
            onehot_inputs=run.dna_inputs)

        def prepare(item):
            x, offset, tag, *more = item
            draws = more[0] if more else None
            try:
                xb = x if checked else self._inputs(x)
                n = xb[0].shape[0]
                if n > batch_size:
                    raise ValueError(f"a batch of {n} sequences is larger than batch_size "
                                     f"{batch_size}")
                # explain indexes per-sequence references by rows of its own x (tag: the
                # batch's first), a stream by the run's index.
                rows = range(tag, tag + n) if checked else range(offset, offset + n)
                keys = range(offset, offset + n) if draws is None else draws.keys
                rb = [refs.batch_references(spec, v, run.n_references, run.seed, keys, name,
                                            rows, None if draws is None else draws.reverse)
                      .repeated(run.k).padded(n, batch_size)
                      for spec, v, name in zip(run.specs, xb, self.plan.input_names)]
            except ValueError as e:
                if checked:
                    raise
                raise _in_batch(e, offset, x) from e
            return [_pad(v, batch_size) for v in xb], rb, n, offset, tag

        prepared = pipeline.ahead(prepare, items, depth=depth, workers=workers,
                                  name="references") if depth else map(prepare, items)
        for xb, rb, n, offset, tag in prepared:
            out = _map(lambda a: a[:n], fn(xb, rb))
            _check_rows(out, run.tasks, offset)
            yield out, tag

    # -- a run's settings -------------------------------------------------------------------
    def _settings(self, xs, references, n_references, seed, tasks, layers, hypothetical,
                  target_layer, target_neuron, n_sequences: int | None = None) -> "_Settings":
        """Everything a run decides once, checked before any pass: references per input and
        how many, the tasks, the layers, the inputs with hypothetical contributions.
        ``n_sequences``: the sequences of the whole run where known (per-sequence reference
        arrays must cover them)."""
        if isinstance(n_references, bool) or not isinstance(n_references, (int, np.integer)) \
                or n_references < 1:
            raise ValueError(f"n_references must be a positive integer, got {n_references!r}")
        specs = self._reference_specs(references, xs)
        k = self._reference_count(specs, n_references, xs, n_sequences)
        if target_layer is not None:
            if tasks is not None:
                raise ValueError("give tasks= or target_layer=, not both")
            task_list = self.hidden_tasks(target_layer, target_neuron, xs)
        elif target_neuron is not None:
            raise ValueError("target_neuron= needs target_layer= (the layer it belongs to)")
        else:
            task_list = self.select_tasks(tasks)
        layers = tuple(layers)
        for name in layers:
            self.layer_key(name)
        if layers and self.mode == "ism":
            raise ValueError("in-silico mutagenesis gives no per-neuron contributions: "
                             "drop layers= (or use a DeepLIFT rule)")
        dna = tuple(i for i, v in enumerate(xs) if v.ndim == 3 and refs.is_one_hot(v))
        hyp_inputs = dna if hypothetical else ()
        if hypothetical and not hyp_inputs:
            raise ValueError("hypothetical=True needs a one-hot DNA input of shape (N, L, 4)")
        return _Settings(tuple(specs), k, int(n_references), int(seed), tuple(task_list),
                         layers, hyp_inputs, dna,
                         references if isinstance(references, str) else "array")

    # -- inputs, references, tasks ---------------------------------------------------------
    def _inputs(self, x) -> list[np.ndarray]:
        names = self.plan.input_names
        if isinstance(x, Mapping):
            missing = [k for k in names if k not in x]
            extra = [k for k in x if k not in names]
            if missing or extra:
                raise ValueError(f"inputs by name must be exactly {names}; missing {missing}, "
                                 f"unknown {extra}")
            values = [x[k] for k in names]
        elif isinstance(x, (list, tuple)):
            if len(x) != len(names):
                raise ValueError(f"the model has {len(names)} inputs {names}, got {len(x)} arrays")
            values = list(x)
        else:
            if len(names) != 1:
                raise ValueError(f"the model has {len(names)} inputs {names}: pass a dict by "
                                 "input name or a list in that order")
            values = [x]
        out = []
        for name, v, shape in zip(names, values, self.plan.input_shapes):
            v = np.asarray(v)
            if v.dtype.kind not in "biuf":
                raise TypeError(f"input {name!r} has dtype {v.dtype}; expected numbers "
                                "(e.g. one-hot float32)")
            if v.ndim != len(shape) or any(d is not None and d != s
                                           for d, s in zip(shape[1:], v.shape[1:])):
                want = "(N, " + ", ".join("?" if d is None else str(d) for d in shape[1:]) + ")"
                raise ValueError(f"input {name!r} has shape {v.shape}; the model expects {want}")
            v = v.astype(np.float32, copy=False)  # float32 batches: no copy
            bad = ~np.isfinite(v)
            if bad.any():
                first = int(np.argwhere(bad)[0][0])
                raise ValueError(f"input {name!r} contains NaN or inf (first at sequence {first})")
            out.append(v)
        if len({v.shape[0] for v in out}) != 1:
            raise ValueError(f"inputs differ in number of sequences: "
                             f"{ {n: v.shape[0] for n, v in zip(names, out)} }")
        if out[0].shape[0] == 0:
            raise ValueError("no sequences to explain (the input is empty)")
        return out

    def _reference_specs(self, references, xs) -> list:
        names = self.plan.input_names
        if isinstance(references, Mapping):
            unknown = [k for k in references if k not in names]
            if unknown:
                raise ValueError(f"references given for unknown inputs {unknown}; inputs: {names}")
            given = dict(references)
        elif isinstance(references, (list, tuple)) and len(names) > 1:
            if len(references) != len(names):
                raise ValueError(f"references: the model has {len(names)} inputs, got "
                                 f"{len(references)}")
            given = dict(zip(names, references))
        elif isinstance(references, str):
            refs.validate_reference_name(references)
            given = {n: references for n, v in zip(names, xs)
                     if refs.is_one_hot(v) and v.ndim == 3}
            if not given and len(names) == 1:
                given = {names[0]: references}   # let the input check explain the failure
        else:
            if len(names) != 1:
                raise ValueError("reference arrays for a model with several inputs must be a "
                                 "dict by input name")
            given = {names[0]: references}
        return [given.get(n, "zeros") for n in names]

    def _reference_count(self, specs, n_references, xs, n_sequences: int | None) -> int:
        counts = set()
        for spec, v, name in zip(specs, xs, self.plan.input_names):
            c = refs.reference_count(spec, n_references, v.shape[1:])
            if c < 1:
                # Shape errors get their full message from make_references.
                refs.make_references(spec, v[:1], n_references, 0, [0], name)
            if not isinstance(spec, str) and np.ndim(spec) == v.ndim + 1 \
                    and n_sequences is not None and np.shape(spec)[0] != n_sequences:
                raise ValueError(f"per-sequence references for input {name!r} cover "
                                 f"{np.shape(spec)[0]} sequences, the input has {n_sequences}")
            if isinstance(spec, str) and spec == "dinuc-shuffle":
                refs.require_one_hot(v, name)
            counts.add(c)
        if len(counts - {1}) > 1:
            raise ValueError(f"inputs have different numbers of references {sorted(counts)}")
        return max(counts)

    def _make_tasks(self, task_names) -> list[Task]:
        tasks = []
        single = len(self.plan.output_names) == 1
        for key, name, shape in zip(self.plan.output_keys, self.plan.output_names,
                                    self.plan.output_shapes):
            units = int(np.prod([d for d in shape[1:]])) if len(shape) > 1 else 1
            for u in range(units):
                if units == 1:
                    label = name
                else:
                    label = str(u) if single else f"{name}_{u}"
                tasks.append(Task(label, key, u))
        if task_names is not None:
            task_names = list(task_names)
            if len(task_names) != len(tasks):
                raise ValueError(f"task_names has {len(task_names)} names; the model has "
                                 f"{len(tasks)} output units")
            tasks = [Task(str(nm), t.key, t.unit) for nm, t in zip(task_names, tasks)]
        return tasks

    def output_of(self, task: Task) -> tuple[str, str | None, int]:
        """(the output a task belongs to, ``sigmoid``/``softmax`` when that output ends in one
        and the task's scores and ``preds`` are taken at its logit, the output's number of
        units); a hidden neuron's task gives (its layer's name, None, 1)."""
        for key, name, shape in zip(self.plan.output_keys, self.plan.output_names,
                                    self.plan.output_shapes):
            if key == task.key:
                units = int(np.prod(shape[1:])) if len(shape) > 1 else 1
                return name, self._backend.final_activations().get(key), units
        return task.name.split("[")[0], None, 1

    def layer_key(self, name: str) -> int:
        """The plan's tensor key of a layer's output, or a ``ValueError`` naming the layers."""
        if name not in self.plan.layer_outputs:
            raise ValueError(f"unknown layer {name!r}; layers: "
                             f"{', '.join(self.plan.layer_outputs)}")
        return self.plan.layer_outputs[name][0]

    def tensor_shapes(self, xs) -> dict[int, tuple]:
        """Shapes (batch axis excluded) of every tensor of the plan for inputs like ``xs``
        (arrays (N, ...) per input), from one plain pass over their first row."""
        return self._backend.tensor_shapes(xs)

    def batch_size(self, n_references: int, most: int, xs: Sequence[np.ndarray] | None = None,
                   memory_cap: int | None = None, device: str | None = None) -> int:
        """The largest batch (1 to ``most`` sequences, and at most
        :data:`kipoi_deeplift.core.batching.MOST` on the device) whose estimated memory with
        ``n_references`` references each fits ``memory_cap`` bytes (default: a quarter of the
        free memory of ``device``, by default the one the passes run on, at most 8 GiB; see
        :mod:`kipoi_deeplift.core.batching`), for inputs like ``xs`` (arrays (N, ...) per
        input; default: the model's declared shapes, and 32 where a length is not fixed)."""
        device = device or self._backend.device_kind()
        most = min(most, batching.most(device))
        if xs is None:
            shapes = [tuple(s[1:]) for s in self.plan.input_shapes]
            if any(d is None for s in shapes for d in s):
                return min(most, 32)
            xs = [np.zeros((1,) + s, np.float32) for s in shapes]
        cap = memory_cap or batching.default_cap(device)
        return batching.choose(self.tensor_shapes(xs).values(), n_references, most, cap)

    def hidden_tasks(self, layer: str, neuron, xs: Sequence[np.ndarray] | None = None
                     ) -> list[Task]:
        """Tasks for neurons of hidden ``layer``: ``neuron`` is a flat index, an index tuple
        within the layer's output (batch axis excluded; ``None`` at an axis sums the neurons
        along it, e.g. ``(None, 3)``: filter 3 of a convolution over every position), or a
        list of them. ``xs`` are inputs like those to explain (default: the model's declared
        shapes), for layers whose shape depends on the input length."""
        key = self.layer_key(layer)
        if xs is None:
            shapes = [tuple(s[1:]) for s in self.plan.input_shapes]
            if any(d is None for s in shapes for d in s):
                raise ValueError(f"target_layer={layer!r}: the model's input length is not "
                                 "fixed; give inputs")
            xs = [np.zeros((1,) + s, np.float32) for s in shapes]
        shape = self.tensor_shapes(xs)[key]
        size = int(np.prod(shape))
        if neuron is None:
            raise ValueError(f"target_layer={layer!r} needs target_neuron= (a flat index < "
                             f"{size} or an index tuple within shape {shape})")
        many = isinstance(neuron, list) or (isinstance(neuron, np.ndarray) and neuron.ndim > 0
                                            and not isinstance(neuron, tuple))
        chosen = []
        for idx in (list(neuron) if many else [neuron]):
            if isinstance(idx, (tuple, np.ndarray)) and len(idx) == len(shape):
                fixed = [None if i is None else int(i) for i in idx]
                if any(i is not None and not 0 <= i < d for i, d in zip(fixed, shape)):
                    raise ValueError(f"target_neuron {tuple(idx)} is outside layer {layer!r}'s "
                                     f"output shape {shape}")
                grid = np.indices(shape).reshape(len(shape), -1)
                keep = np.ones(grid.shape[1], bool)
                for axis, i in enumerate(fixed):
                    if i is not None:
                        keep &= grid[axis] == i
                flats = tuple(int(f) for f in np.flatnonzero(keep))
                unit: int | tuple = flats[0] if len(flats) == 1 else flats
                label = ",".join("*" if i is None else str(i) for i in fixed)
            elif isinstance(idx, (int, np.integer)) and not isinstance(idx, bool):
                if not 0 <= int(idx) < size:
                    raise ValueError(f"target_neuron {int(idx)} out of range: layer {layer!r} "
                                     f"has {size} neurons (shape {shape})")
                unit = int(idx)
                label = ",".join(map(str, np.unravel_index(unit, shape)))
            else:
                raise ValueError(f"target_neuron {idx!r}: give a flat index or an index tuple "
                                 f"of length {len(shape)} (layer {layer!r} has shape {shape})")
            chosen.append(Task(f"{layer}[{label}]", key, unit))
        return chosen

    def select_tasks(self, tasks) -> list[Task]:
        """The tasks named (or indexed) by ``tasks``, or given as :class:`Task` objects of this
        model (as ``select_tasks`` returns them, so a caller resolves names once); all when
        ``None``."""
        if tasks is None:
            return list(self.tasks)
        if isinstance(tasks, (str, int, np.integer, Task)):
            tasks = [tasks]
        by_name = {t.name: t for t in self.tasks}
        chosen = []
        for t in tasks:
            if isinstance(t, Task) and (t in self.tasks or any(
                    t.key == keys[0] for keys in self.plan.layer_outputs.values())):
                chosen.append(t)     # an output's task, or a hidden neuron's (hidden_tasks)
            elif isinstance(t, (int, np.integer)) and not isinstance(t, bool):
                if not -len(self.tasks) <= t < len(self.tasks):
                    raise ValueError(f"task index {t} out of range: the model has "
                                     f"{len(self.tasks)} tasks")
                chosen.append(self.tasks[t])
            elif str(t) in by_name:
                chosen.append(by_name[str(t)])
            else:
                shown = ", ".join(list(by_name)[:20]) + (" ..." if len(by_name) > 20 else "")
                raise ValueError(f"unknown task {t!r}; tasks: {shown}")
        if not chosen:
            raise ValueError("no tasks selected")
        return chosen

    # -- in-silico mutagenesis ----------------------------------------------------------------
    #: Variant rows per forward call of in-silico mutagenesis.
    ISM_ROWS = 2048

    def _ism(self, xs, tasks, hypothetical: bool, progress, seed: int) -> Explanation:
        """Every single-base substitution of the DNA input, all tasks from each forward pass.

        Per position l and base b, ``ism[l, b] = f(x with b at l) - f(x)``; ``hyp_contrib`` is
        ``ism`` minus its mean over the 4 bases at each position (so that, as for DeepLIFT's
        hypothetical contributions, its value at the observed base is that base's
        contribution), ``contrib`` is ``hyp_contrib * x``, ``delta`` the sum of ``contrib``
        (there is no reference) and ``convergence`` zero. Other inputs are held fixed (zero
        contributions). (N, L, 4) arrays, as DeepLIFT's.
        """
        dna = [i for i, v in enumerate(xs) if refs.is_one_hot(v) and v.ndim == 3 and
               v.shape[-1] == 4]
        if not dna:
            raise ValueError("in-silico mutagenesis needs a one-hot DNA input (N, L, 4)")
        d = dna[0]
        fn = self._backend.predict(tuple(tasks))
        n, length = xs[d].shape[:2]
        eye = np.eye(4, dtype=np.float32)
        seqs_per_call = max(1, self.ISM_ROWS // (4 * length + 1))
        ism = np.zeros((n, length, 4, len(tasks)), np.float32)
        pred = np.zeros((n, len(tasks)), np.float32)
        with batching.progress(n, progress if progress is not None else None) as bar:
            for start in range(0, n, seqs_per_call):
                stop = min(n, start + seqs_per_call)
                rows = []
                for i in range(start, stop):
                    v = np.repeat(xs[d][i][None], 4 * length + 1, axis=0)
                    grid = v[1:].reshape(length, 4, length, 4)
                    grid[np.arange(length), :, np.arange(length), :] = eye
                    rows.append(v)
                feed = [np.concatenate(rows) if j == d else
                        np.repeat(x[start:stop], 4 * length + 1, axis=0)
                        for j, x in enumerate(xs)]
                out = np.concatenate([fn([f[a:a + self.ISM_ROWS] for f in feed])
                                      for a in range(0, len(feed[0]), self.ISM_ROWS)])
                out = out.reshape(stop - start, 4 * length + 1, len(tasks), 2)
                base = out[:, 0, :, 0]                                  # f(x)
                ism[start:stop] = out[:, 1:, :, 0].reshape(stop - start, length, 4,
                                                           len(tasks)) - base[:, None, None]
                pred[start:stop] = out[:, 0, :, 1]
                bar.update(stop - start)
        names = self.plan.input_names
        contrib = {name: {} for name in names}
        hyp = {names[d]: {}} if hypothetical else {}
        delta, conv, preds = {}, {}, {}
        for j, task in enumerate(tasks):
            centred = ism[..., j] - ism[..., j].mean(-1, keepdims=True)
            c = centred * xs[d]
            for i, name in enumerate(names):
                contrib[name][task.name] = c if i == d else np.zeros_like(xs[i])
            if hypothetical:
                hyp[names[d]][task.name] = centred
            delta[task.name] = c.reshape(n, -1).sum(1)
            conv[task.name] = np.zeros(n, np.float32)
            preds[task.name] = pred[:, j]
        return Explanation(contrib=contrib, delta=delta, convergence=conv, preds=preds,
                           hyp_contrib=hyp, rule=self.rule, references="none",
                           n_references=0, seed=seed, tasks=[t.name for t in tasks])

    # -- results ----------------------------------------------------------------------------
    def _check_convergence(self, res: Explanation) -> None:
        worst, worst_task = 0.0, None
        for task, err in res.convergence.items():     # as Explanation.max_relative_error
            scaled = err / np.maximum(1.0, np.abs(res.delta[task]))
            if scaled.size and scaled.max() > worst:
                worst, worst_task = float(scaled.max()), task
        if worst <= self.tolerance:
            return
        warnings.warn(
            f"summation-to-delta error {worst:.3g} (relative) exceeds tolerance "
            f"{self.tolerance:g} for task {worst_task!r}; {self.blame()}",
            ConvergenceWarning, stacklevel=3)

    def blame(self) -> str:
        """Which layer types most likely break summation-to-delta in this model, and why."""
        inexact = self._backend.inexact_layers(self.maxpool)
        return ("most likely " + "; ".join(inexact)) if inexact else \
            "no layer here uses an inexact rule: most likely float32 round-off"


class ConvergenceWarning(UserWarning):
    """Contributions do not add up to f(x) - f(reference) within the tolerance."""


def _check_finite(res: Explanation, index_offset: int = 0) -> None:
    """NaN compares false with every tolerance: a non-finite result is refused, never passed
    off as exact."""
    for task, delta in res.delta.items():
        bad = ~np.isfinite(delta) | ~np.isfinite(res.convergence[task])
        for by_task in res.contrib.values():
            a = by_task[task]
            bad |= ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        if bad.any():
            raise _non_finite(task, bad, index_offset)


@dataclass(frozen=True)
class _Settings:
    """What a run decides once (:meth:`DeepLift._settings`)."""

    specs: tuple          # per input: a reference name or array
    k: int                # references per sequence
    n_references: int
    seed: int
    tasks: tuple          # Task objects
    layers: tuple         # hidden layers' names
    hyp_inputs: tuple     # indices of the inputs with hypothetical contributions
    dna_inputs: tuple     # indices of the one-hot DNA inputs (as the first batch has them)
    references: str       # what Explanation.references records


def _rows(x) -> int:
    """Sequences in a batch as given (an array, a dict or a list of arrays)."""
    first = next(iter(x.values())) if isinstance(x, Mapping) else \
        x[0] if isinstance(x, (list, tuple)) else x
    return int(np.shape(first)[0])


def _pad(v: np.ndarray, rows: int) -> np.ndarray:
    """``v`` (n, ...) followed by copies of its first row, to ``rows`` rows."""
    if v.shape[0] == rows:
        return v
    return np.concatenate([v, np.repeat(v[:1], rows - v.shape[0], axis=0)])


def _map(f, out, *more):
    """``f`` applied to every array of the pass's outputs (nested lists and dicts), with the
    arrays at the same place in ``more`` (trees of the same shape)."""
    if isinstance(out, dict):
        return {key: _map(f, v, *(m[key] for m in more)) for key, v in out.items()}
    if isinstance(out, list):
        return [_map(f, v, *(m[i] for m in more)) for i, v in enumerate(out)]
    return f(out, *more)


def _check_rows(out: list, tasks: Sequence[Task], offset: int) -> None:
    """NaN compares false with every tolerance: a batch with a non-finite result (``finite``,
    per row, from the pass) is refused, never passed off as exact."""
    for task, o in zip(tasks, out):
        bad = ~o["finite"]
        if bad.any():
            raise _non_finite(task.name, bad, offset)


def _non_finite(task: str, bad: np.ndarray, offset: int) -> ValueError:
    """The error for sequences (``bad``, (n,) bool, the first at index ``offset``) whose
    scores are not finite."""
    return ValueError(f"task {task!r}: the model gave NaN or inf for {int(bad.sum())} "
                      f"sequence(s), first at sequence {offset + int(np.argmax(bad))} (at the "
                      "input or at a reference): check the inputs, the references and the "
                      "weights")


def _in_batch(e: ValueError, offset: int, x) -> ValueError:
    """``e`` raised on the batch ``x`` of a stream whose first sequence is ``offset``,
    naming its sequences."""
    return ValueError(f"sequences {offset}-{offset + _rows(x) - 1}: {e}")


def _explanation(out: list, run: _Settings, rule: str, names: Sequence[str]) -> Explanation:
    """An Explanation of the pass's outputs (``out``: a list over tasks of its dicts)."""
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
                       tasks=[t.name for t in run.tasks])


class _Collector:
    """Batches' outputs copied into arrays of the whole run as they come (one copy, no
    concatenation at the end)."""

    def __init__(self, n: int):
        self.n = n
        self.whole = None

    def put(self, start: int, out: list) -> None:
        """One batch's outputs (the pass's list over tasks), for sequences from ``start``."""
        if self.whole is None:
            self.whole = _map(lambda a: np.empty((self.n,) + a.shape[1:], a.dtype), out)
        _map(lambda a, whole: whole.__setitem__(slice(start, start + len(a)), a), out,
             self.whole)

    def explanation(self, run: _Settings, rule: str, names: Sequence[str]) -> Explanation:
        """The whole run's Explanation."""
        return _explanation(self.whole, run, rule, names)
