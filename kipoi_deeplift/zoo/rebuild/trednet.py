"""TREDNet (Hudaiberdiev et al. 2023) scored from DNA: phase two joined after phase one.

Kipoi's phase-two classes (``model.PhaseTwoModel``) run the phase-one model of
``../phase_one`` on the sequence, add a trailing axis to its 1,924 sigmoid outputs and feed
them to the phase-two network. DeepLIFT needs one network from bases to the enhancer score:
:func:`join_phase_one` builds it, both Keras models nested unchanged in one.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import UserError


def _is_dna_model(model) -> bool:
    shape = tuple(model.inputs[0].shape)
    return len(model.inputs) == 1 and len(shape) == 3 and shape[-1] == 4


def join_phase_one(model, directory: str, phase_one: str = "../phase_one"):
    """``model`` itself for phase one (its input is DNA, (N, L, 4)); for a phase-two network
    (input (N, features, 1)), one model from DNA: phase one of ``directory/phase_one`` (loaded
    through Kipoi, its own class replaced as for this model), its outputs given a trailing axis,
    then ``model``.

    Parameters
    ----------
    model : the Keras model Kipoi's class would load (Keras 3 or tf_keras).
    directory : the model's directory (Kipoi loads a model from there).
    phase_one : phase one's directory, relative to ``directory`` as TREDNet's model.py has it.
    """
    if _is_dna_model(model):
        return model
    import kipoi

    from ...backends.tf.graph import flavour, keras_module

    where = (Path(directory) / phase_one).resolve()
    if not (where / "model.yaml").exists():
        raise UserError(f"TREDNet phase two needs phase one at {where} (as its model.py reads "
                        "it): pull TREDNet/phase_one beside it")
    first = kipoi.get_model(str(where), source="dir", with_dataloader=False).model
    if flavour(first) != flavour(model):
        raise UserError(f"TREDNet phase one ({flavour(first)}) and phase two "
                        f"({flavour(model)}) were read by different Keras: cannot be joined")
    features = tuple(first.outputs[0].shape[1:])
    wanted = tuple(model.inputs[0].shape[1:])
    if features + (1,) != wanted:
        raise UserError(f"TREDNet phase one gives {features}, phase two reads {wanted}: not "
                        "the pair Kipoi joins")
    K = keras_module(model)
    dna = K.Input(tuple(first.inputs[0].shape[1:]), name="dna")
    h = K.layers.Reshape(wanted, name="phase_one_features")(first(dna))
    return K.Model(dna, model(h), name=f"{model.name}_from_dna")
