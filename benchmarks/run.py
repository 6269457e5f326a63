"""DeepLIFT against its floor and its peers, side by side in one run, on three model sizes.

    python benchmarks/run.py [--models deepbind,basset,bpnet] [--k 20] [--json out.json]

For each model (random weights; only the arithmetic matters), on the same N sequences and K
shared dinucleotide-shuffled references: the plain gradient of every scored output for the
N*K (input, reference) rows (the physical floor), this engine (Rescale), shap's DeepExplainer
where it runs, and in-silico mutagenesis (all 3*L substitutions). Prints seconds, ratios,
sequences/s and peak memory of each, and writes the numbers to JSON.

  deepbind  101 bp, 16 detectors of 24, global max pool, dense 32, one output
  basset    600 bp, 300/200/200 filters (19/11/7) with max pooling, dense 1000x2, 164 outputs
  bpnet     1 kb, 64 filters, 9 dilated residual convolutions, one (count) output
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


def basset():
    i = keras.Input((600, 4), name="seq")
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
    fn()                                      # tracing and compilation are not compared
    best = float("inf")
    with PeakRSS() as mem:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return best, mem.mib


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


def ism(model, x, batch=512):
    """f(x) - f(x with one base substituted), every position and base: 3*L passes per seq."""
    @tf.function(input_signature=[tf.TensorSpec((None,) + tuple(model.input_shape[1:]))])
    def f(v):
        return model(v, training=False)
    n, length, _ = x.shape
    out = []
    for s in x:
        mutants = np.repeat(s[None], length * 4, axis=0).reshape(length, 4, length, 4)
        mutants[np.arange(length)[:, None], np.arange(4)[None], np.arange(length)[:, None]] = \
            np.eye(4, dtype=np.float32)[None]
        keep = ~s.astype(bool).reshape(-1)                    # the 3*L real substitutions
        flat = mutants.reshape(-1, length, 4)[keep]
        out.append(np.concatenate([f(tf.constant(flat[a:a + batch])).numpy()
                                   for a in range(0, len(flat), batch)]))
    return out


def run_one(name, k, repeats, shap_limit):
    build, n = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    n_out = int(np.prod(model.output_shape[1:]))
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, model.input_shape[1]))]
    refs = kd.dinuc_shuffle(x[:1], k, seed=0)[0]              # (K, L, 4), shared
    rows = np.repeat(x, k, axis=0)
    floor = gradient_floor(model, n_out)
    r = {"model": name, "n": n, "k": k, "length": int(x.shape[1]), "outputs": n_out}
    r["gradient_s"], r["gradient_mib"] = timed(lambda: [g.numpy() for g in floor(rows)],
                                               repeats)
    dl = kd.DeepLift(model)
    r["deeplift_s"], r["deeplift_mib"] = timed(
        lambda: dl.explain(x, references=refs, batch_size=n), repeats)
    r["max_convergence_error"] = dl.explain(x, references=refs,
                                            batch_size=n).max_convergence_error
    r["ism_s"], r["ism_mib"] = timed(lambda: ism(model, x), 1)
    # shap patches TensorFlow's gradient registry and leaves it patched when it fails, which
    # breaks every later gradient in the process: it runs in a process of its own.
    shap_r = json.loads(subprocess.run(
        [sys.executable, __file__, "--shap-only", name, "--k", str(k), "--shap-sequences",
         str(shap_limit)], capture_output=True, text=True).stdout.strip().splitlines()[-1])
    r.update(shap_r)
    r["deeplift_over_gradient"] = r["deeplift_s"] / r["gradient_s"]
    r["ism_over_deeplift"] = r["ism_s"] / r["deeplift_s"]
    r["shap_over_deeplift"] = r["shap_s"] / r["deeplift_s"] if r["shap_s"] else None
    r["sequences_per_s"] = n / r["deeplift_s"]
    return r


def shap_only(name, k, shap_limit) -> dict:
    """Time shap's DeepExplainer on the same model, data and references (in this process)."""
    build, n = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, model.input_shape[1]))]
    refs = kd.dinuc_shuffle(x[:1], k, seed=0)[0]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="deepbind,basset,bpnet")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--shap-sequences", type=int, default=4,
                   help="shap is timed on at most this many sequences and scaled")
    p.add_argument("--json", default=None)
    p.add_argument("--shap-only", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.shap_only:
        print(json.dumps(shap_only(a.shap_only, a.k, a.shap_sequences)))
        return
    gpus = tf.config.list_physical_devices("GPU")
    device = gpus[0].name if gpus else \
        f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    print(f"device: {device}; K={a.k} references; TensorFlow {tf.__version__}")
    print(f"{'model':9} {'N':>3} {'gradient':>9} {'deeplift':>9} {'x grad':>7} {'shap':>9} "
          f"{'shap/dl':>8} {'ISM':>9} {'ISM/dl':>7} {'seq/s':>7} {'dl MiB':>7} {'error':>8}")
    results = []
    for name in a.models.split(","):
        r = run_one(name, a.k, a.repeats, a.shap_sequences)
        results.append(r)
        shap_s = f"{r['shap_s']:9.2f}" if r["shap_s"] else f"{'fails':>9}"
        ratio = f"{r['shap_over_deeplift']:8.1f}" if r["shap_s"] else f"{'-':>8}"
        print(f"{name:9} {r['n']:>3} {r['gradient_s']:9.3f} {r['deeplift_s']:9.3f} "
              f"{r['deeplift_over_gradient']:7.2f} {shap_s} {ratio} {r['ism_s']:9.2f} "
              f"{r['ism_over_deeplift']:7.1f} {r['sequences_per_s']:7.1f} "
              f"{r['deeplift_mib']:7.0f} {r['max_convergence_error']:8.1e}", flush=True)
        if r["shap_note"]:
            print(f"          shap: {r['shap_note']}")
    print("targets: deeplift within 1.5x of the gradient; shap >= 3x slower; ISM >= 50x "
          "slower at 1 kb")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": device, "tensorflow": tf.__version__, "results": results}, f,
                      indent=2)


if __name__ == "__main__":
    main()
