"""What `motifs` claims about its patterns (issue 23, "outputs that overstate"), on a
simulation whose answer is known: GATA's AGATAA (weight 10) planted in half of 240 random
100 bp intervals and an E-box CACGTG at a third of that weight in all of them
(examples/planted_sites.py's world, one filter more).

- Patterns come ordered by their seqlets' share of the contribution, with the share shown;
  those below --min-share are listed apart ("minor patterns, below X%"), after the others,
  drawn smaller and on the same scale.
- A database match is named only at q <= --max-q; above it every output says "no
  significant match" with the nearest motif and its q.
- `score --modisco` and `motifs` say, in one line, why modisco-lite finds nothing in too few
  sequences (it returned nothing without a word, or stopped with a ZeroDivisionError).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json

import numpy as np
import pytest

import planted_sites as S
from kipoi_deeplift import cli
from kipoi_deeplift.analysis import motifs as M

pytest.importorskip("modiscolite", reason="modisco-lite is not installed "
                    "(pip install -e '.[motifs]')")

EBOX = "CACGTG"          # a palindrome: one filter reads both strands
EBOX_WEIGHT = 1 / 3      # of GATA's


def two_motif_model():
    """planted_sites' GATA scanner with a third filter, CACGTG, at a third of the weight."""
    import keras

    L = keras.layers
    i = keras.Input((S.LENGTH, 4), name="seq")
    conv = L.Conv1D(3, len(S.MOTIF), activation="relu", name="pwm")
    out = L.Dense(1, name="binding")(L.GlobalAveragePooling1D()(conv(i)))
    model = keras.Model(i, out)
    w = np.full((len(S.MOTIF), 4, 3), -1.0, np.float32)
    for k, (b, rb, e) in enumerate(zip(S.MOTIF, S.REVERSE, EBOX)):
        w[k, "ACGT".index(b), 0] = w[k, "ACGT".index(rb), 1] = w[k, "ACGT".index(e), 2] = 2.0
    conv.set_weights([w, np.full(3, -7.0, np.float32)])
    model.get_layer("binding").set_weights(
        [np.array([[10.0], [10.0], [10.0 * EBOX_WEIGHT]], np.float32), np.zeros(1, np.float32)])
    return model


def two_motif_world(d):
    """planted_sites.planted_world, with CACGTG planted in every interval (away from the GATA
    site) and the model above in place of the GATA scanner."""
    world = S.planted_world(d)
    rng = np.random.default_rng(1)
    genome = list("".join(world["fasta"].read_text().splitlines()[1:]))
    for i in range(S.N):
        gata = world["planted"].get(i, (None,))[0]
        while True:
            p = i * S.SPACING + int(rng.integers(10, S.LENGTH - 16))
            if gata is None or abs(p - gata) > len(S.MOTIF) + 4:
                break
        genome[p:p + len(EBOX)] = EBOX
    world["fasta"].write_text(">chr1\n" + "".join("".join(genome[k:k + 60]) + "\n"
                                                  for k in range(0, len(genome), 60)))
    two_motif_model().save(world["model"] / "model.keras")
    return world


