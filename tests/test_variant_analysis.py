"""Variants files in the analysis tools: `plot --variant`, `compare` of variants files and the
motif annotation of variant windows (analysis/variant_*.py).

Two GATA scanners (a strict one: only AGATAA fires; a tolerant one: one mismatch fires at
4/7 of a full site, two at 1/7), written as Kipoi model directories, score the SNVs of a VCF
that break, create or strengthen planted sites with `kipoi-deeplift variants` (kd.variants).
Numbers are checked against the models' own forward passes, the genome itself and
computations written here; the windows of plot, compare and annotate against the summary's.
"""
from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
import yaml
from scipy import stats

import _kipoi_dirs as K
import kipoi_deeplift as kd
from _cli import browser_or_skip, fails, opens_and_sorts
from kipoi_deeplift import cli

MOTIF, L, HALF, CHROM_LEN = "AGATAA", 100, 50, 3000
RC = MOTIF[::-1].translate(str.maketrans("ACGT", "TGCA"))
ONEHOT = {b: i for i, b in enumerate("ACGT")}
#: (id, 0-based position, planted sequence at, what is planted, alt base)
PLANTS = [("rs_break", 301, 300, MOTIF, "C"),          # AGATAA -> ACATAA
          ("rs_create", 602, 600, "AGCTAA", "A"),      # AGCTAA -> AGATAA
          ("rs_minus", 904, 900, RC, "G"),             # TTATCT -> TTATGT: the - strand site
          ("rs_far", 1201, 1160, MOTIF, "T")]          # a site 40 bp from the variant


def scanner(bias: float, weight: float):
    """Conv1D 'pwm' (AGATAA and its reverse complement: +2 a matching base, -1 another;
    ``bias``), ReLU, average over positions, Dense (``weight``) to one logit."""
    import keras

    i = keras.Input((L, 4), name="seq")
    conv = keras.layers.Conv1D(2, 6, activation="relu", name="pwm")
    out = keras.layers.Dense(1, name="out")(keras.layers.GlobalAveragePooling1D()(conv(i)))
    model = keras.Model(i, out)
    w = np.full((6, 4, 2), -1.0, np.float32)
    for k, (b, rb) in enumerate(zip(MOTIF, RC)):
        w[k, ONEHOT[b], 0] = w[k, ONEHOT[rb], 1] = 2.0
    conv.set_weights([w, np.full(2, bias, np.float32)])
    model.get_layer("out").set_weights([np.full((2, 1), weight, np.float32), np.zeros(1, "f")])
    return model


def near_sites(seq: str, most: int = 1) -> list[int]:
    return [p for p in range(len(seq) - 5) for m in (MOTIF, RC)
            if sum(a != b for a, b in zip(seq[p:p + 6], m)) <= most]


def genome_and_variants(rng) -> tuple[str, list[tuple]]:
    """A chromosome without AGATAA within one mismatch except where planted (the tolerant
    model also fires, weakly, on two mismatches: they are left); variants
    (id, pos0, ref, alt): the planted ones and 8 in the background."""
    g = list(rng.choice(list("ACGT"), CHROM_LEN))
    while hits := near_sites("".join(g)):
        for p in hits:
            g[p:p + 6] = rng.choice(list("ACGT"), 6)
    for _, _, at, planted, _ in PLANTS:
        g[at:at + 6] = planted
    seq = "".join(g)
    variants = [(vid, pos, seq[pos], alt if alt != seq[pos] else "ACGT"[ONEHOT[alt] - 1])
                for vid, pos, _, _, alt in PLANTS]
    for k, pos in enumerate(range(1500, 2900, 175)):
        alt = next(b for b in "ACGT" if b != seq[pos] and not near_sites(
            seq[pos - 10:pos] + b + seq[pos + 1:pos + 11]))
        variants.append((f"bg{k}", pos, seq[pos], alt))
    return seq, variants


