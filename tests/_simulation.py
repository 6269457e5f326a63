"""A simulation with planted sites: a genome where half of the intervals carry GATA's core
AGATAA (either strand, random place), and a model that is a GATA scanner (one filter per
strand, ReLU, average over positions). What `motifs` and `sites` must recover is known."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

import _kipoi_dirs as K

MOTIF = "AGATAA"
REVERSE = MOTIF[::-1].translate(str.maketrans("ACGT", "TGCA"))
LENGTH, N, SPACING = 100, 240, 150


def scanner_model():
    """Conv1D 'pwm' (two filters: AGATAA, TTATCT; +2 for a matching base, -1 otherwise, bias
    -7, so only a full site fires), ReLU, average over positions, x10."""
    import keras

    L = keras.layers
    i = keras.Input((LENGTH, 4), name="seq")
    conv = L.Conv1D(2, len(MOTIF), activation="relu", name="pwm")
    out = L.Dense(1, name="binding")(L.GlobalAveragePooling1D()(conv(i)))
    model = keras.Model(i, out)
    w = np.full((len(MOTIF), 4, 2), -1.0, np.float32)
    for k, (b, rb) in enumerate(zip(MOTIF, REVERSE)):
        w[k, "ACGT".index(b), 0] = w[k, "ACGT".index(rb), 1] = 2.0
    conv.set_weights([w, np.full(2, -7.0, np.float32)])
    model.get_layer("binding").set_weights([np.full((2, 1), 10.0, np.float32),
                                            np.zeros(1, np.float32)])
    return model


def planted_world(d: Path, seed: int = 0) -> dict:
    """genome.fa, intervals.bed (i0, i1, ...) and a model directory under ``d``; ``planted``:
    {interval row: (genome start of the site, strand)}."""
    rng = np.random.default_rng(seed)
    genome = list(rng.choice(list("ACGT"), N * SPACING))
    rows, planted = [], {}
    for i in range(N):
        s = i * SPACING
        rows.append(("chr1", s, s + LENGTH, f"i{i}", 0, "+"))
        if i % 2 == 0:
            p = s + int(rng.integers(10, LENGTH - 16))
            strand = "+-"[int(rng.integers(2))]
            genome[p:p + len(MOTIF)] = MOTIF if strand == "+" else REVERSE
            planted[i] = (p, strand)
    fasta = d / "genome.fa"
    fasta.write_text(">chr1\n" + "".join("".join(genome[k:k + 60]) + "\n"
                                         for k in range(0, len(genome), 60)))
    bed = K.write_bed(d, rows)
    mdir = K.write_model_dir(d / "model", model=scanner_model(),
                             dataloader_args={"auto_resize_len": LENGTH}, shape=(LENGTH, 4),
                             labels=("gata",))
    spec = yaml.safe_load((mdir / "model.yaml").read_text())
    spec["schema"]["targets"]["shape"] = "(1,)"
    (mdir / "model.yaml").write_text(yaml.safe_dump(spec))
    return {"fasta": fasta, "bed": bed, "model": mdir, "planted": planted,
            "args": {"intervals_file": str(bed), "fasta_file": str(fasta)}}