def run_cli(argv):
    """(exit status, stdout, stderr) of the command line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


def score_cli(world, out, *extra):
    return run_cli(["score", str(world["model"]), "--dataloader-args",
                    json.dumps(world["args"]), "-o", str(out), "--n-references", "5",
                    "--hypothetical", *extra])


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The world scored (all 240 intervals, with --modisco), and `motifs` run twice on it:
    with the defaults, and with --max-q 0.01 --min-share 0.4. TF-MoDISco runs once: the
    second run reuses the first's patterns (the same inputs give the same patterns), so the
    two differ only in what this issue is about."""
    d = tmp_path_factory.mktemp("two_motifs")
    world = two_motif_world(d)
    h5 = d / "scores.h5"
    status, _, score_err = score_cli(world, h5, "--modisco", str(d / "all"))
    assert status == 0, score_err
    found = {}
    real = M.run_modisco

    def once(*args, **kwargs):
        if "result" not in found:
            found["result"] = real(*args, **kwargs)
        return found["result"]

    titles: dict = {}
    real_logo = M._logo

    def spy(path, pt, title, *args, **kwargs):
        """The title each logo PNG is drawn with (a PNG's text cannot be read back)."""
        titles[pt.name] = title
        return real_logo(path, pt, title, *args, **kwargs)

    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "run_modisco", once)
        mp.setattr(M, "_logo", spy)
        for name, extra in (("default", []), ("strict", ["--max-q", "0.01",
                                                           "--min-share", "0.4"])):
            out = d / f"motifs_{name}"
            titles = {}
            status, stdout, stderr = run_cli(["motifs", str(h5), "-o", str(out),
                                              "--database", "jaspar", *extra])
            assert status == 0, stderr
            runs[name] = {"dir": out, "stdout": stdout, "stderr": stderr,
                          "patterns": read_tsv(out / "patterns.tsv"), "titles": titles}
    return {**world, "d": d, "h5": h5, "score_err": score_err, **runs}


def is_gata(row):
    return row["consensus"].upper() in (S.MOTIF, S.REVERSE)


def is_ebox(row):
    return row["consensus"].upper() == EBOX


def recomputed_shares(h5_path, seqlets_tsv) -> dict[str, float]:
    """Each pattern's share, from the score file and seqlets.tsv alone: |per-base
    contribution| summed over the bases its seqlets cover (each base once per pattern),
    over the sum for all patterns."""
    from kipoi_deeplift.io import scorefile as sf

    with sf.ScoreFile(h5_path) as h5:
        per_base = np.abs(h5["contrib/seq/gata"][:].astype(float).sum(-1))
    covered: dict[str, np.ndarray] = {}
    for r in read_tsv(seqlets_tsv):
        mask = covered.setdefault(r["pattern"], np.zeros(per_base.shape, bool))
        mask[int(r["row"]), max(0, int(r["start"])):int(r["end"])] = True
    sums = {name: float(per_base[mask].sum()) for name, mask in covered.items()}
    total = sum(sums.values())
    return {name: v / total for name, v in sums.items()}


def test_patterns_are_ordered_by_their_share_of_the_contribution(sim):
    """Both planted motifs are found; GATA, at three times the E-box's weight, carries most
    of the contribution and comes first whatever TF-MoDISco's seqlet counts say, and the
    shares written are the ones the score file gives."""
    rows = sim["default"]["patterns"]
    gata = [r for r in rows if is_gata(r)]
    ebox = [r for r in rows if is_ebox(r)]
    assert gata and ebox, rows
    shares = [float(r["share"]) for r in rows]
    assert shares == sorted(shares, reverse=True)
    assert abs(sum(shares) - 1) < 1e-3
    assert rows[0] is gata[0]
    assert float(gata[0]["share"]) > 2 * float(ebox[0]["share"]) > 0.2
    again = recomputed_shares(sim["h5"], sim["default"]["dir"] / "seqlets.tsv")
    for r in rows:
        assert float(r["share"]) == pytest.approx(again[r["pattern"]], rel=2e-3, abs=1e-4)
    # At the default --min-share (10%) both motifs are major, and both match JASPAR at
    # q <= 0.05 (GATA factors; bHLH E-box binders).
    assert {r["group"] for r in rows if is_gata(r) or is_ebox(r)} == {"major"}
    for r in (gata[0], ebox[0]):
        assert r["match"] == "significant" and float(r["q_1"]) <= 0.05, r
        assert r["match_1"] == r["best_match"]
    assert "GATA" in gata[0]["match_1"].upper() or "TRPS1" in gata[0]["match_1"].upper()
    # What was printed is summary.txt, with each share and each match's q.
    printed = sim["default"]["stdout"].splitlines()
    summary = (sim["default"]["dir"] / "summary.txt").read_text().splitlines()
    assert printed[:len(summary)] == summary
    assert "q <= 0.05 (--max-q" in summary[1]
    line = next(s for s in summary if s.strip().startswith(gata[0]["pattern"] + " "))
    assert f"{float(gata[0]['share']):.1%}" in line and ", q " in line
    heading = next(i for i, s in enumerate(summary)
                   if s.startswith("minor patterns, below 10% of the contribution:"))
    assert heading > summary.index(line)
    # Each logo's title gives its share and its match with the q.
    assert f"{float(gata[0]['share']):.1%} of the contribution" in \
        sim["default"]["titles"][gata[0]["pattern"]]
    assert f"q {float(gata[0]['q_1']):.2g})" in sim["default"]["titles"][gata[0]["pattern"]]


