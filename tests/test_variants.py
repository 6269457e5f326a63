"""`kipoi-deeplift variants`: on a simulated genome with planted GATA sites and a small model
trained here, variants that break a site lower the logit (the summary's window on the site),
one that creates a site raises it, a far one barely moves it; delta_logit is the model's own
logit difference (and, with --strands both, the mean of the two strands'); a REF mismatch, an
indel, a symbolic ALT and a window off the chromosome are listed, not scored."""
from __future__ import annotations

import gzip

import h5py
import numpy as np
import pytest
import yaml

import _kipoi_dirs as K
import _models as M
import kipoi_deeplift as kd
from _cli import fails
from kipoi_deeplift import cli
from kipoi_deeplift.io import variantfile as vfile
from kipoi_deeplift.io import vcf as vcf_lib

LENGTH = 60
MOTIF = "AGATAA"
SITES = (500, 1000, 1500)          # 0-based starts of planted AGATAA
NEAR = 2000                        # AGACAA: one base (C -> T at 2003) from a site
FAR = 2600                         # 1-based: a G/C SNV in a GC-rich stretch, far from sites
SIZE = 3000
ISSUE_COLUMNS = ("id chrom pos ref alt task logit_ref logit_alt delta_logit "
                 "contrib_ref_at_variant contrib_alt_at_variant window_start window_end "
                 "window_delta_contrib error").split()


def _genome(rng) -> str:
    seq = list(rng.choice(list("ACGT"), SIZE))
    text = "".join(seq)
    # No chance sites near the planted ones: replace stray AGATAA / TTATCT.
    for word in (MOTIF, "TTATCT"):
        at = text.find(word)
        while at >= 0:
            seq[at + 2] = "C"
            text = "".join(seq)
            at = text.find(word)
    for s in SITES:
        seq[s:s + 6] = MOTIF
    seq[NEAR:NEAR + 6] = "AGACAA"
    seq[FAR - 11:FAR + 10] = "GCCGGCGCCGGCGCCGGCGCC"     # no GATA-like word near the far SNV
    return "".join(seq)


def _train(rng):
    import keras

    keras.utils.set_random_seed(0)
    n = 3000
    x = rng.integers(0, 4, (n, LENGTH))
    y = rng.integers(0, 2, n)
    for i in np.flatnonzero(y):
        at = rng.integers(0, LENGTH - 6)
        x[i, at:at + 6] = ["ACGT".index(c) for c in MOTIF]
    x = np.eye(4, dtype=np.float32)[x]
    L = keras.layers
    model = keras.Sequential([
        keras.Input((LENGTH, 4), name="seq"), L.Conv1D(8, 6, activation="relu", name="conv"),
        L.GlobalMaxPooling1D(name="hidden"), L.Dense(1, activation="sigmoid", name="gata")])
    model.compile(keras.optimizers.Adam(5e-3), "binary_crossentropy")
    model.fit(x, y.astype(np.float32), epochs=10, batch_size=64, verbose=0)
    return model


#: (chrom, pos, id, ref, alt, what) of the VCF; pos 1-based.
def _records(genome: str):
    g = lambda p: genome[p - 1]          # noqa: E731  (1-based)
    s0, s1, s2 = (s + 1 for s in SITES)  # 1-based first base of each site
    far = FAR
    return [
        ("chr1", s0 + 1, "break_snv", "G", "C", "break"),
        ("chr1", s1 + 1, "break_mnv", "GA", "CT", "break"),
        ("chr1", NEAR + 4, "create", "C", "T", "create"),
        ("chr1", far, "far", g(far), {"G": "C", "C": "G"}[g(far)], "far"),
        ("chr1", 2700, "mismatch", "ACGT"[("ACGT".index(g(2700)) + 1) % 4], "A", "mismatch"),
        ("chr1", 2800, "indel", genome[2799:2801], genome[2799], "indel"),
        ("chr1", s2 + 3, ".", "T", "C,G", "multi"),
        ("chr1", 2900, "sv", g(2900), "<DEL>", "symbolic"),
        ("chr1", 5, "edge", g(5), "ACGT"[("ACGT".index(g(5)) + 2) % 4], "edge"),
    ]


