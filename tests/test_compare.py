"""`compare`: two models scored over the same intervals; the TSV against numbers computed here,
the report and a plot rendered and checked; files that do not match are refused."""
import base64
import html.parser
import io
import json
import shutil
import subprocess

import h5py
import numpy as np
import pytest
from scipy import stats

import _kipoi_dirs as K
from _cli import browser_or_skip, opens_and_sorts
import kipoi_deeplift as kd
from kipoi_deeplift import cli


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    fasta, bed = K.write_genome(d), K.write_bed(d)
    args = {"intervals_file": str(bed), "fasta_file": str(fasta)}
    out = {}
    for name, seed in (("a", 0), ("b", 1)):
        m = K.write_model_dir(d / f"model_{name}", model=K.conv_model(seed=seed))
        out[name] = d / f"{name}.h5"
        kd.score(str(m), args, str(out[name]), n_references=3, rule="rescale", hypothetical=True)
    return d, out, args


def per_base(path, task="CTCF"):
    with h5py.File(path) as f:
        return f[f"contrib/seq/{task}"][:].sum(-1).astype(np.float64)


def test_tsv_numbers_match_a_computation_written_here(scored, capsys):
    d, out, _ = scored
    report, tsv = d / "report.html", d / "table.tsv"
    assert cli.main(["compare", str(out["a"]), str(out["b"]), "-o", str(report), "--tsv",
                     str(tsv), "--top-k", "5"]) == 0
    lines = tsv.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert len(rows) == len(K.INTERVALS) + 1 and rows[-1]["interval"] == "all"
    a, b = per_base(out["a"]), per_base(out["b"])
    for i, r in enumerate(rows[:-1]):
        chrom, start, end, _, _, strand = K.INTERVALS[i]
        assert r["interval"] == f"{chrom}:{start}-{end}({strand})"
        assert float(r["pearson"]) == pytest.approx(np.corrcoef(a[i], b[i])[0, 1], abs=2e-6)
        assert float(r["spearman"]) == pytest.approx(stats.spearmanr(a[i], b[i])[0], abs=2e-6)
        top_a = set(np.argsort(-a[i], kind="stable")[:5])
        top_b = set(np.argsort(-b[i], kind="stable")[:5])
        assert float(r["top_k_jaccard"]) == pytest.approx(len(top_a & top_b) / len(top_a | top_b))
        site_a = int(np.argmax([a[i][j:j + 8].sum() for j in range(K.LENGTH - 7)]))
        assert int(r["top_site_a"]) == site_a
    assert float(rows[-1]["pearson"]) == pytest.approx(
        np.mean([float(r["pearson"]) for r in rows[:-1]]), abs=1e-5)
    assert "pearson" in capsys.readouterr().out


def test_same_inputs_give_a_byte_identical_tsv(scored):
    d, out, _ = scored
    for name in ("t1", "t2"):
        assert cli.main(["compare", str(out["a"]), str(out["b"]), "-o",
                         str(d / f"{name}.html"), "--tsv", str(d / f"{name}.tsv")]) == 0
    assert (d / "t1.tsv").read_bytes() == (d / "t2.tsv").read_bytes()


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_report_is_self_contained_html_with_valid_images(scored):
    from PIL import Image

    d, out, _ = scored
    report = d / "r.html"
    assert cli.main(["compare", f"{out['a']}:GATA1", f"{out['b']}:GATA1", "-o",
                     str(report), "--example", "2"]) == 0
    parser = _Images()
    parser.feed(report.read_text())
    assert len(parser.images) == 3
    for img in parser.images:
        assert img["src"].startswith("data:image/png;base64,")       # no network needed
        png = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
        assert png.format == "PNG" and png.size[0] > 200 and png.size[1] > 100
    text = " ".join(parser.text)
    assert "kipoi-deeplift score" in text            # how to rerun each file
    with h5py.File(out["a"]) as f:
        sha = json.loads(f.attrs["weights_sha256"])["weights"]
    # Regions as a genome browser shows them (1-based); file, task, model and rule in the
    # labels (the file as `compare` prints it).
    assert sha in text and "chr2:101-150 (row 2, c; chosen)" in text
    assert "a.h5:GATA1 | model model_a | rescale" in text
    assert "kipoi-deeplift score" in text and " \\\n    --rule rescale" in text


