"""Writers: the HDF5 result file (streamed batch by batch), genome tracks (bigWig, bedGraph) and
TF-MoDISco input files, the last two derived from a finished HDF5 file.

Every file is written under a temporary name beside its target and renamed into place only when
complete (:class:`Staged`), so an interrupted run never leaves a half-written file under the
requested name and never clobbers an earlier result.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator, Mapping

import h5py
import numpy as np

from . import scorefile as sf
from .coordinates import sequence_start
from ..errors import UserError

STR = h5py.string_dtype()


TMP_SUFFIX = ".kd-tmp"


def _lock(fd: int) -> bool:
    """An exclusive lock on an open file, False if another process holds one."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def stale_temps(final: str | os.PathLike) -> list[Path]:
    """Temporary files of ``final`` left by runs that died (``kill -9``, a crashed node): this
    tool's temp names, not locked by any live process (a live run holds a lock on each of its
    temp files, across PID namespaces too)."""
    final = Path(final)
    out = []
    for p in sorted(final.parent.glob(f".{final.name}.*{TMP_SUFFIX}")):
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _lock(fd):
                out.append(p)
        finally:
            os.close(fd)      # closing drops the probe's lock
    return out


def check_writable(final: str | os.PathLike, what: str = "output") -> None:
    """Fail now, with one line, if ``final`` cannot be created (missing or read-only
    directory), rather than after hours of work or inside a C library that crashes."""
    import tempfile

    parent = Path(final).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{Path(final).name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"cannot write the {what} {str(final)!r}: {e.strerror or e} in "
                        f"{str(parent)!r}") from None


class Staged:
    """Temporary paths for a set of outputs, renamed into place together by :meth:`commit`.

    Each temporary name is unique (``tempfile`` in the target's directory, so containers whose
    processes share a PID never collide) and locked while this process lives, so that
    :func:`stale_temps` can tell a dead run's leftovers from a live run's files.
    """

    def __init__(self):
        self._pending: dict[Path, tuple[Path, int]] = {}

    def path(self, final: str | os.PathLike) -> Path:
        """A new, locked temporary file beside ``final``, to be renamed to it by commit."""
        import tempfile

        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.",
                                    suffix=TMP_SUFFIX)
        os.chmod(name, 0o666 & ~_umask())      # mkstemp's 0600 would outlive the rename
        _lock(fd)
        self._pending[final] = (Path(name), fd)
        return Path(name)

    def commit(self) -> list[Path]:
        """Rename every temporary file to its final name; returns the final paths."""
        done = []
        for final, (tmp, fd) in self._pending.items():
            os.replace(tmp, final)
            os.close(fd)
            done.append(final)
        self._pending.clear()
        return done

    def keep(self, final: str | os.PathLike) -> Path:
        """Leave ``final``'s temporary file in place, unlocked (an interrupted run's finished
        batches, for ``score --resume``)."""
        tmp, fd = self._pending.pop(Path(final))
        os.close(fd)
        return tmp

    def discard(self) -> None:
        """Remove every temporary file still pending."""
        for tmp, fd in self._pending.values():
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            os.close(fd)
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


#: Free space kept beyond twice a batch's (uncompressed) size: HDF5 needs room to close the
#: file cleanly; a write that fails for want of space leaves it unable to, and h5py crashes.
MARGIN = 1 << 20


def _disk_full(directory: str | os.PathLike, need: int, what: str) -> UserError:
    free = shutil.disk_usage(directory).free
    return UserError(f"the disk is full: {free / 1e6:.1f} MB free in {str(directory)!r}, "
                     f"writing {what} needs about {need / 1e6:.1f} MB; free space or write "
                     "elsewhere")


def check_room(directory: str | os.PathLike, need: int, what: str) -> None:
    """Refuse, with one line, to write ``need`` bytes where the disk cannot take them."""
    if shutil.disk_usage(directory).free < need:
        raise _disk_full(directory, need, what)


_FALLOC_FL_KEEP_SIZE = 1


