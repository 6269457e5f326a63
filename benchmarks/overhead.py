"""Where one task's time goes beyond the gradient floor, measured side by side in one run.

    python benchmarks/overhead.py [--models deepbind,basset,bpnet] [--rounds 15] [--json out.json]

For each benchmark model (benchmarks/run.py), one task, the benchmark's N sequences and K=20
shared references, timed in alternating rounds (medians): the floor (the plain gradient of the
N*K (input, reference) rows); the same floor on N*(K+1) rows (what carrying the N input rows
beside their references costs by itself); this engine with ``maxpool="gradient"`` (no exact
max-pool weights) and with the default ``maxpool="exact"``, both XLA-compiled as a long run
(``expect``). Ratios are to the floor.
"""
from __future__ import annotations

import argparse
import json
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kipoi_deeplift as kd  # noqa: E402
import run as bench  # noqa: E402


def measure(name: str, k: int, rounds: int) -> dict:
    """Median seconds of each variant for model ``name`` (see the module's docstring)."""
    build, n = bench.MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    x, refs = bench.data(model, n, k)
    floor = bench.gradient_floor(model, 1)
    rows, more_rows = np.repeat(x, k, axis=0), np.repeat(x, k + 1, axis=0)
    fns = {"floor": lambda: [g.numpy() for g in floor(rows)],
           "floor, N(K+1) rows": lambda: [g.numpy() for g in floor(more_rows)]}
    # maxpool="gradient" misses summation-to-delta by design: its warning is not news here.
    warnings.filterwarnings("ignore", category=kd.ConvergenceWarning)
    for mode in ("gradient", "exact"):
        dl = kd.DeepLift(model, maxpool=mode)
        dl.expect(10 ** 6)
        fns[f"engine, maxpool={mode}"] = (lambda dl: lambda: dl.explain(
            x, references=refs, batch_size=n, tasks=[0], progress=False))(dl)
    for fn in fns.values():
        fn()                                   # tracing and compilation are not compared
    return bench.side_by_side(fns, rounds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="deepbind,basset,bpnet")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    threads = os.cpu_count() or 1
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    out = {}
    for name in a.models.split(","):
        out[name] = r = measure(name, a.k, a.rounds)
        base = r["floor"]
        print(f"{name}: " + "; ".join(f"{label} {s * 1e3:.1f} ms ({s / base:.2f}x)"
                                      for label, s in r.items()), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
