"""Genome-coordinate outputs follow the orientation the model saw, found from the data, for
dataloaders that reverse-complement minus-strand intervals and for ones that do not."""
import h5py
import numpy as np
import pyBigWig
import pytest

import _kipoi_dirs as K
import _models as M
import kipoi_deeplift as kd
from kipoi_deeplift.io.orientation import GENOME, REVERSE, UNKNOWN, classify


def symmetric_model():
    """out = g(x) + g(reverse complement of x): its DeepLIFT scores against a zero reference
    are the same at each genomic base whichever way round the sequence is given."""
    import keras
    from kipoi_deeplift.zoo.layers import ReverseComplement

    L = keras.layers
    i = keras.Input((K.LENGTH, 4), name="seq")
    conv = L.Conv1D(5, 7, activation="relu", name="conv")
    flat, dense = L.Flatten(name="flat"), L.Dense(2, name="out")
    o = L.Add(name="both")([dense(flat(conv(i))), dense(flat(conv(ReverseComplement(
        name="rc")(i))))])
    return M.randomise(keras.Model(i, o), seed=3, scale=0.4)


def onehot(seq):
    return np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in seq]]


def test_classify_reads_the_orientation_from_the_bases():
    genome = "ACGTTGCAAGGCTTACGATCGGATCCAGT"
    rc = genome[::-1].translate(str.maketrans("ACGT", "TGCA"))
    assert classify(onehot(genome), genome) == GENOME
    assert classify(onehot(rc), genome) == REVERSE
    assert classify(onehot(genome), "N" * len(genome)) == UNKNOWN
    pal = "ACGTACGTACGTACGT"                          # its own reverse complement
    assert classify(onehot(pal), pal) == UNKNOWN
    mutated = onehot(genome)
    mutated[3] = onehot("A")[0]                      # one SNV still reads as the genome
    assert classify(mutated, genome) == GENOME


def read_track(path, chrom, start, end):
    bw = pyBigWig.open(str(path))
    try:
        return np.nan_to_num(np.array(bw.values(chrom, start, end), dtype=float))
    finally:
        bw.close()


DATALOADER = """
import numpy as np
import pyfaidx
from kipoi.data import Dataset
from kipoi.metadata import GenomicRanges


class Strands(Dataset):
    # Like Kipoi's 2018 DeepBind dataloader: BED6 in, strand reported; reverse-complements
    # minus-strand intervals only when asked.
    def __init__(self, intervals_file, fasta_file, reverse_minus=False):
        self.rows = [line.split("\\t") for line in open(intervals_file).read().splitlines()]
        self.fasta = pyfaidx.Fasta(fasta_file)
        self.reverse_minus = reverse_minus

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        chrom, start, end, name, score, strand = self.rows[i][:6]
        seq = self.fasta[chrom][int(start):int(end)].seq.upper()
        x = np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in seq]]
        if self.reverse_minus and strand == "-":
            x = x[::-1, ::-1].copy()
        ranges = GenomicRanges(chrom, int(start), int(end), name, strand)
        return {"inputs": x, "targets": {}, "metadata": {"ranges": ranges}}
"""

