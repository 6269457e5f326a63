"""Time DeepLIFT against the plain-gradient floor and shap's DeepExplainer, side by side.

One run, one model, one set of inputs: a 1 kb, 7-layer convolutional model, N sequences, K
shared dinucleotide-shuffled references. Prints seconds and ratios and writes them to JSON.

    python benchmarks/engine_vs_gradient.py [--n 32] [--filters 64] [--k 20] [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kipoi_deeplift as kd  # noqa: E402


def conv_model(length=1000, filters=64, dilated=False):
    """Seven convolutions (the first wide), global average pooling, one logit."""
    i = keras.Input((length, 4), name="seq")
    h = keras.layers.Conv1D(filters, 15, padding="same", activation="relu")(i)
    for j in range(6):
        h = keras.layers.Conv1D(filters, 5, padding="same", activation="relu",
                                dilation_rate=2 ** (j + 1) if dilated else 1)(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(i, keras.layers.Dense(1, name="logit")(h))


def best_of(fn, repeats):
    fn()  # warm-up: tracing and compilation are not what we compare
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=32, help="sequences")
    p.add_argument("--k", type=int, default=20, help="references per sequence")
    p.add_argument("--length", type=int, default=1000)
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None, help="write the numbers here")
    a = p.parse_args(argv)

    keras.utils.set_random_seed(0)
    model = conv_model(a.length, a.filters)
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (a.n, a.length))]
    refs = kd.dinuc_shuffle(x[:1], a.k, seed=0)[0]          # (K, L, 4), shared by all
    pairs = np.repeat(x, a.k, axis=0)                          # the N*K inputs of the floor

    @tf.function(input_signature=[tf.TensorSpec((None, a.length, 4), tf.float32)])
    def plain_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = tf.reduce_sum(model(v, training=False))
        return tape.gradient(y, v)

    dl = kd.DeepLift(model)
    rows = a.n * (a.k + 1)
    results = {
        "gradient_floor_s": best_of(lambda: plain_gradient(tf.constant(pairs)).numpy(), a.repeats),
        "deeplift_s": best_of(lambda: dl.explain(x, references=refs, batch_size=a.n), a.repeats),
        "deeplift_with_dinuc_shuffle_s": best_of(
            lambda: dl.explain(x, references="dinuc-shuffle", n_references=a.k, batch_size=a.n),
            a.repeats),
    }
    err = dl.explain(x, references=refs, batch_size=a.n).max_convergence_error
    try:
        import shap

        explainer = shap.DeepExplainer(model, refs)
        results["shap_deepexplainer_s"] = best_of(
            lambda: explainer.shap_values(x, check_additivity=False), a.repeats)
    except Exception as e:  # shap is optional; say why it did not run
        results["shap_deepexplainer_s"] = None
        results["shap_error"] = f"{type(e).__name__}: {e}"[:200]
    try:
        import shap

        dilated = conv_model(a.length, a.filters, dilated=True)
        shap.DeepExplainer(dilated, refs).shap_values(x[:1], check_additivity=False)
        results["shap_on_dilated"] = "ran"
    except Exception as e:
        results["shap_on_dilated"] = f"{type(e).__name__}: {e}"[:200]

    results.update({
        "ratio_deeplift_over_gradient": results["deeplift_s"] / results["gradient_floor_s"],
        "ratio_shap_over_deeplift": (results["shap_deepexplainer_s"] / results["deeplift_s"]
                                     if results["shap_deepexplainer_s"] else None),
        "sequences_per_s": a.n / results["deeplift_s"],
        "max_convergence_error": err,
        "n": a.n, "k": a.k, "length": a.length, "rows_per_batch": rows,
        "device": tf.config.list_physical_devices("GPU")[0].name
        if tf.config.list_physical_devices("GPU") else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "tensorflow": tf.__version__, "keras": keras.__version__,
    })
    print(f"model: 1 kb x 7 conv layers; N={a.n} sequences, K={a.k} references; "
          f"{results['device']}")
    print(f"plain gradient, N*K inputs      {results['gradient_floor_s']:8.3f} s   1.00x")
    print(f"kipoi_deeplift rescale          {results['deeplift_s']:8.3f} s   "
          f"{results['ratio_deeplift_over_gradient']:.2f}x the gradient   (target <= 1.5x)")
    print(f"  + dinucleotide shuffling      {results['deeplift_with_dinuc_shuffle_s']:8.3f} s")
    if results["shap_deepexplainer_s"]:
        print(f"shap DeepExplainer              {results['shap_deepexplainer_s']:8.3f} s   "
              f"{results['ratio_shap_over_deeplift']:.2f}x slower than kipoi_deeplift "
              "(target >= 3x)")
    else:
        print(f"shap DeepExplainer              did not run: {results['shap_error']}")
    print(f"shap on the dilated variant     {results['shap_on_dilated']}")
    print(f"summation-to-delta, max error   {err:.2e}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