def test_report_chooses_confident_and_disagreeing_intervals(scored):
    from kipoi_deeplift.analysis.compare import compare
    from kipoi_deeplift.analysis.report import choose_intervals, describe_files

    d, out, _ = scored
    files, rows = compare([str(out["a"]), str(out["b"])])
    chosen = choose_intervals(files, rows, n=4)
    delta = np.mean([np.abs(f.delta) for f in files], axis=0)
    pearson = [r["pearson"] for r in rows if r["interval"] != "all"]
    assert chosen[0] == (int(np.argmax(delta)), "most confident")
    disagreeing = [i for i, why in chosen if why == "most disagreeing"]
    # The least correlated among the intervals whose |delta| reaches the median and a quarter
    # of the largest (near-zero intervals are noise in both files: see test_sites_report.py).
    floor = max(np.median(delta), 0.25 * delta.max())
    # (Not the interval already shown as the most confident.)
    eligible = [i for i in np.argsort(pearson) if delta[i] >= floor and i != chosen[0][0]]
    assert disagreeing and disagreeing[0] == eligible[0]
    assert all(delta[i] >= floor for i in disagreeing)
    assert len({i for i, _ in chosen}) == 4
    assert choose_intervals(files, rows, [3, 1]) == [(3, "chosen"), (1, "chosen")]
    assert describe_files(files).startswith("2 score files of 2 models")
    files[1].attrs["model"] = files[0].attrs["model"]
    files[1].attrs["rule"] = "grad-input"
    assert "one model" in describe_files(files) and "grad-input" in describe_files(files)


def test_plot_png_has_the_expected_size(scored):
    from PIL import Image

    d, out, _ = scored
    assert cli.main(["plot", str(out["a"]), "--example", "1", "--task", "GATA1", "-o",
                     str(d / "one.png")]) == 0
    png = Image.open(d / "one.png")
    # Two rows (contributions, hypothetical), width from the 50 bp shown, at 110 dpi; 0.17 in
    # taller for each title line past the first two (the row's region and strand, and lines
    # wrapped: the title names the model by its path, whose length varies with the temporary
    # folder).
    assert png.size[0] == int(round((2 + 0.12 * K.LENGTH) * 110))
    assert png.size[1] in {int((2 * 2.2 + 0.17 * k) * 110) for k in range(1, 5)}, png.size


def _rewrite(src, dst, edit):
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        edit(f)
    return dst


