"""The options of ``score`` as one table (:data:`SCORE_OPTIONS`): each row generates its flag,
its :class:`Options` field, its default, its word in the rerun command and its attribute in the
score file. Adding an option is adding a row (:func:`add_option` for one added at run time).

Options given are checked before any work and layered over the model's own defaults (flags >
model.yaml ``postprocessing: deeplift:`` > zoo config > :data:`DEFAULTS`).
"""
from __future__ import annotations

import json
from dataclasses import field, fields, make_dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.methods import MAXPOOL_MODES, METHODS
from ..errors import UserError
# Moved to .arguments; importable from here as before.
from .arguments import (neurons_for_rank, neurons_word, parse_dataloader_args,  # noqa: F401
                        parse_neurons, parse_shard, references_arg, tasks_arg)
from .option_row import SAME_LEVELS, Derived, Option, comma_list, references_word

#: The derived formats' flags, one row (also ``merge``'s).
DERIVED = Derived("derived", default={})

#: Every option of ``score``, in the order of ``--help`` and of the rerun command.
SCORE_OPTIONS: list[Option] = [
    Option("source", ("-s", "--source"), always=True, attribute="source", same="run",
           help="Kipoi source: kipoi (the zoo), dir (a model directory) or any source in "
                "~/.kipoi/config.yaml (default: dir for a directory, else kipoi)"),
    Option("dataloader_args", ("--dataloader-args",), argument=True, nargs="+",
           metavar="JSON_OR_FILE", always=True, attribute="dataloader_args", same="run",
           word=lambda v: json.dumps(v, default=str),
           record=lambda v, _: json.dumps(v, default=str),
           help="dataloader arguments: a JSON object, a .json/.yaml file or key=value pairs, "
                "e.g. '{\"intervals_file\": \"x.bed\", \"fasta_file\": \"hg38.fa\"}'"),
    Option("output", ("-o", "--output"), argument=True, default="deeplift.h5", always=True,
           spelling="-o",
           help="HDF5 file to write (default: deeplift.h5; a name ending in .tsv writes the "
                "--summary table there and the HDF5 beside it as .h5)"),
    Option("tasks", ("--tasks",), always=True, attribute="tasks", same="run",
           word=",".join, record=lambda v, values: json.dumps(values["task_names"]),
           help="comma-separated task names or indices (default: all)"),
    Option("target_layer", ("--target-layer",), metavar="LAYER",
           help="explain neurons of this hidden layer instead of the outputs (e.g. the first "
                "convolution); with --target-neuron"),
    Option("target_neuron", ("--target-neuron",), metavar="F|P,F", word=neurons_word,
           help="with --target-layer: F (filter F summed over every position; a unit of a "
                "dense layer) or P,F (filter F at position P), or several separated by ';'"),
    Option("input", ("--input",), attribute="dna_input", same="run",
           record=lambda v, _: v or "", help="the DNA input (default: special_type DNASeq)"),
    Option("rule", ("--rule", "--method"), layered=True, default="genomics-default",
           choices=tuple(METHODS), always=True, attribute="rule", same="run",
           help="default genomics-default: RevealCancel after dense layers, Rescale after "
                "convolutions; ism: in-silico mutagenesis (every single-base substitution, no "
                "references), in the same file layout"),
    Option("references", ("--references",), layered=True, default="dinuc-shuffle",
           always=True, attribute="references", same="run", word=references_word,
           record=lambda v, values: "none" if values["rule"] == "ism" else
           v if isinstance(v, str) else "array",
           help="dinuc-shuffle (default), shuffle, zeros, uniform, gc:FRACTION, an .npy file "
                "of shape (K, L, 4) or (N, K, L, 4), or an .npz file of arrays by input name "
                "(other inputs: zeros; a DNA input left out: the default)"),
    Option("n_references", ("--n-references",), layered=True, default=20, type=int,
           always=True, attribute="n_references", same="run",
           record=lambda v, values: 0 if values["rule"] == "ism" else int(v), help="default 20"),
    Option("seed", ("--seed",), layered=True, default=0, type=int, always=True,
           attribute="seed", same="run", record=lambda v, _: int(v), help="default 0"),
    Option("maxpool", ("--maxpool",), layered=True, default="exact", choices=MAXPOOL_MODES,
           always=True, attribute="maxpool", same="run",
           help="how max pooling passes multipliers (default exact: the pooled difference "
                "carried by one position, summation-to-delta holds; gradient: through the "
                "input's max, the DeepLIFT authors' original mode)"),
    Option("strands", ("--strands",), default="forward", choices=("forward", "reverse", "both"),
           attribute="strands", same="run",
           help="forward (default): the sequences as read; reverse: their reverse complements "
                "(references reverse-complemented with them), scores read back along the "
                "sequence; both: the mean of the two, so the file explains (f(x) + f(rc x)) / 2 "
                "exactly (one-hot DNA models; a profile's positions are mirrored, its "
                "channels read through the model's strand_channels)"),
    Option("batch_size", ("--batch-size",), type=int, always=True, attribute="batch_size",
           same="resume", record=lambda v, _: int(v),
           help="sequences per batch (default: what fits a quarter of the free memory)"),
    Option("keep_members", ("--keep-members",), switch=True, default=False,
           attribute="keep_members", same="run", record=lambda v, _: int(bool(v)),
           help="with several models (an ensemble): also write each member's scores under "
                "/members/<i>/ (the file's /contrib, /delta, ... are the members' means)"),
    Option("hypothetical", ("--hypothetical",), switch=True, default=False,
           attribute="hypothetical", same="resume", record=lambda v, _: int(bool(v)),
           help="also write hypothetical contributions"),
    Option("per_channel", ("--per-channel",), switch=True, default=False,
           attribute="per_channel", same="resume", record=lambda v, _: int(bool(v)),
           help="also write the DNA input's per-channel contributions m*(x-r) "
                "(/contrib_per_channel; /contrib holds them on the observed base)"),
    Option("dtype", ("--dtype",), default="float32", choices=("float32", "float16"),
           attribute="dtype", same="run",
           help="stored contributions (default float32; float16 halves the file, about 3 "
                "significant digits; /delta and /convergence stay float32, the "
                "summation-to-delta error measured before rounding)"),
    Option("layers", ("--layers",), default=(), read=comma_list, word=",".join,
           attribute="layers", same="resume", record=lambda v, _: json.dumps(list(v)),
           help="comma-separated layers whose per-neuron contributions to write"),
    Option("skip_invalid", ("--skip-invalid",), switch=True, default=False,
           help="score the intervals that fit the genome and skip the rest (listed in "
                "OUT.invalid.bed, counted in the file); by default any invalid interval stops "
                "the run before any work"),
    Option("limit", ("--limit",), type=int, help="score only the first N sequences"),
    DERIVED,
    Option("shard", ("--shard",), metavar="I/N", attribute="shard", same="resume",
           record=lambda v, _: v or "",
           help="score only the I-th of N disjoint slices of the intervals (1 <= I <= N); "
                "`kipoi-deeplift merge` joins the shard files"),
    Option("zoo_config", ("--zoo-config",), metavar="NAME", always=True,
           attribute="zoo_config", same="run", record=lambda v, _: "" if v == "none" else v,
           help="apply this model_zoo_configs entry (`zoo list`; 'none' for none); by default "
                "it is found from the model's name, path or model.yaml"),
    Option("num_workers", ("-n", "--num-workers"), type=int, default=0,
           help="processes loading batches in parallel (Kipoi's dataloader workers; default "
                "0: in this process)"),
    Option("dataloader", ("--dataloader",), metavar="NAME",
           help="a dataloader other than the model's default (as `kipoi predict`)"),
    Option("dataloader_source", ("--dataloader-source",), metavar="SOURCE",
           help="the Kipoi source of --dataloader (default: the model's); py: --dataloader "
                "is a Python class, e.g. --dataloader kipoiseq.dataloaders.SeqIntervalDl "
                "--dataloader-source py"),
    Option("device", ("--device",), rerun=False, attribute="device",
           help="cpu, gpu or gpu:K (default: GPU if TensorFlow sees one)"),
    Option("jit", ("--jit",), switch=True, default=False, rerun=False,
           help="compile the whole pass with XLA (helps on GPUs; costs seconds first)"),
    Option("resume", ("--resume",), switch=True, default=False, rerun=False,
           help="continue an interrupted run of the same command: its finished batches are "
                "kept, the rest is scored (the result equals an uninterrupted run)"),
    Option("progress", cli=False, help="show the progress bar (None: on a terminal)"),
]