def _write_vcf(path, records):
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID=chr1,length={SIZE}>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t.\t." for c, p, i, r, a, _ in records]
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".bgz.vcf.gz"):          # bgzip, as htslib writes it
        import pysam

        with pysam.BGZFile(str(path), "wb") as f:
            f.write(text.encode())
    elif str(path).endswith(".gz"):                 # plain gzip
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("variants")
    rng = np.random.default_rng(0)
    genome = _genome(rng)
    fasta = d / "genome.fa"
    fasta.write_text(">chr1\n" + "\n".join(genome[i:i + 60] for i in range(0, SIZE, 60)) + "\n")
    model = _train(rng)
    model_dir = K.write_model_dir(d / "gata", model=model, labels=("gata",))
    spec = yaml.safe_load((model_dir / "model.yaml").read_text())
    spec["schema"]["inputs"]["shape"] = f"({LENGTH}, 4)"
    spec["schema"]["targets"]["shape"] = "(1,)"
    spec["default_dataloader"]["default_args"]["auto_resize_len"] = LENGTH
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    records = _records(genome)
    vcf = _write_vcf(d / "variants.vcf.gz", records)
    out = {s: d / f"{s}.h5" for s in ("forward", "both")}
    for strands, h5 in out.items():
        assert cli.main(["variants", str(model_dir), "--vcf", str(vcf), "--fasta", str(fasta),
                         "-o", str(h5), "--summary", str(h5.with_suffix(".tsv")),
                         "--n-references", "8", "--batch-size", "4", "--strands", strands,
                         "--hypothetical"] + (["--bigwig", str(d / "tracks")]
                                              if strands == "forward" else [])) == 0
    return {"d": d, "genome": genome, "fasta": fasta, "vcf": vcf, "model": model,
            "model_dir": model_dir, "records": records, "out": out}


def _logits(model, x):
    """The pre-sigmoid output, from the model's own layers (the last Dense applied by hand)."""
    import keras

    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    w, b = model.get_layer("gata").get_weights()
    return (np.asarray(hidden(x), np.float64) @ w + b)[:, 0]


def _summary(world, strands="forward"):
    rows = vfile.read_tsv(world["out"][strands].with_suffix(".tsv"))
    return {(r["id"], r["alt"]): r for r in rows}, rows


