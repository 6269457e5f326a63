"""Flatten a Keras 3 or tf_keras model into a list of layer calls (the graph walk's plan).

Nested models are inlined, so shared sub-models and shared layers become one step per call.
Tensors are named by integer keys; each step reads its inputs from and writes its outputs to a
dict keyed by them.
"""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import tensorflow as tf


@dataclass
class Step:
    """One call of one layer.

    Parameters
    ----------
    layer : keras.layers.Layer or keras Operation
    in_keys, out_keys : list of int
        The tensors it reads and makes.
    bind : callable
        Input values -> (args, kwargs) of the call.
    name : str
        The layer's name, '#i' appended for repeat calls.
    in_shapes : tuple
        Shapes of the tensors read (batch axis first).
    """

    layer: Any
    in_keys: list[int]
    out_keys: list[int]
    bind: Callable[[list], tuple[tuple, dict]]  # input values -> (args, kwargs) of the call
    name: str = ""                              # layer name, '#i' appended for repeat calls
    in_shapes: tuple = ()                       # shapes of the tensors read (batch axis first)


@dataclass
class Plan:
    """A model as a sequence of steps, with its named inputs and outputs.

    Parameters
    ----------
    steps : list of Step
    input_keys, input_names, input_shapes : list
        The inputs' tensor keys, names and shapes (batch axis first), in model order.
    output_keys, output_names, output_shapes : list
        The outputs' likewise.
    layer_outputs : dict of str to list of int
        Layer (call) name -> its output tensors' keys.
    """

    steps: list[Step]
    input_keys: list[int]
    input_names: list[str]
    input_shapes: list[tuple]
    output_keys: list[int]
    output_names: list[str]
    output_shapes: list[tuple]
    layer_outputs: dict[str, list[int]] = field(default_factory=dict)


def flavour(model) -> str:
    """Which Keras built ``model``.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    str
        'keras3' or 'tf_keras'; ``TypeError`` for anything else.
    """
    import keras

    if isinstance(model, keras.Model):
        return "keras3"
    try:
        import tf_keras
    except ImportError:  # pragma: no cover - tf_keras is a declared dependency
        tf_keras = None
    if tf_keras is not None and isinstance(model, tf_keras.Model):
        return "tf_keras"
    raise TypeError(
        f"expected a Keras 3 or tf_keras model, got {type(model).__name__}; load Kipoi models "
        "with kipoi_deeplift's loader or pass model.model"
    )


def keras_module(model):
    """The Keras that built ``model``, to extend it with.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    module
        ``keras`` (3) or ``tf_keras``.
    """
    if flavour(model) == "keras3":
        import keras

        return keras
    import tf_keras

    return tf_keras


def cut_at(model, layer: str | None):
    """``model`` cut at ``layer``'s output (model.yaml's ``postprocessing: deeplift:
    output_layer``).

    Parameters
    ----------
    model : keras.Model
    layer : str or None
        ``None``: the model itself.

    Returns
    -------
    keras.Model
    """
    if not layer:
        return model
    try:
        out = model.get_layer(layer).output
    except ValueError as e:
        from ...errors import UserError

        raise UserError(f"output_layer {layer!r} (model.yaml postprocessing) is not a layer of "
                        "the model") from e
    return keras_module(model).Model(model.inputs, out)


@contextlib.contextmanager
def _symbolic_einsum_with_spaces():
    """Keras 3's symbolic ``einsum`` miscounts subscripts written with spaces ("b h i d", as
    CREsted's attention writes them; TensorFlow's einsum accepts them): while a call is
    traced, the subscripts lose their spaces (the same equation)."""
    try:
        from keras.src.ops.numpy import Einsum
    except ImportError:  # pragma: no cover - another Keras layout: nothing to mend
        yield
        return
    init = Einsum.__init__

    def without_spaces(self, subscripts, *args, **kwargs):
        init(self, subscripts.replace(" ", "") if isinstance(subscripts, str) else subscripts,
             *args, **kwargs)

    Einsum.__init__ = without_spaces
    try:
        yield
    finally:
        Einsum.__init__ = init