def _options_class(rows: Sequence[Option]) -> type:
    """:class:`Options`, a frozen dataclass with one field per row (not the arguments)."""
    specs = []
    for row in rows:
        if row.argument:
            continue
        default = row.field_default
        value = field(default_factory=lambda d=default: type(d)(d)) \
            if isinstance(default, (dict, list)) else field(default=default)
        specs.append((row.name, Any, value))
    doc = ("Every option of ``score`` (``None``: not given, so the model's defaults apply), "
           "one field per row of :data:`SCORE_OPTIONS`:\n\n" +
           "\n".join(f"``{r.name}``: {r.help}" for r in rows if not r.argument))
    cls = make_dataclass("Options", specs, frozen=True, namespace={
        "__doc__": doc, "__module__": __name__, "from_keywords": classmethod(_from_keywords),
        "check": _check})
    return cls


def _from_keywords(cls, **given) -> "Options":
    """Options from ``score``'s keywords; ``bigwig=``/``bedgraph=``/``modisco=`` (any derived
    format's name) join ``derived``. An unknown keyword is a ``TypeError``."""
    from ..io.derived import FORMATS, requested

    names = {f.name for f in fields(cls)}
    unknown = sorted(set(given) - names - set(FORMATS))
    if unknown:
        raise TypeError(f"score() got unknown option(s) {', '.join(unknown)}")
    formats = {k: given.pop(k) for k in list(given) if k in FORMATS}
    given["derived"] = requested(given.get("derived"), **formats)
    given["layers"] = comma_list(given.get("layers"))
    return cls(**given)


