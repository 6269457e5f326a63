"""Outputs that must not overstate (issue 23): `sites` on overlapping intervals writes each
genomic site once; the `compare` report shows whole intervals (or says exactly what it shows),
picks "most disagreeing" intervals that have something to disagree about, names files as the
command prints them and explains its shading; `plot` titles fit the figure and say where the
logo lies in the genome and on which strand.

The world is examples/planted_sites.py's (AGATAA planted in every other interval, a GATA
scanner model), scored on 100 bp intervals tiled every 20 bp over its first 3,000 bp, on
alternating strands: each base is held by five intervals, two or three of them read on the
minus strand.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import _kipoi_dirs as K
import planted_sites as S
import kipoi_deeplift as kd
from kipoi_deeplift import cli

STRETCH, STEP = 3000, 20
TILES = [("chr1", s, s + S.LENGTH, f"t{k}", 0, "+-"[k % 2])
         for k, s in enumerate(range(0, STRETCH - S.LENGTH, STEP))]


@pytest.fixture(scope="module")
def tiled(tmp_path_factory):
    """Two score files of one model and rule (other reference seeds), both named tiled.h5,
    in run1/ and run2/; the planted sites inside the tiled stretch."""
    d = tmp_path_factory.mktemp("tiled")
    world = S.planted_world(d)
    bed = K.write_bed(d, TILES, "tiled.bed")
    args = {"intervals_file": str(bed), "fasta_file": str(world["fasta"])}
    files = []
    for run, seed in (("run1", 0), ("run2", 7)):
        (d / run).mkdir()
        files.append(d / run / "tiled.h5")
        kd.score(str(world["model"]), args, str(files[-1]), n_references=5, seed=seed)
    genome = K.read_genome(world["fasta"])["chr1"]

    def alone(p):
        """No other full site within a window's width: two sites 11 bp apart (chr1:1,266
        and 1,277 here, the first by chance) are called as windows that straddle both."""
        m = len(S.MOTIF)
        near = genome[max(0, p - 10 - m):p + m + 10 + m]
        return sum(near[k:k + 6] in (S.MOTIF, S.REVERSE) for k in range(len(near) - 5)) == 1

    planted = {p: strand for p, strand in world["planted"].values()
               if p + len(S.MOTIF) <= STRETCH - STEP and alone(p)}
    assert len(planted) >= 8
    return {"d": d, "files": files, "planted": planted, "fasta": world["fasta"]}


def read_sites(path):
    out = []
    for line in open(path):
        if line.startswith("#"):
            continue
        chrom, a, b, name, score, strand, c, c1 = line.rstrip("\n").split("\t")
        interval, task, pattern, total, support = name.split("|")
        called, holding = map(int, support.split("/"))
        out.append({"chrom": chrom, "start": int(a), "end": int(b), "interval": interval,
                    "score": float(total), "called": called, "holding": holding})
    return out


# --- sites ----------------------------------------------------------------------------------

def test_sites_on_overlapping_intervals_give_each_genomic_site_once(tiled, tmp_path, capsys):
    from kipoi_deeplift.analysis.sites import sites

    out = tmp_path / "sites.bed"
    assert cli.main(["sites", str(tiled["files"][0]), "-o", str(out)]) == 0
    lines = read_sites(out)
    printed = capsys.readouterr().out
    # What the command says it wrote is what the file holds.
    assert printed.startswith(f"{len(lines)} site(s) called in "), printed
    # Each planted site is called by several of the five intervals holding it: before the
    # merging, one line per call.
    calls = sites(str(tiled["files"][0]), str(tmp_path / "again.bed"))["calls"]
    assert len(calls) >= 3 * len(lines)
    # The sequences counted are all that called a site, not only those whose call was kept.
    assert f" in {len({c.row for c in calls})} sequence(s)" in printed
    assert f"; {len(calls) - len(lines)} call(s) of overlapping intervals merged" in printed
    # No window twice, and no two lines overlapping by half a window or more.
    spans = sorted((r["start"], r["end"]) for r in lines)
    assert len(set(spans)) == len(spans)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert min(a1, b1) - max(a0, b0) < 5, (a0, a1, b0, b1)
    # Every planted site in the stretch is one line, called by every interval holding it
    # whole (counted here from the tiles) and on either strand of reading.
    for p in tiled["planted"]:
        on = [r for r in lines if r["start"] <= p and r["end"] >= p + len(S.MOTIF)]
        assert len(on) == 1, (p, on)
        r = on[0]
        holding = sum(a <= r["start"] and b >= r["end"] for _, a, b, *_ in TILES)
        assert r["holding"] >= holding >= 3
        assert r["called"] == r["holding"], r
    # Each call joins one line: the counts add up to at most the calls made.
    assert sum(r["called"] for r in lines) <= len(calls)
    assert all(1 <= r["called"] <= r["holding"] for r in lines)
    # Each line is a call (its interval's), the strongest of those of its very window.
    for r in lines:
        same = [c for c in calls if (c.g_start, c.g_end) == (r["start"], r["end"])]
        assert any(f"t{c.row}" == r["interval"] and c.score == pytest.approx(r["score"],
                                                                             rel=1e-3)
                   for c in same)
        assert r["score"] == pytest.approx(max(c.score for c in same), rel=1e-3)
    import pybedtools

    assert len(pybedtools.BedTool(str(out))) == len(lines)     # still a BED bedtools reads


def test_merging_keeps_strands_and_neighbouring_sites_apart():
    """The merging rule on calls built here: half a window of overlap joins, less does not;
    opposite strands stay apart; `.` (no pattern there) joins either strand and takes the
    strongest named call's pattern."""
    from kipoi_deeplift.analysis.sites import Site, merge_in_genome

    def call(row, start, score, strand=".", pattern="."):
        return Site(row, 0, 10, 5.0, score, pattern, None if strand == "." else strand == "-",
                    chrom="chr1", g_start=start, g_end=start + 10, g_centre=start + 5,
                    strand=strand)

    kept = merge_in_genome([call(0, 100, 1.0), call(1, 100, 0.9), call(2, 105, 0.8),
                            call(3, 109, 0.95)], min_overlap=5)
    # 105 overlaps 100 by 5 (joins); 109 touches it by one base: a neighbouring site.
    assert [(k.g_start, k.rows) for k in kept] == [(100, (0, 1, 2)), (109, (3,))]
    kept = merge_in_genome([call(0, 100, 1.0, "+", "p"), call(1, 101, 0.9, "-", "q"),
                            call(2, 102, 0.8)], min_overlap=5)
    assert [(k.strand, k.rows) for k in kept] == [("+", (0, 2)), ("-", (1,))]
    # Row 0 read as the reverse complement: the pattern reads on the genome's - strand, which
    # is the forward of row 0's reading.
    unnamed = call(0, 100, 1.0)
    unnamed.flipped = True
    kept = merge_in_genome([unnamed, call(1, 101, 0.9, "-", "q")], min_overlap=5)
    assert [(k.strand, k.pattern, k.rows, k.reverse) for k in kept] == [("-", "q", (0, 1),
                                                                         False)]
    other = call(4, 100, 0.5)
    other.chrom = "chr2"
    assert len(merge_in_genome([call(0, 100, 1.0), other], min_overlap=5)) == 2