def expand_call(layer, node):
    """A Keras 3 functional model of one call of ``layer``, traced from its ``call`` on fresh
    symbolic inputs: the layers and operations it is made of become nodes (a custom layer
    written with ``keras.ops``, as CREsted's attention layers are).

    Parameters
    ----------
    layer : keras.layers.Layer
    node : keras Node
        The call.

    Returns
    -------
    keras.Model or None
        ``None`` where the call cannot be traced so.
    """
    import inspect

    import keras

    ins = node.input_tensors
    takes_training = "training" in inspect.signature(layer.call).parameters

    def arguments(values):
        """The call's arguments with ``values`` for its input tensors, at inference."""
        args, kwargs = node.arguments.fill_in({id(t): v for t, v in zip(ins, values)})
        return args, {**kwargs, **({"training": False} if takes_training else {})}

    try:
        fresh = [keras.Input(shape=t.shape[1:], dtype=t.dtype) for t in ins]
        args, kwargs = arguments(fresh)
        with _symbolic_einsum_with_spaces():
            out = layer.call(*args, **kwargs)
        sub = keras.Model(fresh, out)
    except Exception:   # not traceable symbolically (TensorFlow ops on Keras tensors, ...)
        return None
    if len(sub.outputs) != len(node.outputs) or any(op is layer for op in sub.operations):
        return None
    # The traced graph must compute what the layer does (a layer that makes new sublayers
    # inside ``call`` would trace to fresh weights).
    try:
        probe = [np.random.default_rng(0).normal(0, 1, (2,) + tuple(
            8 if d is None else d for d in t.shape[1:])).astype(t.dtype) for t in ins]
        p_args, p_kwargs = arguments(probe)
        want = tf.nest.flatten(layer(*p_args, **p_kwargs))
        got = tf.nest.flatten(sub(probe, training=False))
    except Exception:
        return None
    if len(want) != len(got) or not all(
            np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
            for a, b in zip(want, got)):
        return None
    return sub


class _Keras3Nodes:
    """A Keras 3 functional node: its input tensors, operation, output tensors, and how its
    call's arguments are rebuilt from new input values."""

    def __init__(self):
        import keras

        self.keras = keras

    @staticmethod
    def inputs(node):
        return node.input_tensors

    @staticmethod
    def op(node):
        return node.operation

    @staticmethod
    def outputs(node):
        return node.outputs

    @staticmethod
    def binder(node, ids):
        return lambda values, a=node.arguments: a.fill_in(dict(zip(ids, values)))


class _TfKerasNodes:
    """The same of a tf_keras node."""

    def __init__(self):
        import tf_keras

        self.keras = tf_keras

    @staticmethod
    def inputs(node):
        return node.keras_inputs

    @staticmethod
    def op(node):
        return node.layer

    @staticmethod
    def outputs(node):
        return tf.nest.flatten(node.outputs)

    @staticmethod
    def binder(node, ids):
        from tf_keras.src.engine.keras_tensor import KerasTensor

        def bind(values):
            lookup = dict(zip(ids, values))
            return tf.nest.map_structure(
                lambda t: lookup[id(t)] if isinstance(t, KerasTensor) else t,
                (tuple(node.call_args), dict(node.call_kwargs)))
        return bind


def _single(values):
    return (values[0],), {}


