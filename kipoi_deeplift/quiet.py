"""Native (C-level) stderr collected rather than printed: TensorFlow's start-up lines and the
git subprocess Kipoi runs would bury the one line a user needs to read."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def captured_stderr(into: list):
    """Lines written to file descriptor 2 inside the block go into ``into``.

    Nothing is captured where stderr has no file descriptor (pytest's capture).

    Parameters
    ----------
    into : list of str
        Extended, when the block ends, with the captured lines.

    Yields
    ------
    None
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            into.extend(tmp.read().decode(errors="replace").splitlines())


def quiet_tensorflow_start() -> None:
    """Import TensorFlow and Keras (and look for GPUs) with their start-up lines discarded.

    The lines are oneDNN, CUDA probing, cuInit on machines without a GPU: printed from C++
    before TF_CPP_MIN_LOG_LEVEL applies. ``KIPOI_DEEPLIFT_TF_START=show`` keeps them.

    Returns
    -------
    None
    """
    if "tensorflow" in sys.modules or os.environ.get("KIPOI_DEEPLIFT_TF_START") == "show":
        return
    with captured_stderr([]):
        import keras  # noqa: F401
        import tensorflow as tf
        import tf_keras  # noqa: F401

        tf.config.list_physical_devices("GPU")
