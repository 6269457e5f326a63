"""Real BED files as users bring them (issue 23): named BED4/BED6/narrowPeak with kipoiseq's
dataloader, BED3 where the strand is used, headers, intervals that do not fit the genome
(all found first, listed, skipped on request), a read-only genome folder without an index,
per-sequence reference arrays over many batches."""
import json
import os
import subprocess

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
from _cli import BIN, fails, run_cli
from kipoi_deeplift import cli

N_LOCI = 40


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("intervals")
    rng = np.random.default_rng(2)
    seq = "".join(rng.choice(list("ACGT"), 5000))
    fasta = d / "g.fa"
    fasta.write_text(">chr1\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    rows = [("chr1", s, s + 50, f"peak_{s}", 0, st) for s in range(0, 50 * N_LOCI, 50)
            for st in "+-"]
    files = {
        "bed6": K.write_bed(d, rows, "named6.bed"),
        "bed4": K.write_bed(d, [r[:4] for r in rows], "named4.bed"),
        "bed3": K.write_bed(d, [r[:3] for r in rows], "plain3.bed"),
        "narrowPeak": K.write_bed(d, [(*r, 5.0, 3.1, 2.2, 25) for r in rows],
                                  "peaks.narrowPeak"),
    }
    strand = K.write_model_dir(d / "strand")                         # use_strand: True
    forward = K.write_model_dir(d / "forward", dataloader_args={"use_strand": False})
    return {"d": d, "fasta": fasta, "rows": rows, "files": files, "seq": seq,
            "models": {"strand": strand, "forward": forward}}


def argv(world, model, bed, out, *extra):
    return ["score", str(world["models"][model]), "--dataloader-args",
            json.dumps({"intervals_file": str(bed), "fasta_file": str(world["fasta"])}),
            "-o", str(out), "--n-references", "2", *extra]


def read(out):
    with h5py.File(out) as f:
        return {"id": list(f["metadata/ranges/id"].asstr()[:]),
                "strand": list(f["metadata/ranges/strand"].asstr()[:]),
                "orientation": list(f["metadata/orientation"].asstr()[:]),
                "inputs": f["inputs/seq"][:], "attrs": dict(f.attrs)}


def onehot(seq):
    return np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in seq]]


@pytest.mark.parametrize("model", ["strand", "forward"])
@pytest.mark.parametrize("kind", ["bed6", "bed4", "bed3", "narrowPeak"])
def test_peak_files_score_as_they_are(world, tmp_path, capsys, model, kind):
    """kipoiseq read the name column as a float label ('could not convert string to float:
    peak_0') and refused BED3/BED4 where it uses the strand; now every form scores, the names
    are the ids, the sequences are the genome's (reverse-complemented where the dataloader
    uses a '-' strand the file gives)."""
    out = tmp_path / "o.h5"
    assert cli.main(argv(world, model, world["files"][kind], out)) == 0
    err = capsys.readouterr().err
    got = read(out)
    rows = world["rows"]
    assert len(got["id"]) == len(rows)
    named = kind != "bed3"
    assert got["id"] == ([r[3] for r in rows] if named else [str(i) for i in range(len(rows))])
    stranded = model == "strand" and kind in ("bed6", "narrowPeak")
    for i, (chrom, start, end, name, _, strand) in enumerate(rows):
        want = onehot(world["seq"][start:end])
        if stranded and strand == "-":
            want = want[::-1, ::-1]
        np.testing.assert_array_equal(got["inputs"][i], want, err_msg=f"{kind} row {i}")
    if stranded:
        assert got["orientation"][:2] == ["genome", "reverse_complement"]
    if model == "strand" and kind in ("bed3", "bed4"):
        assert f"has no strand column (BED{3 if kind == 'bed3' else 4}): every interval is " \
               "scored as '+'" in err
    else:
        assert "strand column" not in err
    assert not list(tmp_path.glob(".*"))            # no stray temporary file beside the output


def test_headers_and_track_lines_are_left_out_for_kipoiseq(world, tmp_path, capsys):
    bed = tmp_path / "header.bed"
    bed.write_text("track name=peaks\n# a comment\nchrom\tstart\tend\tname\tscore\tstrand\n"
                   + world["files"]["bed6"].read_text())
    assert cli.main(argv(world, "strand", bed, tmp_path / "h.h5")) == 0
    assert cli.main(argv(world, "strand", world["files"]["bed6"], tmp_path / "p.h5")) == 0
    a, b = read(tmp_path / "h.h5"), read(tmp_path / "p.h5")
    assert a["id"] == b["id"] and np.array_equal(a["inputs"], b["inputs"])
    # The file records the user's BED, not the rewritten one the dataloader read.
    assert json.loads(a["attrs"]["dataloader_args"])["intervals_file"] == str(bed)
    assert str(bed) in a["attrs"]["command"]


