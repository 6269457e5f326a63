"""Writers: the HDF5 result file (streamed batch by batch), genome tracks (bigWig, bedGraph) and
TF-MoDISco input files, the last two derived from a finished HDF5 file.

Every file is written under a temporary name beside its target and renamed into place only when
complete (:class:`Staged`), so an interrupted run never leaves a half-written file under the
requested name and never clobbers an earlier result.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Mapping

import h5py
import numpy as np

from .errors import UserError

STR = h5py.string_dtype()


class Staged:
    """Temporary paths for a set of outputs, renamed into place together by :meth:`commit`."""

    def __init__(self):
        self._pending: dict[Path, Path] = {}

    def path(self, final: str | os.PathLike) -> Path:
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        self._pending[final] = tmp
        return tmp

    def commit(self) -> list[Path]:
        done = []
        for final, tmp in self._pending.items():
            os.replace(tmp, final)
            done.append(final)
        self._pending.clear()
        return done

    def discard(self) -> None:
        for tmp in self._pending.values():
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        self._pending.clear()


@contextlib.contextmanager
def staged_file(final: str | os.PathLike):
    """A temporary path for ``final``: renamed into place when the block ends, removed if it
    fails."""
    staged = Staged()
    tmp = staged.path(final)
    try:
        yield tmp
        staged.commit()
    except BaseException:
        staged.discard()
        raise


def h5_key(name: str) -> str:
    """A task, layer or input name as one HDF5 path component."""
    return str(name).replace("/", "_")


class H5Writer:
    """Appends batches to resizable datasets of one HDF5 file (memory flat in N)."""

    def __init__(self, path: str | os.PathLike, attrs: Mapping | None = None):
        self.file = h5py.File(path, "w")
        for k, v in (attrs or {}).items():
            self.file.attrs[k] = v
        self.n = 0

    def append(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append one batch: dataset path -> array whose first axis is the batch."""
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"batch arrays differ in length: {sizes}")
        size = sizes.pop()
        for key, a in arrays.items():
            a = np.asarray(a)
            if a.dtype.kind in "USO":
                a = a.astype(object)
            if key not in self.file:
                dtype = STR if a.dtype == object else a.dtype
                chunks = (max(1, min(64, size)),) + a.shape[1:] if a.ndim else None
                self.file.create_dataset(key, shape=(0,) + a.shape[1:], maxshape=(None,) +
                                         a.shape[1:], dtype=dtype, chunks=chunks,
                                         compression="gzip" if a.ndim > 1 else None,
                                         compression_opts=4 if a.ndim > 1 else None)
            ds = self.file[key]
            if ds.shape[1:] != a.shape[1:]:
                raise UserError(f"{key}: a batch of shape {a.shape[1:]} after batches of "
                                f"{ds.shape[1:]}: the intervals differ in length; give the "
                                "dataloader a fixed length (e.g. auto_resize_len)")
            ds.resize(self.n + size, axis=0)
            ds[self.n:] = a
        self.n += size

    def close(self) -> None:
        self.file.close()


# -- genome tracks -------------------------------------------------------------------------
def _per_base(h5: h5py.File, input_name: str, task: str) -> Iterator[tuple[str, int, np.ndarray]]:
    """(chrom, genome start, per-base score) of each interval, sorted, overlaps averaged.

    The per-base score is the contribution summed over the 4 channels. Sequences the model saw
    reverse-complemented (``/metadata/orientation``, found by comparing them with the genome;
    the strand label only where that could not decide) are flipped into genome order.
    """
    ranges = h5["metadata/ranges"]
    chrom = ranges["chr"].asstr()[:]
    start = ranges["start"][:].astype(np.int64)
    end = ranges["end"][:].astype(np.int64)
    flip = reversed_rows_of(h5)
    scores = h5[f"contrib/{h5_key(input_name)}/{h5_key(task)}"]
    length = scores.shape[1]
    # Ranges wider or narrower than the model's input: the sequence is centred in them.
    start = start + ((end - start) - length) // 2
    order = np.lexsort((start, chrom))
    cur, buf_start, total, count = None, 0, None, None

    def flush():
        covered = count > 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            yield cur, buf_start + int(a), total[a:b] / count[a:b]

    for i in order:
        s = scores[i].sum(-1).astype(np.float64)
        if flip[i]:
            s = s[::-1]
        c, st = chrom[i], int(start[i])
        if cur != c or st >= buf_start + len(total):
            if cur is not None:
                yield from flush()
            cur, buf_start = c, st
            total, count = np.zeros(length), np.zeros(length)
        stop = st + length - buf_start
        if stop > len(total):   # grow the window to cover an overlapping interval
            total = np.concatenate([total, np.zeros(stop - len(total))])
            count = np.concatenate([count, np.zeros(stop - len(count))])
        total[st - buf_start: stop] += s
        count[st - buf_start: stop] += 1
    if cur is not None:
        yield from flush()


