"""Quick demo: train a small CNN to find GATA sites, then ask DeepLIFT why it predicts binding.

    python examples/demo.py [--out examples/out]

Simulates sequences with and without an embedded GATA motif (AGATAA), trains a two-layer CNN
for a few seconds on the CPU, scores the positives with DeepLIFT (Rescale, 10 dinucleotide-
shuffled references) and checks that the highest-scoring window falls on the embedded motif.
Writes the scores to OUT/demo_scores.npz.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kipoi_deeplift as kd  # noqa: E402

MOTIF = "AGATAA"
BASES = "ACGT"


def simulate(n, length, rng):
    seqs = rng.integers(0, 4, (n, length))
    labels = rng.integers(0, 2, n)
    sites = np.full(n, -1)
    for i in np.flatnonzero(labels):
        sites[i] = rng.integers(0, length - len(MOTIF))
        seqs[i, sites[i]:sites[i] + len(MOTIF)] = [BASES.index(c) for c in MOTIF]
    return np.eye(4, dtype=np.float32)[seqs], labels.astype(np.float32), sites


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="examples/out")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y, sites = simulate(4000, 100, rng)
    model = keras.Sequential([
        keras.Input((100, 4), name="seq"),
        keras.layers.Conv1D(16, 6, activation="relu", name="conv"),
        keras.layers.AveragePooling1D(4, name="avg"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(8, activation="relu", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="gata"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x[:3500], y[:3500], epochs=15, batch_size=64, verbose=0,
                     validation_data=(x[3500:], y[3500:]))
    print(f"trained: validation accuracy {hist.history['val_accuracy'][-1]:.3f}")

    pos = np.flatnonzero(y[3500:] == 1)[:8] + 3500
    dl = kd.DeepLift(model, rule="rescale")
    res = dl.explain(x[pos], references="dinuc-shuffle", n_references=10, seed=0,
                     hypothetical=True, layers=["conv"])
    scores = res.contrib["seq"]["gata"].sum(-1)                     # per-base score (N, L)
    window = np.ones(len(MOTIF))
    hits = 0
    print(f"{'seq':>4} {'motif at':>8} {'top window':>10} {'logit':>7} {'delta':>7} "
          f"{'sum-to-delta error':>18}")
    for j, i in enumerate(pos):
        win = np.convolve(scores[j], window, "valid")
        top = int(win.argmax())
        hits += abs(top - sites[i]) <= 2
        seq = "".join(BASES[b] for b in x[i].argmax(-1)[top:top + len(MOTIF)])
        print(f"{i:>4} {sites[i]:>8} {top:>6} {seq} {res.preds['gata'][j]:>7.2f} "
              f"{res.delta['gata'][j]:>7.2f} {res.convergence['gata'][j]:>18.1e}")
    print(f"top-scoring window on the embedded motif in {hits}/{len(pos)} sequences; "
          f"max summation-to-delta error {res.max_convergence_error:.1e}")
    np.savez_compressed(out / "demo_scores.npz", inputs=x[pos], sites=sites[pos],
                        contrib=res.contrib["seq"]["gata"], hyp=res.hyp_contrib["seq"]["gata"],
                        conv_neurons=res.neuron_contrib["conv"]["gata"], delta=res.delta["gata"])
    print(f"wrote {out / 'demo_scores.npz'}")


if __name__ == "__main__":
    main()
