"""Continuing an interrupted `score`: its finished batches are reused, the rest is scored.

An interrupted run (Ctrl-C, SIGTERM, or a ``kill -9``) leaves its temporary HDF5 file beside the
requested output, flushed after every batch with ``rows_written`` counting the finished rows.
``score --resume`` takes the most advanced such file whose provenance matches the new run (same
model and weights, options, tasks, data and seed), checks a few of its stored inputs against
what the dataloader gives now, copies its rows and scores the rest with the same batch size,
so the final file holds the same arrays as an uninterrupted run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np

from ..errors import UserError
from . import hdf5
from .scorefile import PROVENANCE, inputs as input_key, relative_error
from .h5stream import H5Writer
from .staging import stale_temps

#: Attributes that must agree for a partial file to be continued: a run's provenance, and what
#: makes its arrays bit-identical (batch size, versions) or complete (outputs asked for).
SAME = PROVENANCE + ("references_sha256", "intervals_sha256", "shard", "shard_start",
                     "batch_size", "hypothetical", "layers", "keras_version",
                     "tensorflow_version", "skipped_invalid")


@dataclass
class Partial:
    """A partial result left by an interrupted run.

    Parameters
    ----------
    path : Path
        Its temporary HDF5 file.
    rows : int
        Finished rows (``rows_written``).
    attrs : dict
        The file's attributes (its provenance).
    """

    path: Path
    rows: int
    attrs: dict


def _attrs(f: h5py.File) -> dict:
    return hdf5.attrs(f)


def partials(output: str | Path) -> tuple[list[Partial], list[Path]]:
    """The dead runs' temporary files of ``output``.

    Parameters
    ----------
    output : str or Path
        The requested score file.

    Returns
    -------
    partials : list of Partial
        HDF5 partials with finished rows, the most advanced first.
    other : list of Path
        Other leftovers, such as half-written tracks or unreadable files.
    """
    found, other = [], []
    for p in stale_temps(output):
        try:
            with h5py.File(p, "r", locking=False) as f:
                attrs = _attrs(f)
        except OSError:
            other.append(p)
            continue
        rows = int(attrs.get("rows_written", 0))
        if rows > 0 and "kipoi_deeplift_version" in attrs:
            found.append(Partial(p, rows, attrs))
        else:
            other.append(p)
    return sorted(found, key=lambda q: -q.rows), other


def choose(found: list[Partial], attrs: Mapping[str, Any], also: Sequence[str] = ()
           ) -> Partial:
    """The most advanced partial whose provenance matches the new run's.

    Parameters
    ----------
    found : list of Partial
        As :func:`partials` returns them.
    attrs : mapping of str to object
        The new run's attributes, compared on :data:`SAME`.
    also : sequence of str, optional
        The options that must not change too (from the score command's option table).

    Returns
    -------
    Partial

    Raises
    ------
    UserError
        Where none is found or none matches: one line that says what differs.
    """
    same = SAME + tuple(k for k in also if k not in SAME)
    if not found:
        raise UserError("--resume: no interrupted run of this output was found (its temporary "
                        "file is removed when a run completes or fails); run without --resume")
    for p in found:
        if all(str(p.attrs.get(k, "")) == str(attrs.get(k, "")) for k in same):
            return p
    p = found[0]
    diff = [k for k in same if str(p.attrs.get(k, "")) != str(attrs.get(k, ""))]
    raise UserError(f"--resume: the interrupted run ({p.path.name}, {p.rows} sequences) "
                    f"differs in {', '.join(diff)}; rerun its own command (attrs['command']): "
                    f"{p.attrs.get('command', '')}")


def check_data(p: Partial, dataset: Sequence, to_arrays: Callable[[Any], dict],
               labels: Mapping[str, str], *, collate: Callable[[list], Mapping]) -> None:
    """Check that the stored inputs of a few finished rows (the first, middle and last) equal
    what the dataloader gives now (the same intervals and genome).

    Parameters
    ----------
    p : Partial
        The interrupted run's file.
    dataset : indexable
        The dataloader's dataset; ``dataset[i]`` is one sample (a dict with ``"inputs"``).
    to_arrays : callable
        A batch's ``"inputs"`` -> {input name: array (1, ...)} as the run stores them.
    labels : mapping of str to str
        Input name -> its name in the file (``/inputs/<label>``).
    collate : callable
        A list of samples -> one batch (Kipoi's ``kipoi.data_utils.numpy_collate``): passed
        in because io reads files and does not import the Kipoi library.

    Raises
    ------
    UserError
        Where a stored sequence differs from the dataloader's.
    """
    rows = sorted({0, p.rows // 2, p.rows - 1})
    with h5py.File(p.path, "r", locking=False) as f:
        for i in rows:
            now = to_arrays(collate([dataset[i]])["inputs"])
            for name, v in now.items():
                key = input_key(labels[name])
                if key in f and not np.array_equal(f[key][i], v[0]):
                    raise UserError(f"--resume: sequence {i} differs from the interrupted run's "
                                    "(the intervals or the genome changed): run without "
                                    "--resume")


def copy_rows(p: Partial, writer: H5Writer, batch_size: int) -> tuple[float, float]:
    """Append the partial's finished rows to ``writer`` in the run's batches.

    Parameters
    ----------
    p : Partial
        The interrupted run's file.
    writer : H5Writer
        The new run's file.
    batch_size : int
        The run's batch size.

    Returns
    -------
    worst, worst_rel : float
        The largest summation-to-delta error among the rows, absolute and relative to
        max(1, |delta|).
    """
    worst, worst_rel = 0.0, 0.0
    with h5py.File(p.path, "r", locking=False) as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for a in range(0, p.rows, batch_size):
            b = min(p.rows, a + batch_size)
            writer.append({k: f[k][a:b] for k in sorted(names)})
        for k in names:
            if k.startswith("convergence/"):
                err = f[k][:p.rows]
                delta = f["delta/" + k.split("/", 1)[1]][:p.rows]
                worst = max(worst, float(np.max(err)))
                worst_rel = max(worst_rel, float(np.max(relative_error(err, delta))))
    return worst, worst_rel


def remove(paths: list[Path]) -> list[str]:
    """Delete ``paths`` (those already gone are skipped).

    Parameters
    ----------
    paths : list of Path

    Returns
    -------
    list of str
        The names removed.
    """
    out = []
    for p in paths:
        try:
            p.unlink()
            out.append(p.name)
        except FileNotFoundError:
            pass
    return out


def describe_partial(p: Partial) -> str:
    """One line for messages: the file and how much of the run it holds.

    Parameters
    ----------
    p : Partial

    Returns
    -------
    str
    """
    tasks = json.loads(p.attrs.get("tasks", "[]"))
    return f"{p.path.name} ({p.rows} sequences x {len(tasks)} task(s) finished)"
