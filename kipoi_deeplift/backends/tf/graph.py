"""Flatten a Keras 3 or tf_keras model into a list of layer calls (the graph walk's plan).

Nested models are inlined, so shared sub-models and shared layers become one step per call.
Tensors are named by integer keys; each step reads its inputs from and writes its outputs to a
dict keyed by them.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import tensorflow as tf


@dataclass
class Step:
    """One call of one layer."""

    layer: Any
    in_keys: list[int]
    out_keys: list[int]
    bind: Callable[[list], tuple[tuple, dict]]  # input values -> (args, kwargs) of the call
    name: str = ""                              # layer name, '#i' appended for repeat calls


@dataclass
class Plan:
    """A model as a sequence of steps, with its named inputs and outputs."""

    steps: list[Step]
    input_keys: list[int]
    input_names: list[str]
    input_shapes: list[tuple]
    output_keys: list[int]
    output_names: list[str]
    output_shapes: list[tuple]
    layer_outputs: dict[str, list[int]] = field(default_factory=dict)


def flavour(model) -> str:
    """'keras3' or 'tf_keras'; ``TypeError`` for anything else."""
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
    """The Keras that built ``model``: ``keras`` (3) or ``tf_keras``, to extend it with."""
    if flavour(model) == "keras3":
        import keras

        return keras
    import tf_keras

    return tf_keras


def build_plan(model) -> Plan:
    """Walk ``model`` (Sequential or Functional, either Keras) into a :class:`Plan`."""
    kind = flavour(model)
    counter = itertools.count()
    steps: list[Step] = []
    calls: dict[str, int] = {}
    layer_outputs: dict[str, list[int]] = {}
    if not model.inputs:
        raise ValueError("the model has no defined inputs: build it with an Input layer first")
    input_keys = [next(counter) for _ in model.inputs]

    def add(layer, in_keys, bind, n_out):
        """Append one call of ``layer`` reading ``in_keys``; returns its ``n_out`` new
        output keys."""
        out_keys = [next(counter) for _ in range(n_out)]
        i = calls.get(layer.name, 0)
        calls[layer.name] = i + 1
        name = layer.name if i == 0 else f"{layer.name}#{i}"
        steps.append(Step(layer, in_keys, out_keys, bind, name))
        layer_outputs[name] = out_keys
        return out_keys

    def single(values):
        return (values[0],), {}

    # What differs between the two Keras: the node's input tensors, its operation, its output
    # tensors and how a call's arguments are rebuilt from new input values.
    if kind == "keras3":
        import keras as K

        def node_inputs(node):
            return node.input_tensors

        def node_op(node):
            return node.operation

        def node_outputs(node):
            return node.outputs

        def binder(node, ids):
            return lambda values, a=node.arguments: a.fill_in(dict(zip(ids, values)))
    else:
        import tf_keras as K
        from tf_keras.src.engine.keras_tensor import KerasTensor

        def node_inputs(node):
            return node.keras_inputs

        def node_op(node):
            return node.layer

        def node_outputs(node):
            return tf.nest.flatten(node.outputs)

        def binder(node, ids):
            def bind(values):
                lookup = dict(zip(ids, values))
                return tf.nest.map_structure(
                    lambda t: lookup[id(t)] if isinstance(t, KerasTensor) else t,
                    (tuple(node.call_args), dict(node.call_kwargs)))
            return bind

    def walk(m, in_keys):
        """Inline model ``m`` called on tensors ``in_keys``; returns its outputs' keys."""
        if isinstance(m, K.Sequential):
            keys = in_keys
            for layer in m.layers:
                keys = walk(layer, keys) if isinstance(layer, K.Model) else \
                    add(layer, keys, single, 1)
            return keys
        env = {id(t): k for t, k in zip(m.inputs, in_keys)}
        for depth in sorted(m._nodes_by_depth, reverse=True):
            for node in m._nodes_by_depth[depth]:
                ins = node_inputs(node)
                if node.is_input or any(id(t) not in env for t in ins):
                    continue
                keys = [env[id(t)] for t in ins]
                outs_t = node_outputs(node)
                if isinstance(node_op(node), K.Model):
                    outs = walk(node_op(node), keys)
                else:
                    outs = add(node_op(node), keys, binder(node, [id(t) for t in ins]),
                               len(outs_t))
                env.update({id(t): k for t, k in zip(outs_t, outs)})
        return [env[id(t)] for t in m.outputs]

    output_keys = walk(model, input_keys)
    input_names, input_shapes, output_names, output_shapes = signature(model)
    return Plan(
        steps=steps,
        input_keys=input_keys,
        input_names=input_names,
        input_shapes=input_shapes,
        output_keys=output_keys,
        output_names=output_names,
        output_shapes=output_shapes,
        layer_outputs=layer_outputs,
    )


def signature(model) -> tuple[list[str], list[tuple], list[str], list[tuple]]:
    """The model's input names and shapes and output names and shapes (each shape with the
    batch axis first, ``None``), without walking its layers."""
    if flavour(model) == "keras3":
        input_names = [t.name for t in model.inputs]
        output_names = list(getattr(model, "output_names", None) or [model.layers[-1].name])
    else:
        input_names = list(model.input_names)
        output_names = list(model.output_names)
    return (input_names, [tuple(t.shape) for t in model.inputs], output_names,
            [tuple(t.shape) for t in model.outputs])
