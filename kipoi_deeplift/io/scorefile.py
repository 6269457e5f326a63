"""The score file (one HDF5 file per ``score`` run): its layout, in one place.

Every dataset path (:mod:`.layout`, whose names this module re-exports) and the provenance
attributes are named here; :func:`batch_arrays` turns one scored batch into the datasets
appended to the file, and :class:`ScoreFile` reads a finished file for compare, plot, merge,
tracks and TF-MoDISco. The layout (the contract)::

    /contrib/<input>/<task>         (N, L, 4) float32  contributions (mean over references);
                                    for the DNA input projected on the observed base
    /contrib_per_channel/<input>/<task>  (N, L, 4)    m·(x - r) per channel (--per-channel)
    /hyp_contrib/<input>/<task>     (N, L, 4) float32  hypothetical contributions
    /neuron_contrib/<layer>/<task>  (N, ..., units)    per-neuron contributions
    /inputs/<input>                 (N, L, 4)          the sequence as the model saw it
    /preds/<task>, /delta/<task>, /convergence/<task>   (N,)
    /metadata/ranges/{chr,start,end,id,strand}           (N,)
    /metadata/orientation           (N,) genome | reverse_complement | unknown
    /metadata/n_positions, /metadata/zero_positions      (N,) non-ACGT positions
    /members/<i>/...                an ensemble's member i (--keep-members): its contrib,
                                    hyp_contrib, preds, delta, convergence as above
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from ..core.result import relative_error  # noqa: F401  (read by io; lives with the result)
from ..errors import UserError
from . import hdf5
from .layout import (N_POSITIONS, ORIENTATION, RANGE_KEYS, ZERO_POSITIONS,  # noqa: F401
                     contrib, contrib_per_channel, convergence, delta, h5_key, hyp_contrib,
                     inputs, member, neuron_contrib, preds, ranges)

#: Attributes that identify a run: its model, weights, options and data. Shards of one run
#: (merge) and an interrupted run (``--resume``) must agree on all of them.
PROVENANCE = ("model", "source", "weights_sha256", "rule", "references", "n_references", "seed",
              "maxpool", "tasks", "dna_input", "dataloader_args", "kipoi_deeplift_version",
              "zoo_config", "reference_stream", "dtype", "members")
#: Attribute: JSON {task: [output name, "sigmoid" | "softmax" | "", units of that output]}:
#: which model output each task belongs to, the final activation its logit (``/preds``) is
#: taken before, and how many units the output has.
TASK_OUTPUTS = "task_outputs"
#: Attributes that state the file's conventions (written by every run).
CONVENTIONS = {
    "alphabet": "ACGT",
    "axes": "/contrib, /contrib_per_channel, /hyp_contrib, /inputs: (sequence, position, base "
            "in alphabet order); position 0 is the first base the model read",
    "contrib_form": "projected: for the DNA input, each position's contribution (its sum over "
                    "the 4 channels of m*(x - r), averaged over references) placed on the base "
                    "that is there (shared in proportion where the input is not one base, kept "
                    "per channel where the input row is all zero); other inputs per channel. "
                    "/contrib_per_channel holds the per-channel form where written. Either "
                    "sums to /delta",
    "coordinates": "/metadata/ranges: 0-based, half-open (BED); rows counted from 0",
    "sequence_orientation": "each stored sequence as the model read it: /metadata/orientation "
                            "says genome or reverse_complement",
}
#: Stored dtypes of the contributions (``--dtype``): float16 halves the file, as chrombpnet
#: stores its scores; every contribution keeps about 3 significant digits.
DTYPES = ("float32", "float16")
#: The file format's version: 2 since references are drawn from a new random stream (see
#: :data:`kipoi_deeplift.core.references.STREAM`) and contributions may be float16.
FORMAT_VERSION = 2

#: Attributes that say where and when a run ran (not part of its identity).
ENVIRONMENT = ("tensorflow_version", "keras_version", "device", "start_time", "end_time")


def project(per_channel: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Per-channel contributions -> each position's total on the base that is there.

    Per channel, m·(x - r) is also non-zero on the references' bases, which are not in the
    sequence; genomics tools (logos, TF-MoDISco, tangermeme) expect the position's total on
    the observed base. Where the input is not a single base (N coded 0.25) the total is shared
    in proportion to it; where the input row is all zero the per-channel values are kept. The
    sum over positions and channels is unchanged (summation-to-delta holds either way).

    Parameters
    ----------
    per_channel, onehot : numpy.ndarray, shape=(N, L, 4)
        The contributions per channel, and the input.

    Returns
    -------
    numpy.ndarray, shape=(N, L, 4)
        The projected contributions, of ``per_channel``'s dtype.
    """
    x = np.asarray(onehot, dtype=np.float32)
    total = x.sum(-1, keepdims=True)
    out = per_channel.sum(-1, keepdims=True, dtype=np.float32) * \
        (x / np.where(total > 0, total, np.float32(1)))
    empty = total[..., 0] == 0
    if empty.any():
        out[empty] = per_channel[empty]
    return out.astype(per_channel.dtype, copy=False)


