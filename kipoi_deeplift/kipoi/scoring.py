"""``score``: a Kipoi model, its dataloader and DeepLIFT, streamed batch by batch into files.

Data flows one way: dataloader batch -> model inputs (schema) -> engine -> arrays -> writers.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._version import __version__
from ..core import batching
from ..core import references as refs_lib
from ..core.engine import ConvergenceWarning, DeepLift
from ..errors import Interrupted, Notice, UserError, describe
from ..io import derived as derived_lib
from ..io import resume as resume_lib
from ..io import scorefile
from ..io.writers import H5Writer, Staged, check_writable
from . import intervals as intervals_lib
from . import preflight, zoo
from .loading import KipoiModel, load_kipoi_model, looks_like_path
from .intervals import Intervals
from .options import (DEFAULTS, Options, layered, neurons_for_rank, parse_dataloader_args,
                      parse_neurons, parse_shard, references_arg, tasks_arg)
from .schema import InputPlan, canonical_model, input_labels, plan_inputs, task_names
from .workers import batch_iterator


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
        base = dataset          # the dataset sliced

        def __len__(self):
            return stop - start

        def __getitem__(self, idx):
            return dataset[start + idx]

    return Part()


def _reads_every_line(dataloader) -> bool:
    """kipoiseq's dataloaders (Kipoi wraps them in subclasses) read every BED line."""
    return any(getattr(c, "__module__", "").startswith("kipoiseq")
               for c in getattr(dataloader, "__mro__", ()))


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
            why = gpu_missing(**_gpu_probe()) if not gpus else \
                f"there is no GPU {k} (GPUs 0 to {len(gpus) - 1})"
            raise UserError(f"--device {device}: TensorFlow sees {len(gpus)} GPU(s): {why}; "
                            "or use --device cpu")
        return tf.device(f"/GPU:{k}"), f"GPU:{k}"
    raise UserError(f"--device {device!r}: use cpu, gpu or gpu:K")


def _gpu_probe() -> dict:
    """What a GPU run needs, as found on this machine: a TensorFlow built with CUDA, an NVIDIA
    driver loaded, and the CUDA libraries (the pip packages ``tensorflow[and-cuda]`` brings)."""
    import importlib.util

    import tensorflow as tf

    def installed(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:       # its parent (the `nvidia` namespace) is absent
            return False

    return {"built_with_cuda": bool(tf.test.is_built_with_cuda()),
            "driver": os.path.exists("/proc/driver/nvidia/version"),
            "cuda_libraries": installed("nvidia.cudnn") and installed("nvidia.cublas")}


def gpu_missing(built_with_cuda: bool, driver: bool, cuda_libraries: bool) -> str:
    """What keeps TensorFlow from seeing a GPU, and what to do, from :func:`_gpu_probe`."""
    if not built_with_cuda:
        return ("this TensorFlow is a CPU-only build (macOS, or tensorflow-cpu): on Linux with "
                "an NVIDIA GPU, pip install -e '.[gpu]' in the checkout (tensorflow[and-cuda])")
    if not driver:
        return ("no NVIDIA driver is loaded (/proc/driver/nvidia/version is missing): install "
                "the GPU's driver (nvidia-smi must list the GPU)")
    if not cuda_libraries:
        return ("the CUDA libraries TensorFlow loads (cuDNN, cuBLAS) are not installed: "
                "pip install -e '.[gpu]' in the checkout (tensorflow[and-cuda])")
    return ("the driver and CUDA libraries are there but TensorFlow found no usable GPU: "
            "rerun with --debug to see TensorFlow's own start-up lines")


def _output_submodel(model, layer: str | None):
    """The model cut at ``layer`` (model.yaml's ``postprocessing: deeplift: output_layer``)."""
    if not layer:
        return model
    try:
        out = model.get_layer(layer).output
    except ValueError as e:
        raise UserError(f"output_layer {layer!r} (model.yaml postprocessing) is not a layer of "
                        "the model") from e
    from ..backends.tf.graph import keras_module

    return keras_module(model).Model(model.inputs, out)


@dataclass
class _Engine:
    """What scoring needs of the model: its input plan, the engine and the chosen tasks."""

    inputs: InputPlan
    labels: dict          # Keras input name -> schema name
    by_label: dict        # schema name -> Keras input name
    dl: DeepLift
    chosen: list          # the engine's Task objects, resolved once

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.chosen]

    @property
    def dna_label(self) -> str | None:
        """The DNA input's schema name (``None`` where the model has none)."""
        return self.labels.get(self.inputs.dna)