# --- the report -----------------------------------------------------------------------------

@pytest.fixture()
def figures(monkeypatch):
    """Every matplotlib figure the report embeds, as it was when encoded: (title of each
    axes, x limits of each axes, legend texts of each axes)."""
    from kipoi_deeplift.analysis import report

    seen = []
    encode = report._png

    def keep(fig):
        fig.canvas.draw()
        seen.append([(ax.get_title(loc="left") or ax.get_title(), ax.get_xlim(),
                      [t.get_text() for t in ax.get_legend().get_texts()]
                      if ax.get_legend() else []) for ax in fig.axes])
        return encode(fig)

    monkeypatch.setattr(report, "_png", keep)
    return seen


def test_report_shows_whole_intervals_labels_files_and_explains_the_shading(tiled, tmp_path,
                                                                           figures, capsys):
    run1, run2 = tiled["files"]
    bed, report = tmp_path / "sites.bed", tmp_path / "report.html"
    assert cli.main(["sites", str(run1), "-o", str(bed)]) == 0
    capsys.readouterr()
    assert cli.main(["compare", str(run1), str(run2), "-o", str(report), "--tsv",
                     str(tmp_path / "t.tsv"), "--sites", str(bed)]) == 0
    printed = capsys.readouterr().out
    text = report.read_text()
    # (c) One model and rule in two files of one name: told apart by their directories, the
    # same way in the terminal, the TSV, the files table and every logo's title.
    assert "run1/tiled.h5:gata vs run2/tiled.h5:gata: pearson" in printed
    tsv = (tmp_path / "t.tsv").read_text().splitlines()[1].split("\t")
    assert tsv[:2] == ["run1/tiled.h5:gata", "run2/tiled.h5:gata"]
    assert "<td>run1/tiled.h5:gata</td>" in text and "<td>run2/tiled.h5:gata</td>" in text
    logos = [fig for fig in figures if fig[0][0].startswith("run1/")]
    assert len(logos) == 4
    for fig in logos:
        titles = [title for title, _, _ in fig]
        assert titles[0].startswith("run1/tiled.h5:gata | model model | genomics-default")
        assert titles[1].startswith("run2/tiled.h5:gata | model model | genomics-default")
    # (a) Every base of each interval is drawn, and the page says so.
    sections = re.findall(r"Shown: the whole interval, chr1:([\d,]+)-([\d,]+) \((\d+) bp\)",
                          text)
    assert len(sections) == 4
    for (a, b, n), fig in zip(sections, logos):
        a, b = int(a.replace(",", "")), int(b.replace(",", ""))
        assert b - a + 1 == int(n) == S.LENGTH
        lo, hi = fig[0][1]
        assert (lo, hi) == (a - 0.5, b + 0.5)            # the x axis spans the interval
    assert "Each logo shows every base of its interval" in text
    # (d) The shading has a legend: what it is, from which file and task, how many fall in
    # the bases shown (counted here from the BED).
    sites = read_sites(bed)
    for (a, b, _), fig in zip(sections, logos):
        a, b = int(a.replace(",", "")), int(b.replace(",", ""))
        here = sum(r["end"] > a - 1 and r["start"] < b for r in sites)
        assert fig[0][2] == [f"site in sites.bed, task gata: {here} here"]
    assert any(fig[0][2] != ["site in sites.bed, task gata: 0 here"] for fig in logos)
    assert f"{len(sites)} sites from" in text and "shaded in gold" in text