def batch_arrays(res, x: Mapping[str, np.ndarray], metadata_ranges: Mapping | None, n: int,
                 labels: Mapping[str, str], orientation: np.ndarray | None = None,
                 non_acgt: tuple[np.ndarray, np.ndarray] | None = None,
                 dna: str | None = None, per_channel: bool = False,
                 dtype: str = "float32", members: bool = False) -> dict:
    """The datasets one scored batch appends to the file.

    Parameters
    ----------
    res : Explanation
        The batch's :class:`~kipoi_deeplift.core.result.Explanation`.
    x : mapping of str to numpy.ndarray
        Its inputs by Keras name, each (n, ...).
    metadata_ranges : mapping or None
        The dataloader's ``metadata.ranges`` (arrays of length >= n).
    n : int
        Rows in the batch.
    labels : mapping of str to str
        Keras input name -> the schema's name used in the file.
    orientation, non_acgt : optional
        When known: (n,) labels of :mod:`.orientation`; ((n,) N counts, (n,) zero-row counts).
    dna : str, optional
        The DNA input's Keras name: its contributions are written projected (:func:`project`),
        and also per channel with ``per_channel`` (bool).
    dtype : str, optional
        That of the stored contributions (one of :data:`DTYPES`); ``/delta`` and
        ``/convergence`` are float32 whatever it is, the error measured before rounding.
    members : bool, optional
        Also each ensemble member's scores (``res.members``) under ``/members/<i>/``:
        contributions, hypothetical ones, preds, delta and convergence, laid out as the
        file's own.

    Returns
    -------
    dict of str to numpy.ndarray
        Dataset path -> array (n, ...).
    """
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    out: dict[str, np.ndarray] = {}
    for name, by_task in res.contrib.items():
        for task, a in by_task.items():
            if name == dna:
                out[contrib(labels[name], task)] = project(a, x[name]).astype(dtype)
                if per_channel:
                    out[contrib_per_channel(labels[name], task)] = a.astype(dtype)
            else:
                out[contrib(labels[name], task)] = a.astype(dtype)
    for name, by_task in res.hyp_contrib.items():
        for task, a in by_task.items():
            out[hyp_contrib(labels[name], task)] = a.astype(dtype)
    for layer, by_task in res.neuron_contrib.items():
        for task, a in by_task.items():
            out[neuron_contrib(layer, task)] = a.astype(dtype)
    for name, v in x.items():
        out[inputs(labels[name])] = v
    for task in res.tasks:
        out[preds(task)] = res.preds[task]
        out[delta(task)] = res.delta[task]
        out[convergence(task)] = res.convergence[task]
    if isinstance(metadata_ranges, Mapping):
        for key in RANGE_KEYS:
            if key in metadata_ranges:
                v = np.asarray(metadata_ranges[key])[:n]
                out[ranges(key)] = v.astype(str) if key in ("chr", "id", "strand") \
                    else v.astype(np.int64)
    if non_acgt is not None:
        out[N_POSITIONS], out[ZERO_POSITIONS] = non_acgt
    if orientation is not None:
        out[ORIENTATION] = orientation
    for i, m in enumerate(res.members if members else ()):
        own = batch_arrays(m, x, None, n, labels, dna=dna, per_channel=per_channel, dtype=dtype)
        out.update((member(i, k), v) for k, v in own.items() if not k.startswith("inputs/"))
    return out


def model_label(model: str) -> str:
    """How reports name a file's model: a directory's last part; an ensemble's members' (the
    ``model`` attribute joins them with `` + ``), each so.

    Parameters
    ----------
    model : str
        The ``model`` attribute (a Kipoi name, a directory, or members joined by `` + ``).

    Returns
    -------
    str
        E.g. ``gata_model``, ``fold0 + fold1 + fold2``.
    """
    return " + ".join(Path(part).name or part for part in str(model).split(" + "))


