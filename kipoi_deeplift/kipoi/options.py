"""What the user asked a scoring run for: :class:`Options`, checked before any work, and
layered over the model's own defaults (flags > model.yaml ``postprocessing: deeplift:`` > zoo
config > :data:`DEFAULTS`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.methods import MAXPOOL_MODES, METHODS
from ..errors import UserError

#: The DeepLIFT settings every run has; anything not given comes from here last.
DEFAULTS = {"rule": "genomics-default", "references": "dinuc-shuffle", "n_references": 20,
            "seed": 0, "maxpool": "exact"}


@dataclass(frozen=True)
class Options:
    """Every option of ``score`` (``None``: not given, so the model's defaults apply).

    ``source``: where the model comes from (``kipoi``, ``dir``, a Kipoi source name).
    ``tasks``: names or indices (a list or a comma-separated string). ``input``: the DNA input
    to explain (schema or Keras name). ``rule``, ``references`` (a name, an .npy/.npz file, an
    array or a dict by input), ``n_references``, ``seed``, ``maxpool``: the DeepLIFT settings
    (see :data:`DEFAULTS`). ``hypothetical``: also write hypothetical contributions.
    ``per_channel``: also write the DNA input's per-channel contributions m·(x - r)
    (``/contrib`` holds them projected on the observed base).
    ``dtype``: of the stored contributions, ``float32`` or ``float16`` (see
    :data:`kipoi_deeplift.io.scorefile.DTYPES`).
    ``layers``: hidden layers whose per-neuron contributions to write. ``batch_size``: sequences
    per pass (``None``: from memory). ``device``: ``cpu``, ``gpu`` or ``gpu:K``. ``limit``:
    score the first N sequences. ``progress``: show the progress bar (``None``: on a terminal).
    ``shard``: ``'I/N'``. ``jit``: XLA. ``zoo_config``: a ``model_zoo_configs`` name or
    ``'none'``. ``resume``: continue an interrupted run. ``derived``: output format ->
    file prefix (:data:`kipoi_deeplift.io.derived.FORMATS`). ``num_workers``: processes
    loading batches (Kipoi's dataloader workers). ``dataloader``/``dataloader_source``: a
    dataloader other than the model's default (as ``kipoi predict``). ``target_layer`` with
    ``target_neuron``: explain neurons of a hidden layer (see :func:`parse_neurons`).
    """

    source: str | None = None
    tasks: Any = None
    input: str | None = None
    rule: str | None = None
    references: Any = None
    n_references: int | None = None
    seed: int | None = None
    hypothetical: bool = False
    per_channel: bool = False
    dtype: str = "float32"
    layers: Sequence[str] = ()
    batch_size: int | None = None
    device: str | None = None
    limit: int | None = None
    maxpool: str | None = None
    progress: bool | None = None
    shard: str | None = None
    jit: bool = False
    zoo_config: str | None = None
    resume: bool = False
    skip_invalid: bool = False
    derived: Mapping[str, str] = field(default_factory=dict)
    num_workers: int = 0
    dataloader: str | None = None
    dataloader_source: str | None = None
    target_layer: str | None = None
    target_neuron: Any = None

    @classmethod
    def from_keywords(cls, **given) -> "Options":
        """Options from ``score``'s keywords; ``bigwig=``/``bedgraph=``/``modisco=`` (any
        derived format's name) join ``derived``. An unknown keyword is a ``TypeError``."""
        from ..io.derived import FORMATS, requested

        names = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - names - set(FORMATS))
        if unknown:
            raise TypeError(f"score() got unknown option(s) {', '.join(unknown)}")
        formats = {k: given.pop(k) for k in list(given) if k in FORMATS}
        given["derived"] = requested(given.get("derived"), **formats)
        given["layers"] = tuple(given.get("layers") or ())
        return cls(**given)

    def check(self) -> None:
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
            raise UserError("--target-layer and --target-neuron go together: the layer and "
                            "which of its neurons to explain")
        if self.target_layer is not None and self.tasks is not None:
            raise UserError("give --tasks or --target-layer, not both")
        parse_neurons(self.target_neuron)


def check_values(where: str = "", **given) -> None:
    """``UserError`` for a value that cannot be used (``None``: not given); ``where`` says
    where the value came from."""
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


def layered(options: Options, model_defaults: Mapping[str, Any]) -> dict:
    """The run's DeepLIFT settings (the keys of :data:`DEFAULTS`): the options given first,
    then ``model_defaults`` (model.yaml's block over the zoo config's), then :data:`DEFAULTS`."""
    opt = dict(DEFAULTS)
    opt.update({k: model_defaults[k] for k in DEFAULTS if k in model_defaults})
    opt.update({k: getattr(options, k) for k in DEFAULTS if getattr(options, k) is not None})
    check_values(n_references=opt["n_references"], seed=opt["seed"], rule=opt["rule"],
                 maxpool=opt["maxpool"], where="model.yaml postprocessing or zoo config: ")
    return opt


def parse_dataloader_args(value: Any) -> dict:
    """A dict, a JSON string, a .json/.yaml file, or ``key=value`` strings, as a dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        value = [value]
    value = list(value)
    if len(value) == 1 and str(value[0]).endswith((".yaml", ".yml")):
        import yaml

        if not os.path.exists(value[0]):
            raise UserError(f"--dataloader-args file {value[0]!r} does not exist")
        return dict(yaml.safe_load(Path(value[0]).read_text()) or {})
    if len(value) == 1 and str(value[0]).endswith(".json") and not os.path.exists(value[0]):
        raise UserError(f"--dataloader-args file {value[0]!r} does not exist")
    from kipoi_utils.utils import parse_json_file_str_or_arglist

    try:
        return dict(parse_json_file_str_or_arglist(value))
    except Exception as e:
        raise UserError(f"cannot parse --dataloader-args {' '.join(value)!r}: give a JSON "
                        "object, a .json/.yaml file or key=value pairs") from e


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """'I/N' (1 <= I <= N) -> (I, N); ``None`` stays ``None``."""
    if shard is None:
        return None
    try:
        i, n = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise UserError(f"--shard {shard!r}: write it as I/N, e.g. 2/8") from None
    if not 1 <= i <= n:
        raise UserError(f"--shard {shard!r}: I must be between 1 and N")
    return i, n


def parse_neurons(spec: Any):
    """--target-neuron: ``F`` (filter F of a convolution at every position, summed; unit F of a
    dense layer), ``P,F`` (filter F at position P), several separated by ``;``. Anything else
    (an int, a tuple, a list of them: the Python forms) passes through. Each neuron is a tuple
    with ``None`` at the axes summed over; the layer's rank decides how ``F`` is read (see
    :func:`neurons_for_rank`)."""
    if not isinstance(spec, str):
        return spec
    out = []
    for part in (p.strip() for p in spec.split(";")):
        try:
            out.append(tuple(int(v) for v in part.split(",")))
        except ValueError:
            raise UserError(f"--target-neuron {spec!r}: write F, P,F or several separated by "
                            "';' (whole numbers)") from None
    return out


def neurons_for_rank(neurons: Any, rank: int):
    """Parsed --target-neuron tuples filled to a layer output of ``rank`` axes (batch
    excluded): the indices given are the last axes (filter last), the ones before are summed."""
    if not isinstance(neurons, list) or not all(isinstance(n, tuple) for n in neurons):
        return neurons
    filled = []
    for n in neurons:
        if len(n) > rank:
            raise UserError(f"--target-neuron {','.join(map(str, n))}: the layer's output has "
                            f"{rank} axis/axes (batch excluded)")
        filled.append((None,) * (rank - len(n)) + n)
    return filled


def tasks_arg(tasks, names: Sequence[str]):
    """--tasks values: a task's name, an integer index, or else a regular expression searched
    in every name (``CTCF`` selects every task whose name contains it, ``^K562\\|`` those that
    start so); one that matches nothing stays as given, for the engine to refuse by name."""
    import re

    if tasks is None:
        return None
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    out: list = []
    for t in tasks:
        if isinstance(t, str) and t not in names:
            if t.lstrip("-").isdigit():
                out.append(int(t))
                continue
            try:
                found = [n for n in names if re.search(t, n)]
            except re.error:
                found = []
            if found:
                out.extend(n for n in found if n not in out)
                continue
        if t not in out:
            out.append(t)
    return out


def references_arg(references, by_label: Mapping[str, str] | None = None,
                   dna: str | None = None, dna_default: str = DEFAULTS["references"]):
    """--references: a name, an .npy array (the DNA input's, (L, 4), (K, L, 4) or
    (N, K, L, 4)), or an .npz file of arrays by input name (schema or Keras names; e.g. a
    meta-feature input's reference). With an .npz, a DNA input it leaves out gets
    ``dna_default`` and any other input zeros."""
    if isinstance(references, str) and references.endswith((".npy", ".npz")):
        if not os.path.exists(references):
            raise UserError(f"--references file {references!r} does not exist")
        if references.endswith(".npy"):
            return np.load(references)
        by_label = by_label or {}
        with np.load(references) as f:
            out = {by_label.get(k, k): f[k] for k in f.files}
        if dna is not None and dna not in out:
            out[dna] = dna_default
        return out
    return references
