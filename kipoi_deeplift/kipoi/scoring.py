"""``score``: a Kipoi model, its dataloader and DeepLIFT, streamed batch by batch into files.

A run is three steps: :func:`prepare` (options checked, the model loaded and its engine built,
the data opened: a frozen :class:`~.plan.RunPlan`), :func:`stream` (batches into a staged file:
:mod:`.streaming`), :func:`finish` (derived files, everything renamed into place). Data flows
one way: dataloader batch -> model inputs (schema) -> engine -> arrays -> writers.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ..backends.tf.device import device_scope, gpu_missing  # noqa: F401  (its old home)
from ..core import batching
from ..core.engine import ConvergenceWarning
from ..errors import Interrupted, Notice, UserError
from ..io import derived as derived_lib
from ..io import resume as resume_lib
from ..io import scorefile
from ..io.writers import H5Writer, Staged, check_writable
from . import data as data_lib
from . import options as options_lib
from . import preflight, provenance
from .data import shard_bounds  # noqa: F401  (its old home)
from .loading import KipoiModel
from .model_side import prepare_models
from .plan import RunPlan
from .strand_check import check_strands as _check_strands
from .streaming import score_batches

#: The largest batch chosen from memory.
MAX_AUTO_BATCH = 1024


def score(model: str | KipoiModel | Sequence[str | KipoiModel], dataloader_args: Any = None,
          output: str = "deeplift.h5", options=None, **keywords) -> dict:
    """Score a Kipoi model on its own dataloader and write the HDF5 file of the contract.

    Parameters
    ----------
    model : str, KipoiModel or a sequence of them
        A Kipoi model name (``source='kipoi'``, the default unless ``model`` is a directory)
        or a model directory (``source='dir'``); several: an ensemble, whose file holds the
        members' means (the first member's dataloader reads the data).
    dataloader_args : dict, str or list of str
        The dataloader's arguments (a dict, JSON, a .json/.yaml file or ``key=value`` strings).
    output : str
        The HDF5 file to write (a ``.tsv`` name writes the summary there, the HDF5 beside it).
    options : Options, optional
        :class:`kipoi_deeplift.kipoi.options.Options`, or the same as keywords (``rule=``,
        ``tasks=``, ``batch_size=``, ``bigwig=PREFIX``, ...): those left ``None`` come from the
        model.yaml ``postprocessing: deeplift:`` block, then the zoo config, then
        :data:`~kipoi_deeplift.kipoi.options.DEFAULTS`.

    Returns
    -------
    dict
        The run's summary: sequences, seconds, tasks, the largest summation-to-delta error,
        files written, ...
    """
    if options is not None and keywords:
        raise TypeError("give options= or keywords, not both")
    run = prepare(model, dataloader_args, output, options if options is not None
                  else options_lib.Options.from_keywords(**keywords))
    return finish(run, *stream(run))


def _outputs(output: str, options) -> tuple[Path, Any]:
    """The score file's path (a .tsv output: the summary there, the HDF5 beside it, as
    Kipoi's writers), every output's directory checked before any work."""
    out_path = Path(output)
    if out_path.suffix == ".tsv":
        options = replace(options, derived={**options.derived, "summary": str(out_path)})
        out_path = out_path.with_suffix(".h5")
    for target, what in [(out_path, "output"), *derived_lib.probe_paths(options.derived)]:
        check_writable(target, what)
    return out_path, options


def prepare(model: str | KipoiModel | Sequence[str | KipoiModel], dataloader_args: Any,
            output: str, options) -> RunPlan:
    """Everything before the first batch, each check as early as it can be made.

    The options and outputs, the model and its zoo config, the settings layered, the engine, the
    data, the provenance and, with --resume, the interrupted run to continue.

    Parameters
    ----------
    model : str, KipoiModel or a sequence of them
        A Kipoi model name or directory, or a loaded model; several: an ensemble.
    dataloader_args : dict, str, list or None
        The dataloader's arguments (see :func:`.arguments.parse_dataloader_args`).
    output : str
        The score file to write.
    options : Options
        The run's options.

    Returns
    -------
    RunPlan
        The frozen plan :func:`stream` runs.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    options.check()
    out_path, options = _outputs(output, options)
    found = _leftovers(out_path, options.resume)
    batch_size = options.batch_size
    if options.resume and found and batch_size is None:
        batch_size = int(found[0].attrs.get("batch_size", 0)) or None
    scope, device = device_scope(options.device)
    prepared = prepare_models(model, options)
    km, config, settings, side = (prepared.model, prepared.config, prepared.settings,
                                  prepared.scorer)
    references = prepared.references
    strand_plan = _check_strands(options.strands, side, references, options,
                                 prepared.model_defaults)
    auto = batch_size is None
    if auto:
        batch_size = side.engine.batch_size(int(settings["n_references"]), MAX_AUTO_BATCH,
                                            memory_cap=batching.default_cap(device),
                                            device=device)
    if side.inputs.dna is None and options.derived:    # now, not after the work
        raise UserError(f"{'/'.join('--' + k for k in options.derived)} need a one-hot DNA "
                        f"input (N, L, 4); this model's inputs are "
                        f"{side.engine.plan.input_names}")
    args = data_lib.arguments(km.dataloader, dataloader_args, config,
                              options.dataloader is not None)
    length = side.inputs.layouts[side.inputs.dna].length if side.inputs.dna else \
        side.engine.plan.input_shapes[0][1]
    data, batch_size = data_lib.open_data(km.dataloader, args, length, out_path, options.limit,
                                          options.shard, options.skip_invalid, batch_size, auto)
    plan = RunPlan(options=options, out_path=out_path, model=km, config=config,
                   settings=settings, scorer=side, references=references,
                   batch_size=batch_size, data=data, device=device, scope=scope,
                   hypothetical=options.hypothetical or
                   derived_lib.needs_hypothetical(options.derived),
                   started=started, t0=t0, found=tuple(found), members=prepared.members,
                   strand_plan=strand_plan)
    plan = replace(plan, attrs=provenance.attributes(plan))
    if options.resume:
        from kipoi.data_utils import numpy_collate

        partial, data = data_lib.resumed(
            found, plan.attrs, data,
            lambda p, dataset: resume_lib.check_data(p, dataset, side.inputs.to_arrays,
                                                     side.labels, collate=numpy_collate),
            lambda: km.dataloader(**data.load_args))
        plan = replace(plan, partial=partial, data=data)
    return plan


