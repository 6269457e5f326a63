"""Which device a run computes on: ``--device`` as a TensorFlow device scope, and, where a GPU
was asked for and TensorFlow sees none, what is missing (a CPU-only build, no driver, no CUDA
libraries) and what to do."""
from __future__ import annotations

import contextlib
import os

from ...errors import UserError


def device_scope(device: str | None):
    """A ``tf.device`` scope for ``device``.

    Parameters
    ----------
    device : str or None
        'cpu', 'gpu' or 'gpu:K'; ``None``: TensorFlow's own placement.

    Returns
    -------
    tuple of (context manager, str)
        The scope, and the device it places on ('CPU', 'GPU:0', ...).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device is None:
        return contextlib.nullcontext(), ("GPU:0" if gpus else "CPU")
    d = device.lower()
    if d == "cpu":
        return tf.device("/CPU:0"), "CPU"
    if d == "gpu" or d.startswith("gpu:"):
        k = int(d.split(":")[1]) if ":" in d else 0
        if k >= len(gpus):
            why = gpu_missing(**gpu_probe()) if not gpus else \
                f"there is no GPU {k} (GPUs 0 to {len(gpus) - 1})"
            raise UserError(f"--device {device}: TensorFlow sees {len(gpus)} GPU(s): {why}; "
                            "or use --device cpu")
        return tf.device(f"/GPU:{k}"), f"GPU:{k}"
    raise UserError(f"--device {device!r}: use cpu, gpu or gpu:K")


def gpu_probe() -> dict:
    """What a GPU run needs, as found on this machine.

    Returns
    -------
    dict of str to bool
        ``built_with_cuda`` (a TensorFlow built with CUDA), ``driver`` (an NVIDIA driver
        loaded), ``cuda_libraries`` (the CUDA libraries: the pip packages
        ``tensorflow[and-cuda]`` brings).
    """
    import importlib.util

    import tensorflow as tf

    def installed(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:       # its parent (the `nvidia` namespace) is absent
            return False

    return {"built_with_cuda": bool(tf.test.is_built_with_cuda()),
            "driver": os.path.exists("/proc/driver/nvidia/version"),
            "cuda_libraries": installed("nvidia.cudnn") and installed("nvidia.cublas")}


def gpu_missing(built_with_cuda: bool, driver: bool, cuda_libraries: bool) -> str:
    """What keeps TensorFlow from seeing a GPU, and what to do.

    Parameters
    ----------
    built_with_cuda, driver, cuda_libraries : bool
        As :func:`gpu_probe` found them.

    Returns
    -------
    str
        The message.
    """
    if not built_with_cuda:
        return ("this TensorFlow is a CPU-only build (macOS, or tensorflow-cpu): on Linux with "
                "an NVIDIA GPU, pip install -e '.[gpu]' in the checkout (tensorflow[and-cuda])")
    if not driver:
        return ("no NVIDIA driver is loaded (/proc/driver/nvidia/version is missing): install "
                "the GPU's driver (nvidia-smi must list the GPU)")
    if not cuda_libraries:
        return ("the CUDA libraries TensorFlow loads (cuDNN, cuBLAS) are not installed: "
                "pip install -e '.[gpu]' in the checkout (tensorflow[and-cuda])")
    return ("the driver and CUDA libraries are there but TensorFlow found no usable GPU: "
            "rerun with --debug to see TensorFlow's own start-up lines")