class _Walker:
    """Walks a model into steps, numbering tensors as it goes (nested models inlined)."""

    def __init__(self, kind: str, expand):
        self.kind, self.expand = kind, expand
        self.nodes = _Keras3Nodes() if kind == "keras3" else _TfKerasNodes()
        self.counter = itertools.count()
        self.steps: list[Step] = []
        self.calls: dict[str, int] = {}
        self.layer_outputs: dict[str, list[int]] = {}

    def call_name(self, full: str) -> str:
        """``full`` for a layer's first call, ``full#i`` for its i-th further call."""
        i = self.calls.get(full, 0)
        self.calls[full] = i + 1
        return full if i == 0 else f"{full}#{i}"

    def add(self, layer, in_keys, bind, n_out, in_shapes=(), prefix=""):
        """Append one call of ``layer`` reading ``in_keys``; returns its ``n_out`` new
        output keys."""
        out_keys = [next(self.counter) for _ in range(n_out)]
        name = self.call_name(prefix + layer.name)
        self.steps.append(Step(layer, in_keys, out_keys, bind, name, tuple(in_shapes)))
        self.layer_outputs[name] = out_keys
        return out_keys

    def walk(self, m, in_keys, prefix=""):
        """Inline model ``m`` called on tensors ``in_keys``; returns its outputs' keys."""
        K = self.nodes.keras
        if isinstance(m, K.Sequential):
            keys = in_keys
            for layer in m.layers:
                keys = self.walk(layer, keys, prefix) if isinstance(layer, K.Model) else \
                    self.add(layer, keys, _single, 1, prefix=prefix)
            return keys
        env = {id(t): k for t, k in zip(m.inputs, in_keys)}
        for depth in sorted(m._nodes_by_depth, reverse=True):
            for node in m._nodes_by_depth[depth]:
                ins = self.nodes.inputs(node)
                if node.is_input or any(id(t) not in env for t in ins):
                    continue
                outs_t = self.nodes.outputs(node)
                outs = self.node(node, [env[id(t)] for t in ins], ins, len(outs_t), prefix)
                env.update({id(t): k for t, k in zip(outs_t, outs)})
        return [env[id(t)] for t in m.outputs]

    def node(self, node, keys, ins, n_out, prefix):
        """One node: a nested model inlined, a layer walked into its ``call`` (see
        ``expand``), or one step."""
        op = self.nodes.op(node)
        K = self.nodes.keras
        shapes = [tuple(t.shape) for t in ins]
        bind = self.nodes.binder(node, [id(t) for t in ins])
        if isinstance(op, K.Model):
            return self.walk(op, keys, prefix)
        sub = expand_call(op, node) if self.kind == "keras3" and self.expand is not None and \
            self.expand(op, shapes, bind) else None
        if sub is None:
            return self.add(op, keys, bind, n_out, shapes, prefix)
        name = self.call_name(prefix + op.name)
        outs = self.walk(sub, keys, f"{name}/")
        self.layer_outputs[name] = outs
        return outs


def build_plan(model, expand: Callable[[Any, list, Callable], bool] | None = None) -> Plan:
    """Walk ``model`` (Sequential or Functional, either Keras) into a :class:`Plan`.

    Parameters
    ----------
    model : keras.Model or tf_keras.Model
    expand : callable, optional
        ``expand(layer, input_shapes, bind)``: whether a Keras 3 layer should be replaced by
        the layers and operations its ``call`` is made of (:func:`expand_call`; ``bind(values)``
        gives the call's arguments for new input values); its steps are then named
        ``<layer>/<part>`` (``<layer>#i/<part>`` for its i-th further call).
    """
    kind = flavour(model)         # refuses what is not a Keras model, before its inputs
    if not model.inputs:
        raise ValueError("the model has no defined inputs: build it with an Input layer first")
    walker = _Walker(kind, expand)
    input_keys = [next(walker.counter) for _ in model.inputs]
    output_keys = walker.walk(model, input_keys)
    input_names, input_shapes, output_names, output_shapes = signature(model)
    return Plan(steps=walker.steps, input_keys=input_keys, input_names=input_names,
                input_shapes=input_shapes, output_keys=output_keys, output_names=output_names,
                output_shapes=output_shapes, layer_outputs=walker.layer_outputs)


def signature(model) -> tuple[list[str], list[tuple], list[str], list[tuple]]:
    """The model's inputs and outputs, without walking its layers.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    tuple of (list of str, list of tuple, list of str, list of tuple)
        Input names and shapes, output names and shapes (each shape with the batch axis first,
        ``None``).
    """
    if flavour(model) == "keras3":
        input_names = [t.name for t in model.inputs]
        output_names = list(getattr(model, "output_names", None) or [model.layers[-1].name])
    else:
        input_names = list(model.input_names)
        output_names = list(model.output_names)
    return (input_names, [tuple(t.shape) for t in model.inputs], output_names,
            [tuple(t.shape) for t in model.outputs])
