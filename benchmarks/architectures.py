"""DeepLIFT through gates, normalisation and attention against the plain-gradient floor, side
by side in one run, on a cheap and a costly model (random weights; only the arithmetic
matters).

    python benchmarks/architectures.py [--n 16] [--k 10] [--rounds 5] [--json out.json]

  legnet-se     230 bp, LegNet-style: 64-filter convolutions with swish, 3 squeeze-and-excite
                gates (keras.ops.mean, Dense, Multiply broadcast), max pooling, one output
  transformer   1 kb, Enformer-style: 64-filter stem with gelu_enf, 3 attention poolings
                (to 128 positions), 2 pre-LN transformer blocks (MultiHeadAttention, 4 heads),
                one output

The floor is the gradient of the scored output for the N*K (input, reference) rows (one forward
and one backward pass over them), as benchmarks/run.py takes it; the engine runs Rescale with K
shared dinucleotide-shuffled references. The ratio says what the exact rules for products,
softmax and LayerNorm cost beyond a gradient.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kipoi_deeplift as kd  # noqa: E402
from run import data, gradient_floor, side_by_side  # noqa: E402

L = keras.layers


def gelu_enf(x):
    return keras.ops.sigmoid(1.702 * x) * x


def legnet_se(length=230, filters=64):
    i = keras.Input((length, 4), name="seq")
    h = L.Activation("swish")(L.BatchNormalization()(L.Conv1D(filters, 7, padding="same")(i)))
    for _ in range(3):
        h = L.Activation("swish")(L.BatchNormalization()(
            L.Conv1D(filters, 9, padding="same", groups=filters // 8)(h)))
        g = L.Dense(filters, activation="sigmoid")(L.Dense(filters // 4, activation="swish")(
            keras.ops.mean(h, axis=1)))
        h = L.MaxPooling1D(2)(L.Multiply()([h, g]))
    return keras.Model(i, L.Dense(1, name="out")(keras.ops.mean(h, axis=1)))


def attention_pool(h, channels):
    length = h.shape[1]
    xr = L.Reshape((length // 2, 2, channels))(h)
    w = L.Softmax(axis=-2)(L.Dense(channels, use_bias=False)(xr))
    return keras.ops.sum(L.Multiply()([xr, w]), axis=-2)


def transformer(length=1024, channels=64, blocks=2):
    i = keras.Input((length, 4), name="seq")
    h = L.Activation(gelu_enf)(L.Conv1D(channels, 15, padding="same")(i))
    for _ in range(3):
        h = attention_pool(L.Conv1D(channels, 5, padding="same")(h), channels)
    for _ in range(blocks):
        n = L.LayerNormalization()(h)
        h = L.Add()([h, L.MultiHeadAttention(4, channels // 4)(n, n)])
        f = L.Dense(2 * channels, activation="relu")(L.LayerNormalization()(h))
        h = L.Add()([h, L.Dense(channels)(f)])
    return keras.Model(i, L.Dense(1, name="out")(L.GlobalAveragePooling1D()(h)))


MODELS = {"legnet-se": legnet_se, "transformer": transformer}


def randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        scale = 1.0 / np.sqrt(max(1, int(np.prod(w.shape[:-1]))))
        v = rng.normal(0, scale, w.shape)
        if "variance" in w.path:          # batch-norm statistics must be positive
            v = rng.uniform(0.5, 2.0, w.shape)
        w.assign(v.astype(np.float32))
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16, help="sequences (default 16)")
    p.add_argument("--k", type=int, default=10, help="references (default 10)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; N={a.n}, K={a.k}; TensorFlow {tf.__version__}, "
          f"{platform.python_version()}")
    out = {}
    for name, build in MODELS.items():
        model = randomise(build())
        x, refs = data(model, a.n, a.k)
        rows = np.repeat(x, a.k, axis=0)
        floor = gradient_floor(model, 1)
        engine = kd.DeepLift(model, rule="rescale")
        floor_fn = lambda: [g.numpy() for g in floor(tf.constant(rows))]   # noqa: E731
        engine_fn = lambda: engine.explain(x, references=refs, batch_size=a.n)  # noqa: E731
        res = engine_fn()
        floor_fn()
        med = side_by_side({"floor": floor_fn, "engine": engine_fn}, a.rounds)
        out[name] = {"floor_s": med["floor"], "engine_s": med["engine"],
                     "ratio": med["engine"] / med["floor"],
                     "max_convergence_error": float(res.max_convergence_error),
                     "parameters": int(model.count_params())}
        print(f"{name:12s} floor {med['floor']:.3f} s  DeepLIFT {med['engine']:.3f} s  "
              f"{med['engine'] / med['floor']:.1f}x the floor  "
              f"(summation error {res.max_convergence_error:.1e})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": device, "n": a.n, "k": a.k, "models": out}, f, indent=1)


if __name__ == "__main__":
    main()