def test_minor_patterns_are_listed_apart_after_and_drawn_smaller(sim):
    """With --min-share 0.4 the E-box (about a third of the contribution) is minor: after
    GATA in the table, under its own heading in the printout, and its logo smaller."""
    import matplotlib.image as mpimg

    run = sim["strict"]
    rows = run["patterns"]
    ebox = next(r for r in rows if is_ebox(r))
    gata = next(r for r in rows if is_gata(r))
    assert float(ebox["share"]) < 0.4 <= float(gata["share"])
    assert (gata["group"], ebox["group"]) == ("major", "minor")
    groups = [r["group"] for r in rows]
    assert groups == sorted(groups)             # every major row before every minor one
    out = run["stdout"].splitlines()
    heading = out.index("minor patterns, below 40% of the contribution:")
    where = {r["pattern"]: next(i for i, s in enumerate(out)
                                if s.strip().startswith(r["pattern"] + " ")) for r in rows}
    assert where[gata["pattern"]] < heading < where[ebox["pattern"]]
    assert "40% of the contribution or more (--min-share)" in run["stdout"]
    big = mpimg.imread(run["dir"] / gata["logo"]).shape
    small = mpimg.imread(run["dir"] / ebox["logo"]).shape
    assert small[0] < 0.8 * big[0] and small[1] < 0.8 * big[1], (small, big)
    overview = mpimg.imread(run["dir"] / "patterns.png")
    assert overview.shape[0] > big[0]           # every pattern, one picture


def test_a_match_above_max_q_is_no_significant_match_everywhere(sim):
    """GATA's best JASPAR q (about 0.02) is above --max-q 0.01: the table names no match but
    keeps the candidate with its q, the printout and the logo's title say "no significant
    match" with the q; the E-box's (q about 1e-5) still counts."""
    run = sim["strict"]
    gata = next(r for r in run["patterns"] if is_gata(r))
    ebox = next(r for r in run["patterns"] if is_ebox(r))
    q = float(gata["best_q"])
    assert 0.01 < q <= 0.05, gata         # significant at the default (test above)
    assert gata["match"] == "no significant match"
    assert gata["match_1"] == gata["p_1"] == gata["q_1"] == ""
    assert gata["best_match"] and float(gata["best_p"]) < q
    line = next(s for s in run["stdout"].splitlines()
                if s.strip().startswith(gata["pattern"] + " "))
    assert f"no significant match (best {gata['best_match']}" in line
    assert f"q {q:.2g} > 0.01)" in line, line
    assert ebox["match"] == "significant" and float(ebox["q_1"]) <= 0.01
    assert "(--max-q" in run["stdout"] and "q <= 0.01" in run["stdout"]
    # The logos' titles (the text drawn into each PNG).
    assert "no significant match" in run["titles"][gata["pattern"]]
    assert f"q {q:.2g} > 0.01" in run["titles"][gata["pattern"]]
    assert f"{ebox['best_match']} (p " in run["titles"][ebox["pattern"]]
    assert ", q " in run["titles"][ebox["pattern"]]
    assert "minor: below 40%" in run["titles"][ebox["pattern"]]
    assert "minor" not in run["titles"][gata["pattern"]]


