"""Keras 3 layers that rebuilt zoo architectures need in place of the published Lambda layers
(which cannot be deserialized on Python 3) and of torch modules Keras lacks, and their rows of
the layer-rule table (:data:`RULES`, added by :func:`register_rules`). Padding and the reverse
complement are linear (their rows pass multipliers as the gradient); Threshold is an
elementwise nonlinearity (its row gets the method's nonlinearity rule)."""
from __future__ import annotations

import keras

#: Each layer's row of ``backends.tf.rules.LAYER_RULES``: (rule function there, LayerRule
#: fields). By class name, as the table is: Kipoi's scBasset files define their own classes of
#: these names, and :mod:`.rebuild.bpnet` a tf_keras SoftmaxWeightedSum.
RULES: dict[str, tuple[str, dict]] = {
    "ConstantPadding1D": ("linear", {}),
    "ReverseComplement": ("linear", {}),
    # scBasset's augmentation layers are the identity at inference: their flag is a constant
    # False
    "StochasticReverseComplement": ("linear", {}),
    "StochasticShift": ("linear", {}),
    "SwitchReverse": ("linear", {}),
    "Threshold": ("elementwise_layer", {"kind": "elementwise"}),   # torch's nn.Threshold
    "GELU": ("elementwise_layer", {"kind": "elementwise", "monotone": False}),    # scBasset's
    "SoftmaxWeightedSum": ("softmax_weighted_sum", {"kind": "output"}),
}


def register_rules() -> None:
    """Add :data:`RULES` to the layer-rule table.

    ``kipoi_deeplift/__init__.py`` calls this whenever ``backends.tf.rules`` is imported, so the
    rows are there for every model and in ``kipoi-deeplift rules``.

    The rows go in as the table's own, not through :func:`kipoi_deeplift.register_rule`: that
    keeps only the function and ``exact`` (GELU would lose ``monotone=False`` and get
    RevealCancel, changing scores) and marks rows as the user's (left out of the table that
    ``kipoi-deeplift rules`` prints and the README holds). A row already there is kept.

    Returns
    -------
    None
    """
    from ..backends.tf import rules

    for name, (fn, extra) in RULES.items():
        rules.LAYER_RULES.setdefault(name, rules.LayerRule(getattr(rules, fn), **extra))


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class ConstantPadding1D(keras.layers.Layer):
    """Pad the sequence axis with ``padding`` positions of ``value`` on each side.

    DeepBind pads with N = 0.25 in every channel. Input ``(N, L, C)``, output
    ``(N, L + 2 * padding, C)``.

    Parameters
    ----------
    padding : int
        Positions added at each end.
    value : float, default 0.25
        The value of every padded entry.
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def __init__(self, padding: int, value: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.padding, self.value = int(padding), float(value)

    def call(self, x):
        p = self.padding
        return keras.ops.pad(x, [[0, 0], [p, p], [0, 0]], constant_values=self.value)

    def compute_output_shape(self, shape):
        length = None if shape[1] is None else shape[1] + 2 * self.padding
        return (shape[0], length, shape[2])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "value": self.value}


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class ReverseComplement(keras.layers.Layer):
    """One-hot DNA (ACGT order) read on the other strand: reverse positions and channels.

    Input and output ``(N, L, 4)``.

    Parameters
    ----------
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def call(self, x):
        return keras.ops.flip(keras.ops.flip(x, axis=1), axis=2)

    def compute_output_shape(self, shape):
        return shape


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class SoftmaxWeightedSum(keras.layers.Layer):
    """BPNet's profile-head objective.

    The sum over positions and strands of the profile logits, each weighted by its softmax over
    positions, the weights held constant (no gradient through them).

    Input ``(N, L, strands)``, output ``(N, 1)``.

    Parameters
    ----------
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def call(self, z):
        w = keras.ops.stop_gradient(keras.ops.softmax(z, axis=1))
        return keras.ops.sum(w * z, axis=(1, 2))[:, None]

    def compute_output_shape(self, shape):
        return (shape[0], 1)


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class Threshold(keras.layers.Layer):
    """torch's ``nn.Threshold(threshold, value)``: ``x`` where ``x > threshold``, else ``value``.

    DeepSEA's ``Threshold(0, 1e-6)``: not ReLU, which gives 0 there. Output of the input's shape.

    Parameters
    ----------
    threshold : float, default 0.0
        Entries above it pass.
    value : float, default 0.0
        What the others become.
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def __init__(self, threshold: float = 0.0, value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold, self.value = float(threshold), float(value)

    def call(self, x):
        return keras.ops.where(x > self.threshold, x, keras.ops.full_like(x, self.value))

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "value": self.value}


# scBasset's layers (Yuan & Kelley 2022, calico/scBasset), as Kipoi's scbasset models name them.
# The stochastic ones augment data in training and are the identity at inference.
@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class GELU(keras.layers.Layer):
    """scBasset's GELU: ``sigmoid(1.702 x) * x`` (the sigmoid approximation).

    Output of the input's shape.

    Parameters
    ----------
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def call(self, x):
        return keras.ops.sigmoid(1.702 * x) * x

    def compute_output_shape(self, shape):
        return shape


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class StochasticReverseComplement(keras.layers.Layer):
    """scBasset's augmentation layer; at inference the sequence as it is.

    Called on ``(N, L, 4)``, it returns the sequence and ``False`` (not reverse-complemented).

    Parameters
    ----------
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def call(self, x, training=None):
        return x, keras.ops.zeros((), dtype="bool")

    def compute_output_shape(self, shape):
        return shape, ()


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class StochasticShift(keras.layers.Layer):
    """scBasset's augmentation layer; at inference the identity.

    Parameters
    ----------
    shift_max : int, default 0
        Training shifts the sequence by up to this many positions.
    pad : str, default "uniform"
        How training fills the positions shifted in.
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def __init__(self, shift_max: int = 0, pad: str = "uniform", **kwargs):
        super().__init__(**kwargs)
        self.shift_max, self.pad = int(shift_max), pad

    def call(self, x, training=None):
        return x

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "shift_max": self.shift_max, "pad": self.pad}


@keras.saving.register_keras_serializable(package="kipoi_deeplift")
class SwitchReverse(keras.layers.Layer):
    """Undo a reverse complement on the output where the flag says one was applied.

    It reverses the output's position axis, or both of a 4-D output; at inference the flag is
    ``False``. Called on ``[x, reverse]``, it returns an array of ``x``'s shape.

    Parameters
    ----------
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``...).
    """

    def call(self, inputs):
        x, reverse = inputs
        flipped = keras.ops.flip(x, axis=1)
        if len(x.shape) == 4:            # as scBasset: positions of both spatial axes
            flipped = keras.ops.flip(flipped, axis=2)
        return keras.ops.where(reverse, flipped, x)

    def compute_output_shape(self, shapes):
        return shapes[0]