def test_report_states_the_window_it_shows(tiled, tmp_path, figures):
    from kipoi_deeplift.analysis.compare import compare
    from kipoi_deeplift.analysis.report import write_report

    files, rows = compare([str(f) for f in tiled["files"]])
    write_report(files, rows, str(tmp_path / "w.html"), examples=[3], window=30)
    text = (tmp_path / "w.html").read_text()
    a, b = re.search(r"Shown: chr1:([\d,]+)-([\d,]+), 30 of the interval's 100 bp", text).groups()
    a, b = int(a.replace(",", "")), int(b.replace(",", ""))
    assert b - a + 1 == 30
    assert "Each logo shows the bases stated above it" in text
    assert "every base of its interval" not in text
    assert figures[0][0][1] == (a - 0.5, b + 0.5)


def _scored(n=12, length=40, seed=0):
    """Two files' worth of per-base scores built here: intervals 0-3 carry a strong site in
    both files, 4 a site both see and a stronger one each file places elsewhere (a real
    disagreement), 5-11 background, whose output barely moves (|delta| about 0.05) and whose
    scores are independent noise in each file: the least correlated of all."""
    from kipoi_deeplift.analysis.compare import Scored

    rng = np.random.default_rng(seed)
    out = []
    for k in range(2):
        per_base = rng.normal(0, 0.005, (n, length))
        per_base[:4, 10:16] += 1.0
        per_base[4, 15:21] += 0.6
        per_base[4, (3 if k == 0 else 30):(3 if k == 0 else 30) + 6] += 0.35
        contrib = np.zeros((n, length, 4))
        contrib[..., 0] = per_base
        delta = per_base.sum(1)
        out.append(Scored(f"f{k}.h5", f"f{k}.h5:t", "t", per_base, contrib,
                          np.eye(4)[np.zeros((n, length), int)], np.zeros(n), None,
                          {"model": "m", "rule": "rescale"}, delta, delta, None))
    return out


def test_most_disagreeing_intervals_have_something_to_disagree_about():
    from kipoi_deeplift.analysis.compare import pair_rows
    from kipoi_deeplift.analysis.report import choose_intervals, mean_pearson

    files = _scored()
    rows = pair_rows(*files)
    pearson = mean_pearson(rows)
    # Without a floor on |delta| the background would be chosen: it correlates least.
    assert set(np.argsort(pearson)[:2]) <= set(range(5, 12)), pearson
    assert pearson[4] < 0.9 * pearson[:4].min()
    chosen = choose_intervals(files, rows, n=4)
    disagreeing = [i for i, why in chosen if why == "most disagreeing"]
    assert disagreeing[0] == 4
    assert not set(disagreeing) & set(range(5, 12))
    assert {i for i, _ in chosen} <= set(range(5))


def test_report_states_the_rule_for_most_disagreeing(tiled, tmp_path):
    from kipoi_deeplift.analysis.compare import compare
    from kipoi_deeplift.analysis.report import write_report

    files, rows = compare([str(f) for f in tiled["files"]])
    write_report(files, rows, str(tmp_path / "r.html"))
    text = (tmp_path / "r.html").read_text()
    delta = np.mean([np.abs(f.delta) for f in files], axis=0)
    floor = max(np.median(delta), 0.25 * delta.max())
    assert "among the intervals whose mean |delta| is at least the median" in text
    assert f"here a mean |delta| of at least {floor:.3g}" in text
    for d in re.findall(r"most disagreeing: mean Pearson [-\d.]+, mean \|delta\| ([\d.]+)",
                        text):
        assert float(d) >= float(f"{floor:.3g}")