def test_shares_count_each_base_once_and_logos_share_one_scale():
    """The share arithmetic on made-up seqlets, and one y range for every logo."""
    contrib = np.zeros((2, 20, 4))
    contrib[0, :, 0] = 1.0                  # row 0: |1| per base
    contrib[1, :, 1] = -0.5                 # row 1: |-0.5| per base
    a = M.Pattern("pos_0", np.full((3, 4), 0.25), np.array([[2.0, 0, 0, 0]] * 3),
                  [(0, 0, 10, False), (0, 5, 15, False)])      # 15 bases of row 0, once
    b = M.Pattern("neg_0", np.full((3, 4), 0.25), np.array([[0, -0.2, 0, 0]] * 3),
                  [(1, 0, 10, True)])                          # 10 bases of row 1
    M.contribution_shares([b, a], contrib)
    assert (a.contribution, b.contribution) == (15.0, 5.0)
    assert (a.share, b.share) == (0.75, 0.25)
    major, minor = M.by_share([b, a], 0.3)
    assert [p.name for p in major] == ["pos_0"] and [p.name for p in minor] == ["neg_0"]
    lo, hi = M._logo_scale([a, b])
    # From b's lowest stack (-0.2) to a's highest (2.0), 5% of the range added each side.
    assert (lo, hi) == (pytest.approx(-0.2 - 0.11), pytest.approx(2.0 + 0.11))
    # A match's text: the q always, "no significant match" above max_q.
    a.searched, a.matches = True, [("MA0001.1 X", 1e-4, 0.21)]
    assert a.match_text(0.05) == "no significant match (best MA0001.1 X, p 0.0001, q 0.21 " \
                                 "> 0.05)"
    assert a.match_text(0.25) == "MA0001.1 X (p 0.0001, q 0.21)"
    b.searched = True
    assert b.match_text(0.05).startswith("not matched (0.00 bits/position")


def test_the_cli_defaults_are_the_modules():
    a = cli.build_parser().parse_args(["motifs", "x.h5", "-o", "d"])
    assert (a.max_q, a.min_share) == (M.MAX_Q, M.MIN_SHARE)


@pytest.mark.parametrize("argv, said", [
    (["--max-q", "0"], "--max-q 0: give a q-value above 0 and at most 1"),
    (["--max-q", "1.5"], "--max-q 1.5: give a q-value above 0 and at most 1"),
    (["--min-share", "1"], "--min-share 1: give a share from 0 to below 1"),
    (["--min-share", "-0.1"], "--min-share -0.1: give a share from 0 to below 1"),
])
def test_thresholds_out_of_range_are_one_line_errors(tmp_path, argv, said):
    status, stdout, stderr = run_cli(["motifs", str(tmp_path / "none.h5"), "-o",
                                      str(tmp_path / "out"), *argv])
    assert status == 2
    assert stderr.count("\n") == 1 and said in stderr, stderr
    assert not (tmp_path / "out").exists()


def test_score_modisco_on_enough_sequences_says_no_more_than_the_command(sim):
    assert "note: TF-MoDISco (modisco-lite) on task gata: modisco motifs" in sim["score_err"]
    assert "would find no pattern" not in sim["score_err"]


