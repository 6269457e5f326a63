"""An ensemble of the demo's model: three folds, scored as one.

    python examples/folds.py [--out examples/out]     (after `make demo`, which writes OUT)

1. Trains the demo's GATA CNN three times, each fold holding out another eighth of the
   simulated sequences and starting from its own seed (what a cross-validated model ships:
   one set of weights per fold), and writes each as a Kipoi model directory OUT/folds/foldK
   (the demo's model.yaml).
2. Scores the demo's intervals with the three folds as one ensemble, keeping the members:
       kipoi-deeplift score OUT/folds/fold0 OUT/folds/fold1 OUT/folds/fold2
                            --dataloader-args '{...}' -o OUT/ensemble.h5 --keep-members
3. Prints, per interval, each fold's delta and the ensemble's (their mean), and how well each
   fold's per-base scores agree with the ensemble's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo  # noqa: E402  (the demo's model, data and command runner)

FOLDS = 3
#: Each fold's initial weights (seeds whose small CNN trains; seed 1 stays at a constant output)
SEEDS = (0, 2, 3)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="examples/out")
    a = p.parse_args(argv)
    out = Path(a.out)
    if not (out / "genome.fa").exists():
        raise SystemExit(f"{out}/genome.fa is missing: run `make demo` (or examples/demo.py "
                         f"--out {out}) first")
    from kipoi_deeplift.quiet import quiet_tensorflow_start

    quiet_tensorflow_start()
    dirs = []
    for k in range(FOLDS):
        d = out / "folds" / f"fold{k}"
        d.mkdir(parents=True, exist_ok=True)
        demo.train(np.random.default_rng(0), seed=SEEDS[k], fold=k).save(d / "model.keras")
        (d / "model.yaml").write_text(demo.MODEL_YAML)
        dirs.append(str(d))
    dl_args = json.dumps({"intervals_file": str(out / "intervals.bed"),
                          "fasta_file": str(out / "genome.fa")})
    demo.kipoi_deeplift("score", *dirs, "--dataloader-args", dl_args, "-o",
                        str(out / "ensemble.h5"), "--keep-members")
    with h5py.File(out / "ensemble.h5") as f:
        ids = f["metadata/ranges/id"].asstr()[:]
        delta = f["delta/gata"][:]
        scores = f["contrib/seq/gata"][:].sum(-1)
        members = [(f[f"members/{k}/delta/gata"][:], f[f"members/{k}/contrib/seq/gata"][:]
                    .sum(-1)) for k in range(FOLDS)]
        error = float(np.abs(scores.sum(-1) - delta).max())
    head = "".join(f"{f'fold{k}':>8}" for k in range(FOLDS))
    print(f"{'interval':<12}{head}{'mean':>8}   per-base Pearson r of each fold with the mean")
    for i, name in enumerate(ids):
        r = [np.corrcoef(m[1][i], scores[i])[0, 1] for m in members]
        print(f"{name:<12}" + "".join(f"{m[0][i]:>8.2f}" for m in members) +
              f"{delta[i]:>8.2f}   " + " ".join(f"{v:.2f}" for v in r))
    print(f"the ensemble's contributions sum to its delta (the folds' mean) within {error:.1e}")
    return {"delta": delta, "members": [m[0] for m in members], "error": error}


if __name__ == "__main__":
    main()
