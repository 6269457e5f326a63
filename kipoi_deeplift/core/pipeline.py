"""Stages that overlap: work done in background threads, handed on in order, memory bounded.

A genome-wide run is a chain of stages (read a batch, make its references, run the pass, write
the arrays); each waits on a different resource (the dataloader or the FASTA, a core running
numba, the accelerator, the disk). :func:`ahead` runs one stage in background threads while the
caller works on earlier results, so the stages overlap. Results come back in the order of their
inputs (files stay bit-identical to a serial run) and at most ``depth`` items are in flight
(memory stays flat however long the run). Threads suffice where the work releases the GIL (numba
``nogil`` kernels, TensorFlow, h5py's I/O, the dataloader's worker processes).
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
U = TypeVar("U")

_DONE = object()


def ahead(fn: Callable[[T], U], items: Iterable[T], depth: int = 2, workers: int = 1,
          name: str = "stage") -> Iterator[U]:
    """``fn(item)`` for each of ``items``, computed in background threads, yielded in order.

    ``items`` is read by one feeder thread (a dataloader's iterator need not be thread-safe);
    ``fn`` runs on ``workers`` threads; at most ``depth`` results wait to be taken (the feeder
    stops reading until one is). An exception raised by ``items`` or by ``fn`` is raised here,
    at its place in the order. Closing the generator (or an exception in the caller) stops the
    feeder and drops what is pending; a feeder blocked inside ``items`` is left to finish its
    item as a daemon thread.

    Parameters
    ----------
    fn : callable
        The stage's work, one item -> one result.
    items : iterable
        The stage's inputs.
    depth : int
        The most results in flight (at least 1).
    workers : int
        Threads running ``fn`` (at least 1).
    name : str
        The threads' name prefix.

    Yields
    ------
    Any
        ``fn(item)``, in the order of ``items``.
    """
    if depth < 1 or workers < 1:
        raise ValueError("depth and workers must be at least 1")
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def feed() -> None:
        try:
            for item in items:
                if stop.is_set() or not put(pool.submit(fn, item)):
                    return
        except BaseException as e:          # the source failed: raised in order
            failed: Future = Future()
            failed.set_exception(e)
            put(failed)
            return
        put(_DONE)

    feeder = threading.Thread(target=feed, name=f"{name}-feed", daemon=True)
    feeder.start()
    try:
        while True:
            entry = slots.get()
            if entry is _DONE:
                return
            yield entry.result()
    finally:
        stop.set()
        while True:                          # unblock the feeder, drop pending results
            try:
                entry = slots.get_nowait()
            except queue.Empty:
                break
            if isinstance(entry, Future):
                entry.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