def model_dir(d, model, task: str):
    """A Kipoi model directory of a scanner: one task, input length L."""
    path = K.write_model_dir(d, model=model, shape=(L, 4), labels=(task,),
                             dataloader_args={"auto_resize_len": L})
    spec = yaml.safe_load((path / "model.yaml").read_text())
    spec["schema"]["targets"]["shape"] = "(1,)"
    (path / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("variants")
    seq, variants = genome_and_variants(np.random.default_rng(3))
    fasta = d / "genome.fa"
    fasta.write_text(">chr1\n" + "".join(seq[k:k + 60] + "\n" for k in range(0, CHROM_LEN, 60)))
    vcf = d / "variants.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" +
                   "".join(f"chr1\t{p + 1}\t{v}\t{r}\t{a}\t.\t.\t.\n" for v, p, r, a in variants))
    out = {"d": d, "seq": seq, "variants": variants, "fasta": fasta, "vcf": vcf}
    for name, bias, weight, task in (("strict", -9.0, 30.0, "gata"),
                                     ("tolerant", -5.0, 20.0, "GATA1")):
        model = scanner(bias, weight)
        path = d / f"{name}.h5"
        res = kd.variants(str(model_dir(d / name, model, task)), vcf=str(vcf), fasta=str(fasta),
                          output=str(path), summary=str(d / f"{name}.tsv"), n_references=32,
                          progress=False)
        assert res["variants"] == len(variants) and res["not_scored"] == {}
        with h5py.File(path) as f:
            x = {a: f[f"{a}/inputs/seq"][:] for a in ("ref", "alt")}
        logits = {a: np.asarray(model(x[a]))[:, 0] for a in x}     # the model's own pass
        out[name] = {"path": path, "tsv": d / f"{name}.tsv", "task": task, "model": model,
                     "logits": logits, **x}
    return out


def test_variants_file_is_written_as_the_contract_says(world):
    """The fixture itself: ids, alleles, positions and sequences as planted (a mistake here
    would make every other test meaningless)."""
    from kipoi_deeplift.analysis.variant_data import VariantsFile

    seq = world["seq"]
    for name in ("strict", "tolerant"):
        with VariantsFile(world[name]["path"]) as vf:
            assert vf.ids.tolist() == [v[0] for v in world["variants"]]
            assert vf.ref.tolist() == [v[2] for v in world["variants"]]
            assert vf.alt.tolist() == [v[3] for v in world["variants"]]
            assert vf.find("rs_break") == 0 and vf.find("chr1:603") == 1
            assert vf.find("chr1:905:C:G") == 2
            assert vf.seq_starts().tolist() == [p - HALF for _, p, _, _ in world["variants"]]
        w = world[name]
        for k, (_, p, ref, alt) in enumerate(world["variants"]):
            want = np.eye(4)[[ONEHOT[b] for b in seq[p - HALF:p + HALF]]]
            np.testing.assert_array_equal(w["ref"][k], want)
            want[HALF] = np.eye(4)[ONEHOT[alt]]
            np.testing.assert_array_equal(w["alt"][k], want)
    assert world["seq"][300:306] == MOTIF and world["variants"][0][2:] == ("G", "C")


# ---------------------------------------------------------------- plot --variant


