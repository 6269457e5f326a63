"""The batch loop of a scoring run: dataloader batch -> model inputs (:class:`Batch`) ->
engine -> the score file's arrays -> the writer, each stage in order, overlapping in threads."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..core import references as refs_lib
from ..core import strands as strands_lib
from ..errors import UserError, describe
from ..io import scorefile
from ..io.writers import H5Writer
from . import preflight
from .plan import RunPlan
from .schema import InputPlan
from .workers import batch_iterator


@dataclass(frozen=True)
class Batch:
    """One dataloader batch as the run carries it from the dataloader to the file.

    Parameters
    ----------
    inputs : dict of str -> ndarray
        The model's inputs by Keras name, (n, ...) each (after --limit).
    n : int
        Sequences in the batch.
    first : int
        Index of its first sequence in the whole run.
    ranges : Mapping or None
        The dataloader's ``metadata.ranges`` (ids replaced by the BED's names), ``None``
        where it has none.
    orientation : ndarray or None
        (n,): whether each sequence reads along (False) or against (True) the genome,
        ``None``: not known.
    """

    inputs: dict[str, np.ndarray]
    n: int
    first: int
    ranges: Mapping | None
    orientation: np.ndarray | None

    @property
    def located(self) -> bool:
        """Whether the batch says where its sequences lie in the genome.

        Returns
        -------
        bool
            True when ``ranges`` has ``chr``, ``start`` and ``end``.
        """
        return _located(self.ranges)


def _located(ranges: Mapping | None) -> bool:
    return ranges is not None and all(k in ranges for k in ("chr", "start", "end"))


def _ranges(batch, names: Sequence[str] | None) -> Mapping | None:
    """A dataloader batch's ``metadata.ranges`` (``None`` where it has none), with the BED's
    names for the interval numbers kipoiseq gives as ids."""
    ranges = (batch.get("metadata") or {}).get("ranges") if isinstance(batch, Mapping) else None
    if not isinstance(ranges, Mapping):
        return None
    if names is not None and "id" in ranges:
        ids = [str(i) for i in np.asarray(ranges["id"]).ravel()]
        if all(i.isdigit() and int(i) < len(names) for i in ids):
            ranges = {**ranges, "id": np.array([names[int(i)] for i in ids])}
    return ranges


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


def batches(plan: RunPlan) -> Iterator[tuple[dict, int, Batch, Any]]:
    """The run's dataloader batches, as the engine's stream takes them.

    The engine is :meth:`~kipoi_deeplift.core.engine.DeepLift.stream`. Located sequences draw
    their references by locus and strand (:class:`~kipoi_deeplift.core.references.Draws`): a
    locus scores alike on both.

    Parameters
    ----------
    plan : RunPlan
        The prepared run.

    Yields
    ------
    (dict, int, Batch, Draws or None)
        The inputs by Keras name (DNA ``(n, L, 4)``), the index of the first sequence, the
        :class:`Batch` and the reference draws.
    """
    from ..io.orientation import reversed_rows

    data, inputs = plan.data, plan.scorer.inputs
    limit = data.limit
    orient = _orientation(data.load_args, inputs)
    done = 0
    for raw in guard(batch_iterator(data.dataset, plan.batch_size, plan.options.num_workers)):
        x = inputs.to_arrays(raw["inputs"])
        n = len(next(iter(x.values())))
        if limit is not None:
            n = min(n, limit - done)
            x = {k: v[:n] for k, v in x.items()}
        if n <= 0:
            return
        ranges = _ranges(raw, data.names)
        orientation, draws = None, None
        if _located(ranges):
            if orient is not None and inputs.dna is not None:
                orientation = orient(x[inputs.dna], ranges)
            strand = np.asarray(ranges["strand"])[:n] if "strand" in ranges else None
            draws = refs_lib.Draws.of_loci(
                *(np.asarray(ranges[k])[:n] for k in ("chr", "start", "end")),
                reversed_rows(orientation, strand, n))
        yield x, data.first + done, Batch(x, n, data.first + done, ranges, orientation), draws
        done += n
        if limit is not None and done >= limit:
            return


def stranded(items, strands: str):
    """The engine's items for ``--strands``: each batch as read (``forward``), its reverse
    complement with the reverse-complemented references (``reverse``), or both in turn, each
    tagged with its strand.

    Parameters
    ----------
    items : iterable
        :func:`batches`' items.
    strands : {'forward', 'reverse', 'both'}

    Yields
    ------
    tuple
        (inputs, index of the first, (strand, Batch), draws).
    """
    for x, first, batch, draws in items:
        if strands != "reverse":
            yield x, first, ("forward", batch), draws
        if strands != "forward":
            rc = {k: strands_lib.reverse_complement(v) for k, v in x.items()}
            yield rc, first, ("reverse", batch), strands_lib.reverse_draws(draws, first,
                                                                            batch.n)


def in_genome_strand(results, strands: str, mirror: Mapping[str, str] | None = None):
    """The engine's results for :func:`stranded` items, one per batch: the reverse strand's
    read along the forward strand, or the two strands averaged.

    Parameters
    ----------
    results : iterator of (Explanation, (str, Batch))
    strands : {'forward', 'reverse', 'both'}
    mirror : Mapping of str to str, optional
        Task written -> the reverse strand's task read in its place (a profile's position p:
        P - 1 - p; :class:`.strand_check.StrandPlan`); ``None``: each task as itself.

    Yields
    ------
    (Explanation, Batch)
        Holding the tasks of ``mirror`` (all the results' where ``None``).
    """
    for res, (strand, batch) in results:
        if strands == "both":
            rev, (_, again) = next(results)
            assert again is batch, "the strands of a batch come in turn"
            yield strands_lib.averaged(res, rev, mirror), batch
        elif strand == "reverse":
            yield strands_lib.in_forward_orientation(res, mirror), batch
        else:
            yield res, batch


def arrays(res, batch: Batch, plan: RunPlan) -> dict:
    """One scored batch as the score file's datasets.

    With what the data say of each sequence (non-ACGT positions, orientation against the
    genome).

    Parameters
    ----------
    res : BatchResult
        The engine's result for the batch.
    batch : Batch
        The batch.
    plan : RunPlan
        The prepared run.

    Returns
    -------
    dict
        Dataset path -> array, as :meth:`H5Writer.append` takes it.
    """
    scorer, o = plan.scorer, plan.options
    dna = scorer.inputs.dna
    x = batch.inputs
    non_acgt = refs_lib.non_acgt_counts(x[dna]) if dna is not None and \
        refs_lib.is_one_hot(x[dna]) else None
    return scorefile.batch_arrays(res, x, batch.ranges, batch.n, scorer.labels,
                                  batch.orientation, non_acgt, dna, o.per_channel, o.dtype,
                                  members=o.keep_members)


def score_batches(plan: RunPlan, writer: H5Writer, bar) -> tuple[float, float]:
    """Score batch after batch, appending each to ``writer`` and counting it on ``bar``.

    Four stages overlap, each in order (the file is the same as a serial run's): the
    dataloader's batches are read and their references made in background threads (the
    engine's :meth:`~kipoi_deeplift.core.engine.DeepLift.stream`), the pass runs here, and the
    finished batch's datasets are made (projections, orientation against the genome) and
    written in a writer thread.

    Parameters
    ----------
    plan : RunPlan
        The prepared run.
    writer : H5Writer
        The staged score file.
    bar : progress bar
        Updated by each batch's sequences.

    Returns
    -------
    (float, float)
        The largest summation-to-delta error, absolute and relative to max(1, |delta|).
    """
    settings, strands = plan.settings, plan.options.strands
    # A profile's reverse strand explains other units of the output (its mirrored positions).
    strand_plan = plan.strand_plan
    raw = plan.scorer.engine.stream(
        stranded(batches(plan), strands), plan.batch_size, references=plan.references,
        n_references=int(settings["n_references"]), seed=int(settings["seed"]),
        tasks=list(strand_plan.tasks if strand_plan else plan.scorer.tasks),
        layers=plan.options.layers, hypothetical=plan.hypothetical)
    results = in_genome_strand(raw, strands, strand_plan.mirror if strand_plan else None)
    worst, worst_rel = 0.0, 0.0
    with ThreadPoolExecutor(1, thread_name_prefix="write") as writes:
        written = None
        try:
            for res, batch in results:
                if written is not None:
                    written.result()            # in order, and a failed write stops the run
                written = writes.submit(lambda r, b: writer.append(arrays(r, b, plan)),
                                        res, batch)
                worst = max(worst, res.max_convergence_error)
                worst_rel = max(worst_rel, res.max_relative_error)
                bar.update(batch.n)
        except ValueError as e:
            raise UserError(str(e)) from e
        finally:
            results.close()
            raw.close()
        if written is not None:
            written.result()
    return worst, worst_rel


def guard(raw_batches):
    """The dataloader's batches, its failures as one-line errors.

    Parameters
    ----------
    raw_batches : iterable
        The dataloader's batches.

    Yields
    ------
    dict
        Each batch as given; ``UserError`` naming the batch where the dataloader fails.
    """
    it = iter(raw_batches)
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
