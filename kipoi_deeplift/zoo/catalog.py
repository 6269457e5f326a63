"""The zoo as a catalogue: which config applies to a model (:func:`identify`, the second of the
loading steps describe -> identify -> load), what it recommends for a run
(:func:`score_defaults`), and the ``zoo list`` / ``zoo show`` texts."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import UserError
from .config import ZooConfig, load_configs


def find(model: str, configs: dict[str, ZooConfig] | None = None) -> ZooConfig | None:
    """The config whose Kipoi patterns match the model name.

    A path (``./DeepBind/Homo_sapiens/TF/X``, an absolute path into a Kipoi checkout) matches
    when any tail of its resolved components does, so the same directory is recognised however
    its path is written.

    Parameters
    ----------
    model : str
        A Kipoi model name or a model directory.
    configs : dict, optional
        Config name -> config (default: :func:`~.config.load_configs`).

    Returns
    -------
    ZooConfig or None
        ``None`` when no pattern matches.
    """
    configs = configs if configs is not None else load_configs()
    names = [model.rstrip("/")]
    if model.startswith(("/", "./", "../", "~")) or Path(model).is_dir():
        parts = Path(model).expanduser().resolve().parts[1:]
        names += ["/".join(parts[i:]) for i in range(len(parts))]
    for cfg in configs.values():
        if any(fnmatch.fnmatch(n, p) for n in names for p in cfg.kipoi):
            return cfg
    return None


def describes(cfg: ZooConfig, descr: Any) -> bool:
    """Whether Kipoi's model description is one of the config's models (``identify:``).

    It matches by ``info.name`` or by a phrase of ``info.doc``, so a copy in any directory is
    recognised.

    Parameters
    ----------
    cfg : ZooConfig
        The config.
    descr : kipoi.specs.ModelDescription
        Kipoi's description of the model.

    Returns
    -------
    bool
    """
    rules = cfg.identify
    info = getattr(descr, "info", None)
    if info is None or rules is None:
        return False
    name = str(getattr(info, "name", "") or "")
    doc = str(getattr(info, "doc", "") or "")
    if rules.info_name and name.lower() == str(rules.info_name).lower():
        return True
    return bool(rules.doc_mentions) and str(rules.doc_mentions) in doc


def identify(model: str, descr: Any = None, explicit: str | None = None,
             configs: dict[str, ZooConfig] | None = None) -> ZooConfig | None:
    """The config for a model (the *identify* step of loading).

    Parameters
    ----------
    model : str
        The model's Kipoi name or directory.
    descr : kipoi.specs.ModelDescription, optional
        Kipoi's description of the model (model.yaml parsed: the *describe* step).
    explicit : str, optional
        A config name (``--zoo-config``); ``"none"`` for no config.
    configs : dict, optional
        Config name -> config (default: the package's).

    Returns
    -------
    ZooConfig or None
        ``explicit``'s config, else the one whose Kipoi patterns match the name or path, else
        the one whose ``identify:`` rules match ``descr``; ``None`` when none applies.

    Raises
    ------
    UserError
        When ``explicit`` names no config.
    """
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
        cfg = next((c for c in configs.values() if describes(c, descr)), None)
    return cfg


def score_defaults(cfg: ZooConfig | None) -> dict[str, Any]:
    """The options a config recommends, in :func:`kipoi_deeplift.score`'s terms.

    Parameters
    ----------
    cfg : ZooConfig or None
        The config.

    Returns
    -------
    dict
        rule, references, n_references, seed, and where given maxpool, input, output_layer,
        profile_head, output_names and strand_channels; ``{}`` for no config.
    """
    if not cfg:
        return {}
    out: dict[str, Any] = {"rule": cfg.rule, "references": cfg.references.kind,
                           "n_references": cfg.references.n, "seed": cfg.references.seed}
    if cfg.maxpool:
        out["maxpool"] = cfg.maxpool
    if cfg.input.name and cfg.input.dna:
        out["input"] = cfg.input.name
    for value, name in ((cfg.output.layer, "output_layer"),
                        (cfg.output.profile_head, "profile_head"),
                        (cfg.output.names, "output_names"),
                        (cfg.output.strand_channels, "strand_channels")):
        if value:
            # a list, as the dict configs gave it (it may reach provenance as JSON)
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def output_task_names(names: Sequence[str] | None, out_shapes: Sequence) -> list[str] | None:
    """Task names from a config's names of the model's outputs.

    Parameters
    ----------
    names : sequence of str or None
        ``output.names``, in output order (the published files name them ``dense_1``,
        ``reshape_2``...).
    out_shapes : sequence of tuple
        The outputs' shapes, batch axis first: ``(N, ...)``.

    Returns
    -------
    list of str or None
        ``X`` for a one-unit output, ``X_0``, ``X_1``... otherwise; ``None`` without names or
        when the counts differ.
    """
    if not names or len(names) != len(out_shapes):
        return None
    out = []
    for name, shape in zip(names, out_shapes):
        units = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        out += [str(name)] if units == 1 else [f"{name}_{u}" for u in range(units)]
    return out


def table(configs: dict[str, ZooConfig]) -> str:
    """The ``zoo list`` table: what loads, what scores, what was tested on real weights.

    Parameters
    ----------
    configs : dict of str to ZooConfig
        The configs, by name.

    Returns
    -------
    str
        The table's lines, then a line counting the models covered.
    """
    rows = [("name", "Kipoi models", "loads", "scores", "tested on real weights", "rule")]
    for cfg in configs.values():
        st = cfg.status
        rows.append((cfg.name, ", ".join(cfg.kipoi), st.loads, st.scores,
                     st.tested_on_real_weights, cfg.rule))
    widths = [min(48, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    lines = ["  ".join(c[:w].ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    real = sum(model_count(c) for c in configs.values()
               if c.status.tested_on_real_weights.startswith(("yes", "partly")))
    lines.append(f"{sum(model_count(c) for c in configs.values())} Kipoi models in "
                 f"{len(configs)} groups; {real} of them in groups tested on published files")
    return "\n".join(lines)


def model_count(cfg: ZooConfig) -> int:
    """How many Kipoi models a config covers.

    Parameters
    ----------
    cfg : ZooConfig
        The config.

    Returns
    -------
    int
        The number its ``models:`` line starts with (0 when it starts with none).
    """
    found = re.match(r"\s*(\d[\d,]*)", str(cfg.models))
    return int(found.group(1).replace(",", "")) if found else 0


def show(name: str, configs: dict[str, ZooConfig] | None = None) -> str:
    """One config as written (by config name or by a Kipoi model name it covers).

    Parameters
    ----------
    name : str
        A config name or a Kipoi model name.
    configs : dict of str to ZooConfig, optional
        Config name -> config (default: the package's).

    Returns
    -------
    str
        The YAML file's text.

    Raises
    ------
    UserError
        When no config has that name or matches it.
    """
    configs = configs if configs is not None else load_configs()
    cfg = configs.get(name) or find(name, configs)
    if cfg is None:
        raise UserError(f"no config named or matching {name!r}; configs: "
                        f"{', '.join(configs)}")
    return cfg.text