@dataclass
class _Data:
    """The dataloader's sequences to score in this run (after --limit, --shard, --resume)."""

    args: dict                     # the user's dataloader arguments (recorded)
    dataset: Any
    total: int | None
    limit: int | None
    first: int = 0                 # index of the dataset's first sequence in the whole run
    sharding: tuple | None = None
    intervals: Intervals | None = None     # what the dataloader reads (see .intervals)

    @property
    def load_args(self) -> dict:
        """The arguments the dataloader is started with (a rewritten BED, an indexed FASTA)."""
        return self.intervals.load_args if self.intervals is not None else self.args

    @property
    def names(self) -> list | None:
        """The BED's names, by the interval numbers kipoiseq gives as ids."""
        return self.intervals.names if self.intervals is not None else None


@dataclass
class _Run:
    """One scoring run, prepared: what was asked, the model, the engine and the data."""

    options: Options
    out_path: Path
    km: KipoiModel
    config: dict | None            # the zoo config applied (None: none)
    opt: dict                      # the layered DeepLIFT settings (keys of DEFAULTS)
    eng: _Engine
    refs: Any                      # references as the engine takes them
    batch_size: int
    data: _Data
    attrs: dict                    # the score file's provenance
    found: list                    # interrupted runs' partial files
    partial: Any                   # the one --resume continues (None: a fresh run)
    scope: Any                     # tf.device scope of --device
    hypothetical: bool
    t0: float


def score(model: str | KipoiModel, dataloader_args: Any = None, output: str = "deeplift.h5",
          options: Options | None = None, **keywords) -> dict:
    """Score a Kipoi model on its own dataloader and write the HDF5 file of the contract.

    ``model`` is a Kipoi model name (``source='kipoi'``, the default unless ``model`` is a
    directory) or a model directory (``source='dir'``). ``dataloader_args`` are the
    dataloader's arguments (a dict, JSON, a .json/.yaml file or ``key=value`` strings).
    ``options`` (:class:`kipoi_deeplift.kipoi.options.Options`) or the same as keywords
    (``rule=``, ``tasks=``, ``batch_size=``, ``bigwig=PREFIX``, ...): those left ``None``
    come from the model.yaml ``postprocessing: deeplift:`` block, then the zoo config, then
    :data:`DEFAULTS`.

    The run is: prepare (check the options and outputs, load the model and its config, layer
    the options, build the engine, open the data), stream (batches into a staged file), finish
    (derived files, rename into place). Returns a summary (sequences, seconds, max
    summation-to-delta error, files written).
    """
    if options is not None and keywords:
        raise TypeError("give options= or keywords, not both")
    run = prepare(model, dataloader_args, output,
                  options if options is not None else Options.from_keywords(**keywords))
    return finish(run, *stream(run))