def _fallocate():
    """libc's fallocate(2), or None where there is none (not Linux)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    return fn


@contextlib.contextmanager
def reserved(path: Path, nbytes: int, what: str):
    """Disk blocks for the next ``nbytes`` past the end of ``path`` held while the block runs.

    HDF5 cannot survive a write that fails for want of space (h5py then crashes the process),
    so the space is claimed first, with fallocate(KEEP_SIZE): if the disk is full that call
    fails, cleanly, before HDF5 writes anything, even when another process fills the disk
    meanwhile. Where fallocate is missing, the free space is checked instead.
    """
    import ctypes
    import errno

    fn = _fallocate()
    fd = os.open(path, os.O_WRONLY)
    try:
        size = os.fstat(fd).st_size
        if fn is None or fn(fd, _FALLOC_FL_KEEP_SIZE, size, nbytes) != 0:
            err = ctypes.get_errno() if fn is not None else errno.ENOSYS
            if err == errno.ENOSPC:
                raise _disk_full(path.parent, nbytes, what)
            check_room(path.parent, nbytes, what)     # no fallocate here: look instead
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, os.fstat(fd).st_size)       # give back what was not used
        os.close(fd)


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
        """Append one batch: dataset path -> array whose first axis is the batch."""
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
        """Close the file; after a failed write HDF5's complaints are kept off the terminal
        (the run has already said, in one line, what went wrong)."""
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


# -- genome tracks -------------------------------------------------------------------------
def _per_base(h5: sf.ScoreFile, input_name: str, task: str
              ) -> Iterator[tuple[str, int, np.ndarray]]:
    """(chrom, genome start, per-base score) of each interval, sorted, overlaps averaged.

    The per-base score is the contribution summed over the 4 channels. Sequences the model saw
    reverse-complemented (``/metadata/orientation``, found by comparing them with the genome;
    the strand label only where that could not decide) are flipped into genome order.
    """
    r = h5.ranges(("chr", "start", "end"))
    chrom = r["chr"]
    start = r["start"].astype(np.int64)
    end = r["end"].astype(np.int64)
    flip = h5.reversed_rows()
    scores = h5[sf.contrib(input_name, task)]
    length = scores.shape[1]
    start = sequence_start(start, end, length)
    order = np.lexsort((start, chrom))
    cur, buf_start, total, count = None, 0, None, None

    def flush():
        """Write the covered runs of the current chromosome's summed track (mean where
        intervals overlap)."""
        covered = count > 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            yield cur, buf_start + int(a), total[a:b] / count[a:b]

    for i in order:
        s = scores[i].astype(np.float64).sum(-1)     # float16 files sum in float64 too
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


def write_bigwig(h5: sf.ScoreFile, input_name: str, task: str, path: str | os.PathLike,
                 chrom_sizes: Mapping[str, int], label: str | None = None) -> None:
    """Per-base scores of one task as a bigWig, read back before it counts as written:
    libBigWig reports a full disk only on its stderr ("likely truncated") and returns no
    handle at all for a path it cannot create (using it would crash)."""
    import pyBigWig

    label = label or str(path)
    chroms = list(dict.fromkeys(h5.ranges(("chr",))["chr"]))
    header = [(c, int(chrom_sizes[c])) for c in sorted(chroms)]
    bw = pyBigWig.open(str(path), "w")
    if bw is None:
        raise UserError(f"cannot create the bigWig {label!r} (is its directory writable?)")
    covered = 0
    try:
        bw.addHeader(header)
        for chrom, st, values in _per_base(h5, input_name, task):
            values = values[: max(0, int(chrom_sizes[chrom]) - st)]
            if st < 0:
                values, st = values[-st:], 0
            if len(values):
                bw.addEntries(chrom, st, values=values.tolist(), span=1, step=1)
                covered += len(values)
    except RuntimeError as e:       # libBigWig's write errors (a full disk, mostly)
        raise UserError(f"writing the bigWig {label!r} failed ({e}): is the disk full?"
                        ) from None
    finally:
        from ..quiet import captured_stderr

        noise: list[str] = []
        with captured_stderr(noise):
            bw.close()
    check = pyBigWig.open(str(path))
    try:
        got = check.header().get("nBasesCovered", -1) if check is not None else -1
    except RuntimeError:
        got = -1
    finally:
        if check is not None:
            check.close()
    if got != covered:
        raise UserError(f"the bigWig {label!r} came out incomplete ({max(got, 0)} of {covered} "
                        "bases readable): is the disk full?")


def write_bedgraph(h5: sf.ScoreFile, input_name: str, task: str, path: str | os.PathLike
                   ) -> None:
    """Per-base scores of one task as a bedGraph (one line per base)."""
    with open(path, "w") as f:
        f.write(f'track type=bedGraph name="{task}" description="DeepLIFT per-base '
                f'contribution"\n')
        for chrom, st, values in _per_base(h5, input_name, task):
            for j, v in enumerate(values):
                if st + j >= 0:
                    f.write(f"{chrom}\t{st + j}\t{st + j + 1}\t{v:.6g}\n")


def chrom_sizes_from(h5: sf.ScoreFile, fasta: str | None) -> dict[str, int]:
    """Chromosome lengths from the FASTA index when there is a FASTA, else the largest end."""
    if fasta:
        from .genome import fasta_sizes

        return fasta_sizes(fasta)
    r = h5.ranges(("chr", "end"))
    sizes: dict[str, int] = {}
    for c, e in zip(r["chr"], r["end"]):
        sizes[c] = max(sizes.get(c, 0), int(e))
    return sizes


# -- TF-MoDISco ----------------------------------------------------------------------------
def write_npz(path: str | os.PathLike, array: np.ndarray) -> None:
    """``np.savez_compressed`` to exactly ``path`` (numpy would append .npz to a name)."""
    with open(path, "wb") as f:
        np.savez_compressed(f, array)


def modisco_arrays(h5: sf.ScoreFile, input_name: str, task: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot, hypothetical contributions), each (N, 4, L) as ``modisco motifs`` reads them."""
    ohe = h5[sf.inputs(input_name)][:].transpose(0, 2, 1)
    hyp = h5[sf.hyp_contrib(input_name, task)][:].transpose(0, 2, 1)
    return ohe.astype(np.float32), hyp.astype(np.float32)
