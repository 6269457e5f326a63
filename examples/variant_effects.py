"""Variant effects of two models, drawn, compared and named by motif, on planted GATA sites.

    python examples/variant_effects.py [--out examples/out_variants]

The world of examples/planted_sites.py (a genome with AGATAA planted on either strand in half of
240 intervals, and a GATA scanner that scores one mismatch at 2/5 of a full site), scored and
TF-MoDISco'd as a user would:

    kipoi-deeplift score OUT/model ... -o OUT/scores.h5 --hypothetical --n-references 5
    kipoi-deeplift motifs OUT/scores.h5 -o OUT/motifs

then SNVs that break planted sites, strengthen a one-mismatch site, create one from two
mismatches, and fall in the background, written as variants files (the layout of `kipoi-deeplift
variants`, by :func:`write_variants` with the Python API) for the scanner and for a strict
scanner (bias -9: only a full AGATAA fires), and:

    kipoi-deeplift plot OUT/scanner.h5 --variant ID -o OUT/ID.png
    kipoi-deeplift compare OUT/scanner.h5 OUT/strict.h5 -o OUT/variants.html --tsv ...

and the motif of each variant's window (kipoi_deeplift.analysis.variant_motifs.annotate).
Needs `pip install -e '.[motifs]'` (modisco-lite). tests/test_variant_analysis.py uses
:func:`write_variants`.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from planted_sites import MOTIF, REVERSE, kipoi_deeplift, planted_world  # noqa: E402

HALF = 50           # windows of 100 bp, the variant at position 50 (0-based)


def onehot(s: str) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[["ACGT".index(b) for b in s]]


def write_variants(path, model, task: str, genome: dict, variants: list, model_name: str,
                   fixed_bytes: bool = False, n_references: int = 8) -> dict:
    """A variants file as `kipoi-deeplift variants` lays it out (see the README), scored here
    with ``kd.DeepLift``: windows of 100 bp centred on each SNV.

    ``genome``: {chrom: sequence}; ``variants``: (id, chrom, 0-based position, ref, alt);
    ``fixed_bytes``: strings stored as fixed bytes, not variable-length str (readers take
    both). Returns {"ref", "alt": (V, 100, 4) one-hot, "logits": {"ref", "alt": (V,)}}.
    """
    import kipoi_deeplift as kd
    from kipoi_deeplift.io.scorefile import project

    ref = np.stack([onehot(genome[c][p - HALF:p + HALF]) for _, c, p, _, _ in variants])
    alt = ref.copy()
    alt[:, HALF] = onehot("".join(v[4] for v in variants))
    dl = kd.DeepLift(model, task_names=[task])
    text = (lambda v: np.array(v, dtype="S")) if fixed_bytes else \
        (lambda v: np.array(v, dtype=h5py.string_dtype()))
    out = {"ref": ref, "alt": alt, "logits": {}}
    starts = np.array([p - HALF for _, _, p, _, _ in variants])
    with h5py.File(path, "w") as f:
        for allele, x in (("ref", ref), ("alt", alt)):
            res = dl.explain(x, references="dinuc-shuffle", n_references=n_references, seed=0)
            f[f"{allele}/contrib/seq/{task}"] = project(res.contrib["seq"][task], x)
            for key in ("preds", "delta", "convergence"):
                f[f"{allele}/{key}/{task}"] = getattr(res, key)[task]
            out["logits"][allele] = model(x).numpy()[:, 0]
        for k, key in ((0, "id"), (1, "chrom"), (3, "ref"), (4, "alt")):
            f[f"variants/{key}"] = text([v[k] for v in variants])
        f["variants/pos"] = np.array([p + 1 for _, _, p, _, _ in variants])
        f["metadata/ranges/chr"] = text([v[1] for v in variants])
        f["metadata/ranges/start"], f["metadata/ranges/end"] = starts, starts + 2 * HALF
        f["metadata/ranges/strand"] = text(["+"] * len(variants))
        f["metadata/ranges/id"] = text([v[0] for v in variants])
        f.attrs.update({"file_kind": "variants", "model": str(model_name),
                        "rule": "genomics-default", "tasks": json.dumps([task]),
                        "dna_input": "seq", "n_references": n_references,
                        "kipoi_deeplift_version": kd.__version__})
    return out


def mismatches(s: str) -> int:
    return min(sum(a != b for a, b in zip(s, m)) for m in (MOTIF, REVERSE))


def pick_variants(seq: str, planted: dict) -> list:
    """SNVs (id, chrom, pos, ref, alt): the G of 4 planted sites (C on the - strand) changed,
    a one-mismatch site completed, a two-mismatch site brought to one, 4 background SNVs."""
    out = []
    for row, (p, strand) in [kv for kv in planted.items() if kv[1][0] > HALF][:4]:
        at = p + 1 if strand == "+" else p + 4
        out.append((f"break_{row}", "chr1", at, seq[at], "C" if strand == "+" else "G"))
    sites = [a for a, _ in planted.values()]
    def free(p: int) -> bool:
        return all(abs(p - a) > 60 for a in sites) and HALF < p < len(seq) - HALF
    for k, want in ((1, "strengthen"), (2, "create")):
        for p in range(len(seq) - 6):
            if free(p) and mismatches(seq[p:p + 6]) == k and mismatches(
                    seq[p - 10:p + 16].replace(seq[p:p + 6], "NNNNNN")) > 2:
                m = min((MOTIF, REVERSE), key=lambda m: sum(a != b for a, b in
                                                            zip(seq[p:p + 6], m)))
                j = next(j for j in range(6) if seq[p + j] != m[j])
                out.append((f"{want}_{p}", "chr1", p + j, seq[p + j], m[j]))
                break
    for p in range(1000, len(seq), 8000)[:4]:
        while not free(p):
            p += 37
        out.append((f"background_{p}", "chr1", p, seq[p], "ACGT"["ACGT".index(seq[p]) - 1]))
    return out


def windows(path: str, task: str, genome: dict, width: int = 10) -> list:
    """Each variant's window (``width`` bases of largest |ALT - REF|) with both alleles'
    sequences and contributions, as annotate() reads it."""
    from kipoi_deeplift.analysis.variant_data import VariantsFile
    from kipoi_deeplift.analysis.variant_motifs import VariantWindow

    out = []
    with VariantsFile(path) as vf:
        starts, seq0 = vf.windows(task, width), vf.seq_starts()
        for i in range(vf.n):
            ref = genome[vf.chrom[i]][seq0[i]:seq0[i] + vf.length]
            alt = ref[:HALF] + vf.alt[i] + ref[HALF + 1:]
            out.append(VariantWindow(vf.chrom[i], int(starts[i]), int(starts[i]) + width,
                                     int(seq0[i]), onehot(ref), onehot(alt),
                                     vf.contrib("ref", task, i), vf.contrib("alt", task, i),
                                     task))
    return out


def main(argv=None) -> list:
    """Run it all; returns [(variant id, pattern, effect)] as printed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="examples/out_variants")
    out = Path(ap.parse_args(argv).out)
    world = planted_world(out)
    kipoi_deeplift("score", str(world["model"]), "--dataloader-args", json.dumps(world["args"]),
                   "-o", str(out / "scores.h5"), "--hypothetical", "--n-references", "5")
    kipoi_deeplift("motifs", str(out / "scores.h5"), "-o", str(out / "motifs"))
    from kipoi_deeplift.quiet import quiet_tensorflow_start

    quiet_tensorflow_start()    # TensorFlow's start-up lines (CUDA probing, cuInit) discarded
    import keras

    seq = "".join(world["fasta"].read_text().split("\n")[1:])
    variants = pick_variants(seq, world["planted"])
    scanner = keras.models.load_model(world["model"] / "model.keras")
    strict = keras.models.clone_model(scanner)
    strict.set_weights(scanner.get_weights())
    strict.get_layer("pwm").set_weights([scanner.get_layer("pwm").get_weights()[0],
                                         np.full(2, -9.0, np.float32)])
    for name, model in (("scanner", scanner), ("strict", strict)):
        write_variants(out / f"{name}.h5", model, "gata", {"chr1": seq}, variants,
                       out / name if name == "strict" else world["model"])
        print(f"wrote {out / name}.h5 ({len(variants)} variants)")
    kipoi_deeplift("plot", str(out / "scanner.h5"), "--variant", variants[0][0], "-o",
                   str(out / f"{variants[0][0]}.png"))
    kipoi_deeplift("compare", str(out / "scanner.h5"), str(out / "strict.h5"), "-o",
                   str(out / "variants.html"), "--tsv", str(out / "variants.tsv"))
    from kipoi_deeplift.analysis.variant_motifs import annotate

    print(f"{'variant':<18} {'pattern':<8} effect   (annotate: {out / 'motifs'}, scanner.h5)")
    found = annotate(out / "motifs", windows(out / "scanner.h5", "gata", {"chr1": seq}))
    for v, (pattern, effect) in zip(variants, found):
        print(f"{v[0]:<18} {pattern or '-':<8} {effect or '-'}")
    return [(v[0], *f) for v, f in zip(variants, found)]


if __name__ == "__main__":
    main()