def test_the_summary_columns_and_every_variant_listed(world):
    by_id, rows = _summary(world)
    with open(world["out"]["forward"].with_suffix(".tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
    assert header == ISSUE_COLUMNS + ["status"]
    # One row per ALT allele, in VCF order; the multi-allelic record's id built from it.
    s2 = SITES[2] + 1
    assert [r["id"] for r in rows] == ["break_snv", "break_mnv", "create", "far", "mismatch",
                                       "indel", f"chr1:{s2 + 3}:T:C", f"chr1:{s2 + 3}:T:G",
                                       "sv", "edge"]
    status = {k[0]: r["status"] for k, r in by_id.items()}
    assert status["mismatch"].startswith("not scored: REF ") and "FASTA" in status["mismatch"]
    assert status["indel"].startswith("not scored: indel")
    assert status["sv"].startswith("not scored: symbolic ALT <DEL>")
    assert "runs off chr1" in status["edge"]
    for key in ("mismatch", "indel", "sv", "edge"):
        assert by_id[next(k for k in by_id if k[0] == key)]["error"] == ""


def test_breaking_creating_and_far_variants(world):
    by_id, _ = _summary(world)
    d = {k[0]: float(r["delta_logit"]) for k, r in by_id.items() if r["status"] == "scored"}
    assert d["break_snv"] < -1 and d["break_mnv"] < -1, d
    assert d["create"] > 1, d
    assert abs(d["far"]) < 0.2 * min(abs(d["break_snv"]), abs(d["create"])), d
    for key, site in (("break_snv", SITES[0]), ("break_mnv", SITES[1]), ("create", NEAR)):
        r = by_id[next(k for k in by_id if k[0] == key)]
        lo, hi = int(r["window_start"]), int(r["window_end"])     # 1-based, inclusive
        assert hi - lo + 1 == 10
        assert lo <= site + 1 and site + 6 <= hi, (key, lo, hi, site)   # the whole site
        assert np.sign(float(r["window_delta_contrib"])) == np.sign(d[key])
        assert float(r["error"]) < 1e-3


def test_delta_logit_is_the_models_own_logit_difference(world):
    with h5py.File(world["out"]["forward"]) as f:
        x_ref, x_alt = f["ref/inputs/seq"][:], f["alt/inputs/seq"][:]
        got = {a: {k: f[f"{a}/{k}/gata"][:] for k in ("preds", "delta", "convergence")}
               | {"contrib": f[f"{a}/contrib/seq/gata"][:]} for a in ("ref", "alt")}
        ids = f["variants/id"].asstr()[:]
        start = f["metadata/ranges/start"][:]
        pos = f["variants/pos"][:]
        ref_alleles = f["variants/ref"].asstr()[:]
        assert f.attrs["file_kind"] == "variants"
    want = _logits(world["model"], x_alt) - _logits(world["model"], x_ref)
    np.testing.assert_allclose(got["alt"]["preds"] - got["ref"]["preds"], want, atol=1e-4)
    # The same references for both alleles: the deltas differ by exactly the logits'.
    np.testing.assert_allclose(got["alt"]["delta"] - got["ref"]["delta"], want, atol=1e-4)
    # ... and so do the contributions' sums.
    np.testing.assert_allclose(got["alt"]["contrib"].sum((1, 2)) -
                               got["ref"]["contrib"].sum((1, 2)), want, atol=1e-3)
    # The REF sequence is the genome's window centred as documented; ALT differs only there.
    g = world["genome"]
    for i in range(len(ids)):
        assert start[i] == pos[i] - 1 + len(ref_alleles[i]) // 2 - LENGTH // 2
        seq = "".join("ACGT"[j] for j in x_ref[i].argmax(-1))
        assert seq == g[start[i]:start[i] + LENGTH]
        changed = np.flatnonzero((x_ref[i] != x_alt[i]).any(-1))
        at = LENGTH // 2 - len(ref_alleles[i]) // 2
        assert set(changed) <= set(range(at, at + len(ref_alleles[i]))) and len(changed)
    by_id, _ = _summary(world)
    with h5py.File(world["out"]["forward"]) as f:
        alts = f["variants/alt"].asstr()[:]
    for i, vid in enumerate(ids):
        assert float(by_id[(vid, alts[i])]["delta_logit"]) == pytest.approx(want[i], abs=1e-4)


def test_both_strands_average_the_two_strands_differences(world):
    with h5py.File(world["out"]["both"]) as f:
        x_ref, x_alt = f["ref/inputs/seq"][:], f["alt/inputs/seq"][:]
        d = f["alt/preds/gata"][:] - f["ref/preds/gata"][:]
        assert f.attrs["strands"] == "both"
        assert np.all(f["ref/hyp_contrib/seq/gata"][:].shape == x_ref.shape)
    m = world["model"]
    rc = lambda x: x[:, ::-1, ::-1]      # noqa: E731
    want = ((_logits(m, x_alt) - _logits(m, x_ref)) +
            (_logits(m, rc(x_alt)) - _logits(m, rc(x_ref)))) / 2
    np.testing.assert_allclose(d, want, atol=1e-4)


def test_the_same_variant_scores_alike_in_any_batch(world, tmp_path):
    """References are drawn by the window's locus: the far variant alone (a batch of its own)
    gets the numbers it got among the others."""
    rec = [r for r in world["records"] if r[2] == "far"]
    vcf = _write_vcf(tmp_path / "one.vcf", rec)
    res = kd.variants(str(world["model_dir"]), vcf=str(vcf), fasta=str(world["fasta"]),
                      output=str(tmp_path / "one.h5"), n_references=8, progress=False)
    assert res["variants"] == 1 and res["snv"] == 1 and res["not_scored"] == {}
    with h5py.File(tmp_path / "one.h5") as f, h5py.File(world["out"]["forward"]) as g:
        i = list(g["variants/id"].asstr()[:]).index("far")
        np.testing.assert_allclose(f["alt/contrib/seq/gata"][0], g["alt/contrib/seq/gata"][i],
                                   atol=1e-5)
        np.testing.assert_allclose(f["ref/delta/gata"][0], g["ref/delta/gata"][i], atol=1e-5)


def test_tracks_hold_ref_alt_and_their_difference(world):
    import pyBigWig

    d = world["d"]
    with h5py.File(world["out"]["forward"]) as f:
        i = list(f["variants/id"].asstr()[:]).index("break_snv")
        ref = f["ref/contrib/seq/gata"][i].sum(-1)
        alt = f["alt/contrib/seq/gata"][i].sum(-1)
        s = int(f["metadata/ranges/start"][i])
    for which, want in (("ref", ref), ("alt", alt), ("alt_minus_ref", alt - ref)):
        bw = pyBigWig.open(str(d / f"tracks.gata.{which}.bw"))
        got = np.asarray(bw.values("chr1", s, s + LENGTH))
        bw.close()
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_cli_prints_what_it_scored(world, tmp_path, capsys):
    out = tmp_path / "v.h5"
    assert cli.main(["variants", str(world["model_dir"]), "--vcf", str(world["vcf"]),
                     "--fasta", str(world["fasta"]), "-o", str(out), "--n-references", "2"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.strip().splitlines()
    assert lines[0].startswith("scored 6 variants (5 SNV, 1 MNV) x 1 task(s)"), lines[0]
    assert "4 not scored (1 REF mismatch, 1 indel, 1 symbolic ALT, 1 window off the " \
           "chromosome)" in lines[0]
    assert lines[1:] == [f"wrote {out}"]
    assert "note: 1 variant(s) whose REF differs from the FASTA" in cap.err


def test_refusals(world, tmp_path, capsys):
    out = tmp_path / "r.h5"
    base = ["variants", str(world["model_dir"]), "--vcf", str(world["vcf"]), "--fasta",
            str(world["fasta"]), "-o", str(out)]
    fails(capsys, base + ["--width", "0"], out, "--width must be a whole number")
    fails(capsys, ["variants", str(world["model_dir"]), "--vcf", str(tmp_path / "no.vcf"),
                   "--fasta", str(world["fasta"]), "-o", str(out)], out, "no such file")
    bad = tmp_path / "bad.vcf"
    bad.write_text("not a vcf\n")
    fails(capsys, base[:2] + ["--vcf", str(bad)] + base[4:], out, "cannot read it as a VCF")
    # A model with a non-DNA input (5 channels: DNA and a signal).
    import keras

    i = keras.Input((LENGTH, 5), name="seq")
    o = keras.layers.Dense(1, name="o")(keras.layers.Flatten()(i))
    other = K.write_model_dir(tmp_path / "five", model=M.randomise(keras.Model(i, o)),
                              labels=("gata",))
    spec = yaml.safe_load((other / "model.yaml").read_text())
    spec["schema"]["inputs"] = {"name": "seq", "shape": f"({LENGTH}, 5)", "doc": "signal"}
    spec["schema"]["targets"]["shape"] = "(1,)"
    (other / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    fails(capsys, ["variants", str(other)] + base[2:], out,
          "variants needs a model whose only input is one-hot DNA")


def test_motifs_columns_come_from_the_annotator(world, tmp_path, monkeypatch):
    """--motifs DIR: each row's window (the summary's) goes to analysis.variant_motifs.annotate
    (stubbed here: its rule is tests/test_variant_analysis.py's) and its answer fills two more
    columns."""
    from kipoi_deeplift.analysis import variant_motifs

    seen = []

    def annotate(motifs_dir, variants):
        seen.extend(variants)
        return [("gata_pattern", "weakens" if w.window_start < NEAR - 100 else "creates")
                for w in variants]

    monkeypatch.setattr(variant_motifs, "annotate", annotate)
    motifs = tmp_path / "motifs"
    motifs.mkdir()
    (motifs / "patterns.tsv").write_text("pattern\n")
    recs = [r for r in world["records"] if r[2] in ("break_snv", "create")]
    vcf = _write_vcf(tmp_path / "two.bgz.vcf.gz", recs)
    res = kd.variants(str(world["model_dir"]), vcf=str(vcf), fasta=str(world["fasta"]),
                      output=str(tmp_path / "m.h5"), summary=str(tmp_path / "m.tsv"),
                      motifs=str(motifs), n_references=2, progress=False)
    rows = vfile.read_tsv(tmp_path / "m.tsv")
    assert list(rows[0])[-2:] == ["motif", "motif_effect"]
    assert [(r["motif"], r["motif_effect"]) for r in rows] == [("gata_pattern", "weakens"),
                                                              ("gata_pattern", "creates")]
    w = seen[0]
    assert w.seq_start == SITES[0] + 1 - LENGTH // 2 and w.ref_onehot.shape == (LENGTH, 4)
    assert w.window_end - w.window_start == 10 and w.task == "gata"
    assert w.window_start == int(rows[0]["window_start"]) - 1
    assert res["variants"] == 2
    # the windows the file gives annotate (variant_motifs.file_windows) are the same
    again = variant_motifs.file_windows(tmp_path / "m.h5")
    assert [(v.window_start, v.window_end, v.seq_start) for v in again] == \
        [(v.window_start, v.window_end, v.seq_start) for v in seen]
    for a, b in zip(again, seen):
        for key in ("ref_onehot", "alt_onehot", "ref_contrib", "alt_contrib"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_window_rule_and_reasons_without_a_model(tmp_path):
    assert vcf_lib.window_start(101, "A", 50) == 75      # the SNV is base 25 = L // 2
    assert vcf_lib.window_start(101, "AC", 50) == 76     # the REF's middle at base 25
    assert vcf_lib.first_reason("A", "AT").startswith("indel")
    assert vcf_lib.first_reason("A", "*").startswith("symbolic")
    assert vcf_lib.first_reason("N", "A").startswith("REF N holds")
    assert vcf_lib.first_reason("AC", "GT") == ""


def test_an_ensemble_scores_the_members_mean(world, tmp_path):
    """Two models (the trained one and a copy whose last layer is halved and shifted):
    delta_logit is the mean of the two models' logit differences, every allele's file sums to
    its delta, and the file names both members."""
    import json
    import shutil

    import keras

    other_dir = tmp_path / "other"
    shutil.copytree(world["model_dir"], other_dir)
    other = keras.models.clone_model(world["model"])
    other.set_weights(world["model"].get_weights())
    w, b = other.get_layer("gata").get_weights()
    other.get_layer("gata").set_weights([w * 0.5, b + 1.0])
    other.save(other_dir / "model.keras")
    out = tmp_path / "ens.h5"
    assert cli.main(["variants", str(world["model_dir"]), str(other_dir), "--vcf",
                     str(world["vcf"]), "--fasta", str(world["fasta"]), "-o", str(out),
                     "--n-references", "4"]) == 0
    with h5py.File(out) as f:
        x_ref, x_alt = f["ref/inputs/seq"][:], f["alt/inputs/seq"][:]
        got = f["alt/preds/gata"][:] - f["ref/preds/gata"][:]
        for a in ("ref", "alt"):
            np.testing.assert_allclose(f[f"{a}/contrib/seq/gata"][:].sum((1, 2)),
                                       f[f"{a}/delta/gata"][:], atol=1e-4)
        members = json.loads(f.attrs["members"])
        assert [m["model"] for m in members] == [str(world["model_dir"]), str(other_dir)]
        assert str(other_dir) in f.attrs["command"]
    want = np.mean([_logits(m, x_alt) - _logits(m, x_ref) for m in (world["model"], other)],
                   axis=0)
    np.testing.assert_allclose(got, want, atol=1e-4)
