"""``variants``: the effect of each VCF variant on a DNA model's outputs, explained base by base.

Each variant's window of the model's length is read from the FASTA around it (see
:mod:`kipoi_deeplift.io.vcf` for how it is centred), once with the REF allele (checked against
the FASTA) and once with each ALT allele; both are scored against the references of the REF
sequence (:mod:`.variant_scoring`), so per task ``delta_alt - delta_ref == f(alt) - f(ref)``
at the logit. Written: the variants file (:mod:`kipoi_deeplift.io.variantfile`), and on request
the summary table, bigWig tracks and motif annotations.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import UserError
from ..io import scorefile
from ..io import variantfile as vfile
from ..io import vcf as vcf_lib
from ..io.staging import Staged, check_writable
from . import options as options_lib
from . import variant_scoring as vs

#: The largest batch chosen from memory (sequences per pass), as score's.
MAX_AUTO_BATCH = 1024


@dataclass(frozen=True)
class VariantRun:
    """A variants run, prepared: what was asked, the model's side, the sequences.

    Parameters
    ----------
    options : Options
    out : dict
        ``output``, ``summary``, ``bigwig`` (a prefix), ``motifs`` (a directory) or ``None``.
    width : int
        The summary window's bases.
    side : ModelSide
        :func:`.model_side.prepare_model`'s result.
    seqs : Sequences
        Every variant, and the scored ones' sequences.
    references : Any
        The DNA input's references (a name or an array).
    batch_size : int
        Sequences per pass (REF and ALT rows count both).
    scope, device : Any, str
        The TensorFlow device scope and its name.
    attrs : dict
        The file's attributes.
    t0 : float
    strand_plan : StrandPlan or None
        Under ``--strands reverse|both``: the tasks each strand scores and how the reverse
        strand's are read back (a profile's positions mirrored).
    """

    options: Any
    out: dict
    width: int
    side: Any
    seqs: vcf_lib.Sequences
    references: Any
    batch_size: int
    scope: Any
    device: str
    attrs: dict
    t0: float
    strand_plan: Any = None

    @property
    def dna(self) -> str:
        """The DNA input's Keras name."""
        return self.side.scorer.inputs.dna

    @property
    def length(self) -> int:
        """The model's input length L."""
        return int(self.side.scorer.inputs.layouts[self.dna].length)


def variants(model, vcf: str, fasta: str, output: str = "variants.h5",
             summary: str | None = None, bigwig: str | None = None, width: int = 10,
             motifs: str | None = None, options=None, **keywords) -> dict:
    """Score every variant of a VCF with a DNA model and write the variants file.

    Parameters
    ----------
    model : str, KipoiModel or a sequence of them
        A Kipoi model name or directory whose only input is one-hot DNA; several: an
        ensemble (the members' means, as ``score`` writes them).
    vcf, fasta : str
        The variants (``.vcf`` or ``.vcf.gz``) and the genome they refer to.
    output : str
        The HDF5 file to write.
    summary : str, optional
        A TSV with one row per variant and task (not-scored variants with their reason).
    bigwig : str, optional
        A prefix: ``PREFIX.<task>.{ref,alt,alt_minus_ref}.bw``.
    width : int
        Bases of the summary's window (default 10).
    motifs : str, optional
        A ``kipoi-deeplift motifs`` directory: the summary names the pattern at each window.
    options : Options, optional
        Or the same as keywords (``rule=``, ``tasks=``, ``strands=``, ...; the rows of
        :data:`.options.VARIANT_OPTIONS`).

    Returns
    -------
    dict
        ``variants`` (scored), ``snv``, ``mnv``, ``not_scored`` (reason -> count), ``tasks``,
        ``files``, ``seconds``, ``max_convergence_error``, ``rows`` (the summary's).
    """
    if options is not None and keywords:
        raise TypeError("give options= or keywords, not both")
    if options is None:
        unknown = sorted(set(keywords) - set(options_lib.VARIANT_OPTIONS))
        if unknown:
            raise TypeError(f"variants() got unknown option(s) {', '.join(unknown)}")
        options = options_lib.Options.from_keywords(**keywords)
    run = prepare(model, vcf, fasta, {"output": output, "summary": summary, "bigwig": bigwig,
                                      "motifs": motifs, "fasta": fasta}, width, options)
    return finish(run, *stream(run))


