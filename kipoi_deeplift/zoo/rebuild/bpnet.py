"""BPNet's profile heads scored as BPNet scores them (Avsec et al. 2021)."""
from __future__ import annotations

import functools
from typing import Sequence


@functools.lru_cache(maxsize=None)
def _tf_keras_weighted_sum():
    """:class:`~kipoi_deeplift.zoo.layers.SoftmaxWeightedSum` for tf_keras models (the
    published BPNet files are Keras 2 HDF5, read by tf_keras): the rule table matches layers by
    class name, so both classes get the same row."""
    import tensorflow as tf
    import tf_keras

    class SoftmaxWeightedSum(tf_keras.layers.Layer):
        """BPNet's profile objective, (N, L, strands) -> (N, 1); see the Keras 3 class."""

        def call(self, z):
            w = tf.stop_gradient(tf.nn.softmax(z, axis=1))
            return tf.reduce_sum(w * z, axis=[1, 2])[:, None]

        def compute_output_shape(self, shape):
            return (shape[0], 1)

    return SoftmaxWeightedSum


def profile_scoring_model(model, profile_outputs: Sequence[str] | None = None):
    """``model`` with each profile output replaced by its softmax-weighted sum.

    The weights are held constant (:class:`kipoi_deeplift.zoo.layers.SoftmaxWeightedSum`);
    other outputs (count heads) stay as they are.

    Parameters
    ----------
    model : keras.Model or tf_keras.Model
        The BPNet model.
    profile_outputs : sequence of str, optional
        The profile outputs' names (default: the 3-D outputs, ``(N, L, strands)``).

    Returns
    -------
    keras.Model or tf_keras.Model
        A model of the same Keras, each profile output now ``(N, 1)``.
    """
    from .. import layers as zoo_layers
    from ...backends.tf.graph import flavour, keras_module

    layer = zoo_layers.SoftmaxWeightedSum if flavour(model) == "keras3" else \
        _tf_keras_weighted_sum()
    # The output's own name (its layer's; Keras 3 names output tensors keras_tensor_N).
    names = list(getattr(model, "output_names", None) or
                 [t.name.split("/")[0].split(":")[0] for t in model.outputs])
    outputs = []
    for i, (name, t) in enumerate(zip(names, model.outputs)):
        is_profile = name in profile_outputs if profile_outputs is not None else \
            len(t.shape) == 3
        # numbered: outputs of a nested model all carry the nested model's name
        safe = name.replace("/", "_")
        outputs.append(layer(name=f"{safe}_weighted_{i}")(t) if is_profile else t)
    return keras_module(model).Model(model.inputs, outputs, name=f"{model.name}_bpnet_scoring")


def zero_bias_inputs(model, directory: str | None = None):
    """``model`` with its bias inputs fed zeros inside it: the sequence is its only input.

    The bias inputs are BPNet-OSKN's ``bias/<TF>/profile`` and ``bias/<TF>/counts``, which
    Kipoi's class feeds with zeros. The zeros come from the sequence through a zero-weight 1x1
    convolution (profile biases, ``(N, L, C)``) or a zero-weight dense layer on the mean over
    positions (count biases, ``(N, C)``): linear layers, exactly zero for every input and every
    reference, with rows in the rule table.

    Parameters
    ----------
    model : keras.Model or tf_keras.Model
        The model, one sequence input ``(N, L, 4)`` besides the bias inputs.
    directory : str, optional
        The model's directory (not needed).

    Returns
    -------
    keras.Model or tf_keras.Model
        The model taking the sequence only; a model without bias inputs is returned as it is.
    """
    from ...backends.tf.graph import keras_module, signature

    names, shapes, _, _ = signature(model)
    bias = [n.startswith("bias") for n in names]
    if not any(bias):
        return model
    if bias.count(False) != 1:
        raise ValueError(f"expected one sequence input besides the bias inputs, got {names}")
    K = keras_module(model)
    seq_at = bias.index(False)
    seq = K.Input(tuple(shapes[seq_at][1:]), name=names[seq_at].replace("/", "_"))
    pooled = None
    feeds = []
    for name, shape, is_bias in zip(names, shapes, bias):
        if not is_bias:
            feeds.append(seq)
            continue
        safe = "zero_" + name.replace("/", "_")
        if len(shape) == 3 and shape[1] != shapes[seq_at][1]:
            raise ValueError(f"bias input {name} has length {shape[1]}, the sequence "
                             f"{shapes[seq_at][1]}")
        if len(shape) == 3:
            feeds.append(K.layers.Conv1D(shape[-1], 1, use_bias=False,
                                         kernel_initializer="zeros", name=safe)(seq))
        else:
            if pooled is None:
                pooled = K.layers.GlobalAveragePooling1D(name="zero_bias_pool")(seq)
            feeds.append(K.layers.Dense(shape[-1], use_bias=False,
                                        kernel_initializer="zeros", name=safe)(pooled))
    return K.Model(seq, model(feeds), name=f"{model.name}_seq_only")
