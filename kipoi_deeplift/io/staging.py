"""Staging of output files: every file is written under a temporary name beside its target and
renamed into place only when complete (:class:`Staged`), so an interrupted run never leaves a
half-written file under the requested name and never clobbers an earlier result; and the
reservation of disk space before a write (:func:`reserved`), which HDF5 cannot survive failing.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from ..errors import UserError

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
    """Temporary files of ``final`` left by runs that died (``kill -9``, a crashed node).

    This tool's temp names, not locked by any live process (a live run holds a lock on each of
    its temp files, across PID namespaces too).

    Parameters
    ----------
    final : str or os.PathLike
        The requested output.

    Returns
    -------
    list of Path
        Sorted.
    """
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
    """Fail now, with one line, if ``final`` cannot be created (missing or read-only directory).

    Rather than after hours of work or inside a C library that crashes.

    Parameters
    ----------
    final : str or os.PathLike
        The output to be written (its directory is created where missing).
    what : str, optional
        What it is, for the message. Default ``"output"``.
    """
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

    Parameters
    ----------
    None
        The constructor takes no arguments; :meth:`path` adds each output.
    """

    def __init__(self):
        self._pending: dict[Path, tuple[Path, int]] = {}

    def path(self, final: str | os.PathLike) -> Path:
        """A new, locked temporary file beside ``final``, to be renamed to it by commit.

        Parameters
        ----------
        final : str or os.PathLike
            The final name (its directory is created where missing).

        Returns
        -------
        Path
            The temporary file.
        """
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
        """Rename every temporary file to its final name.

        Returns
        -------
        list of Path
            The final paths.
        """
        done = []
        for final, (tmp, fd) in self._pending.items():
            os.replace(tmp, final)
            os.close(fd)
            done.append(final)
        self._pending.clear()
        return done

    def keep(self, final: str | os.PathLike) -> Path:
        """Leave ``final``'s temporary file in place, unlocked.

        An interrupted run's finished batches, for ``score --resume``.

        Parameters
        ----------
        final : str or os.PathLike

        Returns
        -------
        Path
            The temporary file.
        """
        tmp, fd = self._pending.pop(Path(final))
        os.close(fd)
        return tmp

    def discard(self) -> None:
        """Remove every temporary file still pending.

        Returns
        -------
        None
        """
        for tmp, fd in self._pending.values():
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            os.close(fd)
        self._pending.clear()


@contextlib.contextmanager
def staged_file(final: str | os.PathLike):
    """A temporary path for ``final``: renamed into place when the block ends, removed if it fails.

    Parameters
    ----------
    final : str or os.PathLike

    Yields
    ------
    Path
        The temporary file to write.
    """
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
    """Refuse, with one line, to write ``need`` bytes where the disk cannot take them.

    Parameters
    ----------
    directory : str or os.PathLike
    need : int
        Bytes.
    what : str
        What is written, for the message.
    """
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

    Parameters
    ----------
    path : Path
        An existing file.
    nbytes : int
        Bytes to claim.
    what : str
        What is written, for the message.

    Yields
    ------
    None
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
