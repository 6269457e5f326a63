"""The bundled example: a GATA-site model as a Kipoi model directory, scored from a genome.

    python examples/demo.py [--out examples/out]      (what `make demo` runs)

1. Trains a small CNN to recognise GATA sites (AGATAA) in simulated 100 bp sequences (seconds).
2. Writes it as a Kipoi model directory, OUT/gata_model: model.yaml, model.keras, and kipoiseq's
   SeqIntervalDl as its dataloader.
3. Simulates a small genome (OUT/genome.fa) with GATA sites at known places and a BED file of
   100 bp intervals around some of them, on both strands (OUT/intervals.bed).
4. Runs the command line a user would run:
       kipoi-deeplift score OUT/gata_model --dataloader-args '{...}' -o OUT/scores.h5
                            --bigwig OUT/tracks --hypothetical
       kipoi-deeplift plot OUT/scores.h5 --region chr1:... -o OUT/logo.png
       kipoi-deeplift compare OUT/scores.h5 OUT/scores_grad_input.h5 -o OUT/report.html ...
5. Checks, from the HDF5 file, that the top-scoring 6 bp window of each interval with a site
   lies on the embedded site in genome coordinates.
6. Writes a small VCF (OUT/variants.vcf: variants that break a site, one that creates one, a
   far one, a REF mismatch, an indel, a multi-allelic record) and scores it:
       kipoi-deeplift variants OUT/gata_model --vcf OUT/variants.vcf --fasta OUT/genome.fa
                               -o OUT/variants.h5 --summary OUT/variants.tsv
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

import h5py  # noqa: E402
import numpy as np  # noqa: E402

MOTIF = "AGATAA"
BASES = "ACGT"
LENGTH = 100
CHROMS = {"chr1": 6000, "chr2": 4000}


def simulate(n, length, rng):
    """One-hot sequences, half with a GATA site at a random place, labels and site starts."""
    seqs = rng.integers(0, 4, (n, length))
    labels = rng.integers(0, 2, n)
    sites = np.full(n, -1)
    for i in np.flatnonzero(labels):
        sites[i] = rng.integers(0, length - len(MOTIF))
        seqs[i, sites[i]:sites[i] + len(MOTIF)] = [BASES.index(c) for c in MOTIF]
    return np.eye(4, dtype=np.float32)[seqs], labels.astype(np.float32), sites


def train(rng, seed: int = 0, fold: int | None = None, n_folds: int = 8):
    """The demo's CNN trained on 4000 simulated sequences (seconds): the last 500 held out
    for validation, or with ``fold`` the fold-th of ``n_folds`` equal parts (the folds of
    an ensemble: ``examples/folds.py``)."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y, _ = simulate(4000, LENGTH, rng)
    held = np.zeros(len(x), bool)
    if fold is None:
        held[3500:] = True
    else:
        held[fold * len(x) // n_folds:(fold + 1) * len(x) // n_folds] = True
    model = keras.Sequential([
        keras.Input((LENGTH, 4), name="seq"),
        keras.layers.Conv1D(16, 6, activation="relu", name="conv"),
        keras.layers.AveragePooling1D(4, name="avg"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(8, activation="relu", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="gata"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x[~held], y[~held], epochs=15, batch_size=64, verbose=0,
                     validation_data=(x[held], y[held]))
    print(f"trained: validation accuracy {hist.history['val_accuracy'][-1]:.3f}")
    return model


MODEL_YAML = f"""\
type: keras
args:
  weights: model.keras
default_dataloader:
  defined_as: kipoiseq.dataloaders.SeqIntervalDl
  default_args:
    auto_resize_len: {LENGTH}
    use_strand: true
info:
  authors:
    - name: kipoi_deeplift demo
  doc: A small CNN that recognises GATA sites (AGATAA), trained on simulated sequences.
dependencies:
  pip: []
schema:
  inputs:
    name: seq
    shape: ({LENGTH}, 4)
    special_type: DNASeq
    doc: one-hot DNA
    associated_metadata: ranges
  targets:
    name: gata
    shape: (1,)
    doc: probability of a GATA site
postprocessing:
  deeplift:
    rule: rescale
    references: dinuc-shuffle
    n_references: 10
"""


def write_genome(out: Path, rng):
    """A random genome with GATA sites on both strands; BED intervals around 10 of them (on the
    strand that reads AGATAA, as the model learnt it) and 4 without."""
    genome, sites = {}, []
    reverse = MOTIF.translate(str.maketrans(BASES, "TGCA"))[::-1]        # TTATCT
    for chrom, size in CHROMS.items():
        seq = list(rng.choice(list(BASES), size, p=[0.3, 0.2, 0.2, 0.3]))
        for j, start in enumerate(range(200, size - 200, 400)):
            strand = "+-"[j % 2]
            seq[start:start + len(MOTIF)] = MOTIF if strand == "+" else reverse
            sites.append((chrom, start, strand))
        genome[chrom] = "".join(seq)
    with open(out / "genome.fa", "w") as f:
        for chrom, seq in genome.items():
            f.write(f">{chrom}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    rows = []
    for j, (chrom, start, strand) in enumerate(sites[::3][:10]):
        left = start - int(rng.integers(20, 70))
        rows.append((chrom, left, left + LENGTH, f"site{j}", 0, strand))
    for j in range(4):   # background intervals between sites
        rows.append(("chr2", 400 * j + 450, 400 * j + 450 + LENGTH, f"background{j}", 0, "+"))
    with open(out / "intervals.bed", "w") as f:
        f.writelines("\t".join(map(str, r)) + "\n" for r in rows)
    return [(c, st) for c, st, _ in sites]


def write_vcf(out: Path, sites):
    """A VCF of variants around the genome's sites (1-based positions, as VCFs have them)."""
    genome = {}
    for line in (out / "genome.fa").read_text().splitlines():
        if line.startswith(">"):
            chrom = line[1:]
            genome[chrom] = []
        else:
            genome[chrom].append(line)
    genome = {c: "".join(parts) for c, parts in genome.items()}
    (c0, s0), (c1, s1) = sites[0], sites[2]          # two + strand sites: AGATAA at s..s+5
    # A word one base from AGATAA, at least 60 bp from every site: a variant that creates one.
    create = next((c, i, j) for c, seq in genome.items() for i in range(60, len(seq) - 60)
                  if all(abs(i - st) > 60 for cc, st in sites if cc == c)
                  for j in range(6) if seq[i + j] != MOTIF[j] and
                  seq[i:i + j] + MOTIF[j] + seq[i + j + 1:i + 6] == MOTIF)
    c, i, j = create
    g = lambda chrom, pos: genome[chrom][pos - 1]        # noqa: E731  (1-based)
    rows = [(c0, s0 + 2, "break_site", "G", "C"),
            (c1, s1 + 2, "break_site_mnv", "GA", "CT"),
            (c, i + j + 1, "create_site", g(c, i + j + 1), MOTIF[j]),
            ("chr2", 401, "far", g("chr2", 401), "ACGT"[("ACGT".index(g("chr2", 401)) + 2) % 4]),
            ("chr1", 3001, "ref_mismatch", "ACGT"[("ACGT".index(g("chr1", 3001)) + 1) % 4],
             g("chr1", 3001)),
            ("chr1", 3101, "deletion", genome["chr1"][3100:3103], g("chr1", 3101)),
            (c0, s0 + 4, "multi", "T", "C,G")]
    lines = ["##fileformat=VCFv4.2"] + [f"##contig=<ID={k},length={v}>"
                                         for k, v in CHROMS.items()]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    lines += [f"{ch}\t{pos}\t{vid}\t{ref}\t{alt}\t.\t.\t." for ch, pos, vid, ref, alt in rows]
    (out / "variants.vcf").write_text("\n".join(lines) + "\n")


def kipoi_deeplift(*args):
    """The console script of this environment, as a user runs it."""
    exe = Path(sys.executable).parent / "kipoi-deeplift"
    cmd = [str(exe) if exe.exists() else sys.executable] + ([] if exe.exists() else
                                                            ["-m", "kipoi_deeplift"])
    print("$ kipoi-deeplift " + shlex.join(args), flush=True)     # pasteable into a shell
    subprocess.run(cmd + list(args), check=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="examples/out")
    a = p.parse_args(argv)
    out = Path(a.out)
    (out / "gata_model").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    from kipoi_deeplift.quiet import quiet_tensorflow_start

    quiet_tensorflow_start()
    model = train(rng)
    model.save(out / "gata_model" / "model.keras")
    (out / "gata_model" / "model.yaml").write_text(MODEL_YAML)
    sites = write_genome(out, rng)

    dl_args = json.dumps({"intervals_file": str(out / "intervals.bed"),
                          "fasta_file": str(out / "genome.fa")})
    kipoi_deeplift("score", str(out / "gata_model"), "--dataloader-args", dl_args,
                   "-o", str(out / "scores.h5"), "--bigwig", str(out / "tracks"),
                   "--hypothetical")

    with h5py.File(out / "scores.h5") as f:
        scores = f["contrib/seq/gata"][:].sum(-1)
        r = f["metadata/ranges"]
        chrom, start, strand = r["chr"].asstr()[:], r["start"][:], r["strand"].asstr()[:]
        ids = r["id"].asstr()[:]
        delta = f["delta/gata"][:]
        error = f["convergence/gata"][:].max()
    site_set = set(sites)
    hits = n_sites = 0
    print(f"{'interval':<22} {'strand':>6} {'top 6 bp window':>22} {'delta':>7}  on a site?")
    first_hit = None
    for i in range(len(scores)):
        s = scores[i][::-1] if strand[i] == "-" else scores[i]      # genome orientation
        top = int(np.convolve(s, np.ones(len(MOTIF)), "valid").argmax())
        g = int(start[i]) + top
        on_site = any((chrom[i], g + d) in site_set for d in (-2, -1, 0, 1, 2))
        has_site = any(c == chrom[i] and start[i] <= st <= start[i] + LENGTH - len(MOTIF)
                       for c, st in site_set)
        n_sites += has_site
        hits += has_site and on_site
        if has_site and on_site and first_hit is None:
            first_hit = (chrom[i], g)
        # 1-based and inclusive, as a genome browser (and `plot --region`) writes regions
        interval = f"{chrom[i]}:{start[i] + 1}-{start[i] + LENGTH}"
        window = f"{chrom[i]}:{g + 1}-{g + 6}"
        print(f"{interval:<22} {strand[i]:>6} {window:>22} {delta[i]:>7.2f}  "
              f"{'yes' if on_site else ('-' if not has_site else 'NO')}")
    print(f"top-scoring window on the embedded site in {hits}/{n_sites} intervals with a site; "
          f"max summation-to-delta error {error:.1e}")
    c, g = first_hit
    # --region is 1-based, as a genome browser shows it: bases g-20 .. g+25 (0-based)
    kipoi_deeplift("plot", str(out / "scores.h5"), "--region", f"{c}:{g - 19}-{g + 26}",
                   "-o", str(out / "logo.png"))
    # The same model and intervals with gradient x input: how far do the two methods agree?
    kipoi_deeplift("score", str(out / "gata_model"), "--dataloader-args", dl_args,
                   "-o", str(out / "scores_grad_input.h5"), "--rule", "grad-input")
    kipoi_deeplift("compare", str(out / "scores.h5"), str(out / "scores_grad_input.h5"),
                   "-o", str(out / "report.html"), "--tsv", str(out / "comparison.tsv"))
    # Variants: each scored as REF and ALT against the REF sequence's references.
    write_vcf(out, sites)
    kipoi_deeplift("variants", str(out / "gata_model"), "--vcf", str(out / "variants.vcf"),
                   "--fasta", str(out / "genome.fa"), "-o", str(out / "variants.h5"),
                   "--summary", str(out / "variants.tsv"))
    show_variants(out / "variants.tsv")
    return hits, n_sites


def show_variants(tsv: Path):
    """The summary's main columns, as a reader would look at them."""
    import csv

    with open(tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    print(f"{'id':<15} {'variant':<18} {'delta_logit':>11}  {'window (1-based)':<20} status")
    for r in rows:
        window = f"{r['chrom']}:{r['window_start']}-{r['window_end']}" if r["window_start"] \
            else ""
        delta = f"{float(r['delta_logit']):.2f}" if r["delta_logit"] else ""
        print(f"{r['id']:<15} {r['chrom'] + ':' + r['pos'] + ' ' + r['ref'] + '>' + r['alt']:<18} "
              f"{delta:>11}  {window:<20} {r['status']}")


if __name__ == "__main__":
    main()
