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

import pipeline

LENGTH = pipeline.LENGTH


def run(n: int, k: int = 20) -> dict:
    """Time the pipeline on ``n`` intervals; returns (and prints) the numbers."""
    import keras

    import kipoi_deeplift as kd

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        w = pipeline.world(d, n, pipeline.bpnet)
        out = d / "scores.h5"
        t0 = time.perf_counter()
        kd.score(str(w["model"]), w["args"], str(out), n_references=k, progress=False)
        total = time.perf_counter() - t0
        batch = 64
        from kipoiseq.dataloaders import SeqIntervalDl

        data = SeqIntervalDl(**w["args"], auto_resize_len=LENGTH, use_strand=True,
                             ignore_targets=True)
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