@pytest.mark.parametrize("n, says", [
    (10, "10 sequence(s) "),       # its count here, or at most 80 seqlets by their sizes
    (30, "30 sequence(s) give "),
])
def test_too_few_sequences_for_modisco_lite_are_said_in_one_line(sim, tmp_path, n, says):
    """`score --modisco` on 10 or 30 sequences: modisco-lite (the command the note gives)
    finds nothing there, and a note says why and what to do; `motifs` says the same in one
    line and writes its files with no pattern (it does not run TF-MoDISco in vain)."""
    import modiscolite

    from kipoi_deeplift.io.derived import modisco_settings

    h5 = tmp_path / "few.h5"
    status, _, err = score_cli(sim, h5, "--limit", str(n), "--modisco", str(tmp_path / "few"))
    assert status == 0, err
    notes = [line for line in err.splitlines() if "would find no pattern" in line]
    assert len(notes) == 1, err
    assert notes[0].startswith("note: TF-MoDISco on task gata would find no pattern: " + says)
    assert "more than 100" in notes[0] and "score " in notes[0].split(";")[-1]
    # modisco-lite itself on the files written: no pattern (or its extraction stops).
    ohe = np.load(tmp_path / "few.ohe.npz")["arr_0"]
    hyp = np.load(tmp_path / "few.hyp.npz")["arr_0"]
    assert ohe.shape == (n, 4, S.LENGTH)
    try:
        settings = {**M.MODISCO_SETTINGS, **modisco_settings(S.LENGTH)}
        settings.pop("window")              # the whole 100 bp, as the note's command reads
        pos, neg = modiscolite.tfmodisco.TFMoDISco(
            one_hot=ohe.transpose(0, 2, 1).copy(),
            hypothetical_contribs=hyp.transpose(0, 2, 1).copy(), **settings)
        assert not pos and not neg
    except ZeroDivisionError:       # its null has nothing on one side with 10 sequences
        assert n == 10
    status, stdout, err = run_cli(["motifs", str(h5), "-o", str(tmp_path / "m")])
    assert status == 0, err
    assert err.count("\n") == 1, err
    assert err.startswith("note: TF-MoDISco finds no pattern in task gata: " + says)
    assert "Traceback" not in err and "ZeroDivisionError" not in err
    assert stdout.startswith(f"task gata: no pattern from {n} sequences")
    assert read_tsv(tmp_path / "m" / "patterns.tsv") == []


def test_where_modisco_lite_stops_on_tied_scores_both_commands_say_so_in_one_line(tmp_path):
    """examples/planted_sites.py's world scored with 20 references (the default): most
    10 bp window sums are one tied value, modisco-lite's seqlet extraction divides by zero
    (`kipoi-deeplift motifs` ended with "ZeroDivisionError: division by zero (rerun with
    --debug ...)", and `modisco motifs` with a traceback). Now: a note, why, what to do."""
    from kipoi_deeplift.io import derived as D
    from kipoi_deeplift.io import scorefile as sf
    from kipoi_deeplift.io.writers import modisco_arrays

    world = S.planted_world(tmp_path / "w")
    h5 = tmp_path / "s.h5"
    status, _, err = run_cli(["score", str(world["model"]), "--dataloader-args",
                              json.dumps(world["args"]), "-o", str(h5), "--hypothetical",
                              "--modisco", str(tmp_path / "m")])
    assert status == 0, err
    with sf.ScoreFile(str(h5)) as f:
        ohe, hyp = modisco_arrays(f, "seq", "gata")
    w, sliding, flank, _ = D._seqlet_sizes(ohe.shape[2])
    try:
        D.count_seqlets(ohe.transpose(0, 2, 1), hyp.transpose(0, 2, 1), sliding, flank)
        pytest.skip("modisco-lite's extraction no longer stops on these scores (another "
                    "reference draw or modisco-lite version): the case is not met")
    except ZeroDivisionError:
        pass
    said = "modisco-lite's seqlet extraction stops on these 240 sequence(s) with " \
           "ZeroDivisionError"
    notes = [line for line in err.splitlines() if said in line]
    assert len(notes) == 1 and notes[0].startswith(
        "note: TF-MoDISco on task gata would find no pattern: "), err
    assert "--n-references" in notes[0]
    status, stdout, err = run_cli(["motifs", str(h5), "-o", str(tmp_path / "motifs")])
    assert status == 0, err
    assert err.count("\n") == 1 and said in err and "rerun with --debug" not in err, err
    assert stdout.startswith("task gata: no pattern from 240 sequences")
    assert (tmp_path / "motifs" / "patterns.png").stat().st_size > 0