class ScoreFile:
    """A finished (or staged) score file opened for reading. Use as a context manager.

    Parameters
    ----------
    path : str or Path
        The file.
    staged : bool, optional
        Open a temporary file this process holds a lock on (HDF5's own file locks would
        collide with it).
    """

    def __init__(self, path: str | Path, staged: bool = False):
        self.path = Path(path)
        if not self.path.exists():
            raise UserError(f"{str(path)!r} does not exist")
        try:
            self.h5 = h5py.File(path, "r", locking=False) if staged else h5py.File(path, "r")
        except OSError as e:
            raise UserError(f"{path} is not an HDF5 file") from e
        self.attrs = hdf5.attrs(self.h5)

    def __enter__(self) -> "ScoreFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file.

        Returns
        -------
        None
        """
        self.h5.close()

    def __contains__(self, key: str) -> bool:
        return key in self.h5

    def __getitem__(self, key: str) -> Any:
        return self.h5[key]

    def check(self) -> "ScoreFile":
        """Refuse (UserError) a file that is not a kipoi-deeplift score file.

        Returns
        -------
        ScoreFile
        """
        if "kipoi_deeplift_version" not in self.attrs or "contrib" not in self.h5:
            raise UserError(f"{self.path} is not a kipoi-deeplift score file (no "
                            "kipoi_deeplift_version attribute or /contrib)")
        return self

    @property
    def n(self) -> int:
        """Number of sequences.

        Returns
        -------
        int
        """
        return int(self.h5["preds"][next(iter(self.h5["preds"]))].shape[0])

    def dna_input(self) -> str:
        """The DNA input's name in the file (the first input when none is recorded).

        Returns
        -------
        str
        """
        return self.attrs.get("dna_input") or next(iter(self.h5["contrib"]))

    def tasks(self, input_name: str | None = None) -> list[str]:
        """The task names with contributions for ``input_name``.

        Parameters
        ----------
        input_name : str, optional
            Default: the DNA input.

        Returns
        -------
        list of str
        """
        group = f"contrib/{h5_key(input_name or self.dna_input())}"
        return list(self.h5[group]) if group in self.h5 else []

    def pick(self, input_name: str | None = None, task: str | None = None
             ) -> tuple[str, str]:
        """(input, task) a command reads: the DNA input and the first task unless given.

        UserError, naming the tasks there are, where ``task`` is not one of them.

        Parameters
        ----------
        input_name, task : str, optional

        Returns
        -------
        tuple of (str, str)
        """
        input_name = input_name or self.dna_input()
        tasks = self.tasks(input_name)
        task = tasks[0] if task is None and tasks else h5_key(task) if task else ""
        if task not in tasks:
            raise UserError(f"task {task!r} is not in {self.path}; tasks: {', '.join(tasks)}")
        return input_name, task

    def has_ranges(self) -> bool:
        """Whether the file holds genome coordinates (metadata ranges).

        Returns
        -------
        bool
        """
        return ranges("chr") in self.h5

    def ranges(self, keys=RANGE_KEYS) -> dict[str, np.ndarray] | None:
        """The metadata ranges as arrays (strings decoded), None without ranges.

        Parameters
        ----------
        keys : sequence of str, optional
            The fields to read (default :data:`RANGE_KEYS`; those absent are left out).

        Returns
        -------
        dict of str to numpy.ndarray, shape=(N,) each, or None
        """
        if not self.has_ranges():
            return None
        r = self.h5["metadata/ranges"]
        return {k: (r[k].asstr()[:] if r[k].dtype.kind == "O" else r[k][:])
                for k in keys if k in r}

    def task_outputs(self) -> dict[str, tuple[str, str, int]]:
        """Task -> (output name, final activation or '', units of the output).

        Returns
        -------
        dict of str to tuple of (str, str, int)
            From :data:`TASK_OUTPUTS`; empty for files written before it existed.
        """
        import json

        raw = json.loads(self.attrs.get(TASK_OUTPUTS, "{}") or "{}")
        return {t: (str(v[0]), str(v[1] or ""), int(v[2]) if len(v) > 2 else 0)
                for t, v in raw.items()}

    def reversed_rows(self) -> np.ndarray:
        """Which stored sequences run against the genome (see :mod:`.orientation`).

        Returns
        -------
        numpy.ndarray, shape=(N,), bool
        """
        from .orientation import reversed_rows

        r = self.ranges(("chr", "strand")) or {}
        n = len(r["chr"]) if "chr" in r else 0
        orient = self.h5[ORIENTATION].asstr()[:] if ORIENTATION in self.h5 else None
        return reversed_rows(orient, r.get("strand"), n)

    def datasets(self) -> list[str]:
        """Every dataset's path, sorted.

        Returns
        -------
        list of str
        """
        out: list[str] = []
        self.h5.visititems(lambda name, obj: out.append(name)
                           if isinstance(obj, h5py.Dataset) else None)
        return sorted(out)
