"""Genome-scale throughput: each stage of `score` alone and the whole pipeline, side by side.

    python benchmarks/pipeline.py [--models cheap,bpnet] [--n 2000] [--k 20] [--json out.json]
                                  [--memory 2000,100000]

For each model, on N 1 kb intervals of a random genome (kipoiseq's SeqIntervalDl over a FASTA,
both strands), K dinucleotide-shuffled references, hypothetical contributions and the HDF5 file,
in one run: the plain-gradient floor of the model on the same N(K+1) rows (64 sequences a batch:
the physical floor), then each stage alone (the dataloader reading the intervals; the
references; the engine with references given; the engine making its own references; the
writer: datasets made and appended) and `score` end to end, first call included and in steady
state (a run of N minus a run of one batch, so start-up is left out). Prints sequences/s and each
rate's ratio to the floor. ``--memory`` runs the command line in a child process on each number
of intervals (the cheap model) and prints its peak resident memory, which should not grow.

  cheap  Conv1D(8, 11, relu) -> GlobalMaxPooling1D -> Dense(1): costs almost nothing, so the
         work around the passes shows
  bpnet  1 kb, 64 filters, 9 dilated residual convolutions (benchmarks/run.py)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

LENGTH = 1000
FLOOR_BATCH = 64


def cheap():
    """The model that costs almost nothing (see the module's docstring)."""
    import keras

    L = keras.layers
    i = keras.Input((LENGTH, 4), name="seq")
    h = L.GlobalMaxPooling1D()(L.Conv1D(8, 11, activation="relu")(i))
    return keras.Model(i, L.Dense(1)(h), name="cheap")


def bpnet():
    import run as bench

    return bench.bpnet()


MODELS = {"cheap": cheap, "bpnet": bpnet}


def world(d: Path, n: int, build, length: int = LENGTH) -> dict:
    """A random genome, N intervals of ``length`` bp on both strands and a Kipoi model
    directory (``build()``'s model with random weights, kipoiseq's SeqIntervalDl) under ``d``;
    returns the model directory and the dataloader's arguments."""
    import keras

    rng = np.random.default_rng(0)
    size = n * (length + 200) + length
    seq = rng.choice(np.array(list("ACGT")), size)
    with open(d / "genome.fa", "w") as f:
        f.write(">chr1\n")
        for i in range(0, size, 60):
            f.write("".join(seq[i:i + 60]) + "\n")
    with open(d / "intervals.bed", "w") as f:
        for i in range(n):
            s = i * (length + 200)
            f.write(f"chr1\t{s}\t{s + length}\ti{i}\t0\t{'+-'[i % 2]}\n")
    keras.utils.set_random_seed(0)
    model_dir = d / "model"
    model_dir.mkdir(exist_ok=True)
    build().save(model_dir / "model.keras")
    spec = {"type": "keras", "args": {"weights": "model.keras"},
            "default_dataloader": {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl",
                                   "default_args": {"auto_resize_len": length,
                                                    "use_strand": True,
                                                    "ignore_targets": True}},
            "info": {"authors": [{"name": "benchmark"}], "doc": "benchmark model"},
            "dependencies": {"pip": []},
            "schema": {"inputs": {"name": "seq", "shape": f"({length}, 4)",
                                  "special_type": "DNASeq", "associated_metadata": "ranges"},
                       "targets": {"name": "out", "shape": "(1,)"}}}
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec))
    return {"model": model_dir, "args": {"intervals_file": str(d / "intervals.bed"),
                                         "fasta_file": str(d / "genome.fa")}}


CPU: dict = {}


