"""``score``: a Kipoi model, its dataloader and DeepLIFT, streamed batch by batch into files.

Data flows one way: dataloader batch -> model inputs (schema) -> engine -> arrays -> writers.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..io import derived as derived_lib
from . import preflight, zoo
from ..io import scorefile
from ..core import references as refs_lib
from .._version import __version__
from ..core.engine import ConvergenceWarning, DeepLift
from ..core.graph import build_plan, keras_module
from ..io import resume as resume_lib
from ..errors import Interrupted, Notice, UserError, describe
from .loading import KipoiModel, load_kipoi_model, looks_like_path
from .schema import InputPlan, canonical_model, input_labels, plan_inputs, task_names
from ..io.writers import H5Writer, Staged, check_writable

DEFAULTS = {"rule": "genomics-default", "references": "dinuc-shuffle", "n_references": 20,
            "seed": 0, "maxpool": "gradient"}


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
    """'I/N' (1 <= I <= N) -> (I, N)."""
    if shard is None:
        return None
    try:
        i, n = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise UserError(f"--shard {shard!r}: write it as I/N, e.g. 2/8") from None
    if not 1 <= i <= n:
        raise UserError(f"--shard {shard!r}: I must be between 1 and N")
    return i, n


def shard_bounds(total: int, i: int, n: int, batch_size: int) -> tuple[int, int]:
    """The I-th of N disjoint slices of ``total`` sequences, cut at batch boundaries so that a
    sharded run computes exactly the batches an unsharded one does (bit-identical results)."""
    batches = -(-total // batch_size)
    start = (i - 1) * batches // n * batch_size
    stop = min(total, i * batches // n * batch_size)
    return start, stop


def _slice(dataset, start: int, stop: int):
    """Sequences [start, stop) of a Kipoi Dataset, as a Kipoi Dataset."""
    import kipoi.data

    if not isinstance(dataset, kipoi.data.Dataset):
        raise UserError(f"--shard needs a dataloader that can be indexed (a kipoi Dataset); "
                        f"this one is a {type(dataset).__name__}")

    class Part(kipoi.data.Dataset):
        def __len__(self):
            return stop - start

        def __getitem__(self, idx):
            return dataset[start + idx]

    return Part()


def _reads_every_line(dataloader) -> bool:
    """kipoiseq's dataloaders (Kipoi wraps them in subclasses) read every BED line."""
    return any(getattr(c, "__module__", "").startswith("kipoiseq")
               for c in getattr(dataloader, "__mro__", ()))


def _check_options(where: str = "", **given) -> None:
    """Every numeric and named option checked before any work (None: not given)."""
    from ..core.engine import RULES
    from ..core.maxima import MODES

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
    if given.get("rule") is not None and given["rule"] not in RULES:
        raise UserError(f"{where}--rule {given['rule']!r}: use one of {', '.join(RULES)}")
    if given.get("maxpool") is not None and given["maxpool"] not in MODES:
        raise UserError(f"{where}--maxpool {given['maxpool']!r}: use one of {', '.join(MODES)}")


