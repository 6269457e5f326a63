"""How many sequences a batch can hold: the pass keeps every tensor of the model for its K+1 rows
per sequence until the backward pass, so the size of a batch follows from the model's tensor
shapes and the memory it may use."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np

#: Bytes a DeepLIFT pass uses per byte of the model's float32 tensors, measured on this engine
#: (forward values kept for the backward pass, their gradients, the rules' float64 secants):
#: 2.4 to 2.9 on a 2 kb, 6-layer convolutional model; 4 leaves room.
PASS_FACTOR = 4
DEFAULT_FRACTION = 0.25          # of the memory available when the run starts
DEFAULT_CEILING = 8 * 2 ** 30
#: Sequences a default batch holds at most, by device. On a CPU, batches past a few hundred
#: sequences only add memory traffic: `score` of a cheap model (benchmarks/pipeline.py, 4,000
#: x 1 kb, K=20, 2 cores) ran 480 sequences/s in batches of 256, 465 of 512, 330 of 1,024. A
#: GPU needs more rows in flight to be busy.
MOST = {"CPU": 256, "GPU": 1024}
#: Tiered compilation (:attr:`kipoi_deeplift.core.engine.DeepLift.FUSE_AFTER`): the per-batch
#: multipliers (secants, max-pool weights) run as XLA-compiled functions in a call that carries
#: at least this many tensor elements (its sequences x (K + 1) rows x every tensor of the
#: model), or in a run announced as that long with
#: :meth:`~kipoi_deeplift.core.engine.DeepLift.expect` (genome-wide `score` does); smaller
#: calls run them as plain ops. Measured on the benchmark models (benchmarks/first_call.py: 2
#: CPU cores, fresh process, first call): below it XLA's compilation is most of a small run
#: (DeepBind-size, 64 sequences: 0.43 s tiered, 0.65 s with XLA; Basset-size, one sequence:
#: 0.96 s and 1.22 s); above it XLA pays within the first call (BPNet-size, one sequence, 2.6e7
#: elements: 0.83 s with, 1.20 s without). Decided per call, so that a second small call never
#: pays a compilation.
FUSE_AFTER = 1e7


def most(device: str = "CPU") -> int:
    """The largest default batch on ``device``.

    Parameters
    ----------
    device : str
        ``'CPU'``, ``'GPU'``, ``'GPU:1'``, ...

    Returns
    -------
    int
        Sequences (:data:`MOST` of the device's kind).
    """
    return MOST["GPU" if device.upper().startswith("GPU") else "CPU"]


def bytes_per_sequence(tensor_shapes, n_references: int) -> int:
    """Estimated memory of one sequence in a pass: its K references and itself, every tensor.

    Parameters
    ----------
    tensor_shapes : iterable of tuple
        Every tensor's shape, batch axis excluded.
    n_references : int
        References per sequence (K).

    Returns
    -------
    int
        Bytes (:data:`PASS_FACTOR` times the float32 tensors of K + 1 rows).
    """
    row = sum(int(np.prod(s)) for s in tensor_shapes) * 4
    return PASS_FACTOR * (n_references + 1) * max(row, 1)


def available_bytes(device: str = "CPU") -> int:
    """Memory free for the pass: the GPU's free memory (nvidia-smi) on a GPU, else MemAvailable.

    Parameters
    ----------
    device : str
        ``'CPU'``, ``'GPU'``, ``'GPU:1'``, ...

    Returns
    -------
    int
        Bytes.
    """
    if device.upper().startswith("GPU") and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free",
                                  "--format=csv,noheader,nounits"], capture_output=True,
                                 text=True, timeout=10).stdout.split()
            k = int(device.split(":")[1]) if ":" in device else 0
            return int(out[k]) * 2 ** 20
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def default_cap(device: str = "CPU") -> int:
    """The memory a pass may use by default: a quarter of what is free, at most 8 GiB.

    Parameters
    ----------
    device : str
        ``'CPU'``, ``'GPU'``, ``'GPU:1'``, ...

    Returns
    -------
    int
        Bytes.
    """
    return int(min(DEFAULT_CEILING, DEFAULT_FRACTION * available_bytes(device)))


def choose(tensor_shapes, n_references: int, n_sequences: int, cap_bytes: int) -> int:
    """The largest batch whose estimate fits ``cap_bytes``.

    Parameters
    ----------
    tensor_shapes : iterable of tuple
        Every tensor's shape, batch axis excluded.
    n_references : int
        References per sequence (K).
    n_sequences : int
        The most sequences a batch may hold.
    cap_bytes : int
        The memory a batch may use.

    Returns
    -------
    int
        Sequences, at least 1 and at most ``n_sequences``.
    """
    per = bytes_per_sequence(tensor_shapes, n_references)
    return int(max(1, min(n_sequences, cap_bytes // per)))


def declared_inputs(input_shapes) -> list[np.ndarray] | None:
    """One zero row (1, ...) per input of the model's declared shapes, or ``None`` where a
    length is not fixed.

    Parameters
    ----------
    input_shapes : sequence of tuple
        The model's declared input shapes, batch axis first (``None`` where not fixed).

    Returns
    -------
    list of np.ndarray, shape (1, ...) each, float32, or None
        Inputs to find the model's tensor shapes with.
    """
    shapes = [tuple(s[1:]) for s in input_shapes]
    if any(d is None for s in shapes for d in s):
        return None
    return [np.zeros((1,) + s, np.float32) for s in shapes]


def progress(total: int | None, show: bool | None = None):
    """The one progress bar over sequences (tqdm on stderr, in sequences/s).

    Parameters
    ----------
    total : int, optional
        Sequences to come (``None``: unknown).
    show : bool, optional
        Show the bar; ``None`` shows it only on a terminal.

    Returns
    -------
    tqdm.tqdm
        A context manager with ``update(n)``.
    """
    import sys

    from tqdm.auto import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(total=total, unit="seq", desc="DeepLIFT", disable=not show, file=sys.stderr,
                smoothing=0.1)
