"""Small Kipoi model directories, genomes and BED files written by the tests themselves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

import _models as M

CHROMS = {"chr1": 600, "chr2": 400}
LENGTH = 50


def write_genome(d: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = d / "genome.fa"
    with open(path, "w") as f:
        for name, size in CHROMS.items():
            seq = "".join(rng.choice(list("ACGT"), size))
            f.write(f">{name}\n")
            for i in range(0, size, 60):
                f.write(seq[i:i + 60] + "\n")
    return path


def read_genome(path: Path) -> dict[str, str]:
    out, name = {}, None
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].strip()
            out[name] = ""
        else:
            out[name] += line.strip()
    return out


#: (chrom, start, end, name, score, strand); the first two overlap, one is on the minus strand.
INTERVALS = [("chr1", 10, 60, "a", 0, "+"), ("chr1", 40, 90, "b", 0, "+"),
             ("chr2", 100, 150, "c", 0, "-"), ("chr1", 300, 350, "d", 0, "+"),
             ("chr2", 200, 250, "e", 0, "+")]


def write_bed(d: Path, rows=INTERVALS, name="intervals.bed") -> Path:
    path = d / name
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def conv_model(layout_shape=(LENGTH, 4), seed=0):
    """A Keras 3 model with two named tasks, no max pooling (so every rule is exact)."""
    import keras

    L = keras.layers
    i = keras.Input(layout_shape, name="seq")
    h = i
    if layout_shape != (LENGTH, 4):     # (4, 1, L) as DeepSEA/CpGenie take it
        h = L.Permute((2, 1), name="to_lc")(L.Reshape((4, LENGTH), name="drop_dummy")(h))
    h = L.Conv1D(6, 7, activation="relu", name="conv")(h)
    h = L.AveragePooling1D(2, name="avg")(h)
    h = L.Dense(4, activation="relu", name="hidden")(L.Flatten(name="flat")(h))
    o = L.Dense(2, activation="sigmoid", name="out")(h)
    return M.randomise(keras.Model(i, o), seed, scale=0.4)


def write_model_dir(d: Path, model=None, dataloader_args=None, postprocessing=None,
                    shape=(LENGTH, 4), labels=("CTCF", "GATA1")) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    model = model or conv_model(shape)
    model.save(d / "model.keras")
    spec = {
        "type": "keras",
        "args": {"weights": "model.keras"},
        "default_dataloader": {
            "defined_as": "kipoiseq.dataloaders.SeqIntervalDl",
            "default_args": {"auto_resize_len": LENGTH, "use_strand": True,
                             **(dataloader_args or {})},
        },
        "info": {"authors": [{"name": "kipoi_deeplift tests"}], "doc": "test model"},
        "dependencies": {"pip": []},
        "schema": {
            "inputs": {"name": "seq", "shape": str(tuple(shape)), "special_type": "DNASeq",
                       "doc": "DNA", "associated_metadata": "ranges"},
            "targets": {"name": "tasks", "shape": "(2,)", "doc": "binding",
                        "column_labels": list(labels)},
        },
    }
    if postprocessing:
        spec["postprocessing"] = {"deeplift": postprocessing}
    (d / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return d


def deepbind_2018_dir(d: Path, h5: Path, template: Path) -> Path:
    """A model directory holding one of Kipoi's 2018 DeepBind files and its model.yaml (the
    group's template, with kipoiseq's SeqIntervalDl as the dataloader)."""
    import shutil

    d.mkdir(parents=True)
    shutil.copy(h5, d / "model.h5")
    spec = yaml.safe_load(template.read_text())
    spec["args"] = {"weights": "model.h5"}
    spec["default_dataloader"] = {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl",
                                  "default_args": {"auto_resize_len": 101}}
    (d / "model.yaml").write_text(yaml.safe_dump(spec))
    return d


def make_world(d: Path) -> dict:
    """A genome, a BED of :data:`INTERVALS`, a model directory and its dataloader arguments
    (JSON) under ``d``: what a command-line test scores."""
    import json

    fasta = write_genome(d)
    bed = write_bed(d)
    model_dir = write_model_dir(d / "model")
    args = json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)})
    return {"d": d, "fasta": fasta, "bed": bed, "model": model_dir, "args": args}
