"""From a Kipoi model schema to the engine's view: input names, which input is DNA and in what
layout, and the names of the tasks.

Per-base outputs are always (N, L, 4). A model that takes DNA in another layout (alphabet axis
first, dummy axes as in DeepSEA/CpGenie's (4, 1, L)) is wrapped in a model that takes (L, 4) and
permutes/reshapes it into place with Keras layers, which the engine passes exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UserError

ALPHABET = 4


@dataclass(frozen=True)
class DnaLayout:
    """Where the length and alphabet axes sit in an input's shape (batch axis excluded).

    Parameters
    ----------
    shape : tuple
        The input's shape, batch excluded (e.g. ``(4, 1, L)``); ``None`` for any length.
    length_axis : int
        The sequence axis.
    alphabet_axis : int
        The axis of 4 (A, C, G, T).
    """

    shape: tuple
    length_axis: int
    alphabet_axis: int

    @property
    def length(self) -> int | None:
        """The sequence length.

        Returns
        -------
        int or None
            ``None`` for a model that takes any length.
        """
        n = self.shape[self.length_axis]
        return None if n is None else int(n)

    def fits(self, shape: tuple) -> bool:
        """Whether an array of ``shape`` (batch excluded) is in this layout.

        Parameters
        ----------
        shape : tuple of int
            The array's shape without its batch axis.

        Returns
        -------
        bool
        """
        return len(shape) == len(self.shape) and all(
            want is None or int(got) == want for got, want in zip(shape, self.shape))

    @property
    def canonical(self) -> bool:
        """Whether the input is already (L, 4), the engine's layout.

        Returns
        -------
        bool
        """
        return self.shape == (self.length, ALPHABET)

    def to_canonical(self, x: np.ndarray) -> np.ndarray:
        """An input batch in the engine's layout: ``(N, *shape)`` -> ``(N, L, 4)``.

        Parameters
        ----------
        x : array-like of shape (N, *shape)
            A batch in this layout.

        Returns
        -------
        numpy.ndarray of shape (N, L, 4)
        """
        x = np.asarray(x)
        order = sorted((self.length_axis, self.alphabet_axis))
        squeezed = x.reshape((x.shape[0],) + tuple(x.shape[1 + a] for a in order))
        if self.alphabet_axis < self.length_axis:
            squeezed = squeezed.transpose(0, 2, 1)
        return squeezed


def dna_layout(shape: Sequence) -> DnaLayout | None:
    """The layout of a DNA input of ``shape`` (batch excluded), or ``None`` if it is not one.

    A DNA input has one axis of 4 (the alphabet), one longer axis (the sequence), any number of
    axes of 1.

    Parameters
    ----------
    shape : sequence of int or None
        The input's shape without its batch axis (``None``: any length).

    Returns
    -------
    DnaLayout or None
    """
    shape = tuple(None if s is None else int(s) for s in shape)
    if len(shape) < 2:
        return None
    fours = [i for i, s in enumerate(shape) if s == ALPHABET]
    if not fours:
        return None
    alphabet = fours[-1] if shape[-1] == ALPHABET else fours[0]
    rest = [i for i, s in enumerate(shape) if s != 1 and i != alphabet]
    if len(rest) != 1:     # one sequence axis (of any length, or None); the others are 1
        return None
    return DnaLayout(shape, rest[0], alphabet)


def canonical_model(model, names: Sequence[str], layouts: Mapping[str, DnaLayout]):
    """``model`` taking (L, 4) for each DNA input in ``layouts``.

    Parameters
    ----------
    model : keras.Model
        The model.
    names : sequence of str
        Its input names, in order.
    layouts : Mapping[str, DnaLayout]
        The DNA inputs' layouts, by input name.

    Returns
    -------
    keras.Model
        A model that takes ``(N, L, 4)`` per DNA input and permutes/reshapes it into place;
        the model itself when every DNA input is already (L, 4).
    """
    if all(lay.canonical for lay in layouts.values()):
        return model
    from ..backends.tf.graph import keras_module

    K = keras_module(model)
    new_inputs, fed = [], []
    for name, tensor in zip(names, model.inputs):
        lay = layouts.get(name)
        if lay is None or lay.canonical:
            inp = K.Input(tuple(tensor.shape[1:]), name=name)
            new_inputs.append(inp)
            fed.append(inp)
            continue
        inp = K.Input((lay.length, ALPHABET), name=name)
        h = inp
        if lay.alphabet_axis < lay.length_axis:
            h = K.layers.Permute((2, 1), name=f"{name}_alphabet_first")(h)
        h = K.layers.Reshape(lay.shape, name=f"{name}_model_layout")(h)
        new_inputs.append(inp)
        fed.append(h)
    out = model(fed if len(fed) > 1 else fed[0])
    return K.Model(new_inputs, out, name=f"{model.name}_canonical")


@dataclass
class InputPlan:
    """How a dataloader's inputs feed the model.

    Parameters
    ----------
    names : list of str
        Model input names, in model order.
    layouts : dict of str to DnaLayout
        DNA inputs only.
    dna : str or None
        The main DNA input (for tracks and TF-MoDISco files).
    """

    names: list[str]                    # model input names, in model order
    layouts: dict[str, DnaLayout]       # DNA inputs only
    dna: str | None                     # the main DNA input (for tracks and TF-MoDISco files)

    def to_arrays(self, inputs: Any) -> dict[str, np.ndarray]:
        """A dataloader's ``inputs`` as canonical arrays by name.

        Parameters
        ----------
        inputs : array, list or dict
            A batch as the dataloader gives it (DNA inputs in the model's layout).

        Returns
        -------
        dict of str to numpy.ndarray
            float32 arrays by model input name, DNA inputs of shape ``(N, L, 4)``; ``UserError``
            for inputs that do not match the model.
        """
        if isinstance(inputs, Mapping):
            missing = [n for n in self.names if n not in inputs]
            if missing:
                raise UserError(f"the dataloader gives inputs {sorted(inputs)}, the model needs "
                                f"{self.names}")
            values = [inputs[n] for n in self.names]
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != len(self.names):
                raise UserError(f"the dataloader gives {len(inputs)} inputs, the model needs "
                                f"{len(self.names)} ({self.names})")
            values = list(inputs)
        else:
            if len(self.names) != 1:
                raise UserError(f"the dataloader gives one array, the model needs "
                                f"{self.names}")
            values = [inputs]
        out = {}
        for name, v in zip(self.names, values):
            v = np.asarray(v)
            lay = self.layouts.get(name)
            if lay is not None:
                if not lay.fits(tuple(v.shape[1:])):
                    raise UserError(
                        f"the dataloader gave input {name!r} of shape {tuple(v.shape[1:])} but "
                        f"the model needs {lay.shape}: an interval shorter than the model's "
                        "input (one that runs past a chromosome end?) or the wrong dataloader")
                v = lay.to_canonical(v)
            out[name] = v.astype(np.float32, copy=False)
        return out


def _entries(schema_part) -> list:
    if schema_part is None:
        return []
    if isinstance(schema_part, Mapping):
        return [v if getattr(v, "name", None) else _named(v, k) for k, v in schema_part.items()]
    if isinstance(schema_part, (list, tuple)):
        return list(schema_part)
    return [schema_part]


def _named(entry, name):
    try:
        entry.name = name
    except AttributeError:
        pass
    return entry


def plan_inputs(schema, names: Sequence[str], shapes: Sequence[tuple],
                dna_input: str | None = None) -> InputPlan:
    """Which model inputs are DNA, and in what layout.

    An input is DNA where the schema marks it ``special_type: DNASeq``, or where it is the one
    named.

    Parameters
    ----------
    schema : kipoi.specs.ModelSchema
        The model's schema.
    names : sequence of str
        The model's input names.
    shapes : sequence of tuple
        Their shapes, batch axis excluded.
    dna_input : str, optional
        The DNA input named by the user (--input).

    Returns
    -------
    InputPlan
    """
    names = list(names)
    shapes = dict(zip(names, (tuple(s) for s in shapes)))
    entries = _entries(getattr(schema, "inputs", None))
    by_name = {getattr(e, "name", None): e for e in entries}
    if len(entries) == len(names):    # schema names may differ from the Keras input names
        by_name = {n: e for n, e in zip(names, entries)}
    if dna_input is not None and dna_input not in names:
        raise UserError(f"--input {dna_input!r} is not an input of the model; inputs: {names}")
    layouts = {}
    for n in names:
        entry = by_name.get(n)
        special = str(getattr(getattr(entry, "special_type", None), "value", "") or "")
        if dna_input is not None and n != dna_input:
            continue
        if dna_input is None and special != "DNASeq":
            continue
        lay = dna_layout(shapes[n])
        if lay is None:
            raise UserError(f"input {n!r} of shape {shapes[n]} is not DNA in any layout known "
                            "here (one axis of 4, one sequence axis, axes of 1)")
        layouts[n] = lay
    if not layouts:
        guess = [n for n in names if dna_layout(shapes[n]) is not None]
        if len(guess) > 1:
            raise UserError(f"no input is marked special_type: DNASeq in the schema; name the "
                            f"DNA input with --input (inputs: {names})")
        if guess:
            layouts[guess[0]] = dna_layout(shapes[guess[0]])
    # No DNA input at all (FactorNet's sequence + signal channels): every input is scored as
    # it is; genome tracks and TF-MoDISco files, which need one-hot DNA, are refused.
    dna = dna_input or next(iter(layouts), None)
    return InputPlan(names, layouts, dna)


def task_names(schema, n_units: int, source_dir: str | None = None) -> list[str] | None:
    """Names of the output units from the schema's ``column_labels``.

    Parameters
    ----------
    schema : kipoi.specs.ModelSchema
        The model's schema.
    n_units : int
        Output units of the model, all outputs together.
    source_dir : str, optional
        The model directory, where ``column_labels`` may name a file (one name a line).

    Returns
    -------
    list of str or None
        One distinct name per unit (:func:`unique_names`); ``None`` when the schema does not
        name them all.
    """
    labels: list[str] = []
    for entry in _entries(getattr(schema, "targets", None)):
        cl = getattr(entry, "column_labels", None)
        if isinstance(cl, str) and source_dir:
            path = Path(source_dir) / cl
            if path.exists():
                cl = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        shape = tuple(getattr(entry, "shape", ()) or ())
        if not cl and getattr(entry, "name", None) and int(np.prod(shape or (1,))) == 1:
            cl = [entry.name]                    # a one-unit target is named by the schema
        if not cl:
            return None
        labels.extend(str(c) for c in cl)
    return unique_names(labels) if len(labels) == n_units else None


def unique_names(labels: Sequence[str]) -> list[str]:
    """Repeated names made distinct, in order: the second ``X`` becomes ``X#2``.

    DeepSEA's 919 features name some cell/TF pairs twice; each is its own task and its own
    dataset.

    Parameters
    ----------
    labels : sequence of str
        The names.

    Returns
    -------
    list of str
    """
    seen: dict[str, int] = {}
    out = []
    for name in labels:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def input_labels(schema, names: Sequence[str]) -> dict[str, str]:
    """Keras input name -> the schema's name for it (used in output files).

    Parameters
    ----------
    schema : kipoi.specs.ModelSchema
        The model's schema.
    names : sequence of str
        The Keras model's input names.

    Returns
    -------
    dict of str to str
        Each Keras name to itself where the schema lists another number of inputs.
    """
    entries = _entries(getattr(schema, "inputs", None))
    if len(entries) != len(names):
        return {n: n for n in names}
    return {n: str(getattr(e, "name", None) or n) for n, e in zip(names, entries)}