@pytest.mark.parametrize("case, message", [
    ("other_intervals", "differ at interval 0"),
    ("other_sequence", "saw different sequences at interval 1"),
    ("missing_dataset", "has no /contrib/seq/CTCF"),
    ("not_ours", "is not a kipoi-deeplift score file"),
    ("one_file", "at least two files"),
])
def test_files_that_do_not_match_are_refused_in_one_line(scored, capsys, case, message):
    d, out, _ = scored
    other = d / f"{case}.h5"
    if case == "other_intervals":
        _rewrite(out["b"], other, lambda f: f["metadata/ranges/start"].__setitem__(0, 11))
    elif case == "other_sequence":
        _rewrite(out["b"], other, lambda f: f["inputs/seq"].__setitem__(
            (1, 0), f["inputs/seq"][1, 0][::-1]))
    elif case == "missing_dataset":
        _rewrite(out["b"], other, lambda f: f.__delitem__("contrib/seq/CTCF"))
    elif case == "not_ours":
        with h5py.File(other, "w") as f:
            f["x"] = np.zeros(3)
    task = ":CTCF" if case == "missing_dataset" else ""
    argv = ["compare", f"{out['a']}{task}"] + ([] if case == "one_file" else [f"{other}{task}"])
    assert cli.main(argv + ["-o", str(d / f"{case}.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (d / f"{case}.html").exists()


def test_report_opens_in_a_headless_browser(scored, tmp_path):
    browser = browser_or_skip()
    d, out, _ = scored
    report = d / "browser.html"
    assert cli.main(["compare", str(out["a"]), str(out["b"]), "-o", str(report)]) == 0
    probe = tmp_path / "probe.html"
    # In the browser: every image decodes; a click on the table's "delta" header sorts the
    # rows by it (ascending), a second click descending.
    opens_and_sorts(browser, report, probe, "intervals", "delta")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1300,2000", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    assert Image.open(shot).size == (1300, 2000)


def _scaled(f, factor, task="CTCF", zero_row=None):
    """A model whose output is ``factor`` times the first's: every score of one task scaled
    (the file still sums to its delta); ``zero_row``: that interval's delta set to 0."""
    for key in (f"contrib/seq/{task}", f"hyp_contrib/seq/{task}", f"delta/{task}",
                f"preds/{task}", f"convergence/{task}"):
        if key in f:
            f[key][...] = f[key][:] * factor
    if zero_row is not None:
        f[f"delta/{task}"][zero_row] = 0.0


def test_normalize_puts_models_of_other_output_scales_side_by_side(scored, capsys):
    """--normalize delta: a model ten times another's output scale draws the same logos
    (contributions / |delta|, computed here) and picks the same intervals; l1: absolute
    values sum to 1; per-interval numbers do not change; a zero divisor is left as it is."""
    from kipoi_deeplift.analysis import compare as C
    from kipoi_deeplift.analysis.report_intervals import choose_intervals

    d, out, _ = scored
    ten = _rewrite(out["a"], d / "ten.h5", lambda f: _scaled(f, 10.0))
    specs = [f"{out['a']}:CTCF", f"{ten}:CTCF"]
    plain_files, plain = C.compare(specs)
    files, rows = C.compare(specs, normalize="delta")
    with h5py.File(out["a"]) as f:
        delta = f["delta/CTCF"][:].astype(np.float64)
    expect = per_base(out["a"]) / np.abs(delta)[:, None]
    for s in files:
        np.testing.assert_allclose(s.per_base, expect, rtol=1e-5)
        np.testing.assert_allclose(s.per_base.sum(1), np.sign(delta), atol=1e-3)
    assert not np.allclose(plain_files[0].per_base, plain_files[1].per_base)
    np.testing.assert_allclose(files[0].confidence, files[1].confidence, rtol=1e-5)
    assert choose_intervals(files, rows) != [] and \
        choose_intervals(files, rows) == choose_intervals(files[:1] * 2, rows)
    for r, q in zip(rows, plain):      # per interval: unchanged by positive scaling
        for key in ("pearson", "spearman", "top_k_jaccard", "top_site_a", "top_site_b"):
            assert r[key] == q[key] if isinstance(q[key], str) else \
                r[key] == pytest.approx(q[key], rel=1e-6, nan_ok=True), key
    l1_files, _ = C.compare(specs, normalize="l1")
    np.testing.assert_allclose(np.abs(l1_files[1].per_base).sum(1), 1.0, rtol=1e-6)

    zero = _rewrite(out["a"], d / "zero.h5", lambda f: _scaled(f, 1.0, zero_row=2))
    zfiles, _ = C.compare([f"{out['a']}:CTCF", f"{zero}:CTCF"], normalize="delta")
    assert zfiles[1].unscaled == 1 and zfiles[0].unscaled == 0
    np.testing.assert_allclose(zfiles[1].per_base[2], per_base(out["a"])[2], rtol=1e-6)
    # One non-finite delta: that interval is left as it is, the file's median still counts.
    nan = _rewrite(out["a"], d / "nan.h5", lambda f: _scaled(f, 1000.0, zero_row=None) or
                   f["delta/CTCF"].__setitem__(0, np.nan))
    nfiles, _ = C.compare([f"{out['a']}:CTCF", f"{nan}:CTCF"], normalize="delta")
    assert nfiles[1].unscaled == 1
    # relative to the median of the finite deltas (raw, x1000, they would be in the hundreds)
    assert np.nanmax(nfiles[1].confidence) < 50 and np.isfinite(nfiles[1].confidence[1:]).all()
    with pytest.raises(kd.UserError, match="--normalize 'max'"):
        C.compare(specs, normalize="max")

    report = d / "normalized.html"
    assert cli.main(["compare", *specs, "-o", str(report), "--normalize", "delta"]) == 0
    said = capsys.readouterr().out
    assert "contributions divided by each interval's |delta| in its own file" in said
    assert "On a common scale (--normalize delta)" in report.read_text()
    assert cli.main(["compare", *specs, "-o", str(d / "plain.html")]) == 0
    assert "On a common scale" not in (d / "plain.html").read_text()
