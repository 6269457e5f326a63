"""`motifs` and `sites` on a simulation with planted GATA sites (examples/planted_sites.py): the
motif is recovered and matched to GATA in JASPAR, the sites are found at a stated false
discovery rate, in genome coordinates on the right strand, and the first layer's neurons
place their centres at least as close as the top-window heuristic."""
from __future__ import annotations

import csv

import numpy as np
import pytest

import planted_sites as S
import kipoi_deeplift as kd
from kipoi_deeplift import cli

pytest.importorskip("modiscolite", reason="modisco-lite is not installed "
                    "(pip install -e '.[motifs]')")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("planted")
    world = S.planted_world(d)
    out = d / "scores.h5"
    kd.score(str(world["model"]), world["args"], str(out), n_references=5, hypothetical=True,
             layers=["pwm"])
    motifs_dir = d / "motifs"
    assert cli.main(["motifs", str(out), "-o", str(motifs_dir), "--database", "jaspar"]) == 0
    return {**world, "h5": out, "motifs": motifs_dir, "d": d}


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_motifs_recovers_the_planted_motif_and_matches_gata(sim):
    patterns = read_tsv(sim["motifs"] / "patterns.tsv")
    found = [p for p in patterns if p["consensus"].upper() in (S.MOTIF, S.REVERSE)]
    assert found, patterns
    best = found[0]
    # Most planted sites (120) are among its seqlets; JASPAR's best match is a GATA factor.
    assert int(best["seqlets"]) >= 100
    assert "GATA" in best["match_1"].upper() or "GATA" in best["match_2"].upper(), best
    assert float(best["q_1"]) < 0.05
    for f in ("modisco.h5", "patterns.meme", "usage.tsv", "seqlets.tsv", best["logo"]):
        assert (sim["motifs"] / f).stat().st_size > 0
    # Which sequences use it: the planted ones, each carrying most of its delta there.
    usage = [u for u in read_tsv(sim["motifs"] / "usage.tsv") if u["pattern"] == best["pattern"]]
    rows = {int(u["row"]) for u in usage}
    # TF-MoDISco keeps most of the 120 planted sites in its pattern; the rest fall out of its
    # clustering, how many depends on the reference draw: 81-97 over seeds 0 and 2-5 with the
    # first random stream, 83-94 with today's (87 at seed 0).
    assert len(rows & set(sim["planted"])) >= 0.65 * len(sim["planted"])
    shares = [float(u["share_of_delta"]) for u in usage if int(u["row"]) in sim["planted"]]
    assert np.median(shares) > 0.5
    # modisco-lite reads its own results file back (its `meme` command).
    from memelite.io import read_meme

    assert len(read_meme(str(sim["motifs"] / "patterns.meme"))) == len(patterns)


def bed_rows(path):
    rows = []
    for line in open(path):
        if line.startswith("#"):
            continue
        chrom, a, b, name, score, strand, c, _ = line.rstrip("\n").split("\t")
        # interval|task|pattern|contribution|intervals that called it/that hold it (one
        # interval each here: the planted intervals do not overlap)
        interval, task, pattern, total, support = name.split("|")
        assert support == "1/1", line
        rows.append({"row": int(interval[1:]), "start": int(a), "end": int(b),
                     "pattern": pattern, "strand": strand, "centre": int(c) + 0.5,
                     "score": float(total)})
    return rows


def test_sites_find_the_planted_sites_at_the_stated_rate(sim, tmp_path):
    out = tmp_path / "sites.bed"
    assert cli.main(["sites", str(sim["h5"]), "-o", str(out), "--fdr", "0.05",
                     "--motifs", str(sim["motifs"])]) == 0
    rows = bed_rows(out)
    planted = sim["planted"]

    def on_site(r):
        if r["row"] not in planted:
            return False
        p = planted[r["row"]][0]
        return r["start"] < p + len(S.MOTIF) and r["end"] > p

    found = {r["row"] for r in rows if on_site(r)}
    assert len(found) == len(planted)                       # every planted site
    assert np.mean([on_site(r) for r in rows]) >= 0.8       # calls elsewhere: partial sites
    # Strand: the pattern's reading strand agrees with the planted one (up to the pattern's
    # own orientation, which TF-MoDISco chooses).
    gata = read_tsv(sim["motifs"] / "patterns.tsv")[0]["pattern"]
    named = [r for r in rows if on_site(r) and r["pattern"] == gata]
    # Named only where TF-MoDISco kept the site in its pattern (see the test above: 65% or
    # more of the planted sites, depending on the reference draw).
    assert len(named) >= 0.65 * len(planted)
    agree = [r["strand"] == planted[r["row"]][1] for r in named]
    assert np.mean(agree) >= 0.95 or np.mean(agree) <= 0.05, agree
    import pybedtools

    assert len(pybedtools.BedTool(str(out))) == len(rows)   # a BED that bedtools reads