def prepare(model: str | KipoiModel, dataloader_args: Any, output: str,
            options: Options) -> _Run:
    """Everything before the first batch, each check as early as it can be made."""
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    options.check()
    out_path = Path(output)
    if out_path.suffix == ".tsv":     # as Kipoi's writers: the table there, the HDF5 beside it
        options = replace(options, derived={**options.derived, "summary": str(out_path)})
        out_path = out_path.with_suffix(".h5")
    for target, what in [(out_path, "output"), *derived_lib.probe_paths(options.derived)]:
        check_writable(target, what)
    found = _leftovers(out_path, options.resume)
    batch_size = options.batch_size
    if options.resume and found and batch_size is None:
        batch_size = int(found[0].attrs.get("batch_size", 0)) or None
    scope, device_name = _device_scope(options.device)
    km, config = _load(model, options.source, options.zoo_config)
    if options.dataloader:
        km.dataloader = _other_dataloader(options.dataloader,
                                          options.dataloader_source or km.source)
    pp = {**zoo.score_defaults(config), **km.postprocessing}
    opt = layered(options, pp)
    hypothetical = options.hypothetical or derived_lib.needs_hypothetical(options.derived)
    eng = _engine(km, pp, options, opt)
    refs = references_arg(opt["references"], eng.by_label, eng.inputs.dna,
                          pp.get("references", DEFAULTS["references"]))
    auto = batch_size is None
    if auto:
        batch_size = eng.dl.batch_size(int(opt["n_references"]), MAX_AUTO_BATCH,
                                       memory_cap=batching.default_cap(device_name),
                                       device=device_name)
    data, batch_size = _open_data(km, dataloader_args, eng, options, batch_size, out_path,
                                  config, auto)
    run = _Run(options, out_path, km, config, opt, eng, refs, batch_size, data, {}, found,
               None, scope, hypothetical, t0)
    run.attrs = _provenance(run, device_name, started)
    run.attrs["command"] = _command(run)
    if options.resume:
        run.partial = _continue(found, run.attrs, data, eng, lambda: km.dataloader(**data.load_args))
    return run


def stream(run: _Run) -> tuple[Staged, Path, int, float, float]:
    """Every batch scored and appended to a staged HDF5 file; returns the staging, the staged
    file, the sequences in it and the largest summation-to-delta error (absolute, relative to
    max(1, |delta|)). An interruption keeps the finished batches for --resume."""
    staged = Staged()
    writer = None
    worst, worst_rel = 0.0, 0.0
    try:
        h5_tmp = staged.path(run.out_path)
        writer = H5Writer(h5_tmp, run.attrs, label=str(run.out_path))
        try:
            if run.partial is not None:
                worst, worst_rel = resume_lib.copy_rows(run.partial, writer, run.batch_size)
            if run.data.total:
                run.eng.dl.expect(run.data.total)
            with run.scope, batching.progress(run.data.total, run.options.progress) as bar:
                streamed = _stream(run, writer, bar)
            worst, worst_rel = max(worst, streamed[0]), max(worst_rel, streamed[1])
            writer.file.attrs["end_time"] = datetime.now(timezone.utc).isoformat()
            n = writer.n
        finally:
            writer.close()
        if n == 0:
            raise UserError("the dataloader gave no sequences: nothing to score")
    except KeyboardInterrupt as e:
        kept = writer.n if writer is not None and not writer.failed else 0
        if kept:     # the finished batches stay for --resume; the rest goes
            staged.keep(run.out_path)
        staged.discard()
        where = (f"; {kept} finished sequences are kept for `--resume` (the same command "
                 "with --resume continues)" if kept else
                 f"; nothing was written to {run.out_path}")
        raise Interrupted(f"interrupted{where}", getattr(e, "signal_name", "SIGINT")) from None
    except BaseException:
        staged.discard()
        raise
    return staged, h5_tmp, n, worst, worst_rel


def finish(run: _Run, staged: Staged, h5_tmp: Path, n: int, worst: float,
           worst_rel: float) -> dict:
    """The derived files written from the staged score file, everything renamed into place,
    the interrupted run's files removed; returns the run's summary."""
    eng = run.eng
    try:
        non_acgt = _non_acgt(h5_tmp)
        written = derived_lib.write_all(staged, h5_tmp, eng.dna_label, eng.task_names,
                                        preflight.find_arg(run.data.args, "fasta"),
                                        run.options.derived)
        files = staged.commit()
    except BaseException:
        staged.discard()
        raise
    done_with = resume_lib.remove([q.path for q in run.found])
    if done_with:
        warnings.warn(f"removed the interrupted run's file(s) {', '.join(done_with)}", Notice,
                      stacklevel=3)
    dl = eng.dl
    # The engine's tolerance, on its measure (gradient baselines do not sum to delta).
    if worst_rel > dl.tolerance and dl.mode == "deeplift":
        warnings.warn(f"summation-to-delta error up to {worst:.3g} ({worst_rel:.3g} of "
                      f"max(1, |delta|), tolerance {dl.tolerance:g}; see /convergence in "
                      f"{run.out_path}); {dl.blame()}", ConvergenceWarning, stacklevel=3)
    return {"output": str(run.out_path), "files": [str(f) for f in files], "sequences": n,
            "tasks": eng.task_names, "seconds": time.perf_counter() - run.t0,
            "rule": run.opt["rule"], "exact": dl.mode == "deeplift",
            "max_convergence_error": worst, "derived": written, "non_acgt": non_acgt,
            "resumed": run.partial.rows if run.partial is not None else 0,
            "skipped_invalid": int(run.attrs.get("skipped_invalid", 0))}


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
        return zoo.loader(cfg)

    src = source or ("dir" if looks_like_path(str(model)) else "kipoi")
    km = load_kipoi_model(str(model), src, select=select)
    return km, (chosen_config[-1] if chosen_config else None)


