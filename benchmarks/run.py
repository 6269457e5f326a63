"""DeepLIFT against its floor and its peers, side by side in one run, on three model sizes.

    python benchmarks/run.py [--models deepbind,basset,bpnet] [--k 20] [--json out.json]
                             [--threads T] [--scale N]

For each model (random weights; only the arithmetic matters), on the same N sequences and K
shared dinucleotide-shuffled references, for one task and for all tasks: the plain gradient of
every scored output for the N*K (input, reference) rows (the physical floor), this engine
(Rescale, exact max pooling: the defaults), tangermeme's ``deep_lift_shap`` and captum's
``DeepLiftShap`` on the same network in torch with the weights copied (predictions checked
equal first; attributions compared: largest difference over the largest attribution), shap's
DeepExplainer where it runs, and in-silico mutagenesis (``rule="ism"``). Prints seconds and
ratios measured in this run, and writes them to JSON. Both frameworks get ``--threads``
threads (default: the cores), torch ``OMP_WAIT_POLICY=PASSIVE``.

  deepbind  101 bp, 16 detectors of 24, global max pool, dense 32, one output
  basset    600 bp, 300/200/200 filters (19/11/7) with max pooling, dense 1000x2, 164 outputs
  bpnet     1 kb, 64 filters, 9 dilated residual convolutions, one (count) output

``--scale N`` times the whole pipeline instead (``kipoi-deeplift score``: kipoiseq's dataloader
on a FASTA, the engine, the HDF5 writer) on N 1 kb intervals with the BPNet-size model and 20
references, and prints sequences/s and how the time splits between reading, scoring and
writing. It runs unchanged on a GPU (the device is printed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kipoi_deeplift as kd  # noqa: E402

L = keras.layers


def deepbind():
    i = keras.Input((101, 4), name="seq")
    h = L.GlobalMaxPooling1D()(L.Conv1D(16, 24, activation="relu")(i))
    return keras.Model(i, L.Dense(1)(L.Dense(32, activation="relu")(h)), name="deepbind")


def basset(length: int = 600):
    i = keras.Input((length, 4), name="seq")
    h = L.MaxPooling1D(3)(L.Conv1D(300, 19, activation="relu")(i))
    h = L.MaxPooling1D(4)(L.Conv1D(200, 11, activation="relu")(h))
    h = L.MaxPooling1D(4)(L.Conv1D(200, 7, activation="relu")(h))
    h = L.Dense(1000, activation="relu")(L.Flatten()(h))
    h = L.Dense(1000, activation="relu")(h)
    return keras.Model(i, L.Dense(164, activation="sigmoid")(h), name="basset")


def bpnet():
    i = keras.Input((1000, 4), name="seq")
    h = L.Conv1D(64, 25, padding="same", activation="relu")(i)
    for j in range(1, 10):
        h = L.Add()([h, L.Conv1D(64, 3, padding="same", dilation_rate=2 ** j,
                                 activation="relu")(h)])
    return keras.Model(i, L.Dense(1)(L.GlobalAveragePooling1D()(h)), name="bpnet")


MODELS = {"deepbind": (deepbind, 64), "basset": (basset, 4), "bpnet": (bpnet, 8)}


class PeakRSS:
    """Largest resident memory above the starting level while the block runs (sampled)."""

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.mib = (self.peak - self.start) / 2 ** 20
        return False


def timed(fn, repeats):
    """Median seconds of ``repeats`` calls after one untimed call (tracing and compilation
    are not compared), and the peak memory above the start (MiB)."""
    fn()
    times = []
    with PeakRSS() as mem:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return float(np.median(times)), mem.mib


def floor_and_engine(floor_fn, engine_fn, repeats):
    """The floor and the engine timed in alternating rounds, so that the machine's drift hits
    both alike: median seconds of each after an untimed call of each (tracing and compilation
    are not compared). Calls under a second get more rounds (about a second of each, at most
    50): a 15 ms pass timed three times is noise. Also the engine's peak memory above the
    start (MiB), from one more call."""
    floor_fn()
    engine_fn()
    rounds = repeats
    if repeats > 1:
        t0 = time.perf_counter()
        engine_fn()
        rounds = max(repeats, min(50, int(1.0 / max(time.perf_counter() - t0, 1e-3))))
    medians = side_by_side({"floor": floor_fn, "engine": engine_fn}, rounds)
    with PeakRSS() as mem:
        engine_fn()
    return medians["floor"], medians["engine"], mem.mib


def side_by_side(fns: dict, rounds: int) -> dict:
    """Median seconds of each of ``fns`` (label -> function), called in turn for ``rounds``
    rounds (warm them up first)."""
    times: dict = {label: [] for label in fns}
    for _ in range(rounds):
        for label, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    return {label: float(np.median(t)) for label, t in times.items()}


def gradient_floor(model, n_outputs):
    """Every scored output's gradient for a batch of rows (one forward, one backward each)."""
    @tf.function(input_signature=[tf.TensorSpec((None,) + tuple(model.input_shape[1:]))])
    def grads(v):
        with tf.GradientTape(persistent=n_outputs > 1) as tape:
            tape.watch(v)
            y = model(v, training=False)
            targets = [tf.reduce_sum(y[:, t]) for t in range(n_outputs)]
        out = [tape.gradient(t, v) for t in targets]
        del tape
        return out
    return grads