def test_plot_variant_draws_ref_over_alt_on_one_scale(world, capsys):
    from kipoi_deeplift.analysis.variant_data import VariantsFile
    from kipoi_deeplift.analysis.variant_plot import variant_figure, variant_panels

    w = world["strict"]
    png = world["d"] / "break.png"
    assert cli.main(["plot", str(w["path"]), "--variant", "rs_break", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in capsys.readouterr().out
    with VariantsFile(w["path"]) as vf:
        p = variant_panels(vf, 0, "gata")
        contrib = vf.contrib("ref", "gata", 0)
    # genome positions 1-based: the window is chr1:252-351 (BED 251-351), the variant chr1:302
    assert p["positions"][0] == 252 and p["positions"][-1] == 351
    assert p["marks"]["ref"] == (302, 302)
    np.testing.assert_allclose(p["ref"], contrib)
    # contributions sum to the logit's change from the references: ALT loses the site
    assert p["delta_logit"] == pytest.approx(w["logits"]["alt"][0] - w["logits"]["ref"][0],
                                             abs=1e-4)
    assert p["delta_logit"] < -0.9 and p["ref"][49:55].sum() > 0.9 and abs(p["alt"].sum()) < 0.05
    assert p["window"][0] <= 302 <= p["window"][1]
    fig = variant_figure(str(w["path"]), "chr1:302:G:C")
    try:
        a, b, diff = fig.axes[:3]
        assert a.get_ylim() == b.get_ylim()
        title = a.get_title().replace("\n", " ")
        assert "chr1:302 G>C" in title and "task gata" in title
        assert f"{p['delta_logit']:+.3g}" in title
        assert "chr1 position" in diff.get_xlabel()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_plot_refuses_in_one_line(world, capsys, tmp_path):
    path = str(world["strict"]["path"])
    out = tmp_path / "x.png"
    fails(capsys, ["plot", path, "-o", str(out)], out, "--variant")
    msg = fails(capsys, ["plot", path, "--variant", "rs_nothing", "-o", str(out)], out,
                "rs_nothing")
    assert "rs_break" in msg
    fails(capsys, ["plot", path, "--variant", "chr1:302:G:T", "-o", str(out)], out, "not in")
    fails(capsys, ["plot", path, "--variant", "rs_break", "--task", "ctcf", "-o", str(out)],
          out, "tasks: gata")
    score = tmp_path / "scores.h5"
    with h5py.File(score, "w") as f:
        f["contrib/seq/gata"] = np.zeros((1, L, 4))
    fails(capsys, ["plot", str(score), "--variant", "rs_break", "-o", str(out)], out,
          "--example")
    assert not out.exists()


# ---------------------------------------------------------------- compare


def read_tsv(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def windows_here(w: dict, width: int) -> np.ndarray:
    """Each variant's window, 0-based genome start, computed here from the file's datasets:
    the first of the highest sums of |alt - ref| per base over ``width`` bases."""
    with h5py.File(w["path"]) as f:
        ref, alt = (f[f"{a}/contrib/seq/{w['task']}"][:].astype(np.float64) for a in ("ref", "alt"))
        starts = f["metadata/ranges/start"][:]
    change = np.abs(alt.sum(-1) - ref.sum(-1))
    best = [max(range(L - width + 1), key=lambda s: (c[s:s + width].sum(), -s)) for c in change]
    return np.array(best) + starts


def test_every_window_is_the_summarys(world, capsys):
    """One rule, one function: for every variant of both files, the window of the summary TSV
    (`variants --summary`), of `compare --tsv` (default width), of `plot --variant` and of the
    motif annotation is the same, and is the one computed here."""
    from kipoi_deeplift.analysis.variant_data import VariantsFile
    from kipoi_deeplift.analysis.variant_motifs import file_windows
    from kipoi_deeplift.analysis.variant_plot import variant_panels

    d, s, t = world["d"], world["strict"], world["tolerant"]
    tsv = d / "default_width.tsv"
    assert cli.main(["compare", str(s["path"]), str(t["path"]), "-o",
                     str(d / "default_width.html"), "--tsv", str(tsv)]) == 0
    compared = [r for r in read_tsv(tsv) if r["variant"] != "all"]
    for w, side in ((s, "window_a"), (t, "window_b")):
        summary = read_tsv(w["tsv"])
        want = [(int(r["window_start"]), int(r["window_end"])) for r in summary]
        here = windows_here(w, 10)
        assert want == [(x + 1, x + 10) for x in here]
        assert [r[side] for r in compared] == [f"chr1:{a}-{b}" for a, b in want]
        with VariantsFile(w["path"]) as vf:
            assert [variant_panels(vf, i, w["task"])["window"] for i in range(vf.n)] == want
        assert [(v.window_start + 1, v.window_end) for v in file_windows(w["path"])] == want
    capsys.readouterr()


def test_compare_variants_files_of_two_models(world, capsys):
    d, s, t = world["d"], world["strict"], world["tolerant"]
    report, tsv = d / "variants.html", d / "variants.tsv"
    assert cli.main(["compare", str(s["path"]), str(t["path"]), "-o", str(report), "--tsv",
                     str(tsv), "--width", "8"]) == 0
    printed = capsys.readouterr().out
    rows = read_tsv(tsv)
    n = len(world["variants"])
    assert len(rows) == n + 1 and rows[-1]["variant"] == "all"
    # the models' task names differ: the first task of each is compared
    assert {(r["task_a"], r["task_b"]) for r in rows} == {("gata", "GATA1")}
    da = s["logits"]["alt"] - s["logits"]["ref"]
    db = t["logits"]["alt"] - t["logits"]["ref"]
    for k, r in enumerate(rows[:-1]):
        assert r["variant"] == world["variants"][k][0]
        assert float(r["delta_logit_a"]) == pytest.approx(da[k], abs=1e-4)
        assert float(r["delta_logit_b"]) == pytest.approx(db[k], abs=1e-4)
    summary = rows[-1]
    assert int(summary["n"]) == n
    assert float(summary["pearson"]) == pytest.approx(np.corrcoef(da, db)[0, 1], abs=1e-4)
    assert float(summary["spearman"]) == pytest.approx(stats.spearmanr(da, db)[0], abs=1e-4)
    same = np.mean([float(r["delta_logit_a"]) * float(r["delta_logit_b"]) > 0 or
                    float(r["delta_logit_a"]) == float(r["delta_logit_b"]) == 0
                    for r in rows[:-1]])
    assert float(summary["same_sign"]) == pytest.approx(same)
    wa, wb = windows_here(dict(s, variants=world["variants"]), 8), \
        windows_here(dict(t, variants=world["variants"]), 8)
    assert [r["window_a"] for r in rows[:-1]] == [f"chr1:{x + 1}-{x + 8}" for x in wa]
    assert float(summary["windows_overlap"]) == pytest.approx(np.mean(np.abs(wa - wb) < 8))
    # the broken sites: both models lose, and their windows hold the variant
    assert da[0] < -0.5 and db[0] < -0.5 and wa[0] <= 301 < wa[0] + 8
    assert "strict.h5:gata vs tolerant.h5:GATA1: 12 variants in common" in printed
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 1 and "rs_break" in page


def test_compare_matches_variants_by_position_and_alleles(world, capsys, tmp_path):
    """A file of the same variants in another order, two missing, ids renamed: matched by
    chrom, pos, ref and alt; the same task name is compared by name."""
    s = world["strict"]
    other = tmp_path / "shuffled.h5"
    order = np.array([5, 3, 0, 1, 2, 7, 6, 4, 9, 8])           # rows 10 and 11 left out
    with h5py.File(s["path"]) as f, h5py.File(other, "w") as g:
        def copy(name, obj):
            if isinstance(obj, h5py.Dataset):
                g[name] = obj[:][order]
        f.visititems(copy)
        g.attrs.update(dict(f.attrs))
        g["variants/id"][...] = np.array([f"x{k}" for k in range(len(order))], dtype="S")
    tsv = tmp_path / "t.tsv"
    assert cli.main(["compare", str(s["path"]), str(other), "-o", str(tmp_path / "r.html"),
                     "--tsv", str(tsv)]) == 0
    rows = read_tsv(tsv)
    assert rows[-1]["n"] == "10" and rows[-1]["task_b"] == "gata"
    assert float(rows[-1]["pearson"]) == pytest.approx(1.0)
    assert float(rows[-1]["same_sign"]) == 1.0 and float(rows[-1]["windows_overlap"]) == 1.0
    assert [r["variant"] for r in rows[:-1]] == [v[0] for v in world["variants"][:10]]


def test_compare_refuses_mixed_files_in_one_line(world, capsys, tmp_path):
    score = tmp_path / "scores.h5"
    with h5py.File(score, "w") as f:
        f["contrib/seq/gata"] = np.zeros((1, L, 4))
        f.attrs["kipoi_deeplift_version"] = "test"
    out = tmp_path / "r.html"
    fails(capsys, ["compare", str(world["strict"]["path"]), str(score), "-o", str(out)], out,
          "not both")
    fails(capsys, ["compare", str(world["strict"]["path"]), str(world["tolerant"]["path"]),
                   "--motifs", str(tmp_path), "-o", str(out)], out, "for score files")
    assert not out.exists()


def test_variant_report_opens_in_a_headless_browser(world, tmp_path):
    browser = browser_or_skip()
    report = tmp_path / "v.html"
    assert cli.main(["compare", str(world["strict"]["path"]), str(world["tolerant"]["path"]),
                     "-o", str(report)]) == 0
    probe = tmp_path / "probe.html"
    opens_and_sorts(browser, report, probe, "variants0", "delta logit a")


# ---------------------------------------------------------------- motifs at variants


def motifs_dir(d, patterns: dict, seqlets: list[dict] | None = None):
    """A `kipoi-deeplift motifs` directory as annotate reads it: modisco.h5 (each pattern's
    contrib_scores), patterns.tsv and, where given, seqlets.tsv."""
    d.mkdir()
    with h5py.File(d / "modisco.h5", "w") as f:
        for name, cwm in patterns.items():
            sign, _, k = name.partition("_")
            f[f"{sign}_patterns/pattern_{k}/contrib_scores"] = cwm
            f[f"{sign}_patterns/pattern_{k}/sequence"] = (cwm != 0).astype(float)
    (d / "patterns.tsv").write_text("pattern\tgroup\n" + "".join(f"{n}\tmajor\n"
                                                                 for n in patterns))
    if seqlets is not None:
        cols = ("row", "pattern", "start", "end", "reverse", "chr", "genome_start",
                "genome_end")
        (d / "seqlets.tsv").write_text("\t".join(cols) + "\n" + "".join(
            "\t".join(str(r.get(c, "")) for c in cols) + "\n" for r in seqlets))
    return d


def gata_cwm(w: dict) -> np.ndarray:
    """The CWM of the planted sites as TF-MoDISco would average them: the ref contributions of
    the forward sites (rows 0 and 3) over AGATAA, with 3 flanking bases each side."""
    rows = [(0, HALF - 1 - 3), (3, HALF - 41 - 3)]
    from kipoi_deeplift.analysis.variant_data import VariantsFile

    with VariantsFile(w["path"]) as vf:
        c = vf.contrib("ref", w["task"])
    return np.mean([c[i, s:s + 12] for i, s in rows], axis=0)


def windows_of(w: dict, rows: list[int], width: int = 10):
    """The windows annotate reads, as `variants --motifs` gives them (sequences from
    /ref/inputs and /alt/inputs)."""
    from kipoi_deeplift.analysis.variant_motifs import file_windows

    found = file_windows(w["path"], w["task"], width)
    for i in rows:
        np.testing.assert_array_equal(found[i].ref_onehot, w["ref"][i])
    return [found[i] for i in rows]


ECAT = np.zeros((6, 4))
ECAT[np.arange(6), [ONEHOT[b] for b in "CACGTG"]] = 0.4


def test_annotate_finds_broken_created_and_strengthened_sites(world, tmp_path):
    from kipoi_deeplift.analysis.variant_motifs import annotate

    s, t = world["strict"], world["tolerant"]
    strict_dir = motifs_dir(tmp_path / "strict", {"pos_0": gata_cwm(s), "pos_1": ECAT})
    got = annotate(strict_dir, windows_of(s, [0, 1, 2, 4]))
    # AGATAA -> ACATAA; AGCTAA (silent for the strict model) -> AGATAA; the - strand site
    # broken (the CWM's reverse complement); a background SNV: no site in either allele
    assert got == [("pos_0", "weakens"), ("pos_0", "creates"), ("pos_0", "weakens"),
                   ("", "")]
    tolerant_dir = motifs_dir(tmp_path / "tolerant", {"pos_0": gata_cwm(t)})
    # the tolerant model already uses AGCTAA: the SNV makes it stronger, not new; one
    # mismatch is still a site for it, at half the contribution: weakened
    assert annotate(tolerant_dir, windows_of(t, [1, 0])) == [("pos_0", "strengthens"),
                                                             ("pos_0", "weakens")]


def test_annotate_names_the_pattern_whose_seqlets_lie_in_the_window(world, tmp_path):
    """Seqlets placed in the genome name the pattern; the scan then judges only that one (an
    E-box seqlet over the broken GATA site: named, and neither allele holds an E-box)."""
    from kipoi_deeplift.analysis.variant_motifs import annotate

    s = world["strict"]
    [window] = windows_of(s, [0])
    seqlets = [{"row": 0, "pattern": "pos_1", "start": 10, "end": 20, "reverse": 0,
                "chr": "chr1", "genome_start": window.window_start - 2,
                "genome_end": window.window_start + 6},
               {"row": 1, "pattern": "pos_0", "start": 0, "end": 12, "reverse": 0,
                "chr": "chr2", "genome_start": window.window_start,
                "genome_end": window.window_start + 12}]
    d = motifs_dir(tmp_path / "placed", {"pos_0": gata_cwm(s), "pos_1": ECAT}, seqlets)
    assert annotate(d, [window]) == [("pos_1", "none")]
    old = motifs_dir(tmp_path / "old", {"pos_0": gata_cwm(s), "pos_1": ECAT},
                     [{k: v for k, v in r.items() if k in ("row", "pattern", "start", "end",
                                                          "reverse")} for r in seqlets])
    assert annotate(old, [window]) == [("pos_0", "weakens")]
    with pytest.raises(Exception, match="patterns.tsv and modisco.h5"):
        annotate(tmp_path / "nowhere", [window])


def test_motifs_places_seqlets_in_the_genome():
    """seqlets.tsv's genome columns: a seqlet [a, b) of a sequence read forward lies at
    g0 + a; of one read reversed, at g0 + L - b (g0: the sequence's start in its range)."""
    from kipoi_deeplift.analysis.motifs import _genome_places

    ranges = {"chr": np.array(["chr1", "chr2"]), "start": np.array([100, 500]),
              "end": np.array([220, 600])}
    place = _genome_places(ranges, np.array([False, True]), 100)
    assert place(0, 10, 20) == {"chr": "chr1", "genome_start": 120, "genome_end": 130}
    assert place(1, 10, 20) == {"chr": "chr2", "genome_start": 580, "genome_end": 590}
    assert _genome_places({}, None, 100)(0, 1, 2)["chr"] == ""


def test_the_example_annotates_variants_with_real_motifs_output(tmp_path):
    """examples/variant_effects.py end to end: `score`, `motifs` (TF-MoDISco), variants files,
    `plot --variant`, `compare` and annotate; seqlets.tsv places the AGATAA seqlets on the
    planted sites."""
    pytest.importorskip("modiscolite", reason="modisco-lite (the motifs extra) is not installed")
    import variant_effects

    found = variant_effects.main(["--out", str(tmp_path)])
    effects = {vid.split("_")[0]: set() for vid, _, _ in found}
    for vid, pattern, effect in found:
        effects[vid.split("_")[0]].add((pattern, effect))
    assert effects == {"break": {("pos_0", "weakens")}, "strengthen": {("pos_0", "strengthens")},
                       "create": {("pos_0", "creates")}, "background": {("", "")}}
    with open(tmp_path / "motifs" / "seqlets.tsv") as fh:
        seqlets = [r for r in csv.DictReader(fh, delimiter="\t") if r["pattern"] == "pos_0"]
    from planted_sites import SPACING

    # interval i is chr1:[i * SPACING, i * SPACING + 100), read forward
    assert all(int(r["genome_start"]) == int(r["row"]) * SPACING + int(r["start"]) and
               int(r["genome_end"]) == int(r["row"]) * SPACING + int(r["end"]) for r in seqlets)
    planted = variant_effects.planted_world(tmp_path / "again")["planted"]
    covered = [any(int(r["genome_start"]) <= p and p + 6 <= int(r["genome_end"])
                   for r in seqlets) for p, _ in planted.values()]
    assert np.mean(covered) > 0.6        # 0.75 here: TF-MoDISco keeps most of them
    assert (tmp_path / "break_2.png").stat().st_size > 10_000
    assert read_tsv(tmp_path / "variants.tsv")[-1]["n"] == "10"
    # the VCF's SNVs, scored by `variants`: the G of each planted + strand site (C on -)
    found_vcf = read_tsv(tmp_path / "scanner.tsv")
    assert [r["status"] for r in found_vcf] == ["scored"] * 10
    assert all(float(r["delta_logit"]) < 0 for r in found_vcf if r["id"].startswith("break"))