def reversed_rows_of(h5: h5py.File) -> np.ndarray:
    """(N,) bool: which stored sequences run against the genome (see :mod:`.orientation`)."""
    from .orientation import reversed_rows

    n = len(h5["metadata/ranges/chr"]) if "metadata/ranges/chr" in h5 else 0
    orient = h5["metadata/orientation"].asstr()[:] if "metadata/orientation" in h5 else None
    strand = h5["metadata/ranges/strand"].asstr()[:] if "metadata/ranges/strand" in h5 \
        else None
    return reversed_rows(orient, strand, n)


def write_bigwig(h5: h5py.File, input_name: str, task: str, path: str | os.PathLike,
                 chrom_sizes: Mapping[str, int]) -> None:
    """Per-base scores of one task as a bigWig."""
    import pyBigWig

    chroms = list(dict.fromkeys(h5["metadata/ranges/chr"].asstr()[:]))
    header = [(c, int(chrom_sizes[c])) for c in sorted(chroms)]
    bw = pyBigWig.open(str(path), "w")
    try:
        bw.addHeader(header)
        for chrom, st, values in _per_base(h5, input_name, task):
            values = values[: max(0, int(chrom_sizes[chrom]) - st)]
            if st < 0:
                values, st = values[-st:], 0
            if len(values):
                bw.addEntries(chrom, st, values=values.tolist(), span=1, step=1)
    finally:
        bw.close()


def write_bedgraph(h5: h5py.File, input_name: str, task: str, path: str | os.PathLike) -> None:
    """Per-base scores of one task as a bedGraph (one line per base)."""
    with open(path, "w") as f:
        f.write(f'track type=bedGraph name="{task}" description="DeepLIFT per-base '
                f'contribution"\n')
        for chrom, st, values in _per_base(h5, input_name, task):
            for j, v in enumerate(values):
                if st + j >= 0:
                    f.write(f"{chrom}\t{st + j}\t{st + j + 1}\t{v:.6g}\n")


def chrom_sizes_from(h5: h5py.File, fasta: str | None) -> dict[str, int]:
    """Chromosome lengths from the FASTA index when there is a FASTA, else the largest end."""
    if fasta:
        import pyfaidx

        fa = pyfaidx.Fasta(fasta)
        try:
            return {name: len(rec) for name, rec in fa.records.items()}
        finally:
            fa.close()
    ranges = h5["metadata/ranges"]
    sizes: dict[str, int] = {}
    for c, e in zip(ranges["chr"].asstr()[:], ranges["end"][:]):
        sizes[c] = max(sizes.get(c, 0), int(e))
    return sizes


# -- TF-MoDISco ----------------------------------------------------------------------------
def write_npz(path: str | os.PathLike, array: np.ndarray) -> None:
    """``np.savez_compressed`` to exactly ``path`` (numpy would append .npz to a name)."""
    with open(path, "wb") as f:
        np.savez_compressed(f, array)


def modisco_arrays(h5: h5py.File, input_name: str, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot, hypothetical contributions), each (N, 4, L) as ``modisco motifs`` reads them."""
    ohe = h5[f"inputs/{h5_key(input_name)}"][:].transpose(0, 2, 1)
    hyp = h5[f"hyp_contrib/{h5_key(input_name)}/{h5_key(task)}"][:].transpose(0, 2, 1)
    return ohe.astype(np.float32), hyp.astype(np.float32)