def _other_dataloader(name: str, source: str):
    """A dataloader other than the model's default, as ``kipoi predict --dataloader``."""
    import kipoi

    try:
        return kipoi.get_dataloader_factory(name, source)
    except Exception as e:
        raise UserError(f"cannot load dataloader {name!r} from Kipoi source {source!r}: "
                        f"{describe(e)}") from e


def _chosen(dl: DeepLift, options: Options) -> list:
    """The tasks: outputs named by --tasks (default all), or --target-layer's neurons."""
    if options.target_layer is None:
        return dl.select_tasks(tasks_arg(options.tasks, dl.task_names))
    shapes = [tuple(s[1:]) for s in dl.plan.input_shapes]
    if any(d is None for s in shapes for d in s):
        raise UserError("--target-layer needs a model whose input length is fixed")
    rank = len(dl.tensor_shapes([np.zeros((1,) + s, np.float32) for s in shapes])
               [dl.layer_key(options.target_layer)])
    neurons = neurons_for_rank(parse_neurons(options.target_neuron), rank)
    return dl.hidden_tasks(options.target_layer, neurons)


def _engine(km: KipoiModel, pp: dict, options: Options, opt: dict) -> _Engine:
    """The model cut at its scored output, its DNA input found, the engine and its tasks.
    ``pp`` is the model's defaults (model.yaml's block over the zoo config's)."""
    from ..backends.tf.graph import signature

    keras_model = _output_submodel(km.keras_model, pp.get("output_layer"))
    if pp.get("profile_head"):
        keras_model = zoo.function(pp["profile_head"])(keras_model)
    names, shapes, _, out_shapes = signature(keras_model)
    labels = input_labels(km.schema, names)     # Keras name -> schema name
    by_label = {v: k for k, v in labels.items()}
    # model.yaml's postprocessing names the input for this very file: checked strictly, as
    # --input is. A zoo config covers many files: its input is a hint, used only where the
    # model has it.
    wanted = options.input if options.input is not None else km.postprocessing.get("input")
    if wanted is None and pp.get("input") in set(by_label) | set(names):
        wanted = pp["input"]
    inputs = plan_inputs(km.schema, names, [s[1:] for s in shapes], by_label.get(wanted, wanted))
    scoring_model = canonical_model(keras_model, names, inputs.layouts)
    n_units = sum(int(np.prod(s[1:])) if len(s) > 1 else 1 for s in out_shapes)
    try:
        dl = DeepLift(scoring_model, rule=opt["rule"], maxpool=opt["maxpool"], jit=options.jit,
                      task_names=task_names(km.schema, n_units, km.source_dir) or
                      zoo.output_task_names(pp.get("output_names"), out_shapes))
        chosen = _chosen(dl, options)
        for layer in options.layers:
            dl.layer_key(layer)
    except ValueError as e:
        raise UserError(str(e)) from e
    return _Engine(inputs, labels, by_label, dl, chosen)


