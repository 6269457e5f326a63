"""DeepLIFT-ready configs for published Kipoi models (``model_zoo_configs/*.yaml``).

A config names the Kipoi models it covers (glob patterns), the DNA input and its layout, what
to score, the recommended references and rule, how the model treats the two strands, and, where
the published file cannot be read on Python 3, a ``rebuild:`` function that builds the published
architecture in Keras 3 and loads the published weights.
"""
from __future__ import annotations

import fnmatch
import importlib
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from ..errors import UserError

REQUIRED = ("name", "kipoi", "input", "output", "references", "rule", "reverse_complement",
            "status")


def config_dir() -> Path:
    """``model_zoo_configs/`` of the source tree, or where ``pip install`` put it."""
    here = Path(__file__).resolve().parents[2] / "model_zoo_configs"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "kipoi_deeplift" / "model_zoo_configs"


def load_configs(directory: Path | None = None) -> dict[str, dict]:
    """Every config by name, each checked by :func:`validate`."""
    directory = directory or config_dir()
    out = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            cfg = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise UserError(f"{path.name}: not valid YAML ({str(e).splitlines()[0]})") from e
        validate(cfg, path.name)
        cfg["_file"] = str(path)
        out[cfg["name"]] = cfg
    return out


def validate(cfg: dict, where: str = "config") -> None:
    """Raise ``UserError`` naming what is missing or wrong in one config."""
    from ..core.methods import MAXPOOL_MODES as MODES
    from ..core.methods import METHODS as RULES
    from ..core.references import validate_reference_name

    if not isinstance(cfg, dict):
        raise UserError(f"{where}: not a mapping")
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)}")
    if cfg["rule"] not in RULES:
        raise UserError(f"{where}: rule {cfg['rule']!r} is not one of {', '.join(RULES)}")
    if cfg.get("maxpool", "gradient") not in MODES:
        raise UserError(f"{where}: maxpool {cfg['maxpool']!r} is not one of {MODES}")
    refs = cfg["references"]
    try:
        validate_reference_name(refs.get("kind", ""))
    except ValueError as e:
        raise UserError(f"{where}: references: {e}") from e
    if int(refs.get("n", 0)) < 1:
        raise UserError(f"{where}: references.n must be at least 1")
    if "name" not in cfg["input"] or "layout" not in cfg["input"]:
        raise UserError(f"{where}: input needs name and layout")
    own = cfg.get("kipoi_class") or {}
    if own and not isinstance(own, dict) or own and "defined_as" not in own:
        raise UserError(f"{where}: kipoi_class needs defined_as (and weights, arch, then)")
    for spec in (cfg.get("rebuild"), cfg.get("build_from_counts"),
                 cfg["output"].get("profile_head"), own.get("then")):
        if spec:
            function(spec)      # importable
    for key in ("loads", "scores", "tested_on_real_weights"):
        if key not in cfg["status"]:
            raise UserError(f"{where}: status.{key} is missing")


def function(spec: str) -> Callable:
    """``package.module:function`` -> the function."""
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"cannot import {spec!r}: {e}") from e


def loader(cfg: dict | None):
    """How the config's models are loaded (:class:`~kipoi_deeplift.kipoi.loading.Loader`):
    its ``rebuild:`` and ``kipoi_class:`` (the model's own Kipoi class that this package reads
    instead: ``defined_as``, the argument holding the Keras file, an architecture argument, a
    function applied to the loaded model)."""
    from .loading import Loader

    if not cfg:
        return None
    own = cfg.get("kipoi_class") or {}
    return Loader(rebuild=function(cfg["rebuild"]) if cfg.get("rebuild") else None,
                  kipoi_class=own.get("defined_as"),
                  weights_arg=own.get("weights", "weights"), arch_arg=own.get("arch"),
                  then=function(own["then"]) if own.get("then") else None)


def _patterns(cfg: dict) -> list[str]:
    return cfg["kipoi"] if isinstance(cfg["kipoi"], list) else [cfg["kipoi"]]


def find(model: str, configs: dict | None = None) -> dict | None:
    """The config whose Kipoi patterns match the model name (``None`` when none does).

    A path (``./DeepBind/Homo_sapiens/TF/X``, an absolute path into a Kipoi checkout) matches
    when any tail of its resolved components does, so the same directory is recognised however
    its path is written.
    """
    configs = configs if configs is not None else load_configs()
    names = [model.rstrip("/")]
    if model.startswith(("/", "./", "../", "~")) or Path(model).is_dir():
        parts = Path(model).expanduser().resolve().parts[1:]
        names += ["/".join(parts[i:]) for i in range(len(parts))]
    for cfg in configs.values():
        if any(fnmatch.fnmatch(n, p) for n in names for p in _patterns(cfg)):
            return cfg
    return None


