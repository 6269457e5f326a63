"""The HDF5 score file, streamed batch by batch (:class:`H5Writer`): resizable datasets, the
inputs and contributions compressed chunk by chunk outside HDF5's lock, the file flushed after
every batch so that an interrupted run can be continued (``score --resume``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import h5py
import numpy as np

from ..errors import UserError
from .staging import MARGIN, check_room, reserved

STR = h5py.string_dtype()


#: Datasets stored compressed: the one-hot inputs (6x smaller) and the projected
#: contributions (3 of every 4 values zero: 1.75x). gzip at level 1 with HDF5's byte shuffle,
#: which every HDF5 reader decodes. Dense floats (hypothetical and per-channel contributions,
#: per-neuron contributions) gain about a tenth from it for more work than a cheap model's
#: pass, so they are stored as they are.
COMPRESSED = ("inputs/", "contrib/")
GZIP_LEVEL = 1
#: Rows of a dataset chunk, at most (a divisor of the first batch, so that batches fill whole
#: chunks and each chunk is compressed off the lock, see :meth:`H5Writer._append`).
CHUNK_ROWS = 64


def _chunk_rows(batch: int) -> int:
    return max(d for d in range(1, min(CHUNK_ROWS, batch) + 1) if batch % d == 0)


def _compressor():
    """zlib-ng's deflate (about 3x zlib's speed at level 1, the same format: every HDF5 reader
    inflates it), else zlib's. Both release the GIL."""
    try:
        from zlib_ng import zlib_ng
        return zlib_ng.compress
    except ImportError:
        import zlib
        return zlib.compress


_COMPRESS = _compressor()


def _deflate(block: np.ndarray, rows: int) -> bytes:
    """One chunk as HDF5 stores it with the shuffle and deflate filters: ``block`` (up to
    ``rows`` rows; zero rows fill the chunk past the dataset's end), bytes regrouped by their
    place in each value, then deflated."""
    if len(block) < rows:
        block = np.concatenate([block, np.zeros((rows - len(block),) + block.shape[1:],
                                                block.dtype)])
    data = np.ascontiguousarray(block).view(np.uint8).reshape(-1, block.itemsize).T
    return _COMPRESS(np.ascontiguousarray(data), GZIP_LEVEL)


class H5Writer:
    """Appends batches to resizable datasets of one HDF5 file (memory flat in N).

    The file is flushed after every batch and ``attrs["rows_written"]`` counts the rows that
    are complete, so a run that is killed leaves a file ``score --resume`` can continue.
    Compressed datasets (:data:`COMPRESSED`) are compressed chunk by chunk on ``threads``
    threads outside HDF5's lock (h5py holds the GIL while its own filters run).

    Parameters
    ----------
    path : str or os.PathLike
        The file to create (a staged temporary file; overwritten).
    attrs : mapping, optional
        File attributes to write first.
    label : str, optional
        The final name, for messages (default: the file's name).
    threads : int, optional
        Compression threads (default: the CPUs, at most 4).
    """

    def __init__(self, path: str | os.PathLike, attrs: Mapping | None = None,
                 label: str | None = None, threads: int | None = None):
        self.path = Path(path)
        self.label = label or self.path.name      # the final name, for messages
        check_room(self.path.parent, MARGIN, self.label)
        # Exclusivity comes from the lock Staged holds on the temp file (HDF5 locks would
        # collide with it).
        self.file = h5py.File(path, "w", locking=False)
        for k, v in (attrs or {}).items():
            self.file.attrs[k] = v
        self.n = 0
        self.file.attrs["rows_written"] = 0
        self.failed = False
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._pool = None

    def append(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append one batch.

        Parameters
        ----------
        arrays : mapping of str to numpy.ndarray
            Dataset path -> array (n, ...) whose first axis is the batch; the same n for all.
        """
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"batch arrays differ in length: {sizes}")
        size = sizes.pop()
        need = 2 * sum(np.asarray(a).nbytes for a in arrays.values()) + MARGIN
        try:
            with reserved(self.path, need, f"the next batch of {self.label}"):
                self._append(arrays, size)
                self.file.attrs["rows_written"] = self.n
                self.file.flush()
        except UserError:
            raise
        except (OSError, RuntimeError) as e:
            self.failed = True
            raise UserError(f"writing {self.label} failed: {str(e).splitlines()[0][:160]}"
                            ) from None

    def _append(self, arrays: Mapping[str, np.ndarray], size: int) -> None:
        direct = []
        for key, a in arrays.items():
            a = np.asarray(a)
            if a.dtype.kind in "USO":
                a = a.astype(object)
            if key not in self.file:
                dtype = STR if a.dtype == object else a.dtype
                packed = a.ndim > 1 and key.startswith(COMPRESSED)
                chunks = (_chunk_rows(max(1, size)),) + a.shape[1:] if a.ndim else None
                self.file.create_dataset(key, shape=(0,) + a.shape[1:], maxshape=(None,) +
                                         a.shape[1:], dtype=dtype, chunks=chunks,
                                         compression="gzip" if packed else None,
                                         compression_opts=GZIP_LEVEL if packed else None,
                                         shuffle=packed)
            ds = self.file[key]
            if ds.shape[1:] != a.shape[1:]:
                raise UserError(f"{key}: a batch of shape {a.shape[1:]} after batches of "
                                f"{ds.shape[1:]}: the intervals differ in length; give the "
                                "dataloader a fixed length (e.g. auto_resize_len)")
            ds.resize(self.n + size, axis=0)
            rows = ds.chunks[0] if ds.chunks else 0
            if ds.compression == "gzip" and ds.shuffle and self.n % rows == 0 and \
                    a.dtype == ds.dtype:
                direct.append((ds, a, rows))     # whole chunks from here on
            else:
                ds[self.n:] = a
        if direct:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="deflate")
            jobs = [(ds, self.n + i, self._pool.submit(_deflate, a[i:i + rows], rows))
                    for ds, a, rows in direct for i in range(0, size, rows)]
            for ds, row, job in jobs:
                ds.id.write_direct_chunk((row,) + (0,) * (ds.ndim - 1), job.result())
        self.n += size

    def close(self) -> None:
        """Close the file.

        After a failed write HDF5's complaints are kept off the terminal (the run has already said,
        in one line, what went wrong).

        Returns
        -------
        None
        """
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if not self.failed:
            self.file.close()
            return
        import gc

        from ..quiet import captured_stderr

        with captured_stderr([]):
            try:
                self.file.close()
            except Exception:
                pass
            gc.collect()
