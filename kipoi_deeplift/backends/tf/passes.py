"""The TensorFlow side of the engine: one compiled pass over the resolved steps.

:class:`TFPass` is the seam between the framework-neutral engine (inputs, references, tasks,
the batch loop, collection and checks, in :mod:`kipoi_deeplift.core.engine`) and TensorFlow: it
takes numpy arrays and returns numpy arrays. A pass runs the inputs and their references
through the model's steps (each with its resolved rules) and, per task, one backward pass whose
gradients at the reference rows are the DeepLIFT multipliers.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf

from ...core.references import TOKEN_TABLE
from .context import Context
from .nonlinear import NONLINEAR_RULES
from .rules import chain_scale


class TFPass:
    """Compiled passes over ``plan``'s steps with their resolved ``specs``.

    Parameters
    ----------
    plan : Plan
    specs : sequence of StepSpec
        One per step (:func:`kipoi_deeplift.backends.tf.resolve.resolve`).
    mode : str
        ``deeplift`` or ``gradient``.
    method : str
        The method's name (``gradient`` returns plain gradients as contributions).
    maxpool : str
    eps : float
    jit : bool
        Compile the whole pass with XLA.
    readout : dict of int to int
        Tensor keys -> where their neurons' contributions are read (see
        :func:`kipoi_deeplift.backends.tf.resolve.readout`).
    """

    def __init__(self, plan, specs: Sequence, mode: str, method: str, maxpool: str, eps: float,
                 jit: bool, readout: dict):
        self.plan, self.specs, self.mode, self.rule = plan, list(specs), mode, method
        self.maxpool, self.eps, self.jit, self.readout = maxpool, eps, jit, readout
        self._fns: dict[tuple, Any] = {}
        self._shapes: dict[tuple, dict] = {}
        #: input shapes -> the plan's outputs for the first row of the inputs that
        #: :meth:`tensor_shapes` ran (the backend compares them with the model's own)
        self.first_outputs: dict[tuple, list] = {}

    @staticmethod
    def device_kind() -> str:
        """Where the passes run (for the batch-size cap).

        Returns
        -------
        str
            'GPU' where TensorFlow sees one, else 'CPU'.
        """
        return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"

    def function(self, tasks: tuple, layers: tuple, hyp_inputs: tuple,
                 fuse: bool = True, onehot_inputs: tuple = ()) -> Callable:
        """The compiled pass for ``tasks``.

        Parameters
        ----------
        tasks : tuple of Task
        layers : tuple of str
        hyp_inputs : tuple of int
        fuse : bool
            The secants and max-pool weights as XLA-compiled functions (faster per batch; each
            compiles once per shape).
        onehot_inputs : tuple of int
            Inputs whose rows are one-hot DNA (their contributions take fewer passes over the
            reference rows; those of ``hyp_inputs`` are).

        Returns
        -------
        callable
            ``fn(xs, rs)``: inputs (each (n, ...), numpy) and their references (one
            :class:`~kipoi_deeplift.core.references.ReferenceBatch` per input: tokens, rows or
            shared, made into the rows the pass runs on inside the graph) -> per task a dict of
            numpy arrays: contrib/hyp (per input, (n, ...)), neuron (per layer), delta,
            convergence, pred and finite ((n,)).
        """
        fuse = fuse or self.jit
        onehot = tuple(sorted(set(onehot_inputs) | set(hyp_inputs)))

        def run(xs, rs):
            """Numpy in, numpy out (see :meth:`function`)."""
            compiled = self._compiled(tasks, layers, hyp_inputs, onehot,
                                      tuple(r.form for r in rs), fuse)
            out = compiled([tf.constant(v) for v in xs], [tf.constant(r.array) for r in rs])
            return tf.nest.map_structure(lambda t: t.numpy(), out)

        return run

    def predict(self, tasks: tuple) -> Callable:
        """One forward pass for every task.

        Parameters
        ----------
        tasks : tuple of Task

        Returns
        -------
        callable
            ``fn(xs)``: numpy inputs (each (rows, ...)) -> numpy (rows, len(tasks), 2), per task
            the objective (see :meth:`_objective`) and the scored output.
        """
        key = ("predict", tasks)
        if key not in self._fns:
            spec = [tf.TensorSpec((None,) + tuple(s[1:]), tf.float32)
                    for s in self.plan.input_shapes]

            def forward(xs):
                ctx = Context("gradient", tf.shape(xs[0])[0], 0, dispatch=NONLINEAR_RULES,
                              default_rule="gradient")
                vals = self._forward(ctx, xs)
                return tf.stack([tf.stack(self._objective(ctx, vals, task), -1)
                                 for task in tasks], 1)

            self._fns[key] = tf.function(forward, input_signature=[spec], autograph=False,
                                         reduce_retracing=True, jit_compile=self.jit or None)
        compiled = self._fns[key]
        return lambda xs: compiled([tf.constant(v) for v in xs]).numpy()

    @staticmethod
    def _objective(ctx: Context, vals: dict, task) -> tuple:
        """(objective, scored output) of ``task`` for every row: the output unit (the logit
        where the model ends in sigmoid/softmax), summed over the units of a tuple; for a
        softmax the objective is centred on the mean logit (the paper's normalisation)."""
        z, act = ctx.logits.get(task.key, (vals[task.key], None))
        flat = tf.reshape(z, [tf.shape(z)[0], -1])
        if isinstance(task.unit, tuple):   # neurons summed (a filter over positions)
            raw = tf.reduce_sum(tf.gather(flat, list(task.unit), axis=1), axis=1)
        else:
            raw = flat[:, task.unit]
        t = raw - tf.reduce_mean(flat, axis=1) if act == "softmax" else raw
        return t, raw

    def tensor_shapes(self, xs) -> dict[int, tuple]:
        """Shapes of every tensor of the plan for inputs like ``xs``, from one plain pass over
        their first row.

        Parameters
        ----------
        xs : sequence of np.ndarray
            Per input, (N, ...).

        Returns
        -------
        dict of int to tuple
            Tensor key -> shape, batch axis excluded.
        """
        key = tuple(tuple(v.shape[1:]) for v in xs)
        if key not in self._shapes:
            ctx = Context("gradient", 1, 0, dispatch=NONLINEAR_RULES, default_rule="gradient")
            vals = self._forward(ctx, [tf.constant(v[:1]) for v in xs])
            self._shapes[key] = {k: tuple(v.shape[1:]) for k, v in vals.items()}
            self.first_outputs[key] = [vals[k].numpy() for k in self.plan.output_keys]
        return self._shapes[key]

    def _compiled(self, tasks: tuple, layers: tuple, hyp_inputs: tuple, onehot: tuple,
                  forms: tuple, fuse: bool):
        key = (tasks, layers, hyp_inputs, onehot, forms, fuse)
        if key not in self._fns:
            spec = [tf.TensorSpec((None,) + tuple(s[1:]), tf.float32)
                    for s in self.plan.input_shapes]
            ref_spec = [tf.TensorSpec((None, s[1]), tf.uint8) if form == "tokens" else x
                        for form, s, x in zip(forms, self.plan.input_shapes, spec)]
            self._fns[key] = tf.function(
                lambda xs, rs: self._pass(xs, rs, forms, tasks, layers, hyp_inputs, onehot,
                                          fuse),
                input_signature=[spec, ref_spec], reduce_retracing=True, autograph=False,
                jit_compile=self.jit or None)
        return self._fns[key]

    @staticmethod
    def _reference_rows(xs, rs, forms) -> tuple[list, Any]:
        """Every input's reference rows (n*k, ...) from the forms they travel in, and k:
        tokens become one-hot rows here, shared references are repeated for every sequence."""
        n = tf.shape(xs[0])[0]
        per_seq = [i for i, f in enumerate(forms) if f != "shared"]
        k = tf.shape(rs[per_seq[0]])[0] // n if per_seq else \
            tf.reduce_max(tf.stack([tf.shape(r)[0] for r in rs]))
        rows = []
        for r, form in zip(rs, forms):
            if form == "tokens":
                r = tf.gather(tf.constant(TOKEN_TABLE), tf.cast(r, tf.int32))
            elif form == "shared":
                times = tf.concat([[n * k // tf.shape(r)[0]],
                                   tf.ones([tf.rank(r) - 1], tf.int32)], 0)
                r = tf.tile(r, times)
            rows.append(r)
        return rows, k

    def _forward(self, ctx: Context, zs: list) -> dict:
        plan = self.plan
        vals = dict(zip(plan.input_keys, zs))
        for step, spec in zip(plan.steps, self.specs):
            ctx.step = spec
            ctx.kernel_source = None if spec.kernel is None else (
                plan.steps[spec.kernel].layer, vals[plan.steps[spec.kernel].in_keys[0]],
                chain_scale([plan.steps[q].layer for q in spec.affine]))
            args, kwargs = step.bind([vals[k] for k in step.in_keys])
            out = spec.layer_rule.fn(ctx, step.layer, args, kwargs)
            for key, value in zip(step.out_keys, tf.nest.flatten(out)):
                vals[key] = value
        return vals

    def _pass(self, xs, rs, forms, tasks, layers, hyp_inputs, onehot, fuse):
        n = tf.shape(xs[0])[0]
        rs, k = self._reference_rows(xs, rs, forms)
        deeplift = self.mode == "deeplift"
        ctx = Context(self.mode, n, k, dispatch=NONLINEAR_RULES,
                      default_rule="gradient" if not deeplift else "rescale",
                      maxpool=self.maxpool, eps=self.eps, fuse=fuse)
        zs = [tf.concat([x, r], 0) for x, r in zip(xs, rs)]

        def by_ref(t):  # (N*K, ...) -> (N, K, ...)
            return tf.reshape(t, tf.concat([[n, k], tf.shape(t)[1:]], 0))

        with tf.GradientTape(persistent=len(tasks) > 1) as tape:
            tape.watch(zs)
            vals = self._forward(ctx, zs)
            targets = []
            for task in tasks:
                t, raw = self._objective(ctx, vals, task)
                objective = tf.reduce_sum(t[n:] if deeplift else t[:n])
                targets.append((t, raw, objective))
        # A layer whose output feeds a RevealCancel unit is read at that unit's output: its
        # neurons' contributions are m_y * Δy there (the same as m * Δz under Rescale).
        hidden = [vals[self.readout.get(k, k)]
                  for k in (self.plan.layer_outputs[name][0] for name in layers)]

        results = []
        for t, raw, objective in targets:
            grads = tape.gradient(objective, zs + hidden,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            res = {"contrib": [], "hyp": [], "neuron": []}
            total = 0.0
            finite = tf.ones([n], tf.bool)
            for i, (x, r, g) in enumerate(zip(xs, rs, grads)):
                rr = by_ref(r)
                m = by_ref(g[n:]) if deeplift else g[:n][:, None]
                if i in onehot:
                    # One-hot DNA: mean_k m*(x - r) = x * mean_k m - mean_k m*r, and the
                    # hypothetical contributions mean_k (m - sum_c m*r) from the same two
                    # means: one product over the (n, k, L, 4) rows instead of four.
                    mr = m * rr
                    m1, mr1 = tf.reduce_mean(m, axis=1), tf.reduce_mean(mr, axis=1)
                    total += tf.einsum("nkf,nf->nk", tf.reshape(m, [n, -1, tf.size(x) // n]),
                                       tf.reshape(x, [n, -1])) - \
                        tf.reduce_sum(tf.reshape(mr, [n, k, -1]), axis=2)
                    c = x * m1 - mr1
                    if i in hyp_inputs:
                        # What each base would contribute if it were present (TF-MoDISco's
                        # form).
                        res["hyp"].append(m1 - tf.reduce_sum(mr1, axis=-1, keepdims=True))
                else:
                    pairs = m * (x[:, None] - rr)
                    total += tf.reduce_sum(tf.reshape(pairs, [n, k, -1]), axis=2)
                    c = tf.reduce_mean(pairs, axis=1)
                if self.rule == "gradient":
                    c = g[:n]
                finite &= tf.reduce_all(tf.math.is_finite(tf.reshape(c, [n, -1])), axis=1)
                res["contrib"].append(c)
            for h, g in zip(hidden, grads[len(zs):]):
                hx, hr = h[:n][:, None], by_ref(h[n:])
                m = by_ref(g[n:]) if deeplift else g[:n][:, None]
                res["neuron"].append(tf.reduce_mean(m * (hx - hr), axis=1))
            delta_pairs = t[:n][:, None] - by_ref(t[n:])
            res["delta"] = tf.reduce_mean(delta_pairs, axis=1)
            res["convergence"] = tf.reduce_max(tf.abs(total - delta_pairs), axis=1)
            res["pred"] = raw[:n]
            res["finite"] = finite & tf.math.is_finite(res["delta"]) & \
                tf.math.is_finite(res["convergence"])
            results.append(res)
        del tape
        return results