BAD = [("chr1", 4990, 5040, "past_end", 0, "+"), ("chr1", -5, 45, "negative", 0, "+"),
       ("chrX", 10, 60, "no_chrom", 0, "-"), ("chr1", 100, 90, "reversed", 0, "+"),
       ("chr1", 5, 30, "edge", 0, "+")]
REASONS = ["runs past the end of chr1 (5000 bp)", "has a negative start (-5)",
           "chromosome 'chrX' is not in the FASTA", "ends (90) before it starts (100)",
           "starts 8 bp before the start of chr1 once centred on the model's 50 bp"]


@pytest.fixture
def mixed(world, tmp_path):
    """Good intervals with the five kinds of bad ones between them."""
    rows = world["rows"][:10] + BAD + world["rows"][10:14]
    return rows, K.write_bed(tmp_path, rows, "mixed.bed")


def test_every_invalid_interval_is_found_and_listed_before_any_work(world, tmp_path, capsys,
                                                                     mixed):
    rows, bed = mixed
    out = tmp_path / "o.h5"
    line = fails(capsys, argv(world, "strand", bed, out), out,
                 "5 of 19 intervals do not fit the genome (1 past a chromosome end, 2 before "
                 "a chromosome start, 1 not in the FASTA, 1 empty or reversed): line 11 "
                 "(chr1:4990-5040): runs past the end of chr1 (5000 bp); line 12 (chr1:-5-45): "
                 "has a negative start (-5); line 13 (chrX:10-60): chromosome 'chrX' is not "
                 "in the FASTA; 2 more")
    listed = tmp_path / "o.invalid.bed"
    assert f"all are listed in {listed}: fix or remove them, or add --skip-invalid" in line
    assert not out.exists()
    got = [ln.split("\t") for ln in listed.read_text().splitlines()]
    assert [tuple(g[:6]) for g in got] == [tuple(map(str, r)) for r in BAD]
    assert [g[6] for g in got] == REASONS


def test_skip_invalid_scores_the_rest_and_records_what_it_skipped(world, tmp_path, capsys,
                                                                  mixed):
    rows, bed = mixed
    out = tmp_path / "o.h5"
    assert cli.main(argv(world, "strand", bed, out, "--skip-invalid")) == 0
    err = capsys.readouterr().err
    assert "note: skipped 5 of 19 intervals that do not fit the genome" in err
    got = read(out)
    good = world["rows"][:10] + world["rows"][10:14]
    assert got["id"] == [r[3] for r in good]
    assert got["attrs"]["skipped_invalid"] == 5
    assert got["attrs"]["invalid_bed"] == str(tmp_path / "o.invalid.bed")
    assert "--skip-invalid" in got["attrs"]["command"]
    assert len((tmp_path / "o.invalid.bed").read_text().splitlines()) == 5
    # BED3: the ids stay the user's interval numbers, not the numbers of the rows read.
    bed3 = K.write_bed(tmp_path, [r[:3] for r in rows], "mixed3.bed")
    out3 = tmp_path / "o3.h5"
    assert cli.main(argv(world, "forward", bed3, out3, "--skip-invalid")) == 0
    assert read(out3)["id"] == [str(i) for i in list(range(10)) + list(range(15, 19))]
    # All invalid: nothing to score, said so.
    capsys.readouterr()
    only_bad = K.write_bed(tmp_path, BAD, "bad.bed")
    fails(capsys, argv(world, "strand", only_bad, tmp_path / "x.h5", "--skip-invalid"),
          tmp_path / "x.h5", "none is left to score")


def test_a_fixed_bed_file_removes_the_old_list(world, tmp_path, capsys, mixed):
    rows, bed = mixed
    out = tmp_path / "o.h5"
    assert cli.main(argv(world, "strand", bed, out)) == 2
    assert (tmp_path / "o.invalid.bed").exists()
    assert cli.main(argv(world, "strand", world["files"]["bed6"], out)) == 0
    assert not (tmp_path / "o.invalid.bed").exists()


def test_kipoi_deeplift_through_kipoi_reads_named_beds_too(world, tmp_path):
    out = tmp_path / "k.h5"
    status, _, err = run_cli(*argv(world, "forward", world["files"]["narrowPeak"], out),
                             entry="kipoi")
    assert status == 0, err[-2000:]
    assert read(out)["id"][:2] == ["peak_0", "peak_0"]


def _remount(path, mode):
    return subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], capture_output=True)


