"""First-call latency: what a fresh engine's first ``explain`` costs, each in a fresh process.

    python benchmarks/first_call.py [--models deepbind,basset,bpnet] [--json out.json]

For each benchmark model (benchmarks/run.py) and two run sizes (one sequence; the benchmark's
N), the first call of a new ``DeepLift`` in a new process (TensorFlow already imported and
warmed up on an unrelated function, so its own start is not counted), three ways: as the engine
decides (tiered: XLA for the per-batch multipliers only once a run carries ``FUSE_AFTER``
tensor elements), always XLA-compiled, never XLA-compiled. A process each, because the
compiled functions are shared by every engine of a process: a second measurement in the same
process would find them compiled.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MODES = {"tiered": None, "always XLA": 0.0, "never XLA": float("inf")}


def one(name: str, m: int, mode: str) -> float:
    """Seconds of the first ``explain`` of ``m`` sequences (one task) in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    import kipoi_deeplift as kd
    import run as bench

    build, _ = bench.MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    x, refs = bench.data(model, m, 20)
    tf.function(lambda v: v * 2)(tf.constant(1.0))       # TensorFlow's own first call
    dl = kd.DeepLift(model)
    if MODES[mode] is not None:
        dl.FUSE_AFTER = MODES[mode]
    t0 = time.perf_counter()
    dl.explain(x, references=refs, tasks=[0], progress=False)
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="deepbind,basset,bpnet")
    p.add_argument("--json", default=None)
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.one[2])))
        return
    import run as bench

    rows = []
    print(f"{'model':9} {'N':>3} " + " ".join(f"{m:>11}" for m in MODES) + "   (seconds)")
    for name in a.models.split(","):
        for m in sorted({1, bench.MODELS[name][1]}):
            row = {"model": name, "n": m}
            for mode in MODES:
                done = subprocess.run([sys.executable, __file__, "--one", name, str(m), mode],
                                      capture_output=True, text=True)
                lines = done.stdout.strip().splitlines()
                row[mode] = json.loads(lines[-1]) if lines else None
            rows.append(row)
            print(f"{name:9} {m:>3} " + " ".join(
                f"{row[mode]:11.2f}" if row[mode] is not None else f"{'fails':>11}"
                for mode in MODES), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