def _check(self) -> None:
    """Every numeric and named option checked before any work."""
    check_values(n_references=self.n_references, batch_size=self.batch_size,
                 limit=self.limit, seed=self.seed, rule=self.rule, maxpool=self.maxpool)
    parse_shard(self.shard)
    from ..io.scorefile import DTYPES

    if self.dtype not in DTYPES:
        raise UserError(f"--dtype {self.dtype!r}: use one of {', '.join(DTYPES)}")
    if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or \
            self.num_workers < 0:
        raise UserError(f"--num-workers must be a whole number of at least 0, got "
                        f"{self.num_workers!r}")
    if (self.target_layer is None) != (self.target_neuron is None):
        raise UserError("--target-layer and --target-neuron go together: the layer and which "
                        "of its neurons to explain")
    if self.target_layer is not None and self.tasks is not None:
        raise UserError("give --tasks or --target-layer, not both")
    parse_neurons(self.target_neuron)


Options = _options_class(SCORE_OPTIONS)

#: The DeepLIFT settings every run has; anything not given comes from here last.
DEFAULTS: dict[str, Any] = {}
_ADDED: set[str] = set()       # rows added at run time (add_option)


def _defaults() -> None:
    """:data:`DEFAULTS` from the layered rows, in place (modules hold the dict itself)."""
    DEFAULTS.clear()
    DEFAULTS.update({r.name: r.default for r in SCORE_OPTIONS if r.layered})


_defaults()


def add_option(row: Option) -> None:
    """Add a row to :data:`SCORE_OPTIONS` (before the run-time-only rows) and rebuild
    :class:`Options` and :data:`DEFAULTS`: the flag, the field, the default, the rerun
    command's word and the file's attribute follow. Parsers built afterwards have the flag.

    Parameters
    ----------
    row : Option
        The new option (its name must be new).
    """
    global Options
    if any(r.name == row.name for r in SCORE_OPTIONS):
        raise ValueError(f"option {row.name!r} exists")
    at = next(i for i, r in enumerate(SCORE_OPTIONS) if r.name == "device")
    SCORE_OPTIONS.insert(at, row)
    _ADDED.add(row.name)
    Options = _options_class(SCORE_OPTIONS)
    _defaults()


def remove_option(name: str) -> None:
    """Take out a row that :func:`add_option` added (the table's own rows stay).

    Parameters
    ----------
    name : str
        The row's name.
    """
    global Options
    if name not in _ADDED:
        raise ValueError(f"option {name!r} was not added by add_option")
    _ADDED.discard(name)
    SCORE_OPTIONS[:] = [r for r in SCORE_OPTIONS if r.name != name]
    Options = _options_class(SCORE_OPTIONS)
    _defaults()


def same_keys(level: str = "run") -> tuple[str, ...]:
    """The attributes of the options whose values make results differ.

    Parameters
    ----------
    level : {'run', 'resume'}
        ``run``: files of one run agree on them (``merge``); ``resume``: a run continues only
        with them unchanged (those of ``run`` too).

    Returns
    -------
    tuple of str
        Score file attribute names.
    """
    levels = SAME_LEVELS[:SAME_LEVELS.index(level) + 1]
    return tuple(r.attribute for r in SCORE_OPTIONS if r.attribute and r.same in levels)


#: The rows ``variants`` takes (a VCF instead of a dataloader: no dataloader, interval,
#: shard, resume, layer or derived-file flags; its own -o, --summary and --bigwig).
VARIANT_OPTIONS = ("source", "tasks", "input", "rule", "references", "n_references", "seed",
                   "maxpool", "strands", "batch_size", "hypothetical", "per_channel", "dtype",
                   "zoo_config", "device", "progress")


