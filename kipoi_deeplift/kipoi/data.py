"""The sequences a scoring run reads: the dataloader's arguments checked, every interval
checked against the genome, the dataloader started, and ``--limit``, ``--shard`` and
``--resume`` applied (:class:`Data`)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import Notice, UserError, describe
from ..io import resume as resume_lib
from ..zoo import ZooConfig
from . import intervals as intervals_lib
from . import preflight
from .arguments import parse_dataloader_args, parse_shard
from .intervals import Intervals
from .options import same_keys


@dataclass(frozen=True)
class Data:
    """The dataloader's sequences scored in this run (after --limit, --shard, --resume).

    Parameters
    ----------
    args : dict
        The user's dataloader arguments (recorded in the file).
    dataset : kipoi.data.Dataset or iterable
        What the batches are read from.
    total : int or None
        Sequences to score (``None``: the dataloader does not know its length).
    limit : int or None
        --limit, less what an interrupted run already scored.
    first : int
        Index of the dataset's first sequence in the whole run (a shard's or a resumed
        run's offset).
    sharding : (int, int) or None
        --shard as (I, N).
    intervals : Intervals or None
        What the dataloader reads (a rewritten BED, an indexed FASTA: see :mod:`.intervals`).
    """

    args: dict
    dataset: Any
    total: int | None
    limit: int | None
    first: int = 0
    sharding: tuple[int, int] | None = None
    intervals: Intervals | None = None

    @property
    def load_args(self) -> dict:
        """The arguments the dataloader is started with (a rewritten BED, an indexed FASTA).

        Returns
        -------
        dict
        """
        return self.intervals.load_args if self.intervals is not None else self.args

    @property
    def names(self) -> list | None:
        """The BED's names, by the interval numbers kipoiseq gives as ids.

        Returns
        -------
        list of str or None
            ``None`` where the intervals were not read here.
        """
        return self.intervals.names if self.intervals is not None else None


def shard_bounds(total: int, i: int, n: int, batch_size: int) -> tuple[int, int]:
    """The I-th of N disjoint slices of ``total`` sequences, cut at batch boundaries.

    A sharded run so computes exactly the batches an unsharded one does (bit-identical
    results).

    Parameters
    ----------
    total : int
        Sequences in the whole run.
    i, n : int
        The shard (1 <= i <= n) and the number of shards.
    batch_size : int
        Sequences per batch.

    Returns
    -------
    (int, int)
        ``(start, stop)``: the shard's sequences are ``[start, stop)``.
    """
    batches = -(-total // batch_size)
    start = (i - 1) * batches // n * batch_size
    stop = min(total, i * batches // n * batch_size)
    return start, stop


def slice_dataset(dataset, start: int, stop: int):
    """Sequences [start, stop) of a Kipoi Dataset, as a Kipoi Dataset.

    Parameters
    ----------
    dataset : kipoi.data.Dataset
        An indexable dataset (``UserError`` for any other dataloader).
    start, stop : int
        The slice's bounds.

    Returns
    -------
    kipoi.data.Dataset
        A view of ``stop - start`` items; its ``base`` is ``dataset``.
    """
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


def reads_every_line(dataloader) -> bool:
    """Whether the dataloader reads every BED line: kipoiseq's do (Kipoi wraps them in subclasses).

    Parameters
    ----------
    dataloader : type
        The Kipoi dataloader class.

    Returns
    -------
    bool
    """
    return any(getattr(c, "__module__", "").startswith("kipoiseq")
               for c in getattr(dataloader, "__mro__", ()))


def arguments(dataloader, dataloader_args: Any, config: ZooConfig | None,
              other_dataloader: bool) -> dict:
    """The dataloader's arguments, parsed and checked against what it takes.

    A zoo config's ``dataloader_args`` are what its rebuild reads (Beluga's ACGT): set, and a
    different value refused (not for a dataloader other than the model's).

    Parameters
    ----------
    dataloader : type
        The Kipoi dataloader class.
    dataloader_args : dict, str, list or None
        --dataloader-args (see :func:`.arguments.parse_dataloader_args`).
    config : ZooConfig or None
        The zoo config applied.
    other_dataloader : bool
        Whether the dataloader is not the model's own (--dataloader).

    Returns
    -------
    dict
        The checked arguments.
    """
    args = parse_dataloader_args(dataloader_args)
    if not other_dataloader:
        for key, value in (config.dataloader_args if config else {}).items():
            if key in args and args[key] != value:
                raise UserError(f"--dataloader-args {key}={args[key]!r}: the {config.name} "
                                f"rebuild reads {key}={value!r}; leave {key} out")
            args[key] = value
    return preflight.check_arguments(dataloader, args)


def start(dataloader, load_args: Mapping) -> Any:
    """The dataloader started on ``load_args``; its failure as one line.

    Parameters
    ----------
    dataloader : type
        The Kipoi dataloader class.
    load_args : Mapping
        Its arguments (:attr:`Data.load_args`).

    Returns
    -------
    kipoi.data.Dataset or iterable
        The started dataloader; ``UserError`` when it fails (with a hint for a BED with
        extra columns).
    """
    try:
        return dataloader(**load_args)
    except UserError:
        raise
    except Exception as e:
        hint = ""
        if "could not convert string to float" in str(e) and \
                "ignore_targets" in (getattr(dataloader, "args", None) or {}):
            # kipoiseq reads BED columns 4+ as labels unless told to ignore them.
            hint = ("; the BED file has columns after the third (name, score, strand): give a "
                    "BED3 file, or add \"ignore_targets\": true, \"label_dtype\": \"str\"")
        raise UserError(f"the dataloader failed to start: {describe(e)}{hint}") from e


def open_data(dataloader, args: dict, length: int, out_path: Path, limit: int | None,
              shard: str | None, skip_invalid: bool, batch_size: int,
              auto: bool = False) -> tuple[Data, int]:
    """Every interval checked against the genome (see :func:`.intervals.prepare`: invalid ones
    listed beside ``out_path``), the dataloader started, --limit and --shard applied (shards
    cut at multiples of ``batch_size``).

    Parameters
    ----------
    dataloader : Kipoi dataloader class
    args : dict
        Its arguments, checked (:func:`arguments`).
    length : int
        The model's input length in bases (intervals of other lengths are centred on it).
    out_path : Path
        The score file (invalid intervals are listed beside it).
    limit, shard, skip_invalid : --limit, --shard and --skip-invalid.
    batch_size : int
        Sequences per batch; ``auto``: chosen from memory, so no larger than the run.

    Returns
    -------
    (Data, int)
        The data and the batch size (every batch is padded to it).
    """
    found = intervals_lib.prepare(args, dataloader, length, out_path, skip_invalid,
                                  reads_every_line(dataloader))
    if found.resized:
        warnings.warn(f"{found.resized} of {found.total - found.skipped} intervals are not "
                      f"{length} bp: the dataloader centres them on the model's {length} bp "
                      "(/metadata/ranges holds the scored windows)", Notice, stacklevel=4)
    dataset = start(dataloader, found.load_args)
    total = len(dataset) if hasattr(dataset, "__len__") else None
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    if auto and total:
        batch_size = min(batch_size, total)
    data = Data(args, dataset, total, limit, intervals=found)
    sharding = parse_shard(shard)
    if sharding is not None:
        if total is None:
            raise UserError("--shard needs a dataloader that knows its length")
        first, last = shard_bounds(total, *sharding, batch_size)
        data = Data(args, slice_dataset(dataset, first, last), last - first, None, first,
                    sharding, found)
    return data, batch_size


def resumed(found: list, attrs: Mapping, data: Data, check: Callable[[Any, Any], None],
            fresh: Callable[[], Any]) -> tuple[Any, Data]:
    """--resume: the interrupted run to continue, checked, and ``data`` moved past its rows.

    ``fresh()`` is a new instance of the dataloader, which the check reads from: reading from
    ``data.dataset`` here would open its files (kipoiseq opens the FASTA at the first read) in
    this process, the dataloader's worker processes would inherit the open file, and one
    worker's seek would move another's read: rows of another interval, silently.

    Parameters
    ----------
    found : list
        The interrupted runs' partial files (:mod:`..io.resume`).
    attrs : Mapping
        This run's attributes, which the partial's must match (``resume`` level).
    data : Data
        The data of the whole run.
    check : callable
        ``check(partial, dataset)`` compares a few of the partial's stored inputs with the
        dataset's.
    fresh : callable
        ``fresh()``: a new instance of the dataloader.

    Returns
    -------
    (partial, Data)
        The partial run and the data left to score.
    """
    import kipoi.data

    partial = resume_lib.choose(found, attrs, same_keys("resume"))
    if not isinstance(data.dataset, kipoi.data.Dataset):
        raise UserError("--resume needs a dataloader that can be indexed (a kipoi Dataset)")
    dataset = fresh()
    if data.sharding is not None:
        dataset = slice_dataset(dataset, data.first, data.first + data.total)
    check(partial, dataset)
    total = data.total if data.total is not None else len(data.dataset)
    if partial.rows >= total:
        raise UserError(f"--resume: the interrupted run had finished all {total} sequences; "
                        "run without --resume")
    return partial, replace(data, dataset=slice_dataset(data.dataset, partial.rows, total),
                            first=data.first + partial.rows, total=total - partial.rows,
                            limit=None if data.limit is None else data.limit - partial.rows)
