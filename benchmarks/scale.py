"""The whole `score` pipeline at scale: kipoiseq's dataloader reading a FASTA, the engine, the
HDF5 writer, on N 1 kb intervals with the BPNet-size model of benchmarks/run.py and K
references (``python benchmarks/run.py --scale N``).

Prints sequences/s end to end and how the time splits: the dataloader alone (the same
intervals read and one-hot encoded), the engine alone (the same sequences as arrays), and the
rest (writing, orientation checks, bookkeeping). Whichever is largest bounds the run.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

LENGTH = 1000


def _world(d: Path, n: int) -> dict:
    import keras

    import run as bench

    rng = np.random.default_rng(0)
    size = n * (LENGTH + 200) + LENGTH
    seq = rng.choice(np.array(list("ACGT")), size)
    with open(d / "genome.fa", "w") as f:
        f.write(">chr1\n")
        for i in range(0, size, 60):
            f.write("".join(seq[i:i + 60]) + "\n")
    with open(d / "intervals.bed", "w") as f:
        for i in range(n):
            s = i * (LENGTH + 200)
            f.write(f"chr1\t{s}\t{s + LENGTH}\ti{i}\t0\t{'+-'[i % 2]}\n")
    keras.utils.set_random_seed(0)
    model_dir = d / "bpnet"
    model_dir.mkdir()
    bench.bpnet().save(model_dir / "model.keras")
    spec = {"type": "keras", "args": {"weights": "model.keras"},
            "default_dataloader": {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl",
                                   "default_args": {"auto_resize_len": LENGTH,
                                                    "use_strand": True}},
            "info": {"authors": [{"name": "benchmark"}], "doc": "BPNet-size"},
            "dependencies": {"pip": []},
            "schema": {"inputs": {"name": "seq", "shape": f"({LENGTH}, 4)",
                                  "special_type": "DNASeq", "associated_metadata": "ranges"},
                       "targets": {"name": "counts", "shape": "(1,)"}}}
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec))
    return {"model": model_dir, "args": {"intervals_file": str(d / "intervals.bed"),
                                         "fasta_file": str(d / "genome.fa")}}


def run(n: int, k: int = 20) -> dict:
    """Time the pipeline on ``n`` intervals; returns (and prints) the numbers."""
    import keras

    import kipoi_deeplift as kd

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        w = _world(d, n)
        out = d / "scores.h5"
        t0 = time.perf_counter()
        kd.score(str(w["model"]), w["args"], str(out), n_references=k, progress=False)
        total = time.perf_counter() - t0
        batch = 64
        from kipoiseq.dataloaders import SeqIntervalDl

        data = SeqIntervalDl(**w["args"], auto_resize_len=LENGTH, use_strand=True)
        t0 = time.perf_counter()
        seqs = [b["inputs"] for b in data.batch_iter(batch_size=batch)]
        reading = time.perf_counter() - t0
        x = np.concatenate(seqs)
        model = keras.saving.load_model(w["model"] / "model.keras")
        engine = kd.DeepLift(model)
        t0 = time.perf_counter()
        engine.explain(x, n_references=k, progress=False)
        scoring = time.perf_counter() - t0
    # Reading overlaps scoring inside `score` (a reader thread): the parts are each timed
    # alone; the rest is what neither explains (writing, orientation, bookkeeping).
    parts = {"dataloader alone": reading, "engine alone": scoring,
             "writing and the rest": max(0.0, total - max(reading, scoring))}
    bound = max(parts, key=parts.get)
    result = {"sequences": n, "length": LENGTH, "references": k, "seconds": total,
              "sequences_per_s": n / total, **{f"{p}_s": v for p, v in parts.items()},
              "bound_by": bound}
    print(f"score, {n} x {LENGTH} bp, BPNet-size, {k} references: {total:.1f} s, "
          f"{n / total:.1f} sequences/s")
    for part, v in parts.items():
        print(f"  {part:<22} {v:8.1f} s  ({v / total:5.1%})")
    print(f"bound by: {bound}")
    print(json.dumps(result))
    return result