def data(model, n: int, k: int):
    """N one-hot sequences and K dinucleotide-shuffled references shared by all of them."""
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, model.input_shape[1]))]
    return x, kd.dinuc_shuffle(x[:1], k, seed=0)[0]               # (K, L, 4)


def logits(model, x) -> np.ndarray:
    """The scored outputs (the logit before a final sigmoid), (N, outputs)."""
    last = model.layers[-1]
    if getattr(last, "activation", None) is keras.activations.sigmoid:
        p = model.predict(x, verbose=0).astype(np.float64)
        return np.log(p / (1 - p))
    return model.predict(x, verbose=0).reshape(len(x), -1)


def peer(name: str, which: str, n_tasks: int, k: int, repeats: int, threads: int) -> dict:
    """One peer's run (benchmarks/peers.py) in a process of its own."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "peers.py"),
                           "--run", which, "--model", name, "--tasks", str(n_tasks), "--k",
                           str(k), "--repeats", str(repeats), "--threads", str(threads)],
                          capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"peer": which, "seconds": None, "note": done.stderr.strip()[-160:]}
    return json.loads(lines[-1])


def agreement(ours: np.ndarray, x: np.ndarray, result: dict) -> float | None:
    """Largest |difference| of task 0's attributions over the largest |attribution|, in the
    form the peer returns (``ours``: per channel, as ``explain`` gives them)."""
    theirs = result.get("attr_task0")
    if theirs is None:
        return None
    theirs = np.asarray(theirs)
    if result.get("form") == "projected":
        ours = ours.sum(-1, keepdims=True) * x
    return float(np.abs(ours - theirs).max() / max(np.abs(ours).max(), 1e-30))


def first_call(model, x, refs) -> dict:
    """What a user feels on a small run (a notebook cell): a fresh engine's first ``explain``
    of one sequence and one task (tracing, graph optimisation, no XLA below FUSE_AFTER), its
    second call, and the first call of a long run (``expect``: XLA compilation included)."""
    out = {}
    for label, expect in (("first_call_s", 0), ("first_call_long_s", 10 ** 6)):
        dl = kd.DeepLift(model, rule="rescale")
        dl.expect(expect)
        t0 = time.perf_counter()
        dl.explain(x[:1], references=refs, tasks=[0], progress=False)
        out[label] = time.perf_counter() - t0
        if not expect:
            t0 = time.perf_counter()
            dl.explain(x[:1], references=refs, tasks=[0], progress=False)
            out["second_call_s"] = time.perf_counter() - t0
    return out


def run_one(name, k, repeats, shap_limit, threads, all_tasks=True):
    """Every tool on one model, for one task and (where the model has several) all tasks."""
    build, n = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    n_out = int(np.prod(model.output_shape[1:]))
    x, refs = data(model, n, k)
    rows = np.repeat(x, k, axis=0)
    out = []
    first = first_call(model, x, refs)
    for n_tasks in sorted({1, n_out if all_tasks else 1}):
        floor = gradient_floor(model, n_tasks)
        r = {"model": name, "n": n, "k": k, "length": int(x.shape[1]), "tasks": n_tasks}
        reps = repeats if n_tasks == 1 else 1       # all tasks: seconds to minutes a round
        dl = kd.DeepLift(model, rule="rescale")
        dl.expect(10 ** 6)   # timed as a long run goes: the multipliers XLA-compiled
        tasks = list(range(n_tasks))
        r["gradient_s"], r["deeplift_s"], r["deeplift_mib"] = floor_and_engine(
            lambda: [g.numpy() for g in floor(rows)],
            lambda: dl.explain(x, references=refs, batch_size=n, tasks=tasks, progress=False),
            reps)
        res = dl.explain(x, references=refs, batch_size=n, tasks=tasks, progress=False)
        r["max_convergence_error"] = res.max_convergence_error
        ours = res.contrib[dl.input_names[0]][res.tasks[0]]
        ism_dl = kd.DeepLift(model, rule="ism")
        r["ism_s"], _ = timed(lambda: ism_dl.explain(x, tasks=tasks, progress=False), 1)
        for which in ("tangermeme", "captum"):
            pr = peer(name, which, n_tasks, k, reps, threads)
            r[f"{which}_s"] = pr.get("seconds")
            r[f"{which}_agree"] = agreement(ours, x, pr)
            r[f"{which}_pred_diff"] = pr.get("pred_diff")
            r[f"{which}_sum_error"] = pr.get("sum_error")
            r[f"{which}_note"] = pr.get("note", "")
            if pr.get("sum_error") is not None and pr["sum_error"] > 1e-3:
                r[f"{which}_note"] += (f"its own summation-to-delta error is "
                                       f"{pr['sum_error']:.2g} (relative): its scores, not "
                                       "this engine's, are off here")
        # shap patches TensorFlow's gradient registry and leaves it patched when it fails,
        # which breaks every later gradient in the process: it runs in a process of its own.
        shap_r = json.loads(subprocess.run(
            [sys.executable, __file__, "--shap-only", name, "--k", str(k), "--shap-sequences",
             str(shap_limit), "--tasks", str(n_tasks)], capture_output=True,
            text=True).stdout.strip().splitlines()[-1])
        r.update(shap_r)
        r.update(first)
        r["deeplift_over_gradient"] = r["deeplift_s"] / r["gradient_s"]
        r["sequences_per_s"] = n / r["deeplift_s"]
        out.append(r)
    return out


def shap_only(name, k, shap_limit, n_tasks=1) -> dict:
    """Time shap's DeepExplainer on the same model, data and references (in this process),
    for the first ``n_tasks`` outputs."""
    build, n = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    x, refs = data(model, n, k)
    if n_tasks < int(np.prod(model.output_shape[1:])):
        # The last Dense cut to its first units (shap cannot pass a slicing op).
        last = model.layers[-1]
        w, b = last.get_weights()
        head = L.Dense(n_tasks, activation=last.activation)
        cut = keras.Model(model.inputs, head(last.input))
        head.set_weights([w[:, :n_tasks], b[:n_tasks]])
        model = cut
    try:
        import shap

        explainer = shap.DeepExplainer(model, refs)
        m = min(n, shap_limit)                # shap loops over sequences: time m, scale to n
        s, mib = timed(lambda: explainer.shap_values(x[:m], check_additivity=False), 1)
        return {"shap_s": s * n / m, "shap_mib": mib,
                "shap_note": f"timed on {m} sequences, scaled to {n}" if m < n else ""}
    except Exception as e:                    # e.g. dilated convolutions: report what failed
        last = [ln for ln in str(e).splitlines() if "Error" in ln]
        return {"shap_s": None, "shap_note": f"{type(e).__name__}: "
                                             f"{(last[-1] if last else str(e))[:160].strip()}"}


def _cell(seconds, base) -> str:
    if seconds is None:
        return f"{'fails':>16}"
    return f"{seconds:9.3f} ({seconds / base:4.1f}x)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="deepbind,basset,bpnet")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for TensorFlow and torch alike")
    p.add_argument("--shap-sequences", type=int, default=4,
                   help="shap is timed on at most this many sequences and scaled")
    p.add_argument("--no-all-tasks", action="store_true",
                   help="one task only (all 164 of Basset take the peers minutes)")
    p.add_argument("--scale", type=int, default=None, metavar="N",
                   help="time the whole score pipeline on N 1 kb intervals instead")
    p.add_argument("--json", default=None)
    p.add_argument("--shap-only", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tasks", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.shap_only:
        print(json.dumps(shap_only(a.shap_only, a.k, a.shap_sequences, a.tasks)))
        return
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    gpus = tf.config.list_physical_devices("GPU")
    device = gpus[0].name if gpus else \
        f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    print(f"device: {device}; K={a.k} references; {a.threads} threads; TensorFlow "
          f"{tf.__version__}")
    if a.scale:
        import scale

        result = scale.run(a.scale, a.k)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"device": device, "scale": result}, f, indent=2)
        return
    print(f"{'model':9} {'N':>3} {'tasks':>5} {'gradient':>9} {'this engine':>16} "
          f"{'tangermeme':>16} {'captum':>16} {'shap':>16} {'ISM':>16} {'agree tgm':>9} "
          f"{'agree cpt':>9} {'sum error':>9}")
    results = []
    for name in a.models.split(","):
        for r in run_one(name, a.k, a.repeats, a.shap_sequences, a.threads,
                         not a.no_all_tasks):
            results.append(r)
            base = r["deeplift_s"]
            agree = [f"{r[w]:9.1e}" if r[w] is not None else f"{'-':>9}"
                     for w in ("tangermeme_agree", "captum_agree")]
            print(f"{name:9} {r['n']:>3} {r['tasks']:>5} {r['gradient_s']:9.3f} "
                  f"{_cell(r['deeplift_s'], r['gradient_s'])} "
                  f"{_cell(r['tangermeme_s'], base)} {_cell(r['captum_s'], base)} "
                  f"{_cell(r['shap_s'], base)} {_cell(r['ism_s'], base)} {agree[0]} "
                  f"{agree[1]} {r['max_convergence_error']:9.1e}", flush=True)
            if r["tasks"] == 1:
                print(f"          first call (fresh engine, 1 sequence): "
                      f"{r['first_call_s']:.2f} s, again {r['second_call_s']:.3f} s; "
                      f"first call of a long run (XLA compiled): "
                      f"{r['first_call_long_s']:.2f} s")
            for key in ("tangermeme_note", "captum_note", "shap_note"):
                if r.get(key):
                    print(f"          {key.split('_')[0]}: {r[key]}")
    print("this engine's ratio is to the gradient floor; the others' to this engine; agree: "
          "largest |difference| of task 0's attributions over the largest attribution")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": device, "tensorflow": tf.__version__, "threads": a.threads,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
