"""The examples run and say something true (small settings, so they fit in the test budget)."""
import csv
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_simulated_motifs_rule_comparison(tmp_path):
    pytest.importorskip("pyjaspar", reason="pyjaspar (the examples/test extra) is not installed")
    import simulated_motifs

    simulated_motifs.main(["--out", str(tmp_path), "--n", "10000", "--epochs", "15",
                           "--per-task", "30", "--references", "5"])
    rows = list(csv.DictReader(open(tmp_path / "rule_comparison.tsv"), delimiter="\t"))
    assert {(r["task"], r["method"]) for r in rows} == {
        (t, m) for t in simulated_motifs.TASKS for m in simulated_motifs.METHODS}
    assert all(0 <= float(r["auROC"]) <= 1 and 0 <= float(r["auPRC"]) <= 1 for r in rows)
    auroc = {(r["task"], r["method"]): float(r["auROC"]) for r in rows}
    # The TAL1 motif is learned within a few epochs: DeepLIFT must find its bases.
    assert auroc[("TAL1", "rescale")] > 0.75
    assert (tmp_path / "rule_comparison.png").stat().st_size > 10_000


def test_demo_scores_a_kipoi_model_dir_and_finds_the_sites(tmp_path, capsys):
    """`make demo`: the CLI scores the demo's Kipoi model directory from a genome; the top
    window of (nearly) every interval with a GATA site is on the site."""
    import demo

    hits, n_sites = demo.main(["--out", str(tmp_path)])
    assert n_sites == 8 and hits >= 7, capsys.readouterr().out
    for name in ("scores.h5", "tracks.gata.bw", "logo.png", "report.html", "comparison.tsv",
                 "variants.h5", "variants.tsv"):
        assert (tmp_path / name).stat().st_size > 1000, name