def _seconds(fn, label: str | None = None) -> float:
    """Wall seconds of ``fn()``; the process's CPU seconds (all threads) go to ``CPU[label]``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    if label:
        CPU[label] = time.process_time() - c0
    return wall


def stages(name: str, n: int, k: int, batch: int | None) -> dict:
    """Every stage of model ``name`` on ``n`` intervals (see the module's docstring):
    seconds, sequences/s and ratio to the floor, all measured in this call."""
    import keras
    import tensorflow as tf
    from kipoiseq.dataloaders import SeqIntervalDl

    import kipoi_deeplift as kd
    from kipoi_deeplift.io import scorefile
    from kipoi_deeplift.io.writers import H5Writer

    import run as bench

    warnings.filterwarnings("ignore", category=kd.ConvergenceWarning)
    out: dict = {"model": name, "sequences": n, "length": LENGTH, "references": k}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        w = world(d, n, MODELS[name])
        model = keras.saving.load_model(w["model"] / "model.keras")

        # Reading: the dataloader alone, as score drives it (batches of 64).
        data = SeqIntervalDl(**w["args"], auto_resize_len=LENGTH, use_strand=True,
                             ignore_targets=True)
        parts: list = []
        out["read_s"] = _seconds(lambda: parts.extend(
            b["inputs"] for b in data.batch_iter(batch_size=FLOOR_BATCH)), "read")
        x = np.concatenate(parts).astype(np.float32)

        # The floor: the plain gradient of the output over the same N(K+1) rows.
        floor = bench.gradient_floor(model, 1)

        def run_floor():
            for a in range(0, n, FLOOR_BATCH):
                rows = tf.constant(np.repeat(x[a:a + FLOOR_BATCH], k + 1, axis=0))
                [g.numpy() for g in floor(rows)]

        floor(tf.constant(np.repeat(x[:FLOOR_BATCH], k + 1, axis=0)))     # traced first
        out["floor_s"] = _seconds(run_floor, "floor")

        # References alone (one thread), as the engine makes them: tokens.
        def run_refs():
            for a in range(0, n, FLOOR_BATCH):
                xb = x[a:a + FLOOR_BATCH]
                kd.references.dinuc_shuffle_tokens(xb, k, 0, range(a, a + len(xb)))

        run_refs()
        out["references_s"] = _seconds(run_refs, "references")

        # The engine: references given (K shared), then making its own.
        dl = kd.DeepLift(model, rule="rescale")
        dl.expect(n)
        shared = kd.dinuc_shuffle(x[:1], k, seed=0)[0]
        eng_batch = batch or FLOOR_BATCH
        given = lambda: dl.explain(x, references=shared, hypothetical=True,  # noqa: E731
                                   batch_size=eng_batch, progress=False)
        given()
        out["engine_given_s"] = _seconds(given, "engine_given")
        res: list = []
        own = lambda: res.append(dl.explain(x, n_references=k, hypothetical=True,  # noqa: E731
                                            batch_size=eng_batch, progress=False))
        own()
        out["engine_s"] = _seconds(own, "engine")

        # Writing alone: each batch's datasets made (projection, casts) and appended.
        r = res[-1]
        labels = {dl.input_names[0]: "seq"}

        def run_write():
            writer = H5Writer(d / "write.h5", {})
            for a in range(0, n, FLOOR_BATCH):
                b = min(n, a + FLOOR_BATCH)
                part = kd.Explanation(
                    contrib={i: {t: v[a:b] for t, v in c.items()} for i, c in r.contrib.items()},
                    hyp_contrib={i: {t: v[a:b] for t, v in c.items()}
                                 for i, c in r.hyp_contrib.items()},
                    delta={t: v[a:b] for t, v in r.delta.items()},
                    convergence={t: v[a:b] for t, v in r.convergence.items()},
                    preds={t: v[a:b] for t, v in r.preds.items()}, tasks=r.tasks)
                writer.append(scorefile.batch_arrays(part, {dl.input_names[0]: x[a:b]}, None,
                                                     b - a, labels, dna=dl.input_names[0]))
            writer.close()

        out["write_s"] = _seconds(run_write, "write")

        # score end to end (its own batch size unless given); steady state: the same
        # minus a run of one batch (start-up: loading, tracing, compiling), per sequence.
        def run_score(limit=None, size=batch):
            kd.score(str(w["model"]), w["args"], str(d / "scores.h5"), n_references=k,
                     hypothetical=True, batch_size=size, limit=limit, progress=False)

        out["score_s"] = _seconds(run_score, "score")
        with scorefile.ScoreFile(d / "scores.h5") as f:
            size = out["score_batch_size"] = int(f.attrs["batch_size"])
        if size < n:
            out["score_one_batch_s"] = _seconds(lambda: run_score(size, size))
            out["score_steady_s"] = (out["score_s"] - out["score_one_batch_s"]) * n / (n - size)
    rate = {key[:-2]: n / v for key, v in out.items() if key.endswith("_s")}
    out["sequences_per_s"] = rate
    out["ratio_to_floor"] = {key: v / rate["floor"] for key, v in rate.items()}
    out["cpu_ms_per_sequence"] = {key: 1e3 * v / n for key, v in CPU.items()}
    return out


LABELS = {"floor": "plain-gradient floor, N(K+1) rows, 64 a batch",
          "read": "dataloader alone (kipoiseq, FASTA)",
          "references": "dinucleotide shuffles alone (1 thread)",
          "engine_given": "explain, references given",
          "engine": "explain, references made (overlapped)",
          "write": "writer alone (datasets made, HDF5)",
          "score": "score end to end",
          "score_steady": "score, steady state"}


def report(r: dict) -> None:
    print(f"{r['model']}: {r['sequences']} x {r['length']} bp, K={r['references']}, "
          f"--hypothetical, score's batch {r['score_batch_size']}")
    for key, label in LABELS.items():
        if key in r["sequences_per_s"]:
            cpu = r["cpu_ms_per_sequence"].get(key)
            rate = r["sequences_per_s"][key]
            print(f"  {label:<48} {rate:9.{0 if rate >= 100 else 2}f} seq/s "
                  f"{r['ratio_to_floor'][key]:6.2f}x floor" +
                  (f"  {cpu:6.3f} CPU ms/seq" if cpu is not None else ""), flush=True)
    if "score_one_batch_s" in r:
        print(f"  (start-up: a run of one batch took {r['score_one_batch_s']:.1f} s)")


def forward_flops(model) -> float:
    """Floating-point operations of one forward pass of one row: 2 per multiply-add of every
    Conv1D and Dense layer (the rest is elementwise and small beside them)."""
    import keras

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D):
            out = layer.output.shape
            total += 2.0 * out[1] * out[2] * layer.kernel_size[0] * layer.input.shape[-1] \
                / layer.groups
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1] or [1]))
            total += 2.0 * positions * layer.input.shape[-1] * layer.units
    return total


#: The paper estimate's GPU: one H100 SXM, float32 without tensor cores (67 TFLOP/s peak; TF32
#: tensor cores would be faster but round the inputs of every product to 10 bits), taken at
#: half its peak for convolutions; PCIe 5 x16 to the host.
GPU = {"name": "H100 SXM", "float32_flops": 67e12, "efficiency": 0.5, "pcie_bytes": 50e9}


def estimate(results: list[dict], n: int = 1_000_000, k: int = 20, cores: int = 16) -> list:
    """Seconds for ``n`` x 1 kb x ``k`` references on one H100 (:data:`GPU`), stage by stage:
    the pass from the FLOP count (forward and the input gradient, about twice the forward, on
    N(K+1) rows), the host's stages from this run's CPU time per sequence (each stage on its
    own cores, the dataloader on Kipoi's worker processes), the transfers from their bytes."""
    import run as bench

    measured = results[0]["cpu_ms_per_sequence"]        # the cheap model: host work only
    rows = []
    for name, build in (("basset", lambda: bench.basset(LENGTH)), ("bpnet", bench.bpnet)):
        model = build()
        per_seq = 2 * forward_flops(model) * (k + 1)
        gpu = per_seq * n / (GPU["float32_flops"] * GPU["efficiency"])
        transfer = n * (LENGTH * 4 * 4 + k * LENGTH + 3 * LENGTH * 4 * 4) / GPU["pcie_bytes"]
        host = {stage: measured[stage] * 1e-3 * n for stage in ("read", "references", "write")}
        rows.append({"model": name, "gflop_per_sequence": per_seq / 1e9, "pass_s": gpu,
                     "transfer_s": transfer, **{f"{s}_one_core_s": v for s, v in host.items()}})
    return rows


def memory(sizes: list[int], k: int) -> list[dict]:
    """Peak resident memory of the command line (cheap model, --hypothetical) per size."""
    import memory as mem

    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            r = mem.measure(Path(tmp), n, LENGTH, k, extra=["--hypothetical"])
        print(f"  memory: {n:>7} intervals x {LENGTH} bp, K={k}: peak RSS {r['peak_mib']:.0f} "
              f"MiB, {r['sequences_per_s']:.0f} seq/s end to end", flush=True)
        out.append(r)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="cheap,bpnet")
    p.add_argument("--n", type=int, default=2000, help="intervals per model")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=None,
                   help="score's and the engine's batch (default: score's own choice; the "
                        "engine alone 64)")
    p.add_argument("--memory", default="", help="comma-separated interval counts for the "
                                                "peak-memory runs (e.g. 2000,100000)")
    p.add_argument("--estimate", action="store_true",
                   help="print the paper estimate of 1M x 1 kb x K on one H100 (docs/benchmarks.md)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = gpus[0].name if gpus else \
        f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    print(f"device: {device}; TensorFlow {tf.__version__}", flush=True)
    results = {"device": device, "models": []}
    for name in a.models.split(","):
        r = stages(name, a.n, a.k, a.batch_size)
        report(r)
        results["models"].append(r)
    if a.memory:
        results["memory"] = memory([int(v) for v in a.memory.split(",")], a.k)
    if a.estimate:
        results["estimate"] = estimate(results["models"], k=a.k)
        print(f"estimate, 1M x {LENGTH} bp x {a.k} references on one {GPU['name']} (float32 at "
              f"{GPU['efficiency']:.0%} of peak); host stages at this machine's CPU time:")
        for e in results["estimate"]:
            print(f"  {e['model']}: {e['gflop_per_sequence']:.1f} GFLOP a sequence; pass "
                  f"{e['pass_s']:.0f} s, transfers {e['transfer_s']:.0f} s; one core each: "
                  f"reading {e['read_one_core_s']:.0f} s, references "
                  f"{e['references_one_core_s']:.0f} s, writing {e['write_one_core_s']:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