def _open_data(km: KipoiModel, dataloader_args, eng: _Engine, options: Options,
               batch_size: int, out_path: Path, config: dict | None = None,
               auto: bool = False) -> tuple[_Data, int]:
    """The dataloader's arguments checked, every interval checked against the genome (see
    :func:`.intervals.prepare`: invalid ones listed beside ``out_path``), the dataloader
    started, --limit and --shard applied (shards cut at multiples of ``batch_size``); returns the data and the batch size,
    which an ``auto`` batch size leaves no larger than the whole run (every batch is padded
    to it). A zoo config's ``dataloader_args`` are what its rebuild reads (Beluga's ACGT):
    set, and a different value refused."""
    inputs, plan, wanted = eng.inputs, eng.dl.plan, options.derived
    limit = options.limit
    args = parse_dataloader_args(dataloader_args)
    if options.dataloader is None:
        for key, value in ((config or {}).get("dataloader_args") or {}).items():
            if key in args and args[key] != value:
                raise UserError(f"--dataloader-args {key}={args[key]!r}: the {config['name']} "
                                f"rebuild reads {key}={value!r}; leave {key} out")
            args[key] = value
    args = preflight.check_arguments(km.dataloader, args)
    length = inputs.layouts[inputs.dna].length if inputs.dna else plan.input_shapes[0][1]
    found = intervals_lib.prepare(args, km.dataloader, length, out_path, options.skip_invalid,
                                  _reads_every_line(km.dataloader))
    if found.resized:
        warnings.warn(f"{found.resized} of {found.total - found.skipped} intervals are not "
                      f"{length} bp: the dataloader centres them on the model's {length} bp "
                      "(/metadata/ranges holds the scored windows)", Notice, stacklevel=3)
    if inputs.dna is None and wanted:    # now, not after the work
        raise UserError(f"{'/'.join('--' + k for k in wanted)} need a one-hot DNA input "
                        f"(N, L, 4); this model's inputs are {plan.input_names}")
    try:
        dataset = km.dataloader(**found.load_args)
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
    if auto and total:
        batch_size = min(batch_size, total)
    data = _Data(args, dataset, total, limit, intervals=found)
    sharding = parse_shard(options.shard)
    if sharding is not None:
        if total is None:
            raise UserError("--shard needs a dataloader that knows its length")
        first, last = shard_bounds(total, *sharding, batch_size)
        data = _Data(args, _slice(dataset, first, last), last - first, None, first, sharding,
                     found)
    return data, batch_size


def _provenance(run: _Run, device_name: str, started: datetime) -> dict:
    """The score file's attributes: what made it (see :data:`scorefile.PROVENANCE`)."""
    km, config, opt, eng, data = run.km, run.config, run.opt, run.eng, run.data
    sharding, first, total = data.sharding, data.first, data.total
    return {
        "kipoi_deeplift_version": __version__, "model": km.name, "source": km.source,
        "weights_sha256": json.dumps(km.sha256()), "rule": opt["rule"],
        "references": "none" if opt["rule"] == "ism" else
        opt["references"] if isinstance(opt["references"], str) else "array",
        "n_references": 0 if opt["rule"] == "ism" else int(opt["n_references"]),
        "seed": int(opt["seed"]),
        "maxpool": opt["maxpool"], "tasks": json.dumps(eng.task_names),
        "zoo_config": config["name"] if config else "",
        "shard": f"{sharding[0]}/{sharding[1]}" if sharding else "",
        "shard_start": first, "shard_stop": first + (total or 0),
        "dna_input": eng.dna_label or "",
        "dataloader_args": json.dumps(data.args, default=str),
        "orientation": "per sequence in /metadata/orientation: genome or reverse_complement, "
                       "found by comparing /inputs with the FASTA; unknown (no FASTA, too few "
                       "called bases, a palindrome) falls back to /metadata/ranges/strand",
        **_versions(), "device": device_name, "start_time": started.isoformat(),
        "batch_size": int(run.batch_size), "hypothetical": int(bool(run.hypothetical)),
        "per_channel": int(bool(run.options.per_channel)), **scorefile.CONVENTIONS,
        "dtype": run.options.dtype, "format_version": scorefile.FORMAT_VERSION,
        "reference_stream": refs_lib.SCORE_STREAM,
        "layers": json.dumps(list(run.options.layers)),
        "references_sha256": _sha256_of(opt["references"]),
        "intervals_sha256": _sha256_of(preflight.find_arg(data.args, "interval", "bed")),
        "skipped_invalid": data.intervals.skipped if data.intervals is not None else 0,
        "invalid_bed": str(data.intervals.invalid_bed or "") if data.intervals is not None
        else "",
        scorefile.TASK_OUTPUTS: json.dumps({t.name: [o, a or "", n] for t in eng.chosen
                                            for o, a, n in [eng.dl.output_of(t)]}),
    }