DATALOADER_YAML = {
    "type": "Dataset", "defined_as": "dataloader.py::Strands",
    "args": {"intervals_file": {"doc": "BED6"}, "fasta_file": {"doc": "genome"},
             "reverse_minus": {"doc": "reverse-complement - intervals", "optional": True}},
    "info": {"authors": [{"name": "tests"}], "doc": "strand test dataloader"},
    "dependencies": {"pip": []},
    "output_schema": {"inputs": {"name": "seq", "shape": f"({K.LENGTH}, 4)",
                                 "special_type": "DNASeq", "associated_metadata": "ranges"},
                      "targets": {"name": "t", "shape": "(2,)"},
                      "metadata": {"ranges": {"type": "GenomicRanges", "doc": "ranges"}}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import yaml

    d = tmp_path_factory.mktemp("strands")
    fasta = K.write_genome(d)
    rows = [("chr1", 10, 60, "a", 0, "+"), ("chr2", 100, 150, "c", 0, "-"),
            ("chr1", 300, 350, "d", 0, "-")]
    bed_minus = K.write_bed(d, rows, name="mixed.bed")
    bed_plus = K.write_bed(d, [r[:5] + ("+",) for r in rows], name="plus.bed")
    model = symmetric_model()
    out = {}
    for name, reverse, bed in (("rc", True, bed_minus), ("forward", False, bed_minus),
                               ("plus", False, bed_plus)):
        mdir = K.write_model_dir(d / f"model_{name}", model=model)
        spec = yaml.safe_load((mdir / "model.yaml").read_text())
        spec["default_dataloader"] = "."
        (mdir / "model.yaml").write_text(yaml.safe_dump(spec))
        (mdir / "dataloader.yaml").write_text(yaml.safe_dump(DATALOADER_YAML))
        (mdir / "dataloader.py").write_text(DATALOADER)
        h5 = d / f"{name}.h5"
        kd.score(str(mdir), {"intervals_file": str(bed), "fasta_file": str(fasta),
                             "reverse_minus": reverse}, str(h5),
                 references="zeros", bigwig=str(d / name), bedgraph=str(d / name))
        out[name] = (h5, d / name)
    return out, rows


def test_orientation_is_recorded_from_the_sequences(runs):
    out, rows = runs
    with h5py.File(out["rc"][0]) as f:
        assert list(f["metadata/ranges/strand"].asstr()[:]) == ["+", "-", "-"]
        assert list(f["metadata/orientation"].asstr()[:]) == [GENOME, REVERSE, REVERSE]
    with h5py.File(out["forward"][0]) as f:
        # Strand '-' reported, sequence read forward: the label would mislead.
        assert list(f["metadata/ranges/strand"].asstr()[:]) == ["+", "-", "-"]
        assert list(f["metadata/orientation"].asstr()[:]) == [GENOME, GENOME, GENOME]


def test_tracks_agree_in_genome_coordinates_both_ways(runs):
    out, rows = runs
    genome = K.read_genome(out["plus"][0].parent / "genome.fa")
    for task in ("CTCF", "GATA1"):
        for chrom, start, end, *_ in rows:
            want = read_track(f"{out['plus'][1]}.{task}.bw", chrom, start, end)
            assert np.abs(want).max() > 0
            for name in ("rc", "forward"):
                got = read_track(f"{out[name][1]}.{task}.bw", chrom, start, end)
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{name} {chrom}:{start}-{end} {task}")
    # Independently of the writer: the plus run's track is the stored contribution, in order.
    with h5py.File(out["plus"][0]) as f:
        c = f["contrib/seq/CTCF"][1].sum(-1)
        x = f["inputs/seq"][1]
    chrom, start, end = rows[1][:3]
    assert "".join("ACGT"[k] for k in x.argmax(-1)) == genome[chrom][start:end]
    np.testing.assert_allclose(read_track(f"{out['plus'][1]}.CTCF.bw", chrom, start, end), c,
                               rtol=1e-5, atol=1e-6)


def test_plot_draws_reverse_complemented_sequences_along_the_genome(runs, tmp_path):
    """A region's logo runs along the genome's + strand whichever way the model read the
    sequence: at each 1-based position p the drawn letter is the genome's base p (the
    contribution sits on that channel only), for a window inside a minus-strand interval."""
    from kipoi_deeplift.analysis.plots import logo_panels
    from kipoi_deeplift.io import scorefile as sf

    out, rows = runs
    genome = K.read_genome(out["plus"][0].parent / "genome.fa")
    chrom, start, end = rows[1][:3]
    lo, hi = start + 10, start + 30                  # 0-based, inside the interval
    region = f"{chrom}:{lo + 1}-{hi}"                # as a browser shows it
    drawn = {}
    for name in ("rc", "forward", "plus"):
        with sf.ScoreFile(out[name][0]) as h5:
            panels = logo_panels(h5, "seq", "CTCF", region=region)
        assert panels["genome"] and panels["flipped"] == (name == "rc")
        np.testing.assert_array_equal(panels["positions"], np.arange(lo + 1, hi + 1))
        values = panels["rows"][0][1]
        assert values.shape == (hi - lo, 4)
        for k, p in enumerate(panels["positions"]):
            base = genome[chrom][p - 1]              # 1-based position p
            off = [c for c in range(4) if c != "ACGT".index(base)]
            assert np.all(values[k, off] == 0), (name, p, base, values[k])
        drawn[name] = values
        png = tmp_path / f"{name}.png"
        kd.plots.plot(str(out[name][0]), str(png), region=region)
        assert png.stat().st_size > 1000
    # The symmetric model gives the same scores per genomic base on either strand.
    np.testing.assert_allclose(drawn["rc"], drawn["plus"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(drawn["forward"], drawn["plus"], rtol=1e-4, atol=1e-6)


# -- references on both strands (issue 23) ---------------------------------------------------
def test_a_locus_draws_the_same_references_on_either_strand():
    """A '-' sequence's shuffles are the reverse complements of its locus's '+' shuffles, and
    each is still a dinucleotide shuffle of the sequence it belongs to."""
    from kipoi_deeplift.core import references as R

    rng = np.random.default_rng(4)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(3)] + ["ACGTN" * 8]
    plus = np.stack([np.eye(4, dtype=np.float32)[["ACGT".index(c) if c != "N" else 0
                                                   for c in s]] for s in seqs])
    plus[3, 4::5] = 0.25                                   # N written as 0.25 rows
    minus = plus[:, ::-1, ::-1].copy()
    draws = R.Draws.of_loci(["chr1"] * 4, [0, 100, 200, 300], [40, 140, 240, 340],
                            [False] * 4)
    fwd = R.batch_references("dinuc-shuffle", plus, 6, 0, draws.keys, "seq")
    rev = R.batch_references("dinuc-shuffle", minus, 6, 0, draws.keys, "seq",
                             reverse=np.ones(4, bool))
    fwd_tok, rev_tok = (b.array.reshape(4, 6, 40) for b in (fwd, rev))
    np.testing.assert_array_equal(rev_tok, R.reverse_complement_tokens(fwd_tok))
    own = R.tokens(minus)
    for i in range(4):
        for k in range(6):
            got, want = rev_tok[i, k], own[i]
            pairs = lambda t: sorted(zip(t[:-1].tolist(), t[1:].tolist()))  # noqa: E731
            assert pairs(got) == pairs(want) and got[0] == want[0] and got[-1] == want[-1]
    # Keyed by locus: another locus, other references; the same locus, the same ones.
    other = R.Draws.of_loci(["chr1"] * 4, [1, 100, 200, 300], [41, 140, 240, 340], [False] * 4)
    assert other.keys[0] != draws.keys[0] and (other.keys[1:] == draws.keys[1:]).all()


def test_one_locus_scores_the_same_on_both_strands(tmp_path):
    """kipoiseq reverse-complements '-' intervals; a model that reads both strands alike
    (out = g(x) + g(rc x)) then gets the same delta, prediction and genome-oriented
    contributions for a locus on '+' and on '-' with dinucleotide-shuffled references (with
    references drawn from each row's sequence as read they differed: 4.39 vs 4.70 in the
    issue)."""
    fasta = K.write_genome(tmp_path)
    loci = [("chr1", 10, 60), ("chr2", 100, 150), ("chr1", 300, 350), ("chr1", 500, 550)]
    rows = [(c, s, e, f"{c}:{s}{st}", 0, st) for c, s, e in loci for st in "+-"]
    bed = K.write_bed(tmp_path, rows, name="both.bed")
    mdir = K.write_model_dir(tmp_path / "sym", model=symmetric_model())
    out = tmp_path / "both.h5"
    kd.score(str(mdir), {"intervals_file": str(bed), "fasta_file": str(fasta)}, str(out),
             n_references=8, hypothetical=True, batch_size=3)
    with h5py.File(out) as f:
        assert list(f["metadata/orientation"].asstr()[:]) == [GENOME, REVERSE] * 4
        assert f.attrs["reference_stream"] == 3
        for task in ("CTCF", "GATA1"):
            delta, preds = f[f"delta/{task}"][:], f[f"preds/{task}"][:]
            contrib = f[f"contrib/seq/{task}"][:]
            np.testing.assert_allclose(delta[1::2], delta[0::2], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(preds[1::2], preds[0::2], rtol=1e-5, atol=1e-5)
            genome_order = contrib[1::2, ::-1, ::-1]        # '-' rows back in genome order
            scale = np.abs(contrib).max()
            assert np.abs(genome_order - contrib[0::2]).max() <= 1e-5 * scale
            assert np.abs(delta).max() > 0.05            # not trivially zero
