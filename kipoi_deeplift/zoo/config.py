"""DeepLIFT-ready configs for published Kipoi models, typed (:class:`ZooConfig`).

A config names the Kipoi models it covers (glob patterns), the DNA input and its layout, what
to score, the recommended references and rule, how the model treats the two strands, and, where
the published file cannot be read on Python 3, a ``rebuild:`` function that builds the published
architecture in Keras 3 and loads the published weights.

The YAML files live in ``model_zoo_configs/`` at the top of the repository and travel inside
the package as ``kipoi_deeplift/zoo/configs/`` (a link to them in a source checkout, copies in a
wheel; see setup.py), so that they are found the same way however the package was installed.
"""
from __future__ import annotations

import importlib
from dataclasses import MISSING, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

import yaml

from ..core.strands import strand_permutation
from ..errors import UserError


@dataclass(frozen=True)
class InputSpec:
    """The DNA input.

    Parameters
    ----------
    name : str or None
        Its name in the schema (``None``: the model's only input).
    layout : str
        Its layout as the paper gives it, e.g. ``"(600, 4)"``.
    dna : bool, default True
        Whether it is one-hot DNA.
    """

    name: str | None
    layout: str
    dna: bool = True


@dataclass(frozen=True)
class OutputSpec:
    """What is scored.

    Parameters
    ----------
    score : str, default ""
        What is scored, in prose.
    layer : str or None
        The layer cut at (``None``: the model's output).
    profile_head : str or None
        A profile head wrapper (``module:function``).
    names : tuple of str or None
        The outputs' names, in order.
    strand_channels : tuple of int or None
        ``--strands``: channel c is ``strand_channels[c]`` on the reverse strand (BPNet: [1, 0]).
    """

    score: str = ""
    layer: str | None = None
    profile_head: str | None = None
    names: tuple[str, ...] | None = None
    strand_channels: tuple[int, ...] | None = None


@dataclass(frozen=True)
class References:
    """The recommended references.

    Parameters
    ----------
    kind : str
        A name of :mod:`kipoi_deeplift.core.references` (``dinuc-shuffle`` ...).
    n : int
        How many per sequence.
    seed : int, default 0
        Their seed.
    """

    kind: str
    n: int
    seed: int = 0


@dataclass(frozen=True)
class Status:
    """What ``zoo list`` says of a config's models.

    Parameters
    ----------
    loads : str
        Whether the models load.
    scores : str
        Whether they score.
    tested_on_real_weights : str
        Whether they were tested on the published files.
    """

    loads: str
    scores: str
    tested_on_real_weights: str


@dataclass(frozen=True)
class KipoiClass:
    """The model's own Kipoi class, read here as the Keras file it loads.

    Parameters
    ----------
    defined_as : str
        ``defined_as`` in model.yaml (a glob).
    weights : str, default "weights"
        The argument holding the Keras file.
    arch : str or None
        One holding an architecture.
    then : str or None
        A ``module:function`` applied to the loaded model.
    """

    defined_as: str
    weights: str = "weights"
    arch: str | None = None
    then: str | None = None


@dataclass(frozen=True)
class Identify:
    """How a copy of a model in any directory is recognised from its model.yaml.

    Parameters
    ----------
    info_name : str or None
        ``info.name`` (case-insensitive).
    doc_mentions : str or None
        A phrase of ``info.doc``.
    """

    info_name: str | None = None
    doc_mentions: str | None = None


