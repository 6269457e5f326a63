"""`--summary` and `--sites`: a table per interval and task, and each interval's top window as
BED in genome coordinates on both strands (checked against a model whose only signal is a
planted site, and against numbers computed here from the HDF5)."""
import csv
import json

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
from _cli import run_cli

SITE = 500        # genome position (0-based) of the planted GATC on chr1


def gatc_model():
    """Fires only on GATC (a palindrome: the same on both strands), scored through a sigmoid."""
    import keras

    i = keras.Input((K.LENGTH, 4), name="seq")
    conv = keras.layers.Conv1D(1, 4, activation="relu", name="gatc")
    h = conv(i)
    out = keras.layers.Dense(2, activation="sigmoid", name="out")(
        keras.layers.Flatten(name="flat")(h))
    model = keras.Model(i, out)
    kernel = np.zeros((4, 4, 1), np.float32)
    for p, base in enumerate("GATC"):
        kernel[p, "ACGT".index(base), 0] = 1.0
    conv.set_weights([kernel, np.array([-3.0], np.float32)])
    dense = model.get_layer("out")
    n = dense.get_weights()[0].shape[0]
    dense.set_weights([np.tile(np.array([[1.0, 0.5]], np.float32), (n, 1)),
                       np.array([-0.5, 0.2], np.float32)])
    return model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    fasta = K.write_genome(d)
    genome = K.read_genome(fasta)
    seq = genome["chr1"].replace("GATC", "GTTC")
    seq = seq[:SITE] + "GATC" + seq[SITE + 4:]
    genome["chr1"] = seq
    with open(fasta, "w") as f:
        for name, s in genome.items():
            f.write(f">{name}\n" + "".join(s[i:i + 60] + "\n" for i in range(0, len(s), 60)))
    rows = [("chr1", SITE - 20, SITE + 30, "plus_site", 0, "+"),
            ("chr1", SITE - 31, SITE + 19, "minus_site", 0, "-"),
            ("chr1", SITE - 40, SITE + 40, "wide", 0, "+")]      # resized to 50 bp
    bed = K.write_bed(d, rows, "sites.bed")
    model = K.write_model_dir(d / "model", model=gatc_model())
    args = json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)})
    out = d / "scores.tsv"          # a .tsv output: the table there, the HDF5 beside it
    status, stdout, stderr = run_cli("score", str(model), "--dataloader_args", args, "-o",
                                     str(out), "--references", "zeros", "--rule", "rescale",
                                     "--sites", str(d / "top.bed"))
    assert status == 0, stderr
    return d, rows, stdout


def test_sites_cover_the_planted_site_on_both_strands(world):
    d, rows, stdout = world
    assert f"wrote {d / 'top.bed'}" in stdout
    lines = [line.split("\t") for line in (d / "top.bed").read_text().splitlines()]
    assert len(lines) == 2 * len(rows)            # an interval x task each
    for chrom, start, end, name, score, strand in lines:
        assert chrom == "chr1" and int(end) - int(start) == 10
        assert int(start) <= SITE and SITE + 4 <= int(end), (name, start, end)
        assert 0 <= int(score) <= 1000
        interval = name.split("|")[0]
        assert strand == ("-" if interval == "minus_site" else "+")
    assert [line[0:2] for line in lines] == sorted(line[0:2] for line in lines)


def test_summary_numbers_are_the_files(world):
    d, rows, _ = world
    with open(d / "scores.tsv") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert len(table) == 2 * len(rows)
    with h5py.File(d / "scores.h5") as h5:
        starts = h5["metadata/ranges/start"][:]
        for row in table:
            i = [r[3] for r in rows].index(row["name"])
            task = row["task"]
            logit = h5[f"preds/{task}"][i]
            assert float(row["logit"]) == pytest.approx(logit, rel=1e-5)
            # The model ends in a sigmoid: Kipoi's prediction is its probability.
            assert float(row["probability"]) == pytest.approx(1 / (1 + np.exp(-logit)),
                                                              rel=1e-5)
            assert float(row["delta"]) == pytest.approx(h5[f"delta/{task}"][i], rel=1e-5,
                                                        abs=1e-6)
            per_base = h5[f"contrib/seq/{task}"][i].sum(-1)
            sums = [per_base[p:p + 10].sum() for p in range(len(per_base) - 9)]
            assert float(row["top_score"]) == pytest.approx(max(sums), rel=1e-4)
            assert row["chrom"] == "chr1" and int(row["start"]) == starts[i]
            assert int(row["top_start"]) <= SITE < int(row["top_end"])
            assert float(row["summation_error"]) < 1e-4
    assert {r["strand"] for r in table if r["name"] == "minus_site"} == {"-"}


def test_resize_note_and_names(world):
    d, rows, _ = world
    with h5py.File(d / "scores.h5") as h5:
        assert list(h5["metadata/ranges/id"].asstr()[:]) == [r[3] for r in rows]
        assert "--summary" in h5.attrs["command"] and "--sites" in h5.attrs["command"]


def test_softmax_probability_needs_every_unit(tmp_path):
    """A softmax output: with both units scored the probabilities are the softmax of the
    logits (and sum to 1); with one unit scored the probability cannot be known: empty."""
    import keras

    import _models as M

    i = keras.Input((K.LENGTH, 4), name="seq")
    h = keras.layers.Flatten()(keras.layers.Conv1D(3, 5, activation="relu")(i))
    model = M.randomise(keras.Model(i, keras.layers.Dense(2, activation="softmax")(h)), 5, 0.4)
    world = K.make_world(tmp_path)          # its own model under tmp_path/model; ours beside it
    d = K.write_model_dir(tmp_path / "softmax_model", model=model)
    for tasks, n in (("CTCF,GATA1", 2), ("GATA1", 1)):
        out = tmp_path / f"{n}.tsv"
        status, _, err = run_cli("score", str(d), "--dataloader-args", world["args"], "-o",
                                 str(out), "--n-references", "2", "--tasks", tasks)
        assert status == 0, err
        with open(out) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if n == 2:
            by = {}
            for r in rows:
                by.setdefault(r["name"], {})[r["task"]] = r
            for pair in by.values():
                z = np.array([float(pair[t]["logit"]) for t in ("CTCF", "GATA1")])
                p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
                got = [float(pair[t]["probability"]) for t in ("CTCF", "GATA1")]
                np.testing.assert_allclose(got, p, rtol=1e-4)
        else:
            assert all(r["probability"] == "" for r in rows)


def test_sequence_start_is_one_rule_for_ints_and_arrays():
    """io.coordinates owns where a scored sequence lies: centred in its range (the extra base
    of an odd difference to the right), the same for one range and for arrays of them."""
    from kipoi_deeplift.io.coordinates import sequence_start

    assert sequence_start(10, 60, 50) == 10            # the range is the sequence
    assert sequence_start(0, 101, 50) == 25            # wider: centred, 26 bases after
    assert sequence_start(100, 120, 50) == 85          # narrower: reaches past both ends
    got = sequence_start(np.array([10, 0, 100], np.int32), np.array([60, 101, 120]), 50)
    assert got.dtype == np.int64 and got.tolist() == [10, 25, 85]