def test_first_layer_neurons_place_centres_at_least_as_close_as_the_top_window(sim, tmp_path):
    """Centres in the sequence (continuous positions; every interval is read forward here):
    the planted site's middle, the top 10 bp window's middle, and the called sites' centres
    without and with the first layer's neurons."""
    from kipoi_deeplift.analysis.sites import sites
    from kipoi_deeplift.io import scorefile as sf

    import _kipoi_dirs as K

    genome = K.read_genome(sim["fasta"])["chr1"]

    def sites_in(row):
        seq = genome[row * S.SPACING:row * S.SPACING + S.LENGTH]
        return sum(seq[k:k + 6] in (S.MOTIF, S.REVERSE) for k in range(S.LENGTH - 5))

    # Sequences whose only full site is the planted one (random sequence holds a few more).
    planted = {row: p - row * S.SPACING + len(S.MOTIF) / 2
               for row, (p, _) in sim["planted"].items() if sites_in(row) == 1}
    assert len(planted) >= 100
    with sf.ScoreFile(sim["h5"]) as h5:
        per_base = h5["contrib/seq/gata"][:].sum(-1)
    windows = np.stack([np.convolve(x, np.ones(10), "valid") for x in per_base])
    top = np.mean([abs(windows[i].argmax() + 5 - c) for i, c in planted.items()])
    distance = {}
    for layer in (None, "pwm"):
        called = sites(str(sim["h5"]), str(tmp_path / f"{layer}.bed"), layer=layer)["sites"]
        best = {}
        for site in called:
            if site.row in planted and site.score > best.get(site.row, (-np.inf,))[0]:
                best[site.row] = (site.score, site.centre)
        assert set(best) == set(planted)
        distance[layer] = np.mean([abs(best[i][1] - c) for i, c in planted.items()])
    assert distance[None] <= top + 1e-9
    assert distance["pwm"] <= distance[None], distance
    print(f"centre distance: top window {top:.3f}, sites {distance[None]:.3f}, sites with "
          f"layer {distance['pwm']:.3f} over {len(planted)} sequences")
    assert distance["pwm"] < 0.5, distance        # the filter's position is the site's


def test_sites_errors_say_what_to_do(sim, tmp_path, capsys):
    assert cli.main(["sites", str(sim["h5"]), "-o", str(tmp_path / "x.bed"),
                     "--layer", "nope"]) == 2
    assert "score again with --layers nope" in capsys.readouterr().err
    assert cli.main(["sites", str(sim["h5"]), "-o", str(tmp_path / "x.bed"), "--fdr", "2"]) == 2
    assert not (tmp_path / "x.bed").exists()


def test_report_shows_motifs_usage_and_sites(sim, tmp_path):
    """`compare --motifs --sites`: the patterns with their logos and matches, the per-sequence
    motif use (sortable), and the sites shaded on the logos, in one self-contained page."""
    import re

    grad = tmp_path / "grad.h5"
    kd.score(str(sim["model"]), sim["args"], str(grad), rule="grad-input")
    bed = tmp_path / "sites.bed"
    assert cli.main(["sites", str(sim["h5"]), "-o", str(bed), "--motifs",
                     str(sim["motifs"])]) == 0
    report = tmp_path / "report.html"
    assert cli.main(["compare", str(sim["h5"]), str(grad), "-o", str(report), "--motifs",
                     str(sim["motifs"]), "--sites", str(bed), "--example", "0"]) == 0
    text = report.read_text()
    assert "one model, model, in 2 files" in text
    assert "<b>pos_0</b>" in text and "best database match MA" in text
    assert "Which motifs each sequence uses" in text and "pos_0 share of delta" in text
    assert f"{len(bed_rows(bed))} sites from" in text
    assert "chr1:" in text and "(row 0, i0; chosen)" in text
    # Every image is embedded (no file or network reference).
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r"src=['\"]([^'\"]+)", text))
    assert cli.main(["compare", str(sim["h5"]), str(grad), "-o", str(tmp_path / "x.html"),
                     "--motifs", str(tmp_path / "nowhere")]) == 2
