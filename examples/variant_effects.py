"""Variant effects of two models, drawn, compared and named by motif, on planted GATA sites.

    python examples/variant_effects.py [--out examples/out_variants]

The world of examples/planted_sites.py (a genome with AGATAA planted on either strand in half of
240 intervals, and a GATA scanner that scores one mismatch at 2/5 of a full site), scored and
TF-MoDISco'd as a user would:

    kipoi-deeplift score OUT/model ... -o OUT/scores.h5 --hypothetical --n-references 5
    kipoi-deeplift motifs OUT/scores.h5 -o OUT/motifs

then a VCF (OUT/variants.vcf) of SNVs that break planted sites, strengthen a one-mismatch site,
create one from two mismatches, and fall in the background, scored with `variants` (from Python,
``kd.variants``: both models in this one process) for the scanner (with ``--motifs OUT/motifs``:
the summary names the pattern each variant touches) and for a strict scanner (OUT/strict, bias
-9: only a full AGATAA fires), and:

    kipoi-deeplift plot OUT/scanner.h5 --variant ID -o OUT/ID.png
    kipoi-deeplift compare OUT/scanner.h5 OUT/strict.h5 -o OUT/variants.html --tsv ...

Needs `pip install -e '.[motifs]'` (modisco-lite). tests/test_variant_analysis.py runs it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from planted_sites import MOTIF, REVERSE, kipoi_deeplift, planted_world  # noqa: E402

HALF = 50           # windows of 100 bp (the scanner's length), the SNV at base 50


def write_vcf(path: Path, variants: list) -> Path:
    """``variants``: (id, chrom, 0-based position, ref, alt); the VCF's POS is 1-based."""
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{c}\t{p + 1}\t{vid}\t{r}\t{a}\t.\t.\t." for vid, c, p, r, a in variants]
    path.write_text("\n".join(lines) + "\n")
    return path


def strict_model_dir(world: dict, d: Path) -> Path:
    """A copy of the scanner's model directory whose filters' bias is -9 (only AGATAA fires)."""
    import keras

    shutil.copytree(world["model"], d, dirs_exist_ok=True)
    model = keras.models.load_model(world["model"] / "model.keras")
    pwm = model.get_layer("pwm")
    pwm.set_weights([pwm.get_weights()[0], np.full(2, -9.0, np.float32)])
    model.save(d / "model.keras")
    return d


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


def score_variants(model_dir: Path, vcf: Path, fasta: Path, out: Path, **more) -> list:
    """``kd.variants`` as ``kipoi-deeplift variants`` runs it (its lines echoed); the summary's
    rows."""
    import kipoi_deeplift as kd
    from kipoi_deeplift.kipoi.variants import summary_lines

    words = "".join(f", {k}={str(v)!r}" for k, v in more.items())
    print(f">>> kd.variants({str(model_dir)!r}, vcf={str(vcf)!r}, fasta={str(fasta)!r}, "
          f"output={str(out)!r}, summary={str(out.with_suffix('.tsv'))!r}{words})", flush=True)
    res = kd.variants(str(model_dir), vcf=str(vcf), fasta=str(fasta), output=str(out),
                      summary=str(out.with_suffix(".tsv")), progress=False, **more)
    print("\n".join(summary_lines(res)), flush=True)
    return res["rows"]


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
    seq = "".join(world["fasta"].read_text().split("\n")[1:])
    variants = pick_variants(seq, world["planted"])
    vcf = write_vcf(out / "variants.vcf", variants)
    strict = strict_model_dir(world, out / "strict")
    rows = score_variants(world["model"], vcf, world["fasta"], out / "scanner.h5",
                          motifs=out / "motifs")
    score_variants(strict, vcf, world["fasta"], out / "strict.h5")
    kipoi_deeplift("plot", str(out / "scanner.h5"), "--variant", variants[0][0], "-o",
                   str(out / f"{variants[0][0]}.png"))
    kipoi_deeplift("compare", str(out / "scanner.h5"), str(out / "strict.h5"), "-o",
                   str(out / "variants.html"), "--tsv", str(out / "variants.tsv"))
    print(f"{'variant':<18} {'pattern':<8} effect   (scanner.tsv's motif columns)")
    for r in rows:
        print(f"{r['id']:<18} {r['motif'] or '-':<8} {r['motif_effect'] or '-'}")
    return [(r["id"], r["motif"], r["motif_effect"]) for r in rows]


if __name__ == "__main__":
    main()