def stream(run: RunPlan) -> tuple[Staged, Path, int, float, float]:
    """Every batch scored and appended to a staged HDF5 file.

    An interruption keeps the finished batches for --resume.

    Parameters
    ----------
    run : RunPlan
        The prepared run.

    Returns
    -------
    (Staged, Path, int, float, float)
        The staging, the staged file, the sequences in it and the largest summation-to-delta
        error (absolute, and relative to max(1, |delta|)).
    """
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
                run.scorer.engine.expect(run.data.total * (2 if run.options.strands == "both"
                                                            else 1))
            with run.scope, batching.progress(run.data.total, run.options.progress) as bar:
                streamed = score_batches(run, writer, bar)
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


def finish(run: RunPlan, staged: Staged, h5_tmp: Path, n: int, worst: float,
           worst_rel: float) -> dict:
    """The derived files written from the staged score file, everything renamed into place.

    The interrupted run's files are removed.

    Parameters
    ----------
    run : RunPlan
        The prepared run.
    staged, h5_tmp, n, worst, worst_rel
        :func:`stream`'s result.

    Returns
    -------
    dict
        The run's summary (``output``, ``files``, ``sequences``, ``tasks``, ``seconds``,
        ``max_convergence_error``, ...).
    """
    side, engine = run.scorer, run.scorer.engine
    try:
        non_acgt = _non_acgt(h5_tmp)
        written = derived_lib.write_all(staged, h5_tmp, side.dna_label, side.task_names,
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
    # The engine's tolerance, on its measure (gradient baselines do not sum to delta).
    if worst_rel > engine.tolerance and engine.exact:
        warnings.warn(f"summation-to-delta error up to {worst:.3g} ({worst_rel:.3g} of "
                      f"max(1, |delta|), tolerance {engine.tolerance:g}; see /convergence in "
                      f"{run.out_path}); {engine.blame()}", ConvergenceWarning, stacklevel=3)
    return {"output": str(run.out_path), "files": [str(f) for f in files], "sequences": n,
            "tasks": side.task_names, "seconds": time.perf_counter() - run.t0,
            "rule": run.settings["rule"], "exact": engine.exact,
            "max_convergence_error": worst, "derived": written, "non_acgt": non_acgt,
            "resumed": run.partial.rows if run.partial is not None else 0,
            "skipped_invalid": int(run.attrs.get("skipped_invalid", 0))}


def _non_acgt(h5_path) -> dict:
    """How many sequences and positions were not plain A/C/G/T (scored as they are; the
    references keep those positions)."""
    with scorefile.ScoreFile(h5_path, staged=True) as f:
        if scorefile.N_POSITIONS not in f:
            return {}
        n_rows, zero_rows = f[scorefile.N_POSITIONS][:], f[scorefile.ZERO_POSITIONS][:]
    return {"sequences": int(((n_rows + zero_rows) > 0).sum()), "n": int(n_rows.sum()),
            "zero": int(zero_rows.sum())}


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


def summary_lines(res: dict) -> list[str]:
    """What ``kipoi-deeplift score`` prints of a run's summary.

    Parameters
    ----------
    res : dict
        :func:`score`'s result.

    Returns
    -------
    list of str
        The lines, without newlines.
    """
    gap = (f"max summation-to-delta error {res['max_convergence_error']:.2e}" if res["exact"]
           else "in-silico mutagenesis: every single-base substitution, no references "
                "(/delta is the sum of the per-base effects)" if res["rule"] == "ism"
           else f"{res['rule']} does not sum to the delta (largest gap "
                f"{res['max_convergence_error']:.3g})")
    reused = (f" ({res['resumed']} reused from the interrupted run)"
              if res.get("resumed") else "")
    lines = [f"scored {res['sequences']} sequences{reused} x {len(res['tasks'])} task(s) in "
             f"{res['seconds']:.1f} s ({res['sequences'] / max(res['seconds'], 1e-9):.1f} "
             f"seq/s); {gap}"]
    odd = res.get("non_acgt") or {}
    if odd.get("sequences"):
        lines.append(f"note: {odd['sequences']} sequence(s) hold positions that are not A/C/G/T "
                     f"({odd['n']} N written as 0.25, {odd['zero']} all-zero: N or IUPAC "
                     "codes); scored as they are, kept in place in the references (per "
                     "sequence: /metadata/n_positions, /metadata/zero_positions)")
    return lines + [f"wrote {f}" for f in res["files"]]