def _continue(found: list, attrs: dict, data: _Data, eng: _Engine, fresh):
    """--resume: the interrupted run to continue, checked, and ``data`` moved past its rows.
    ``fresh()`` is a new instance of the dataloader, which the check reads from: reading from
    ``data.dataset`` here would open its files (kipoiseq opens the FASTA at the first read) in
    this process, the dataloader's worker processes would inherit the open file, and one
    worker's seek would move another's read: rows of another interval, silently."""
    import kipoi.data

    partial = resume_lib.choose(found, attrs)
    if not isinstance(data.dataset, kipoi.data.Dataset):
        raise UserError("--resume needs a dataloader that can be indexed (a kipoi Dataset)")
    check = fresh()
    if data.sharding is not None:
        check = _slice(check, data.first, data.first + data.total)
    resume_lib.check_data(partial, check, eng.inputs.to_arrays, eng.labels)
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


def _command(run: _Run) -> str:
    """The `kipoi-deeplift score` command that reproduces this run (for the record)."""
    import shlex

    km, opt, o, data = run.km, run.opt, run.options, run.data
    target = ["--target-layer", o.target_layer, "--target-neuron", _neurons_word(
        o.target_neuron)] if o.target_layer is not None else \
        ["--tasks", ",".join(run.eng.task_names)]
    words = ["kipoi-deeplift", "score", km.name, "--source", km.source, "--dataloader-args",
             json.dumps(data.args, default=str), "-o", str(run.out_path), *target,
             *(["--input", run.eng.dna_label] if run.eng.dna_label else []),
             "--rule", opt["rule"],
             "--references", opt["references"] if isinstance(opt["references"], str)
             else "ARRAY.npy", "--n-references", str(opt["n_references"]),
             "--seed", str(opt["seed"]), "--maxpool", opt["maxpool"],
             "--batch-size", str(run.batch_size)]
    if run.hypothetical:
        words.append("--hypothetical")
    if o.per_channel:
        words.append("--per-channel")
    if o.dtype != "float32":
        words += ["--dtype", o.dtype]
    if o.layers:
        words += ["--layers", ",".join(o.layers)]
    if o.skip_invalid:
        words.append("--skip-invalid")
    zoo_config = run.config["name"] if run.config else "none"
    for flag, value in (("--limit", data.limit), *((f"--{k}", v) for k, v in o.derived.items()),
                        ("--shard", o.shard), ("--zoo-config", zoo_config),
                        ("--num-workers", o.num_workers or None), ("--dataloader", o.dataloader),
                        ("--dataloader-source", o.dataloader_source if o.dataloader else None)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def _neurons_word(neurons) -> str:
    """--target-neuron as the command line writes it."""
    if isinstance(neurons, str):
        return neurons
    items = neurons if isinstance(neurons, list) else [neurons]
    return ";".join(",".join(map(str, n)) if isinstance(n, tuple) else str(n) for n in items)


MAX_AUTO_BATCH = 1024


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"tensorflow_version": tf.__version__, "keras_version": keras.__version__}


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


def _ranges(batch) -> Mapping | None:
    """A dataloader batch's ``metadata.ranges`` (``None`` where it has none)."""
    ranges = (batch.get("metadata") or {}).get("ranges") if isinstance(batch, Mapping) else None
    return ranges if isinstance(ranges, Mapping) else None


def _located(ranges: Mapping | None) -> bool:
    return ranges is not None and all(k in ranges for k in ("chr", "start", "end"))