def _device_scope(device: str | None):
    """A ``tf.device`` scope for 'cpu', 'gpu' or 'gpu:K' (None: TensorFlow's own placement)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device is None:
        return contextlib.nullcontext(), ("GPU:0" if gpus else "CPU")
    d = device.lower()
    if d == "cpu":
        return tf.device("/CPU:0"), "CPU"
    if d == "gpu" or d.startswith("gpu:"):
        k = int(d.split(":")[1]) if ":" in d else 0
        if k >= len(gpus):
            raise UserError(f"--device {device}: TensorFlow sees {len(gpus)} GPU(s); use "
                            "--device cpu or install a GPU build of TensorFlow")
        return tf.device(f"/GPU:{k}"), f"GPU:{k}"
    raise UserError(f"--device {device!r}: use cpu, gpu or gpu:K")


def _output_submodel(model, layer: str | None):
    """The model cut at ``layer`` (model.yaml's ``postprocessing: deeplift: output_layer``)."""
    if not layer:
        return model
    try:
        out = model.get_layer(layer).output
    except ValueError as e:
        raise UserError(f"output_layer {layer!r} (model.yaml postprocessing) is not a layer of "
                        "the model") from e
    return keras_module(model).Model(model.inputs, out)


def _tasks_arg(tasks, names: Sequence[str]):
    """--tasks values: names where they name a task, indices where they are integers."""
    if tasks is None:
        return None
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    out = []
    for t in tasks:
        if isinstance(t, str) and t not in names and t.lstrip("-").isdigit():
            t = int(t)
        out.append(t)
    return out


def _references_arg(references, by_label: Mapping[str, str] | None = None,
                    dna: str | None = None, dna_default: str = DEFAULTS["references"]):
    """--references: a name, an .npy array (the DNA input's), or an .npz file of arrays by input
    name (schema or Keras names; e.g. a meta-feature input's reference). With an .npz, a DNA
    input it leaves out gets ``dna_default`` and any other input zeros."""
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


@dataclass
class _Engine:
    """What scoring needs of the model: its input plan, the engine and the chosen tasks."""

    plan: Any
    inputs: InputPlan
    labels: dict          # Keras input name -> schema name
    by_label: dict        # schema name -> Keras input name
    dl: DeepLift
    chosen: list


@dataclass
class _Data:
    """The dataloader's sequences to score in this run (after --limit, --shard, --resume)."""

    args: dict
    dataset: Any
    total: int | None
    limit: int | None
    first: int = 0                 # index of the dataset's first sequence in the whole run
    sharding: tuple | None = None


def score(model: str | KipoiModel, dataloader_args: Any = None, output: str = "deeplift.h5",
          *, source: str | None = None, tasks=None, input: str | None = None,
          rule: str | None = None, references: Any = None, n_references: int | None = None,
          seed: int | None = None, hypothetical: bool = False, layers: Sequence[str] = (),
          batch_size: int | None = None, device: str | None = None, limit: int | None = None,
          bigwig: str | None = None, bedgraph: str | None = None, modisco: str | None = None,
          maxpool: str | None = None, progress: bool | None = None,
          shard: str | None = None, jit: bool = False, zoo_config: str | None = None,
          resume: bool = False, derived: Mapping[str, str] | None = None) -> dict:
    """Score a Kipoi model on its own dataloader and write the HDF5 file of the contract.

    ``model`` is a Kipoi model name (``source='kipoi'``, the default unless ``model`` is a
    directory) or a model directory (``source='dir'``). Options left ``None`` come from the
    model.yaml ``postprocessing: deeplift:`` block, then the zoo config, then
    :data:`DEFAULTS`. ``shard='I/N'`` scores the I-th of N disjoint slices (``kipoi-deeplift
    merge`` joins them). ``zoo_config`` names the ``model_zoo_configs`` entry to apply
    (``'none'`` for none); by default it is found from the model's name, path or model.yaml.
    ``resume=True`` continues an interrupted run of the same command (see
    :mod:`kipoi_deeplift.io.resume`). ``derived`` maps output formats
    (:data:`kipoi_deeplift.io.derived.FORMATS`) to file prefixes; ``bigwig=``, ``bedgraph=`` and
    ``modisco=`` are the same for the built-in formats.

    The run is: check the options and outputs, load the model and its config, layer the
    options, build the engine, open the data, then stream batches into a staged file and
    finish (derived files, rename). Returns a summary (sequences, seconds, max
    summation-to-delta error, files written).
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    _check_options(n_references=n_references, batch_size=batch_size, limit=limit, seed=seed,
                   rule=rule, maxpool=maxpool)
    parse_shard(shard)
    out_path = Path(output)
    wanted = derived_lib.requested(derived, bigwig=bigwig, bedgraph=bedgraph, modisco=modisco)
    for target, what in [(out_path, "output"), *derived_lib.probe_paths(wanted)]:
        check_writable(target, what)
    found = _leftovers(out_path, resume)
    if resume and found and batch_size is None:
        batch_size = int(found[0].attrs.get("batch_size", 0)) or None
    scope, device_name = _device_scope(device)
    km, config = _load(model, source, zoo_config)
    opt, pp = _layered_options(km, config, rule=rule, references=references,
                               n_references=n_references, seed=seed, maxpool=maxpool)
    if derived_lib.needs_hypothetical(wanted):
        hypothetical = True
    eng = _engine(km, pp, input, opt, jit, tasks, layers)
    refs = _references_arg(opt["references"], eng.by_label, eng.inputs.dna,
                           pp.get("references", DEFAULTS["references"]))
    if batch_size is None:
        batch_size = _batch_from_memory(eng.dl, int(opt["n_references"]), device_name)
    data = _open_data(km, dataloader_args, eng, wanted, limit, shard, batch_size)
    attrs = _provenance(km, config, opt, eng, data, device_name, started, batch_size,
                        hypothetical, layers)
    attrs["command"] = _command(km, data.args, out_path, tasks=[t.name for t in eng.chosen],
                                input=eng.labels.get(eng.inputs.dna), layers=list(layers),
                                hypothetical=hypothetical, batch_size=batch_size,
                                limit=data.limit, opt=opt, wanted=wanted, shard=shard,
                                zoo_config=config["name"] if config else "none")
    partial = _continue(found, attrs, data, eng) if resume else None

    staged = Staged()
    worst, worst_rel = 0.0, 0.0
    writer = None
    try:
        h5_tmp = staged.path(out_path)
        writer = H5Writer(h5_tmp, attrs, label=str(out_path))
        try:
            if partial is not None:
                worst, worst_rel = resume_lib.copy_rows(partial, writer, batch_size)
            with scope, _bar(data.total, progress) as bar:
                streamed = _stream(data.dataset, batch_size, data.limit, eng.inputs, eng.labels,
                                   eng.dl, eng.chosen, refs, opt, layers, hypothetical, writer,
                                   bar, data.first, _orientation(data.args, eng.inputs))
            worst, worst_rel = max(worst, streamed[0]), max(worst_rel, streamed[1])
            writer.file.attrs["end_time"] = datetime.now(timezone.utc).isoformat()
            n = writer.n
        finally:
            writer.close()
        if n == 0:
            raise UserError("the dataloader gave no sequences: nothing to score")
        non_acgt = _non_acgt(h5_tmp)
        written = derived_lib.write_all(staged, h5_tmp, eng.labels.get(eng.inputs.dna),
                                        [t.name for t in eng.chosen],
                                        preflight.find_arg(data.args, "fasta"), wanted)
        files = staged.commit()
    except KeyboardInterrupt as e:
        kept = writer.n if writer is not None and not writer.failed else 0
        if kept:     # the finished batches stay for --resume; the rest goes
            staged.keep(out_path)
        staged.discard()
        where = (f"; {kept} finished sequences are kept for `--resume` (the same command "
                 "with --resume continues)" if kept else f"; nothing was written to {out_path}")
        raise Interrupted(f"interrupted{where}", getattr(e, "signal_name", "SIGINT")) from None
    except BaseException:
        staged.discard()
        raise
    done_with = resume_lib.remove([q.path for q in found])
    if done_with:
        warnings.warn(f"removed the interrupted run's file(s) {', '.join(done_with)}", Notice,
                      stacklevel=2)
    seconds = time.perf_counter() - t0
    dl = eng.dl
    # The engine's tolerance, on its measure (gradient baselines do not sum to delta).
    if worst_rel > dl.tolerance and dl.mode == "deeplift":
        warnings.warn(f"summation-to-delta error up to {worst:.3g} ({worst_rel:.3g} of "
                      f"max(1, |delta|), tolerance {dl.tolerance:g}; see /convergence in "
                      f"{out_path}); {dl.blame()}", ConvergenceWarning, stacklevel=2)
    return {"output": str(out_path), "files": [str(f) for f in files], "sequences": n,
            "tasks": [t.name for t in eng.chosen], "seconds": seconds, "rule": opt["rule"],
            "exact": dl.mode == "deeplift",
            "max_convergence_error": worst, "derived": written, "non_acgt": non_acgt,
            "resumed": partial.rows if partial is not None else 0}


def _leftovers(out_path: Path, resume: bool) -> list:
    """Dead runs' temporary files of the output: half-written ones removed (with a note);
    partial HDF5 files returned, for --resume (or a note that --resume would continue one)."""
    found, leftovers = resume_lib.partials(out_path)
    if leftovers:
        warnings.warn(f"removed {len(leftovers)} temporary file(s) of {out_path.name} left by "
                      f"runs that died: {', '.join(resume_lib.remove(leftovers))}", Notice,
                      stacklevel=3)
    if found and not resume:
        warnings.warn(f"an interrupted run of {out_path.name} left "
                      f"{resume_lib.describe_partial(found[0])}: `--resume` continues it; this "
                      "run starts over and removes it when it completes", Notice, stacklevel=3)
    return found


def _load(model, source: str | None, zoo_config: str | None):
    """The Kipoi model and the zoo config that applies to it (chosen from what the model is)."""
    if isinstance(model, KipoiModel):
        return model, None
    chosen_config: list = []

    def select(descr):
        cfg = zoo.identify(str(model), descr, zoo_config)
        chosen_config.append(cfg)
        return zoo.function(cfg["rebuild"]) if cfg and cfg.get("rebuild") else None

    src = source or ("dir" if looks_like_path(str(model)) else "kipoi")
    km = load_kipoi_model(str(model), src, select=select)
    return km, (chosen_config[-1] if chosen_config else None)


def _layered_options(km: KipoiModel, config, **flags) -> tuple[dict, dict]:
    """(the run's DeepLIFT options, the model's own defaults): flags first, then model.yaml's
    ``postprocessing: deeplift:`` block, then the zoo config, then :data:`DEFAULTS`."""
    pp = {**zoo.score_defaults(config), **km.postprocessing}
    opt = dict(DEFAULTS)
    opt.update({k: pp[k] for k in DEFAULTS if k in pp})
    opt.update({k: v for k, v in flags.items() if v is not None})
    _check_options(n_references=opt["n_references"], seed=opt["seed"], rule=opt["rule"],
                   maxpool=opt["maxpool"], where="model.yaml postprocessing or zoo config: ")
    return opt, pp


def _engine(km: KipoiModel, pp: dict, input: str | None, opt: dict, jit: bool, tasks,
            layers: Sequence[str]) -> _Engine:
    """The model cut at its scored output, its DNA input found, the engine and its tasks."""
    keras_model = _output_submodel(km.keras_model, pp.get("output_layer"))
    plan = build_plan(keras_model)
    labels = input_labels(km.schema, plan.input_names)     # Keras name -> schema name
    by_label = {v: k for k, v in labels.items()}
    if input is None:
        # model.yaml's postprocessing names the input for this very file: checked strictly,
        # as --input is. A zoo config covers many files: its input is a hint, used only
        # where the model has it.
        input = km.postprocessing.get("input")
    if input is None and pp.get("input") in set(by_label) | set(plan.input_names):
        input = pp["input"]
    inputs = plan_inputs(km.schema, plan.input_names, [s[1:] for s in plan.input_shapes],
                         by_label.get(input, input))
    scoring_model = canonical_model(keras_model, plan.input_names, inputs.layouts)
    n_units = sum(int(np.prod(s[1:])) if len(s) > 1 else 1 for s in plan.output_shapes)
    try:
        dl = DeepLift(scoring_model, rule=opt["rule"], maxpool=opt["maxpool"], jit=jit,
                      task_names=task_names(km.schema, n_units, km.source_dir))
        chosen = dl.select_tasks(_tasks_arg(tasks, dl.task_names))
        for layer in layers:
            dl.layer_key(layer)
    except ValueError as e:
        raise UserError(str(e)) from e
    return _Engine(plan, inputs, labels, by_label, dl, chosen)


def _open_data(km: KipoiModel, dataloader_args, eng: _Engine, wanted, limit, shard,
               batch_size: int) -> _Data:
    """The dataloader's arguments checked, the dataloader started, --limit and --shard
    applied."""
    inputs, plan = eng.inputs, eng.plan
    args = preflight.check_arguments(km.dataloader, parse_dataloader_args(dataloader_args))
    preflight.check_intervals(args, inputs.layouts[inputs.dna].length if inputs.dna else
                              plan.input_shapes[0][1],
                              headers_ok=not _reads_every_line(km.dataloader))
    if inputs.dna is None and wanted:    # now, not after the work
        raise UserError(f"{'/'.join('--' + k for k in wanted)} need a one-hot DNA input "
                        f"(N, L, 4); this model's inputs are {plan.input_names}")
    try:
        dataset = km.dataloader(**args)
    except UserError:
        raise
    except Exception as e:
        hint = ""
        if "could not convert string to float" in str(e) and \
                "ignore_targets" in (getattr(km.dataloader, "args", None) or {}):
            # kipoiseq reads BED columns 4+ as labels unless told to ignore them.
            hint = ("; the BED file has columns after the third (name, score, strand): give a "
                    "BED3 file, or add \"ignore_targets\": true, \"label_dtype\": \"str\"")
        raise UserError(f"the dataloader failed to start: {describe(e)}{hint}") from e
    total = len(dataset) if hasattr(dataset, "__len__") else None
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    data = _Data(args, dataset, total, limit)
    sharding = parse_shard(shard)
    if sharding is not None:
        if total is None:
            raise UserError("--shard needs a dataloader that knows its length")
        first, last = shard_bounds(total, *sharding, batch_size)
        data = _Data(args, _slice(dataset, first, last), last - first, None, first, sharding)
    return data


def _provenance(km: KipoiModel, config, opt: dict, eng: _Engine, data: _Data, device_name,
                started, batch_size: int, hypothetical: bool, layers) -> dict:
    """The score file's attributes: what made it (see :data:`scorefile.PROVENANCE`)."""
    sharding, first, total = data.sharding, data.first, data.total
    return {
        "kipoi_deeplift_version": __version__, "model": km.name, "source": km.source,
        "weights_sha256": json.dumps(km.sha256()), "rule": opt["rule"],
        "references": opt["references"] if isinstance(opt["references"], str) else "array",
        "n_references": int(opt["n_references"]), "seed": int(opt["seed"]),
        "maxpool": opt["maxpool"], "tasks": json.dumps([t.name for t in eng.chosen]),
        "zoo_config": config["name"] if config else "",
        "shard": f"{sharding[0]}/{sharding[1]}" if sharding else "",
        "shard_start": first, "shard_stop": first + (total or 0),
        "dna_input": eng.labels.get(eng.inputs.dna, ""),
        "dataloader_args": json.dumps(data.args, default=str),
        "orientation": "per sequence in /metadata/orientation: genome or reverse_complement, "
                       "found by comparing /inputs with the FASTA; unknown (no FASTA, too few "
                       "called bases, a palindrome) falls back to /metadata/ranges/strand",
        **_versions(), "device": device_name, "start_time": started.isoformat(),
        "batch_size": int(batch_size), "hypothetical": int(bool(hypothetical)),
        "layers": json.dumps(list(layers)),
        "references_sha256": _sha256_of(opt["references"]),
        "intervals_sha256": _sha256_of(preflight.find_arg(data.args, "interval", "bed")),
    }


def _continue(found: list, attrs: dict, data: _Data, eng: _Engine):
    """--resume: the interrupted run to continue, checked, and ``data`` moved past its rows."""
    import kipoi.data

    partial = resume_lib.choose(found, attrs)
    if not isinstance(data.dataset, kipoi.data.Dataset):
        raise UserError("--resume needs a dataloader that can be indexed (a kipoi Dataset)")
    resume_lib.check_data(partial, data.dataset, eng.inputs.to_arrays, eng.labels)
    total = data.total if data.total is not None else len(data.dataset)
    if partial.rows >= total:
        raise UserError(f"--resume: the interrupted run had finished all {total} sequences; "
                        "run without --resume")
    data.dataset = _slice(data.dataset, partial.rows, total)
    data.first += partial.rows
    data.total = total - partial.rows
    data.limit = None if data.limit is None else data.limit - partial.rows
    return partial


def _sha256_of(path) -> str:
    """sha256 of a file argument (intervals, a references file), '' for anything else."""
    import hashlib

    if not isinstance(path, str) or not os.path.isfile(path):
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _non_acgt(h5_path) -> dict:
    """How many sequences and positions were not plain A/C/G/T (scored as they are; the
    references keep those positions)."""

    with scorefile.ScoreFile(h5_path, staged=True) as f:
        if scorefile.N_POSITIONS not in f:
            return {}
        n_rows, zero_rows = f[scorefile.N_POSITIONS][:], f[scorefile.ZERO_POSITIONS][:]
    return {"sequences": int(((n_rows + zero_rows) > 0).sum()), "n": int(n_rows.sum()),
            "zero": int(zero_rows.sum())}


def _command(km: KipoiModel, args: dict, out_path: Path, tasks, input, layers, hypothetical,
             batch_size, limit, opt, wanted: Mapping[str, str], shard=None,
             zoo_config=None) -> str:
    """The `kipoi-deeplift score` command that reproduces this run (for the record)."""
    import shlex

    words = ["kipoi-deeplift", "score", km.name, "--source", km.source, "--dataloader-args",
             json.dumps(args, default=str), "-o", str(out_path), "--tasks", ",".join(tasks),
             *(["--input", input] if input else []), "--rule", opt["rule"],
             "--references", opt["references"] if isinstance(opt["references"], str)
             else "ARRAY.npy", "--n-references", str(opt["n_references"]),
             "--seed", str(opt["seed"]), "--maxpool", opt["maxpool"],
             "--batch-size", str(batch_size)]
    if hypothetical:
        words.append("--hypothetical")
    if layers:
        words += ["--layers", ",".join(layers)]
    for flag, value in (("--limit", limit), *((f"--{k}", v) for k, v in wanted.items()),
                        ("--shard", shard), ("--zoo-config", zoo_config)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


MAX_AUTO_BATCH = 1024


def _batch_from_memory(dl: DeepLift, n_references: int, device_name: str) -> int:
    """The batch size that fits a quarter of the free memory (32 for variable-length inputs)."""
    from ..core import batching

    if any(d is None for s in dl.plan.input_shapes for d in s[1:]):
        return 32
    zeros = [np.zeros((1,) + tuple(s[1:]), np.float32) for s in dl.plan.input_shapes]
    return batching.choose(dl.tensor_shapes(zeros).values(), n_references, MAX_AUTO_BATCH,
                           batching.default_cap(device_name))


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"tensorflow_version": tf.__version__, "keras_version": keras.__version__}


class _bar:
    """A tqdm progress bar (sequences/s) on a terminal, nothing elsewhere."""

    def __init__(self, total, show):
        self.total, self.show = total, show

    def __enter__(self):
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if self.show is None else self.show
        self.bar = tqdm(total=self.total, unit="seq", desc="DeepLIFT", disable=not show,
                        file=sys.stderr, smoothing=0.1)
        return self.bar

    def __exit__(self, *exc):
        self.bar.close()
        return False


def _orientation(args: Mapping, inputs: InputPlan):
    """A classifier of each sequence's orientation against the dataloader's FASTA, if any."""
    from ..io.orientation import GenomeOrientation

    fasta = preflight.find_arg(args, "fasta")
    if inputs.dna is None or not isinstance(fasta, str) or not os.path.exists(fasta):
        return None
    try:
        return GenomeOrientation(fasta)
    except Exception:       # an unreadable FASTA is the dataloader's to report
        return None


def _batch_arrays(res, x: Mapping[str, np.ndarray], batch, n: int, labels, orient=None,
                  dna: str | None = None) -> dict:
    """One scored batch as the score file's datasets, with what the data say of each sequence
    (non-ACGT positions, orientation against the genome)."""
    ranges = (batch.get("metadata") or {}).get("ranges") if isinstance(batch, Mapping) else None
    ranges = ranges if isinstance(ranges, Mapping) else None
    non_acgt = refs_lib.non_acgt_counts(x[dna]) if dna is not None and \
        refs_lib.is_one_hot(x[dna]) else None
    orientation = orient(x[dna], ranges) if orient is not None and dna is not None and \
        ranges is not None and all(k in ranges for k in ("chr", "start", "end")) else None
    return scorefile.batch_arrays(res, x, ranges, n, labels, orientation, non_acgt)


def _stream(dataset, batch_size, limit, inputs: InputPlan, labels, dl: DeepLift, chosen, refs,
            opt, layers, hypothetical, writer: H5Writer, bar, first: int = 0,
            orient=None) -> tuple[float, float]:
    """Score batch after batch, appending each to the file; returns the largest
    summation-to-delta error, absolute and relative to max(1, |delta|).
    ``first`` is the index of the dataset's first sequence in the whole run (shards);
    ``orient`` classifies each sequence as read along or against the genome."""
    worst, worst_rel = 0.0, 0.0
    done = 0
    try:
        batches = dataset.batch_iter(batch_size=batch_size, num_workers=0)
    except TypeError:
        batches = dataset.batch_iter(batch_size=batch_size)
    source = _guard(batches)
    # One thread reads the next batch while this one is scored; another writes the last one,
    # in order: the accelerator does not wait for the disk or the FASTA.
    with ThreadPoolExecutor(1, thread_name_prefix="read") as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="write") as writes:
        upcoming = reader.submit(next, source, None)
        written = None
        while True:
            batch = upcoming.result()
            if batch is None:
                break
            upcoming = reader.submit(next, source, None)
            x = inputs.to_arrays(batch["inputs"])
            n = len(next(iter(x.values())))
            if limit is not None:
                n = min(n, limit - done)
                x = {k: v[:n] for k, v in x.items()}
            if n <= 0:
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)   # summed up at the end
                try:
                    res = dl.explain(x, references=refs,
                                     n_references=int(opt["n_references"]),
                                     seed=int(opt["seed"]), tasks=chosen,
                                     layers=layers, hypothetical=hypothetical,
                                     batch_size=batch_size, progress=False,
                                     index_offset=first + done)
                except ValueError as e:
                    raise UserError(f"sequences {first + done}-{first + done + n - 1}: "
                                    f"{e}") from e
            arrays = _batch_arrays(res, x, batch, n, labels, orient, inputs.dna)
            if written is not None:
                written.result()            # in order, and a failed write stops the run
            written = writes.submit(writer.append, arrays)
            worst = max(worst, res.max_convergence_error)
            worst_rel = max(worst_rel, res.max_relative_error)
            done += n
            bar.update(n)
            if limit is not None and done >= limit:
                break
        if written is not None:
            written.result()
    return worst, worst_rel


def _guard(batches):
    """The dataloader's batches, its failures as one-line errors."""
    it = iter(batches)
    i = 0
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"the dataloader failed on batch {i}: {describe(e)}") from e
        i += 1
        yield batch