@pytest.fixture
def read_only_genome(world, tmp_path):
    """The FASTA in a read-only folder (a real read-only mount: root writes anywhere else)
    without its .fai."""
    d = tmp_path / "genome"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:80]})")
    try:
        (d / "g.fa").write_bytes(world["fasta"].read_bytes())
        assert _remount(d, "ro").returncode == 0
        yield d / "g.fa"
    finally:
        subprocess.run(["umount", str(d)], capture_output=True)


def test_a_read_only_genome_folder_without_an_index(world, tmp_path, read_only_genome):
    """pyfaidx's own hint names a Python argument; the index is built in the user's cache
    (and the dataloader reads it there), or one line says what a command-line user can do."""
    args = json.dumps({"intervals_file": str(world["files"]["bed6"]),
                       "fasta_file": str(read_only_genome)})
    cmd = ["score", str(world["models"]["strand"]), "--dataloader-args", args,
           "--n-references", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    p = subprocess.run([str(BIN / "kipoi-deeplift"), *cmd, "-o", str(tmp_path / "a.h5")],
                       capture_output=True, text=True, env={**env, "XDG_CACHE_HOME": str(blocked)})
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr[-2000:]
    assert "has no index (g.fa.fai) and its folder is read-only" in p.stderr
    assert "samtools faidx" in p.stderr and "XDG_CACHE_HOME" in p.stderr
    cache = tmp_path / "cache"
    for attempt in range(2):
        p = subprocess.run([str(BIN / "kipoi-deeplift"), *cmd, "-o", str(tmp_path / "b.h5")],
                           capture_output=True, text=True, env={**env, "XDG_CACHE_HOME": str(cache)})
        assert p.returncode == 0, p.stderr[-2000:]
        assert ("built one in" in p.stderr) == (attempt == 0), p.stderr   # once, then reused
    assert not (read_only_genome.parent / "g.fa.fai").exists()
    assert list(cache.rglob("g.fa.fai"))
    assert read(tmp_path / "b.h5")["id"][0] == "peak_0"


def test_per_sequence_reference_arrays_over_many_batches(world, tmp_path):
    """(N, K, L, 4) references, one set per sequence, as the README documents: every batch
    takes its own rows (it failed past the first batch), shards and --limit included. The
    delta of each row is checked against the model's own outputs on its references."""
    import keras

    rows = world["rows"]
    rng = np.random.default_rng(0)
    refs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (len(rows), 3, 50))]
    np.save(tmp_path / "refs.npy", refs)
    out = tmp_path / "r.h5"
    extra = ["--references", str(tmp_path / "refs.npy"), "--batch-size", "16"]
    assert cli.main(argv(world, "strand", world["files"]["bed6"], out, *extra)) == 0
    model = keras.saving.load_model(world["models"]["strand"] / "model.keras")
    with h5py.File(out) as f:
        x, delta = f["inputs/seq"][:], f["delta/CTCF"][:]
    def logit(v):           # the model ends in a sigmoid; /delta is in logits
        p = model.predict(v, verbose=0)[:, 0].astype(np.float64)
        return np.log(p / (1 - p))

    want = logit(x) - logit(refs.reshape(-1, 50, 4)).reshape(len(rows), 3).mean(1)
    np.testing.assert_allclose(delta, want, rtol=1e-4, atol=1e-4)
    parts = []
    for i in (1, 2):
        parts.append(tmp_path / f"s{i}.h5")
        assert cli.main(argv(world, "strand", world["files"]["bed6"], parts[-1], *extra,
                             "--shard", f"{i}/2")) == 0
    with h5py.File(parts[0]) as a, h5py.File(parts[1]) as b:
        np.testing.assert_array_equal(np.concatenate([a["delta/CTCF"][:], b["delta/CTCF"][:]]),
                                      delta)


def test_chromosomes_are_checked_as_kipoiseq_names_them(world, tmp_path, capsys):
    """kipoiseq adds 'chr' to a BED whose first line lacks it (num_chr_fasta false): '1' is
    chr1 of the FASTA, not an unknown chromosome; '2' is named as read."""
    bed = K.write_bed(tmp_path, [("1", 100, 150, "a", 0, "+"), ("2", 100, 150, "b", 0, "+")],
                      "nochr.bed")
    out = tmp_path / "n.h5"
    fails(capsys, argv(world, "strand", bed, out), out,
          "line 2 (2:100-150): chromosome '2' (read as 'chr2') is not in the FASTA")
    one = K.write_bed(tmp_path, [("1", 100, 150, "a", 0, "+")], "one.bed")
    assert cli.main(argv(world, "strand", one, out)) == 0
    np.testing.assert_array_equal(read(out)["inputs"][0], onehot(world["seq"][100:150]))