# --- plot -----------------------------------------------------------------------------------

def _inside(fig, text) -> bool:
    fig.canvas.draw()
    box = text.get_window_extent(fig.canvas.get_renderer())
    return box.x0 >= 0 and box.x1 <= fig.bbox.width


def test_plot_example_title_names_region_and_strand(tiled, tmp_path):
    from kipoi_deeplift.analysis.plots import logo_figure

    import matplotlib.pyplot as plt

    genome = K.read_genome(tiled["fasta"])["chr1"]
    for row in (2, 3):                     # t2 on the + strand, t3 on the -
        _, start, end, name, _, strand = TILES[row]
        fig = logo_figure(str(tiled["files"][0]), example=row)
        title = fig.axes[0].title
        text = title.get_text().replace("\n", " ")
        first = end if strand == "-" else start + 1           # position 1 of the logo
        assert f"row {row}, {name}: chr1:{start + 1}-{end}, {strand} strand" in text, text
        assert f"position 1 = chr1:{first}" in text
        assert _inside(fig, title)
        plt.close(fig)
        # What the title says is so: the model's first base is that genome base (its
        # complement on the - strand).
        import h5py

        with h5py.File(tiled["files"][0]) as f:
            read = "ACGT"[int(f["inputs/seq"][row, 0].argmax())]
        base = genome[first - 1]
        assert read == (base.translate(str.maketrans("ACGT", "TGCA")) if strand == "-"
                        else base)


def test_plot_title_is_wrapped_to_a_narrow_region(tiled, tmp_path):
    from PIL import Image

    from kipoi_deeplift.analysis.plots import logo_figure

    import matplotlib.pyplot as plt

    fig = logo_figure(str(tiled["files"][0]), region="chr1:49-54")
    title = fig.axes[0].title
    # The model, task, region, strand and numbers are all there, on lines that fit.
    text = title.get_text().replace("\n", " ")
    for words in ("task gata", "chr1:49-54", "+ strand", "delta"):
        assert words in text, text
    assert title.get_text().count("\n") >= 3
    assert _inside(fig, title) and _inside(fig, fig.axes[-1].xaxis.label)
    plt.close(fig)
    out = tmp_path / "narrow.png"
    assert cli.main(["plot", str(tiled["files"][0]), "--region", "chr1:49-54", "-o",
                     str(out)]) == 0
    # No ink on the picture's left or right edge: nothing runs off it.
    png = np.asarray(Image.open(out).convert("L"))
    assert png[:, :2].min() > 200 and png[:, -2:].min() > 200


def test_report_states_motif_matches_as_the_motifs_command_does(tmp_path):
    """The report read `match_1` only: a pattern whose nearest database motif was not
    significant showed as 'no database match'. It now says what `motifs` says (significant,
    no significant match with the nearest and its q, not matched), with each pattern's share
    and the minor patterns set apart."""
    from kipoi_deeplift.analysis.report import _motifs_html

    cols = ["pattern", "group", "share", "contribution", "seqlets", "width",
            "bits_per_position", "consensus", "match", "best_match", "best_p", "best_q",
            "match_1", "p_1", "q_1", "logo"]
    rows = [["pos_0", "major", "0.9", "80", "172", "6", "1.5", "AGATAA", "significant",
             "MA0037.5 Gata3", "2.6e-05", "0.0197", "MA0037.5 Gata3", "2.6e-05", "0.0197",
             "logos/pos_0.png"],
            ["pos_1", "major", "0.07", "6", "40", "6", "0.9", "CACGTG",
             "no significant match", "MA0004.1 Arnt", "0.003", "0.21", "", "", "",
             "logos/pos_1.png"],
            ["neg_0", "minor", "0.03", "3", "31", "5", "0.4", "CTTAC", "not matched", "", "",
             "", "", "", "", "logos/neg_0.png"]]
    (tmp_path / "patterns.tsv").write_text("\n".join("\t".join(r) for r in [cols, *rows]))
    page = _motifs_html(str(tmp_path))
    assert "best database match MA0037.5 Gata3 (p 2.6e-05, q 0.0197)" in page
    assert "no significant match (nearest MA0004.1 Arnt, p 0.003, q 0.21)" in page
    assert "best database match MA0004.1" not in page
    assert "90% of the contribution" in page and "7% of the contribution" in page
    minor = page.index("Minor patterns")
    assert page.index("<b>pos_1</b>") < minor < page.index("<b>neg_0</b>")
    assert "not matched against a database" in page