def _describes(cfg: dict, descr) -> bool:
    """Whether Kipoi's model description is one of the config's models (``identify:``): by
    ``info.name`` or by a word of ``info.doc``, so a copy in any directory is recognised."""
    rules = cfg.get("identify") or {}
    info = getattr(descr, "info", None)
    if info is None or not rules:
        return False
    name = str(getattr(info, "name", "") or "")
    doc = str(getattr(info, "doc", "") or "")
    if rules.get("info_name") and name.lower() == str(rules["info_name"]).lower():
        return True
    return bool(rules.get("doc_mentions")) and str(rules["doc_mentions"]) in doc


def identify(model: str, descr=None, explicit: str | None = None,
             configs: dict | None = None) -> dict | None:
    """The config for a model: ``explicit`` (a config name; ``none`` for no config), else the
    one whose Kipoi name patterns match the name or path, else the one whose ``identify:``
    rules match Kipoi's description of the model (model.yaml)."""
    configs = configs if configs is not None else load_configs()
    if explicit:
        if explicit.lower() == "none":
            return None
        if explicit not in configs:
            raise UserError(f"--zoo-config {explicit!r} is not a config; configs: "
                            f"{', '.join(configs)}")
        return configs[explicit]
    cfg = find(model, configs)
    if cfg is None and descr is not None:
        cfg = next((c for c in configs.values() if _describes(c, descr)), None)
    return cfg


def score_defaults(cfg: dict | None) -> dict:
    """The options a config recommends, in :func:`kipoi_deeplift.score`'s terms."""
    if not cfg:
        return {}
    out = {"rule": cfg["rule"], "references": cfg["references"]["kind"],
           "n_references": int(cfg["references"]["n"]),
           "seed": int(cfg["references"].get("seed", 0))}
    if cfg.get("maxpool"):
        out["maxpool"] = cfg["maxpool"]
    if cfg["input"].get("name") and cfg["input"].get("dna", True):
        out["input"] = cfg["input"]["name"]
    for key, name in (("layer", "output_layer"), ("profile_head", "profile_head"),
                      ("names", "output_names")):
        if cfg["output"].get(key):
            out[name] = cfg["output"][key]
    return out


def output_task_names(names: list | None, out_shapes) -> list[str] | None:
    """Task names from a config's names of the model's outputs (``output.names``, in output
    order; the published files name them ``dense_1``, ``reshape_2``...): ``X`` for a one-unit
    output, ``X_0``, ``X_1``... otherwise. ``None`` without names or when the counts differ."""
    if not names or len(names) != len(out_shapes):
        return None
    out = []
    for name, shape in zip(names, out_shapes):
        units = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        out += [str(name)] if units == 1 else [f"{name}_{u}" for u in range(units)]
    return out


def table(configs: dict) -> str:
    """The `zoo list` table: what loads, what scores, what was tested on real weights."""
    rows = [("name", "Kipoi models", "loads", "scores", "tested on real weights", "rule")]
    for cfg in configs.values():
        pats = _patterns(cfg)
        st = cfg["status"]
        rows.append((cfg["name"], ", ".join(pats), str(st["loads"]), str(st["scores"]),
                     str(st["tested_on_real_weights"]), cfg["rule"]))
    widths = [min(48, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    lines = ["  ".join(c[:w].ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    real = sum(model_count(c) for c in configs.values()
               if str(c["status"]["tested_on_real_weights"]).startswith(("yes", "partly")))
    lines.append(f"{sum(model_count(c) for c in configs.values())} Kipoi models in "
                 f"{len(configs)} groups; {real} of them in groups tested on published files")
    return "\n".join(lines)


def model_count(cfg: dict) -> int:
    """How many Kipoi models a config covers (the number its ``models:`` line starts with)."""
    import re

    found = re.match(r"\s*(\d[\d,]*)", str(cfg.get("models", "")))
    return int(found.group(1).replace(",", "")) if found else 0


def show(name: str, configs: dict | None = None) -> str:
    """One config as written (by config name or by a Kipoi model name it covers)."""
    configs = configs if configs is not None else load_configs()
    cfg = configs.get(name) or find(name, configs)
    if cfg is None:
        raise UserError(f"no config named or matching {name!r}; configs: "
                        f"{', '.join(configs)}")
    return Path(cfg["_file"]).read_text()