@dataclass(frozen=True)
class ZooConfig:
    """One ``model_zoo_configs/*.yaml`` file, checked (see :func:`parse`).

    ``rebuild``, ``build_from_counts`` and the ``then``/``profile_head`` entries are
    ``package.module:function`` specs (:func:`function`).

    Parameters
    ----------
    name : str
        The config's name.
    kipoi : tuple of str
        The Kipoi name patterns (one string in the file is one pattern).
    input : InputSpec
    output : OutputSpec
    references : References
    rule : str
        The recommended DeepLIFT rule.
    reverse_complement : str
        How the model treats the two strands.
    status : Status
    models, paper, tasks : str
        Prose: the models covered (a count first), the paper, the tasks.
    maxpool : str or None
        The recommended max-pooling mode.
    rebuild : str or None
        ``rebuild(weights)``: builds the published architecture, loads the published weights.
    build_from_counts : str or None
        Builds a model from a counts file.
    kipoi_class : KipoiClass or None
    identify : Identify or None
    dataloader_args : Mapping
        The dataloader arguments the rebuild reads (set, and a different value refused).
    other_inputs, architecture, rebuild_notes : str
        Prose.
    status_notes : Mapping
        Prose behind ``status``, by key.
    file : str
        Where it was read.
    text : str
        The file as written (what ``zoo show`` prints).
    """

    name: str
    kipoi: tuple[str, ...]
    input: InputSpec
    output: OutputSpec
    references: References
    rule: str
    reverse_complement: str
    status: Status
    models: str = ""
    paper: str = ""
    tasks: str | tuple[str, ...] = ""
    maxpool: str | None = None
    rebuild: str | None = None
    build_from_counts: str | None = None
    kipoi_class: KipoiClass | None = None
    identify: Identify | None = None
    dataloader_args: Mapping[str, Any] = field(default_factory=dict)
    other_inputs: str = ""
    architecture: str = ""
    rebuild_notes: str = ""
    status_notes: Mapping[str, Any] = field(default_factory=dict)
    file: str = field(default="", compare=False)
    text: str = field(default="", repr=False, compare=False)


_KEYS = frozenset(f.name for f in fields(ZooConfig)) - {"file", "text"}
_RECORDS = {"input": InputSpec, "output": OutputSpec, "references": References,
            "status": Status, "kipoi_class": KipoiClass, "identify": Identify}
_REQUIRED_RECORDS = ("input", "output", "references", "status")


def _record(cls: type, raw: Any, where: str, key: str) -> Any:
    """``raw`` as the record ``cls``: every key known, every required one there."""
    if not isinstance(raw, Mapping):
        raise UserError(f"{where}: {key} is not a mapping")
    known = [f.name for f in fields(cls)]
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise UserError(f"{where}: unknown key {key}.{unknown[0]} (known: {', '.join(known)})")
    missing = [f.name for f in fields(cls)
               if f.default is MISSING and f.default_factory is MISSING and f.name not in raw]
    if missing:
        raise UserError(f"{where}: {key}.{missing[0]} is missing")
    return cls(**raw)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))


def _typed(raw: Mapping, where: str) -> dict[str, Any]:
    """The file's values as :class:`ZooConfig` holds them (records, tuples, read-only maps)."""
    out = dict(raw)
    for key, cls in _RECORDS.items():
        if key in out and (out[key] is not None or key in _REQUIRED_RECORDS):
            out[key] = _record(cls, out[key], where, key)
    out["kipoi"] = _strings(out["kipoi"])
    out["status"] = Status(*(str(getattr(out["status"], f.name)) for f in fields(Status)))
    out["references"] = References(out["references"].kind, int(out["references"].n),
                                   int(out["references"].seed))
    if out["output"].names is not None:
        out["output"] = replace(out["output"], names=_strings(out["output"].names))
    try:    # a permutation, as a tuple (None stays None)
        out["output"] = replace(out["output"], strand_channels=strand_permutation(
            out["output"].strand_channels))
    except ValueError as e:
        raise UserError(f"{where}: output.{e}") from e
    if isinstance(out.get("tasks"), list):
        out["tasks"] = _strings(out["tasks"])
    for key in ("dataloader_args", "status_notes"):
        if key in out:
            if not isinstance(out[key], Mapping):
                raise UserError(f"{where}: {key} is not a mapping")
            out[key] = MappingProxyType(dict(out[key]))
    return out


