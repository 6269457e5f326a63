"""A Kipoi dataloader's batches, read by worker processes that leave signals to the parent.

Kipoi's dataloader (a copy of an early PyTorch ``DataLoader``) forks its workers when the
batch iterator is made. A forked worker inherits the parent's signal handlers: a terminal's
Ctrl-C reaches the whole process group, so every worker printed its own KeyboardInterrupt
traceback, and the parent's SIGTERM handler (which raises ``Interrupted``) ran inside workers
when multiprocessing terminated them at exit. The workers are daemons that the parent ends;
they need neither signal.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


@contextlib.contextmanager
def _signals_left_to_parent() -> Iterator[None]:
    """While open, processes forked here ignore SIGINT and die on SIGTERM (the default).

    Only the main thread may change handlers; elsewhere this does nothing (workers forked from
    another thread keep the handlers, as before)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def batch_iterator(dataset: Any, batch_size: int, num_workers: int = 0) -> Iterator[dict]:
    """The batches of a Kipoi ``Dataset`` (or any object with ``batch_iter``), in order.

    Parameters
    ----------
    dataset: the dataloader instance.
    batch_size: sequences per batch.
    num_workers: worker processes (0: read in this process); dataloaders whose ``batch_iter``
        takes no ``num_workers`` are read in this process.
    """
    if not num_workers:
        return dataset.batch_iter(batch_size=batch_size)
    with _signals_left_to_parent():
        try:
            return dataset.batch_iter(batch_size=batch_size, num_workers=num_workers)
        except TypeError:
            return dataset.batch_iter(batch_size=batch_size)
