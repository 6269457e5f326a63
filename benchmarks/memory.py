"""Peak memory of `kipoi-deeplift score` as the number of intervals grows (it should not grow).

    python benchmarks/memory.py [--n 100000] [--length 1000] [--references 2] [--hypothetical]
                                [--work DIR]

Writes a random genome, N overlapping intervals of LENGTH bp and a small Kipoi model directory
(a Keras 3 CNN with kipoiseq's SeqIntervalDl), runs the command line in a child process and
prints its peak resident memory, its time and sequences/s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL_YAML = """\
type: keras
args:
  weights: model.keras
default_dataloader:
  defined_as: kipoiseq.dataloaders.SeqIntervalDl
  default_args: {{auto_resize_len: {length}}}
info: {{authors: [{{name: benchmark}}], doc: memory benchmark}}
dependencies: {{pip: []}}
schema:
  inputs: {{name: seq, shape: '({length}, 4)', special_type: DNASeq, doc: DNA,
            associated_metadata: ranges}}
  targets: {{name: signal, shape: '(1,)', doc: signal}}
"""


def setup(work: Path, n: int, length: int, seed: int = 0) -> dict:
    """Genome, intervals and model directory under ``work``; returns the dataloader args."""
    import keras

    rng = np.random.default_rng(seed)
    size = max(20 * length, n * 20 + length)      # intervals every 20 bp, overlapping
    with open(work / "genome.fa", "w") as f:
        seq = "".join(rng.choice(list("ACGT"), size))
        f.write(">chr1\n" + "\n".join(seq[i:i + 80] for i in range(0, size, 80)) + "\n")
    with open(work / "intervals.bed", "w") as f:
        for i in range(n):
            start = (i * 20) % (size - length)
            f.write(f"chr1\t{start}\t{start + length}\n")
    d = work / "model"
    d.mkdir(exist_ok=True)
    keras.utils.set_random_seed(seed)
    inp = keras.Input((length, 4), name="seq")
    h = keras.layers.Conv1D(8, 9, activation="relu")(inp)
    h = keras.layers.GlobalAveragePooling1D()(h)
    keras.Model(inp, keras.layers.Dense(1)(h)).save(d / "model.keras")
    (d / "model.yaml").write_text(MODEL_YAML.format(length=length))
    return {"intervals_file": str(work / "intervals.bed"), "fasta_file": str(work / "genome.fa")}


def measure(work: Path, n: int, length: int = 1000, references: int = 2,
            batch_size: int = 256, extra: list[str] = ()) -> dict:
    """Run `kipoi-deeplift score` on n intervals in a child (``extra``: more flags); peak RSS
    (MiB) and time."""
    args = setup(work, n, length)
    # The peak of the child's own address space (VmHWM): getrusage's ru_maxrss survives
    # execve, so a child of a large process would report its parent's peak.
    code = ("import sys; from kipoi_deeplift.cli import main; "
            "status = main(sys.argv[1:]); "
            "print('PEAK_KB', next(line.split()[1] for line in open('/proc/self/status') "
            "if line.startswith('VmHWM'))); "
            "sys.exit(status)")
    cmd = [sys.executable, "-c", code, "score", str(work / "model"), "--dataloader-args",
           json.dumps(args), "-o", str(work / "out.h5"), "--n-references", str(references),
           "--batch-size", str(batch_size), "--rule", "rescale", *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed")
    peak_kb = int(next(line.split()[1] for line in p.stdout.splitlines()
                       if line.startswith("PEAK_KB")))
    return {"n": n, "length": length, "references": references, "peak_mib": peak_kb / 1024,
            "seconds": seconds, "sequences_per_s": n / seconds,
            "output_mib": (work / "out.h5").stat().st_size / 2 ** 20}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000, 100000])
    p.add_argument("--length", type=int, default=1000)
    p.add_argument("--references", type=int, default=2)
    p.add_argument("--hypothetical", action="store_true",
                   help="also write hypothetical contributions")
    p.add_argument("--work", default=None)
    a = p.parse_args(argv)
    for n in a.n:
        with tempfile.TemporaryDirectory(dir=a.work) as d:
            r = measure(Path(d), n, a.length, a.references,
                        extra=["--hypothetical"] if a.hypothetical else [])
        print(f"{r['n']:>7} intervals x {r['length']} bp, K={r['references']}: peak RSS "
              f"{r['peak_mib']:.0f} MiB, {r['seconds']:.0f} s ({r['sequences_per_s']:.0f} seq/s),"
              f" output {r['output_mib']:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