def parse(raw: Any, where: str = "config", file: str = "", text: str = "") -> ZooConfig:
    """One config from its YAML mapping, checked.

    Parameters
    ----------
    raw : mapping
        The file as ``yaml.safe_load`` reads it.
    where : str
        The file's name, which every error starts with.
    file, text : str
        Where the file was read, and its text (kept for ``zoo show``).

    Returns
    -------
    ZooConfig

    Raises
    ------
    UserError
        One line naming the file and the key: an unknown or missing key, a rule, maxpool mode
        or reference name this package lacks, a ``module:function`` that does not import.
    """
    if not isinstance(raw, Mapping):
        raise UserError(f"{where}: not a mapping")
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    required = [f.name for f in fields(ZooConfig)
                if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in raw]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)}")
    cfg = ZooConfig(**_typed(raw, where), file=file, text=text)
    _check(cfg, where)
    return cfg


def _check(cfg: ZooConfig, where: str) -> None:
    """What the types do not say: names this package knows, functions that import."""
    from ..core.methods import MAXPOOL_MODES, METHODS
    from ..core.references import validate_reference_name

    if cfg.rule not in METHODS:
        raise UserError(f"{where}: rule {cfg.rule!r} is not one of {', '.join(METHODS)}")
    if (cfg.maxpool or "gradient") not in MAXPOOL_MODES:
        raise UserError(f"{where}: maxpool {cfg.maxpool!r} is not one of {MAXPOOL_MODES}")
    try:
        validate_reference_name(cfg.references.kind)
    except ValueError as e:
        raise UserError(f"{where}: references: {e}") from e
    if cfg.references.n < 1:
        raise UserError(f"{where}: references.n must be at least 1")
    own = cfg.kipoi_class
    for spec in (cfg.rebuild, cfg.build_from_counts, cfg.output.profile_head,
                 own.then if own else None):
        if spec:
            function(spec)      # importable now, not when a run needs it


def validate(raw: Any, where: str = "config") -> ZooConfig:
    """:func:`parse` under its old name (it checked a dict in place).

    Parameters
    ----------
    raw : Any
        The YAML file's content.
    where : str, default "config"
        Names the file in errors.

    Returns
    -------
    ZooConfig
    """
    return parse(raw, where)


def config_files(directory: Path | str | None = None) -> list:
    """The config files in name order.

    Parameters
    ----------
    directory : path, optional
        A folder of YAML files; by default the package's own (``configs/``, read through
        :mod:`importlib.resources`).

    Returns
    -------
    list
        Paths (or resources of the package).

    Raises
    ------
    UserError
        When the package's configs are missing.
    """
    if directory is not None:
        return sorted(Path(directory).glob("*.yaml"))
    folder = resources.files(__package__).joinpath("configs")
    found = sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")),
                   key=lambda p: p.name) if folder.is_dir() else []
    if not found:
        raise UserError("the zoo configs are missing from the installed package "
                        "(kipoi_deeplift/zoo/configs/); reinstall kipoi_deeplift")
    return found


def read(path: Any) -> ZooConfig:
    """One config file (a path, or a resource of the package), parsed.

    Parameters
    ----------
    path : pathlib.Path or importlib.resources.abc.Traversable
        The file.

    Returns
    -------
    ZooConfig

    Raises
    ------
    UserError
        When the file is not valid YAML or not a valid config.
    """
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{path.name}: not valid YAML ({str(e).splitlines()[0]})") from e
    return parse(raw, path.name, str(path), text)


def load_configs(directory: Path | str | None = None) -> dict[str, ZooConfig]:
    """Every config by name.

    Parameters
    ----------
    directory : path, optional
        A folder of YAML files; by default the configs installed with the package.

    Returns
    -------
    dict
        Config name -> :class:`ZooConfig`, in file name order.
    """
    return by_name(read(path) for path in config_files(directory))


def by_name(configs: Iterable[ZooConfig]) -> dict[str, ZooConfig]:
    """Configs keyed by their names.

    Parameters
    ----------
    configs : iterable of ZooConfig

    Returns
    -------
    dict of str to ZooConfig
    """
    return {cfg.name: cfg for cfg in configs}


def function(spec: str) -> Callable:
    """The function a ``package.module:function`` spec names.

    Parameters
    ----------
    spec : str
        ``package.module:function``.

    Returns
    -------
    callable

    Raises
    ------
    UserError
        When the module does not import or lacks the function.
    """
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"cannot import {spec!r}: {e}") from e