def _batch_arrays(res, x: Mapping[str, np.ndarray], batch, n: int, labels,
                  orientation: np.ndarray | None = None, dna: str | None = None,
                  names: Sequence[str] | None = None, per_channel: bool = False,
                  dtype: str = "float32") -> dict:
    """One scored batch as the score file's datasets, with what the data say of each sequence
    (non-ACGT positions; ``orientation`` (n,) against the genome, ``None``: not known).
    ``names``: the BED's names, by the interval numbers kipoiseq gives as ids;
    ``per_channel``: also write the DNA input's per-channel contributions; ``dtype``: of the
    stored contributions."""
    ranges = _ranges(batch)
    if ranges is not None and names is not None and "id" in ranges:
        ids = [str(i) for i in np.asarray(ranges["id"]).ravel()]
        if all(i.isdigit() and int(i) < len(names) for i in ids):
            ranges = {**ranges, "id": np.array([names[int(i)] for i in ids])}
    non_acgt = refs_lib.non_acgt_counts(x[dna]) if dna is not None and \
        refs_lib.is_one_hot(x[dna]) else None
    return scorefile.batch_arrays(res, x, ranges, n, labels, orientation, non_acgt, dna,
                                  per_channel, dtype)


def _stream(run: _Run, writer: H5Writer, bar) -> tuple[float, float]:
    """Score batch after batch, appending each to ``writer`` and counting it on ``bar``;
    returns the largest summation-to-delta error, absolute and relative to max(1, |delta|).

    Four stages overlap, each in order (the file is the same as a serial run's): the
    dataloader's batches are read and their references made in background threads (the
    engine's :meth:`~kipoi_deeplift.core.engine.DeepLift.stream`), the pass runs here, and the
    finished batch's datasets are made (projections, orientation against the genome) and
    written in a writer thread."""
    data, eng, opt, batch_size = run.data, run.eng, run.opt, run.batch_size
    dataset, limit, first, inputs = data.dataset, data.limit, data.first, eng.inputs
    # Classifies each sequence as read along or against the genome (None without a FASTA).
    orient = _orientation(data.load_args, inputs)
    batches = batch_iterator(dataset, batch_size, run.options.num_workers)

    def items():
        """(inputs, index of the first, (batch, inputs, sequences, orientation), draws) per
        dataloader batch. Located sequences draw their references by locus and strand
        (:class:`~kipoi_deeplift.core.references.Draws`): a locus scores alike on both."""
        from ..io.orientation import reversed_rows

        done = 0
        for batch in _guard(batches):
            x = inputs.to_arrays(batch["inputs"])
            n = len(next(iter(x.values())))
            if limit is not None:
                n = min(n, limit - done)
                x = {k: v[:n] for k, v in x.items()}
            if n <= 0:
                return
            ranges = _ranges(batch)
            orientation, draws = None, None
            if _located(ranges):
                if orient is not None and inputs.dna is not None:
                    orientation = orient(x[inputs.dna], ranges)
                strand = np.asarray(ranges["strand"])[:n] if "strand" in ranges else None
                draws = refs_lib.Draws.of_loci(
                    *(np.asarray(ranges[k])[:n] for k in ("chr", "start", "end")),
                    reversed_rows(orientation, strand, n))
            yield x, first + done, (batch, x, n, orientation), draws
            done += n
            if limit is not None and done >= limit:
                return

    def write(res, batch, x, n, orientation):
        writer.append(_batch_arrays(res, x, batch, n, eng.labels, orientation, inputs.dna,
                                    data.names, run.options.per_channel, run.options.dtype))

    results = eng.dl.stream(items(), batch_size, references=run.refs,
                            n_references=int(opt["n_references"]), seed=int(opt["seed"]),
                            tasks=eng.chosen, layers=run.options.layers,
                            hypothetical=run.hypothetical)
    worst, worst_rel = 0.0, 0.0
    with ThreadPoolExecutor(1, thread_name_prefix="write") as writes:
        written = None
        try:
            for res, (batch, x, n, orientation) in results:
                if written is not None:
                    written.result()            # in order, and a failed write stops the run
                written = writes.submit(write, res, batch, x, n, orientation)
                worst = max(worst, res.max_convergence_error)
                worst_rel = max(worst_rel, res.max_relative_error)
                bar.update(n)
        except ValueError as e:
            raise UserError(str(e)) from e
        finally:
            results.close()
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


