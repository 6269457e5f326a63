"""Motifs and binding sites recovered from DeepLIFT scores, on a simulation with planted sites.

    python examples/planted_sites.py [--out examples/out_sites]

A genome where half of 240 intervals (100 bp) carry GATA's core AGATAA on either strand at a
random place, and a model that is a GATA scanner (one convolution filter per strand, ReLU,
average over positions), so that what must be found is known. Runs:

    kipoi-deeplift score OUT/model --dataloader-args '{...}' -o OUT/scores.h5 --hypothetical
                         --layers pwm --n-references 5
    kipoi-deeplift motifs OUT/scores.h5 -o OUT/motifs --database jaspar
    kipoi-deeplift sites OUT/scores.h5 -o OUT/sites.bed --layer pwm --motifs OUT/motifs

and prints how many planted sites were called and how far the called centres are from them.
Needs `pip install -e '.[motifs]'` in the checkout (modisco-lite, pyjaspar).
tests/test_motifs_sites.py builds the same world.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

MOTIF = "AGATAA"
REVERSE = MOTIF[::-1].translate(str.maketrans("ACGT", "TGCA"))
LENGTH, N, SPACING = 100, 240, 150


def scanner_model():
    """Conv1D 'pwm' (two filters: AGATAA, TTATCT; +2 for a matching base, -1 otherwise, bias
    -7, so a full site gives 5 and one mismatch 2), ReLU, average over positions, x10."""
    from kipoi_deeplift.quiet import quiet_tensorflow_start

    quiet_tensorflow_start()    # TensorFlow's start-up lines (CUDA probing, cuInit) discarded
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
    """genome.fa, intervals.bed (i0, i1, ...) and a Kipoi model directory under ``d``;
    ``planted``: {interval row: (genome start of the site, strand)}."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    genome = list(rng.choice(list("ACGT"), N * SPACING))
    rows, planted = [], {}
    for i in range(N):
        s = i * SPACING
        rows.append(f"chr1\t{s}\t{s + LENGTH}\ti{i}\t0\t+\n")
        if i % 2 == 0:
            p = s + int(rng.integers(10, LENGTH - 16))
            strand = "+-"[int(rng.integers(2))]
            genome[p:p + len(MOTIF)] = MOTIF if strand == "+" else REVERSE
            planted[i] = (p, strand)
    fasta = d / "genome.fa"
    fasta.write_text(">chr1\n" + "".join("".join(genome[k:k + 60]) + "\n"
                                         for k in range(0, len(genome), 60)))
    bed = d / "intervals.bed"
    bed.write_text("".join(rows))
    mdir = d / "model"
    mdir.mkdir(exist_ok=True)
    scanner_model().save(mdir / "model.keras")
    spec = {"type": "keras", "args": {"weights": "model.keras"},
            "default_dataloader": {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl",
                                   "default_args": {"auto_resize_len": LENGTH,
                                                    "use_strand": True}},
            "info": {"authors": [{"name": "kipoi_deeplift example"}],
                     "doc": "a GATA scanner (AGATAA on either strand)"},
            "dependencies": {"pip": []},
            "schema": {"inputs": {"name": "seq", "shape": f"({LENGTH}, 4)",
                                  "special_type": "DNASeq", "associated_metadata": "ranges"},
                       "targets": {"name": "gata", "shape": "(1,)", "doc": "site score"}}}
    (mdir / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return {"fasta": fasta, "bed": bed, "model": mdir, "planted": planted,
            "args": {"intervals_file": str(bed), "fasta_file": str(fasta)}}


def kipoi_deeplift(*args: str) -> None:
    """Run the command line as a user would, echoing it."""
    print("$ kipoi-deeplift " + shlex.join(args), flush=True)     # pasteable into a shell
    subprocess.run([sys.executable, "-m", "kipoi_deeplift", *args], check=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="examples/out_sites")
    out = Path(ap.parse_args(argv).out)
    world = planted_world(out)
    # 5 references, as tests/test_motifs_sites.py scores this world: the scanner's scores are
    # exactly zero wherever no site is, and modisco-lite's Laplace null, fitted around the
    # most common window sum, can have no value on one side of such ties (`motifs` then says
    # so and finds nothing); whether it does depends on the references drawn.
    kipoi_deeplift("score", str(world["model"]), "--dataloader-args", json.dumps(world["args"]),
                   "-o", str(out / "scores.h5"), "--hypothetical", "--layers", "pwm",
                   "--n-references", "5")
    kipoi_deeplift("motifs", str(out / "scores.h5"), "-o", str(out / "motifs"),
                   "--database", "jaspar")
    kipoi_deeplift("sites", str(out / "scores.h5"), "-o", str(out / "sites.bed"),
                   "--layer", "pwm", "--motifs", str(out / "motifs"))
    called = [line.split("\t") for line in (out / "sites.bed").read_text().splitlines()
              if not line.startswith("#")]
    hits, on_site = {}, 0
    for chrom, a, b, name, score, strand, centre, _ in called:
        row = int(name.split("|")[0][1:])
        p = world["planted"].get(row, (None,))[0]
        if p is not None and int(a) < p + len(MOTIF) and int(b) > p:
            on_site += 1
            hits[row] = abs(int(centre) + 0.5 - (p + len(MOTIF) / 2))
    print(f"planted sites called: {len(hits)}/{len(world['planted'])}; calls on a planted "
          f"site: {on_site}/{len(called)} (the others are sites the random sequence holds: "
          f"partial or chance AGATAA); called centre to planted centre: mean "
          f"{np.mean(list(hits.values())):.2f} bp (one-base centres; an even site's middle "
          "falls between two bases)")

if __name__ == "__main__":
    main()
