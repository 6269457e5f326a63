"""``score --strands reverse|both`` for a model: whether its reverse strand is defined, and
which of its tasks the reverse strand explains in place of each task the file holds.

An output of one value per task is the same task on both strands. An output with positions
(a profile head, (N, P) with P the input's length, or (N, P, C)) is read back along the
sequence: the reverse strand's position p is position P - 1 - p, which is right where the
output's window is centred on the input (P = L; P dividing L, whole bins; or L - P even, a
crop by the same number of bases each side, assumed). Its channels are read through the
model's ``strand_channels`` (zoo config ``output.strand_channels`` or model.yaml's
``postprocessing: deeplift:``): channel c on the forward strand is channel
``strand_channels[c]`` on the reverse; it also applies to an output (N, C) with that many
units (BPNet's count heads, (+, -) strand totals).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..core.strands import mirrored_units, strand_permutation
from ..errors import UserError


@dataclass(frozen=True)
class StrandPlan:
    """What the engine scores under ``--strands reverse|both`` and how it is read back.

    Parameters
    ----------
    tasks : tuple of Task
        The tasks scored on every strand: ``forward`` the tasks asked; ``reverse`` their
        mirrors; ``both`` the tasks asked, then the mirrors not asked.
    mirror : Mapping of str to str
        Task written -> the reverse strand's task explained in its place, in the order the
        tasks were asked.
    """

    tasks: tuple
    mirror: Mapping[str, str]


def strand_channels(model_defaults: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The model's declared channel mapping between the strands, checked.

    Parameters
    ----------
    model_defaults : Mapping
        model.yaml's ``postprocessing: deeplift:`` block over the zoo config's.

    Returns
    -------
    tuple of int or None
        A permutation of range(C); ``None`` where none is declared.
    """
    try:
        return strand_permutation(model_defaults.get("strand_channels"))
    except ValueError as e:
        raise UserError(f"model.yaml postprocessing or zoo config: {e}") from e


def check_strands(strands: str, side, references: Any, options,
                  model_defaults: Mapping[str, Any] | None = None) -> StrandPlan | None:
    """Refuse ``--strands reverse|both`` where the reverse strand is not defined for the run,
    and plan the tasks it scores.

    Parameters
    ----------
    strands : {'forward', 'reverse', 'both'}
    side : Scorer
        The model's side (inputs, engine, tasks).
    references : Any
        The references as the engine takes them (a name, or arrays).
    options : Options
        The run's options (``layers``, ``target_layer``).
    model_defaults : Mapping, optional
        model.yaml's ``postprocessing: deeplift:`` block over the zoo config's
        (``strand_channels``).

    Returns
    -------
    StrandPlan or None
        ``None`` for ``forward``; ``UserError`` (one line) where the run has no reverse strand.
    """
    if strands == "forward":
        return None
    engine = side.engine
    why = None
    if side.inputs.dna is None or len(engine.plan.input_names) != 1:
        why = f"a model whose only input is one-hot DNA (inputs: {engine.plan.input_names})"
    elif options.layers or options.target_layer is not None:
        why = "output tasks, not hidden neurons (--layers, --target-layer)"
    elif not isinstance(references, str):
        why = "named references (arrays given are not reverse-complemented)"
    if why:
        raise UserError(f"--strands {strands} needs {why}; use --strands forward")
    perm = strand_channels(model_defaults or {})
    length = engine.plan.input_shapes[0][1]
    units = {}
    for name, shape, key in zip(engine.plan.output_names, engine.plan.output_shapes,
                                engine.plan.output_keys):
        if any(t.key == key for t in side.tasks):
            units[key] = output_mirror(name, tuple(shape), length, perm, strands)
    by_unit = {(t.key, t.unit): t for t in engine.tasks}
    mirror = {t.name: by_unit[t.key, int(units[t.key][t.unit])] for t in side.tasks}
    return StrandPlan(_scored(strands, side.tasks, mirror),
                      {name: t.name for name, t in mirror.items()})


def _scored(strands: str, asked: Sequence, mirror: Mapping[str, Any]) -> tuple:
    """The engine's tasks: the mirrors alone for ``reverse``; the asked, then the mirrors not
    asked, for ``both`` (one stream scores both strands with one task list)."""
    mirrors = [mirror[t.name] for t in asked]
    if strands == "reverse":
        return tuple(dict.fromkeys(mirrors))
    return tuple(dict.fromkeys([*asked, *mirrors]))


def output_mirror(name: str, shape: tuple, length: int | None,
                  perm: Sequence[int] | None, strands: str = "both"):
    """The reverse strand's unit for each unit of one output (flat, as the engine numbers
    them), or a one-line ``UserError`` where the output's orientation is not known.

    Parameters
    ----------
    name : str
        The output's name (for the message).
    shape : tuple
        Its shape, batch axis first: (N,), (N, U), (N, P, C).
    length : int or None
        The DNA input's length L.
    perm : sequence of int or None
        The declared ``strand_channels``.
    strands : str
        The ``--strands`` asked (for the message).

    Returns
    -------
    numpy.ndarray, shape=(units,)
    """
    inner = shape[1:]
    refuse = f"--strands {strands}: output {name!r} shaped (N, {', '.join(map(str, inner))}) "
    if len(inner) > 2 or any(d is None for d in inner):
        raise UserError(refuse + "has no known orientation on the reverse strand (scored: "
                        "(N, units), (N, positions) or (N, positions, channels) of a fixed "
                        "size); use --strands forward")
    if len(inner) == 2:
        positions, channels = inner
        _check_window(refuse, positions, length)
        if channels > 1 and (perm is None or len(perm) != channels):
            raise UserError(refuse + f"has {channels} channels per position, whose order on the "
                            "reverse strand is not known: declare it as strand_channels (a "
                            "permutation, BPNet's + and - strands [1, 0]) in model.yaml's "
                            "postprocessing: deeplift: or the zoo config, or use --strands "
                            "forward" + (f" (strand_channels {list(perm)} has {len(perm)})"
                                         if perm is not None else ""))
        return mirrored_units(positions, channels, perm if channels > 1 else None)
    n = int(inner[0]) if inner else 1
    if length is not None and n == length and n > 1:      # a profile (N, L)
        return mirrored_units(n, 1)
    if perm is not None and n == len(perm):               # (N, C): strand channels
        return mirrored_units(1, n, perm)
    return mirrored_units(1, n)                           # tasks, each its own


def _check_window(refuse: str, positions: int, length: int | None) -> None:
    """Refuse positions that cannot be a window centred on the input (only there is
    p -> P - 1 - p the reverse strand's position)."""
    if length is None:
        raise UserError(refuse + "has positions, and the input's length is not fixed; use "
                        "--strands forward")
    if positions == length or (positions < length and (
            (length - positions) % 2 == 0 or length % positions == 0)):
        return
    raise UserError(refuse + f"has {positions} positions for an input of {length} bases: "
                    "they cannot cover a window centred on the input (P = L, P dividing L, or "
                    "L - P even), so the reverse strand's positions are not known; use "
                    "--strands forward")