def _check_outputs(out: dict, width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise UserError(f"--width must be a whole number of at least 1, got {width!r}")
    check_writable(out["output"])
    if out["summary"]:
        check_writable(out["summary"], "summary")
    if out["bigwig"]:
        check_writable(f"{out['bigwig']}.probe.bw", "bigWig")
    if out["motifs"] and not (Path(out["motifs"]) / "patterns.tsv").is_file():
        raise UserError(f"--motifs {out['motifs']}: not a `kipoi-deeplift motifs` directory "
                        "(no patterns.tsv)")


def _check_model(side, references, options):
    """Refuse, in one line, a model variants cannot score; the plan of its strands
    (:func:`.strand_check.check_strands`: ``None`` for ``--strands forward``)."""
    from .strand_check import check_strands

    scorer = side.scorer
    names = scorer.engine.plan.input_names
    if scorer.inputs.dna is None or len(names) != 1:
        raise UserError(f"variants needs a model whose only input is one-hot DNA (N, L, 4); "
                        f"this model's inputs are {list(names)}")
    if scorer.inputs.layouts[scorer.inputs.dna].length is None:
        raise UserError("variants needs a model of a fixed input length; this model's DNA "
                        "input has none (give the model a length in its schema)")
    return check_strands(options.strands, scorer, references, options, side.model_defaults)


def prepare(model, vcf: str, fasta: str, out: dict, width: int, options) -> VariantRun:
    """Options, outputs and the VCF checked; the model loaded; the sequences read.

    Parameters
    ----------
    model : str or KipoiModel
    vcf, fasta : str
    out : dict
        ``output``, ``summary``, ``bigwig``, ``motifs``.
    width : int
    options : Options

    Returns
    -------
    VariantRun
    """
    from ..backends.tf.device import device_scope
    from ..core import batching
    from .model_side import prepare_models

    t0 = time.perf_counter()
    options.check()
    _check_outputs(out, width)
    found = vcf_lib.read_vcf(vcf)
    if not found:
        raise UserError(f"--vcf {vcf}: no variants in it")
    scope, device = device_scope(options.device)
    side = prepare_models(model, options)
    strand_plan = _check_model(side, side.references, options)
    dna = side.scorer.inputs.dna
    length = int(side.scorer.inputs.layouts[dna].length)
    references = vs.dna_references(side.references, dna)
    seqs = vcf_lib.sequences(found, fasta, length)
    batch_size = options.batch_size
    if batch_size is None:
        batch_size = side.scorer.engine.batch_size(
            int(side.settings["n_references"]), MAX_AUTO_BATCH,
            memory_cap=batching.default_cap(device), device=device)
    run = VariantRun(options, out, width, side, seqs, references, max(2, int(batch_size)),
                     scope, device, {}, t0, strand_plan)
    return replace(run, attrs=attributes(run, vcf, fasta))


def attributes(run: VariantRun, vcf: str, fasta: str) -> dict:
    """The variants file's attributes: what made it, as a score file records it.

    Parameters
    ----------
    run : VariantRun
    vcf, fasta : str

    Returns
    -------
    dict
    """
    from .provenance import model_attributes, sha256_of, task_outputs, versions

    side, o = run.side, run.options
    settings = side.settings
    names = [m.name for m, _ in side.members] or [side.model.name]
    words = ["kipoi-deeplift", "variants", *names, "--vcf", vcf, "--fasta", fasta,
             "-o", run.out["output"]]
    for row in options_lib.SCORE_OPTIONS:
        if row.name in options_lib.VARIANT_OPTIONS and row.rerun and row.name != "batch_size":
            words += row.words(settings.get(row.name, getattr(o, row.name, None)))
    for flag, key in (("--summary", "summary"), ("--bigwig", "bigwig"), ("--motifs", "motifs")):
        if run.out[key]:
            words += [flag, str(run.out[key])]
    return {
        "file_kind": vfile.FILE_KIND, "kipoi_deeplift_version": __version__,
        **model_attributes(side.model, side.members), "source": side.model.source,
        "rule": settings["rule"], "maxpool": settings["maxpool"],
        "references": settings["references"] if isinstance(settings["references"], str)
        else "array", "n_references": int(settings["n_references"]),
        "seed": int(settings["seed"]), "strands": o.strands,
        "tasks": json.dumps(side.scorer.task_names), "dna_input": side.scorer.dna_label,
        scorefile.TASK_OUTPUTS: task_outputs(side.scorer),
        "vcf": str(vcf), "vcf_sha256": sha256_of(vcf), "fasta": str(fasta),
        "window": vfile.WINDOW_RULE, "summary_window_width": int(run.width),
        "dtype": o.dtype, "hypothetical": int(bool(o.hypothetical)),
        **scorefile.CONVENTIONS, **versions(), "device": run.device,
        "start_time": datetime.now(timezone.utc).isoformat(),
        "command": shlex.join(words)}


def _chunks(run: VariantRun):
    """(first, stop) of each batch of variants: REF and ALT rows fill one pass."""
    per = max(1, run.batch_size // 2)
    total = len(run.seqs.rows)
    return [(a, min(a + per, total)) for a in range(0, total, per)]


def stream(run: VariantRun):
    """Every batch of scored variants explained and appended to a staged variants file.

    Parameters
    ----------
    run : VariantRun

    Returns
    -------
    (Staged, Path, list of dict, float, float)
        The staging, the staged HDF5 file, the summary rows of the scored variants, the
        largest summation-to-delta error (absolute, and relative to max(1, |delta|)).
    """
    from tqdm.auto import tqdm

    from ..io.h5stream import H5Writer

    staged = Staged()
    seqs, scorer = run.seqs, run.side.scorer
    rows: list[dict] = []
    worst = worst_rel = 0.0
    try:
        h5_tmp = staged.path(run.out["output"])
        writer = H5Writer(h5_tmp, run.attrs, label=str(run.out["output"]))
        try:
            scorer.engine.expect(2 * len(seqs.rows) * (2 if run.options.strands == "both"
                                                       else 1))
            show = run.options.progress
            with run.scope, tqdm(total=len(seqs.rows), unit="variant", desc="variants",
                                 file=sys.stderr, disable=not (sys.stderr.isatty() if show
                                                               is None else show)) as bar:
                for a, b in _chunks(run):
                    got, err = _score_chunk(run, a, b)
                    writer.append(got[0])
                    rows += got[1]
                    worst, worst_rel = max(worst, err[0]), max(worst_rel, err[1])
                    bar.update(b - a)
            writer.file.attrs["end_time"] = datetime.now(timezone.utc).isoformat()
        finally:
            writer.close()
    except BaseException:
        staged.discard()
        raise
    return staged, h5_tmp, rows, worst, worst_rel


def _score_chunk(run: VariantRun, a: int, b: int):
    """Variants a..b (of the scored ones): their datasets and summary rows, and the largest
    summation-to-delta errors."""
    seqs, scorer, settings = run.seqs, run.side.scorer, run.side.settings
    batch = seqs.scored[a:b]
    x_ref, x_alt = seqs.ref[a:b], seqs.alt[a:b]
    refs = vs.draw(run.references, x_ref, batch, run.length, int(settings["n_references"]),
                   int(settings["seed"]), run.dna)
    ref_res, alt_res = vs.explain_pair(
        scorer.engine, x_ref, x_alt, refs, run.options.strands,
        n_references=int(settings["n_references"]), seed=int(settings["seed"]),
        tasks=list(run.strand_plan.tasks if run.strand_plan else scorer.tasks),
        mirror=run.strand_plan.mirror if run.strand_plan else None,
        hypothetical=bool(run.options.hypothetical), batch_size=run.batch_size)
    arrays = vfile.variant_arrays(batch, ref_res, alt_res,
                                  {"ref": {run.dna: x_ref}, "alt": {run.dna: x_alt}},
                                  run.length, scorer.labels, run.dna,
                                  bool(run.options.per_channel), run.options.dtype)
    label = scorer.dna_label
    rows = vfile.summary_rows(arrays, batch, scorer.task_names, label, run.length, run.width)
    if run.out["motifs"]:
        _annotate(run, rows, arrays, batch, label)
    errs = (max(ref_res.max_convergence_error, alt_res.max_convergence_error),
            max(ref_res.max_relative_error, alt_res.max_relative_error))
    return (arrays, rows), errs


def _annotate(run: VariantRun, rows: list[dict], arrays: dict, batch, label: str) -> None:
    """``motif`` and ``motif_effect`` of each summary row (the motifs directory's patterns at
    the row's window; see :mod:`kipoi_deeplift.analysis.variant_motifs`)."""
    from ..analysis.variant_motifs import annotate, window_of

    w = min(run.width, run.length)
    windows = [window_of(arrays, r["_row"], label, r["_task"], batch[r["_row"]].chrom,
                         batch[r["_row"]].window_start, r["_window"], w) for r in rows]
    for r, (name, effect) in zip(rows, annotate(run.out["motifs"], windows)):
        r["motif"], r["motif_effect"] = name, effect


def _all_rows(run: VariantRun, rows: list[dict]) -> list[dict]:
    """The summary's rows in VCF order: the scored variants' and the others' (with reasons)."""
    tasks = run.side.scorer.task_names
    by_variant = {int(run.seqs.rows[k]): rows[k * len(tasks):(k + 1) * len(tasks)]
                  for k in range(len(run.seqs.rows))}
    out = []
    for i, v in enumerate(run.seqs.variants):
        out += by_variant.get(i) or vfile.unscored_rows(v, tasks)
    return out


def _write_tracks(run: VariantRun, staged: Staged, h5_tmp: Path) -> None:
    """``--bigwig PREFIX``: per task, the REF, ALT and ALT - REF per-base contributions."""
    from ..io.genome import fasta_sizes
    from ..io.tracks import merged_runs, write_runs_bigwig

    sizes = fasta_sizes(run.out["fasta"])
    for task in run.side.scorer.task_names:
        for which, (chrom, start, values) in vfile.allele_tracks(
                h5_tmp, run.side.scorer.dna_label, task).items():
            final = vfile.track_path(run.out["bigwig"], task, which)
            write_runs_bigwig(merged_runs(chrom, start, values.__getitem__, run.length),
                              chrom, staged.path(final), sizes, label=str(final))


def finish(run: VariantRun, staged: Staged, h5_tmp: Path, rows: list[dict], worst: float,
           worst_rel: float) -> dict:
    """The summary and tracks written, everything renamed into place.

    Parameters
    ----------
    run : VariantRun
    staged, h5_tmp, rows, worst, worst_rel
        :func:`stream`'s result.

    Returns
    -------
    dict
        See :func:`variants`.
    """
    seqs = run.seqs
    skipped = vcf_lib.reason_counts(seqs.variants)
    try:
        if not len(seqs.rows):
            raise UserError(f"no variant could be scored ({_reasons(skipped)}); nothing "
                            "written")
        everything = _all_rows(run, rows)
        if run.out["summary"]:
            vfile.write_tsv(everything, staged.path(run.out["summary"]),
                            motifs=bool(run.out["motifs"]))
        if run.out["bigwig"]:
            _write_tracks(run, staged, h5_tmp)
        files = staged.commit()
    except BaseException:
        staged.discard()
        raise
    kinds = [v.kind for v in seqs.scored]
    return {"output": str(run.out["output"]), "files": [str(f) for f in files],
            "variants": len(kinds), "snv": kinds.count("SNV"), "mnv": kinds.count("MNV"),
            "not_scored": skipped, "tasks": run.side.scorer.task_names,
            "seconds": time.perf_counter() - run.t0, "rule": run.side.settings["rule"],
            "exact": run.side.scorer.engine.exact, "max_convergence_error": worst,
            "max_relative_error": worst_rel,
            "rows": [{k: v for k, v in r.items() if not k.startswith("_")} for r in everything]}


def _reasons(counts: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"


def summary_lines(res: dict) -> list[str]:
    """What ``kipoi-deeplift variants`` prints of a run.

    Parameters
    ----------
    res : dict
        :func:`variants`' result.

    Returns
    -------
    list of str
        The lines, without newlines.
    """
    skipped = sum(res["not_scored"].values())
    gap = (f"max summation-to-delta error {res['max_convergence_error']:.2e}" if res["exact"]
           else f"{res['rule']} does not sum to the delta")
    lines = [f"scored {res['variants']} variants ({res['snv']} SNV, {res['mnv']} MNV) x "
             f"{len(res['tasks'])} task(s) in {res['seconds']:.1f} s; {gap}; {skipped} not "
             f"scored" + (f" ({_reasons(res['not_scored'])})" if skipped else "")]
    return lines + [f"wrote {f}" for f in res["files"]]
