"""BPNet's profile heads scored as BPNet scores them (Avsec et al. 2021)."""
from __future__ import annotations

from typing import Sequence


def profile_scoring_model(model, profile_outputs: Sequence[str] | None = None):
    """``model`` with each profile output (N, L, strands) replaced by its softmax-weighted sum
    (weights held constant, :class:`kipoi_deeplift.kipoi.zoo_layers.SoftmaxWeightedSum`); other
    outputs (count heads) stay as they are. Profile outputs are the 3-D ones unless named."""
    from .. import zoo_layers
    from ...backends.tf.graph import flavour

    if flavour(model) != "keras3":
        raise TypeError("profile_scoring_model takes a Keras 3 model")
    import keras

    # The output's own name (its layer's; Keras 3 names output tensors keras_tensor_N).
    names = list(getattr(model, "output_names", None) or
                 [t.name.split("/")[0].split(":")[0] for t in model.outputs])
    outputs = []
    for name, t in zip(names, model.outputs):
        is_profile = name in profile_outputs if profile_outputs is not None else \
            len(t.shape) == 3
        outputs.append(zoo_layers.SoftmaxWeightedSum(name=f"{name}_weighted")(t)
                       if is_profile else t)
    return keras.Model(model.inputs, outputs, name=f"{model.name}_bpnet_scoring")
