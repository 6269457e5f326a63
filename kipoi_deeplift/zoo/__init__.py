"""The model zoo: DeepLIFT-ready configs for published Kipoi models and what loads them.

Modules by job: :mod:`.config` (the typed :class:`ZooConfig`, read from the package's
``configs/``, i.e. ``model_zoo_configs/``), :mod:`.catalog` (which config applies to a model,
what it recommends, ``zoo list``/``zoo show``), :mod:`.loaders` (the :class:`Loader` a config
asks for and the Kipoi classes standing in while Kipoi loads), :mod:`.layers` (Keras 3 layers
of rebuilt architectures, each with its DeepLIFT row), :mod:`.rebuild` (the rebuilds).

A model is loaded in three steps: *describe* (Kipoi reads model.yaml:
``kipoi_deeplift.kipoi.loading.describe_model``), *identify* (:func:`identify`: which config
applies), *load* (``kipoi_deeplift.kipoi.loading.load_kipoi_model`` with :func:`loader`'s
Loader); ``kipoi_deeplift.kipoi.loading.load_model`` runs the three. The zoo imports the core,
the backends, io and Kipoi's library, never the Kipoi adapter (``kipoi_deeplift.kipoi``).

Importing this package needs neither TensorFlow nor Kipoi.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .catalog import (describes, find, identify, model_count, output_task_names,
                      score_defaults, show, table)
from .config import (ZooConfig, config_files, function, load_configs, parse, read,
                     validate)
from .loaders import Loader, loader

__all__ = ["Loader", "ZooConfig", "config_dir", "config_files", "describes", "find", "function",
           "identify", "load_configs", "loader", "model_count", "output_task_names", "parse",
           "read", "score_defaults", "show", "table", "validate"]


def config_dir() -> Path:
    """The folder of the package's configs (``model_zoo_configs/``, installed as
    ``kipoi_deeplift/zoo/configs/``).

    Returns
    -------
    pathlib.Path
    """
    return Path(str(resources.files(__name__).joinpath("configs")))