def add_flags(parser, names: Sequence[str] | None = None) -> None:
    """Add every row's flag to the ``score`` parser (the positional MODEL is the caller's).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    names : sequence of str, optional
        Only these rows (e.g. :data:`VARIANT_OPTIONS`), in the table's order; default all.
    """
    for row in SCORE_OPTIONS:
        if names is None or row.name in names:
            row.add_to(parser)


def from_args(parsed) -> "Options":
    """The options of a command line, each row reading its flag.

    Parameters
    ----------
    parsed : argparse.Namespace
        What the ``score`` parser read.

    Returns
    -------
    Options
    """
    return Options(**{r.name: r.from_args(parsed) for r in SCORE_OPTIONS
                      if not r.argument and r.cli})


def check_values(where: str = "", **given) -> None:
    """Refuse a value that cannot be used, with a ``UserError`` (``None``: not given).

    Parameters
    ----------
    where : str
        Where the values came from (the message's start, e.g. ``model.yaml postprocessing``).
    **given
        ``n_references``, ``batch_size``, ``limit``, ``seed``, ``rule``, ``maxpool``.
    """
    for name in ("n_references", "batch_size", "limit"):
        v = given.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                              or v < 1):
            raise UserError(f"{where}--{name.replace('_', '-')} must be a whole number of at "
                            f"least 1, got {v!r}")
    seed = given.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise UserError(f"{where}--seed must be a whole number of at least 0, got {seed!r}")
    if given.get("rule") is not None and given["rule"] not in METHODS:
        raise UserError(f"{where}--rule {given['rule']!r}: use one of {', '.join(METHODS)}")
    if given.get("maxpool") is not None and given["maxpool"] not in MAXPOOL_MODES:
        raise UserError(f"{where}--maxpool {given['maxpool']!r}: use one of "
                        f"{', '.join(MAXPOOL_MODES)}")


def layered(options: "Options", model_defaults: Mapping[str, Any]) -> dict:
    """The run's DeepLIFT settings: the options given first, then the model's, then
    :data:`DEFAULTS`.

    Parameters
    ----------
    options : Options
    model_defaults : Mapping[str, Any]
        model.yaml's ``postprocessing: deeplift:`` block over the zoo config's.

    Returns
    -------
    dict
        One value per key of :data:`DEFAULTS`, checked.
    """
    settings = dict(DEFAULTS)
    settings.update({k: model_defaults[k] for k in DEFAULTS if k in model_defaults})
    settings.update({k: getattr(options, k) for k in DEFAULTS
                     if getattr(options, k) is not None})
    check_values(n_references=settings["n_references"], seed=settings["seed"],
                 rule=settings["rule"], maxpool=settings["maxpool"],
                 where="model.yaml postprocessing or zoo config: ")
    return settings


def command(model: str | Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """The ``kipoi-deeplift score`` command that reruns a run.

    Parameters
    ----------
    model : str or sequence of str
        The model's name or directory (an ensemble's members', in order).
    values : Mapping[str, Any]
        Every option's value in the run, by row name.

    Returns
    -------
    list of str
        The words, in the table's order (``shlex.join`` makes the line).
    """
    words = ["kipoi-deeplift", "score", *([model] if isinstance(model, str) else model)]
    for row in SCORE_OPTIONS:
        words += row.words(values.get(row.name))
    return words


def attributes(values: Mapping[str, Any]) -> dict:
    """The score file's attributes recording a run's options.

    Parameters
    ----------
    values : Mapping[str, Any]
        Every option's value in the run, by row name.

    Returns
    -------
    dict
        Attribute name -> value as HDF5 stores it, for the rows with an ``attribute``.
    """
    return {r.attribute: r.attribute_value(values.get(r.name), values)
            for r in SCORE_OPTIONS if r.attribute}


def markdown() -> str:
    """The table of ``score``'s options as the README shows it, made from the rows.

    Returns
    -------
    str
        A Markdown table: flags, default, file attribute, what must agree, help.
    """
    agree = {"run": "merge, --resume", "resume": "--resume", None: ""}
    lines = ["| flag | default | file attribute | must agree for | what |",
             "|---|---|---|---|---|"]
    for row in SCORE_OPTIONS:
        if not row.cli:
            continue
        if row is DERIVED:
            flags, default = " ".join(f"`{f}`" for f in DERIVED.flag_names), ""
        else:
            flags = " ".join(f"`{f}`" for f in row.flags)
            default = "" if row.default in (None, False, (), {}) else f"`{row.default}`"
            if row.layered:
                default = f"model.yaml / zoo config, else {default}"
        help_ = row.help.replace("|", "\\|") if row is not DERIVED else \
            "derived files (see Output file); one flag per format"
        lines.append(f"| {flags} | {default} | {row.attribute or ''} | {agree[row.same]} | "
                     f"{help_} |")
    return "\n".join(lines)
