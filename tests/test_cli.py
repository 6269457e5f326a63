"""`kipoi-deeplift score` end to end: Kipoi model directories, kipoiseq and the model's own
dataloader, the HDF5 layout, tracks, TF-MoDISco files, the three entry points, and bad input."""
import json

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import kipoi_deeplift as kd
from conftest import fixture_path
from kipoi_deeplift import cli
from _cli import fails, run_cli



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return K.make_world(tmp_path_factory.mktemp("world"))


def score_args(world, out, *extra):
    return ["score", str(world["model"]), "--dataloader-args", world["args"], "-o", str(out),
            "--n-references", "3", *extra]


@pytest.fixture(scope="module")
def scored(world):
    out = world["d"] / "run1.h5"
    status, stdout, stderr = run_cli(*score_args(world, out, "--hypothetical", "--bigwig",
                                                 str(world["d"] / "trk"), "--bedgraph",
                                                 str(world["d"] / "trk"), "--modisco",
                                                 str(world["d"] / "mod"), "--layers", "conv"))
    assert status == 0, stderr
    return out, stdout, stderr


def test_console_script_writes_the_contract_layout(world, scored):
    out, stdout, _ = scored
    assert "scored 5 sequences x 2 task(s)" in stdout
    with h5py.File(out) as f:
        n = len(K.INTERVALS)
        for task in ("CTCF", "GATA1"):
            c = f[f"contrib/seq/{task}"]
            assert c.shape == (n, K.LENGTH, 4) and c.dtype == np.float32
            assert f[f"hyp_contrib/seq/{task}"].shape == (n, K.LENGTH, 4)
            assert f[f"neuron_contrib/conv/{task}"].shape == (n, K.LENGTH - 6, 6)
            # No max pooling in this model: every rule is exact.
            np.testing.assert_allclose(c[:].sum((1, 2)), f[f"delta/{task}"][:], atol=1e-4)
            assert f[f"convergence/{task}"][:].max() < 1e-4
            assert f[f"preds/{task}"].shape == (n,)
        assert f["inputs/seq"].shape == (n, K.LENGTH, 4)
        r = f["metadata/ranges"]
        assert list(r["chr"].asstr()[:]) == [row[0] for row in K.INTERVALS]
        assert list(r["start"][:]) == [row[1] for row in K.INTERVALS]
        assert list(r["strand"].asstr()[:]) == [row[5] for row in K.INTERVALS]
        attrs = dict(f.attrs)
    assert attrs["rule"] == "genomics-default" and attrs["references"] == "dinuc-shuffle"
    assert attrs["n_references"] == 3 and attrs["seed"] == 0
    assert json.loads(attrs["tasks"]) == ["CTCF", "GATA1"]
    sha = json.loads(attrs["weights_sha256"])
    import hashlib
    assert sha["weights"] == hashlib.sha256((world["model"] / "model.keras").read_bytes()).hexdigest()
    for key in ("kipoi_deeplift_version", "model", "source", "tensorflow_version",
                "keras_version", "device", "start_time", "end_time"):
        assert attrs[key]
    # The recorded command reruns the same scoring.
    import shlex
    words = shlex.split(attrs["command"])
    assert words[:3] == ["kipoi-deeplift", "score", str(world["model"])]
    assert json.loads(words[words.index("--dataloader-args") + 1]) == json.loads(world["args"])
    rerun = world["d"] / "rerun.h5"
    words[words.index("-o") + 1] = str(rerun)
    for flag in ("--bigwig", "--bedgraph", "--modisco"):
        i = words.index(flag)
        words[i + 1] = str(world["d"] / f"rerun_{flag[2:]}")
    assert cli.main(words[1:]) == 0
    with h5py.File(out) as a, h5py.File(rerun) as b:
        np.testing.assert_array_equal(a["contrib/seq/GATA1"][:], b["contrib/seq/GATA1"][:])
        np.testing.assert_array_equal(a["neuron_contrib/conv/CTCF"][:],
                                      b["neuron_contrib/conv/CTCF"][:])


def test_inputs_are_the_genome_in_model_orientation(world, scored):
    genome = K.read_genome(world["fasta"])
    comp = str.maketrans("ACGT", "TGCA")
    with h5py.File(scored[0]) as f:
        x = f["inputs/seq"][:]
    for row, (chrom, start, end, _, _, strand) in zip(x, K.INTERVALS):
        seq = genome[chrom][start:end]
        if strand == "-":
            seq = seq.translate(comp)[::-1]
        assert "".join("ACGT"[i] for i in row.argmax(-1)) == seq


def test_bigwig_and_bedgraph_hold_per_base_scores_in_genome_coordinates(world, scored):
    import pyBigWig

    with h5py.File(scored[0]) as f:
        per_base = f["contrib/seq/GATA1"][:].sum(-1)
    # Expected genome tracks, written out independently: flip minus strand, average overlaps.
    total = {c: np.zeros(s) for c, s in K.CHROMS.items()}
    count = {c: np.zeros(s) for c, s in K.CHROMS.items()}
    for s, (chrom, start, end, _, _, strand) in zip(per_base, K.INTERVALS):
        total[chrom][start:end] += s[::-1] if strand == "-" else s
        count[chrom][start:end] += 1
    bw = pyBigWig.open(str(world["d"] / "trk.GATA1.bw"))
    assert bw.chroms() == K.CHROMS
    lines = (world["d"] / "trk.GATA1.bedGraph").read_text().splitlines()[1:]
    bedgraph = {(c, int(a)): float(v) for c, a, b, v in (ln.split("\t") for ln in lines)}
    for chrom in K.CHROMS:
        covered = np.flatnonzero(count[chrom])
        want = total[chrom][covered] / count[chrom][covered]
        got = np.array(bw.values(chrom, 0, K.CHROMS[chrom]))[covered]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert np.isnan(np.array(bw.values(chrom, 0, K.CHROMS[chrom]))[count[chrom] == 0]).all()
        np.testing.assert_allclose([bedgraph[(chrom, int(i))] for i in covered], want,
                                   rtol=1e-4, atol=1e-6)
    assert len(bedgraph) == sum(int((count[c] > 0).sum()) for c in K.CHROMS)


def test_modisco_files(world, scored):
    ohe = np.load(world["d"] / "mod.ohe.npz")["arr_0"]
    hyp = np.load(world["d"] / "mod.CTCF.hyp.npz")["arr_0"]
    with h5py.File(scored[0]) as f:
        np.testing.assert_array_equal(ohe, f["inputs/seq"][:].transpose(0, 2, 1))
        np.testing.assert_array_equal(hyp, f["hyp_contrib/seq/CTCF"][:].transpose(0, 2, 1))
    assert ohe.shape == (5, 4, K.LENGTH)


def test_same_seed_same_arrays_and_python_api(world, scored, tmp_path):
    out = tmp_path / "again.h5"
    res = kd.score(str(world["model"]), json.loads(world["args"]), str(out), n_references=3,
                   hypothetical=True, layers=["conv"])
    with h5py.File(scored[0]) as a, h5py.File(out) as b:
        for group in ("contrib", "hyp_contrib", "neuron_contrib", "delta", "preds", "inputs"):
            def compare(name, obj):
                if isinstance(obj, h5py.Dataset):
                    np.testing.assert_array_equal(obj[:], b[f"{group}/{name}"][:])
            a[group].visititems(compare)
    assert res["sequences"] == 5 and res["tasks"] == ["CTCF", "GATA1"]


def test_streamed_batches_equal_one_engine_call(world, tmp_path):
    """Batches of 2 give what one engine call on all sequences gives with the references a
    score file draws: each sequence's seeded by its locus, a sequence read against the genome
    drawn as the reverse complement of its locus's forward draw."""
    from kipoi_deeplift.core import references as R

    out = tmp_path / "b2.h5"
    kd.score(str(world["model"]), json.loads(world["args"]), str(out), n_references=4,
             batch_size=2, rule="rescale", tasks=["GATA1"])
    import keras
    model = keras.saving.load_model(world["model"] / "model.keras")
    with h5py.File(out) as f:
        x = f["inputs/seq"][:]
        got = f["contrib/seq/GATA1"][:]
        loci = [f[f"metadata/ranges/{k}"][:] for k in ("chr", "start", "end")]
        reverse = f["metadata/orientation"].asstr()[:] == "reverse_complement"
    assert reverse.any() and not reverse.all()
    draws = R.Draws.of_loci([c.decode() for c in loci[0]], loci[1], loci[2], reverse)
    refs = R.batch_references("dinuc-shuffle", x, 4, 0, draws.keys, "seq",
                              reverse=draws.reverse).per_sequence(len(x))
    want = kd.DeepLift(model, rule="rescale").explain(x, references=np.array(refs),
                                                      tasks=[1])
    # The file holds each position's total on the base that is there (x is one-hot here).
    np.testing.assert_allclose(got, want.contrib["seq"]["1"].sum(-1, keepdims=True) * x,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("entry", ["module", "kipoi"])
def test_module_and_kipoi_dispatcher(world, tmp_path, entry):
    out = tmp_path / f"{entry}.h5"
    status, stdout, stderr = run_cli(*score_args(world, out, "--tasks", "GATA1", "--limit", "2",
                                                 "--rule", "rescale"), entry=entry)
    assert status == 0, stderr
    with h5py.File(out) as f:
        assert list(f["contrib/seq"]) == ["GATA1"]
        assert f["contrib/seq/GATA1"].shape == (2, K.LENGTH, 4)
        assert f.attrs["rule"] == "rescale"


def test_postprocessing_block_supplies_defaults_and_flags_override(world, tmp_path):
    d = K.write_model_dir(tmp_path / "pp", postprocessing={"rule": "rescale", "n_references": 2,
                                                           "references": "shuffle", "seed": 5})
    args = json.loads(world["args"])
    kd.score(str(d), args, str(tmp_path / "a.h5"), limit=2)
    kd.score(str(d), args, str(tmp_path / "b.h5"), limit=2, rule="reveal-cancel", seed=1)
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        assert (a.attrs["rule"], a.attrs["n_references"], a.attrs["references"],
                a.attrs["seed"]) == ("rescale", 2, "shuffle", 5)
        assert (b.attrs["rule"], b.attrs["seed"]) == ("reveal-cancel", 1)


def test_alphabet_first_layout_is_written_as_l_by_4(world, tmp_path):
    """A (4, 1, L) model (DeepSEA/CpGenie layout) fed by kipoiseq with alphabet_axis=0."""
    canonical = K.conv_model()
    layout = K.conv_model((4, 1, K.LENGTH))
    for name in ("conv", "hidden", "out"):
        layout.get_layer(name).set_weights(canonical.get_layer(name).get_weights())
    d = K.write_model_dir(tmp_path / "layout", model=layout, shape=(4, 1, K.LENGTH),
                          dataloader_args={"alphabet_axis": 0, "dummy_axis": 1})
    args = json.loads(world["args"])
    kd.score(str(d), args, str(tmp_path / "l.h5"), n_references=2, rule="rescale")
    kd.score(str(world["model"]), args, str(tmp_path / "c.h5"), n_references=2, rule="rescale")
    with h5py.File(tmp_path / "l.h5") as a, h5py.File(tmp_path / "c.h5") as b:
        assert a["contrib/seq/CTCF"].shape == (5, K.LENGTH, 4)
        np.testing.assert_array_equal(a["inputs/seq"][:], b["inputs/seq"][:])
        np.testing.assert_allclose(a["contrib/seq/CTCF"][:], b["contrib/seq/CTCF"][:],
                                   rtol=1e-4, atol=1e-6)


def test_zoo_name_from_a_kipoi_source_with_weights_kipoi_downloads(world, tmp_path):
    """A model named as in the zoo, from a Kipoi LocalSource; its weights are a URL with an md5
    in model.yaml, fetched by Kipoi's own download code (a file:// URL here, Zenodo in the zoo)."""
    import hashlib
    import shutil

    import kipoi
    import yaml

    d = K.write_model_dir(tmp_path / "zoo" / "GATA" / "demo")
    weights = tmp_path / "published.keras"
    shutil.move(d / "model.keras", weights)
    spec = yaml.safe_load((d / "model.yaml").read_text())
    spec["args"]["weights"] = {"url": weights.as_uri(),
                               "md5": hashlib.md5(weights.read_bytes()).hexdigest()}
    (d / "model.yaml").write_text(yaml.safe_dump(spec))
    kipoi.config.add_source("kd_test_zoo", kipoi.sources.LocalSource(str(tmp_path / "zoo")))
    out = tmp_path / "zoo.h5"
    res = kd.score("GATA/demo", json.loads(world["args"]), str(out), source="kd_test_zoo",
                   n_references=2, limit=3)
    assert res["sequences"] == 3
    downloaded = list((d / "downloaded").rglob("*"))
    assert any(p.is_file() for p in downloaded), "Kipoi did not download the weights"
    with h5py.File(out) as f:
        assert f.attrs["model"] == "GATA/demo" and f.attrs["source"] == "kd_test_zoo"
        assert json.loads(f.attrs["weights_sha256"])["weights"] == \
            hashlib.sha256(weights.read_bytes()).hexdigest()


def test_tal1_example_model_with_its_own_dataloader(tmp_path):
    d = fixture_path("kipoi_tal1_model")
    ex = d / "example_files"
    args = {"intervals_file": str(ex / "intervals.tsv"), "fasta_file": str(ex / "example.fa")}
    out = tmp_path / "tal1.h5"
    res = kd.score(str(d), args, str(out), rule="grad-input", references="zeros",
                   batch_size=8)
    with h5py.File(ex / "grads.hdf5") as g:
        grads, inputs = g["grads"][:], g["inputs"][:]
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["inputs/seq"][:], inputs)
        np.testing.assert_allclose(f["contrib/seq/binding_prob"][:], grads * inputs,
                                   atol=1e-5 * np.abs(grads).max())
        assert list(f["metadata/ranges/chr"].asstr()[:]) == [f"seq{i}" for i in range(20)]
    assert res["sequences"] == 20


# -- bad input: one line, exit status 2, nothing left under the output name -------------------
def test_unknown_model_directory(capsys, tmp_path):
    fails(capsys, ["score", str(tmp_path / "nope"), "-o", str(tmp_path / "o.h5")],
          tmp_path / "o.h5", "model directory")
    assert not (tmp_path / "o.h5").exists()


def test_broken_model_yaml(capsys, world, tmp_path):
    d = K.write_model_dir(tmp_path / "broken")
    (d / "model.yaml").write_text("type: keras\nargs: [unclosed\n")
    fails(capsys, ["score", str(d), "-o", str(tmp_path / "o.h5")], tmp_path / "o.h5",
          "cannot read the model.yaml")


@pytest.mark.parametrize("case, message", [
    ("missing_fasta", "FASTA file"),
    ("past_end", "runs past the end of chr2 (400 bp)"),
    ("unknown_chrom", "chromosome 'chrX'"),
    ("empty_bed", "has no intervals"),
    ("unknown_arg", "the dataloader has no argument 'fasta'"),
    ("bad_task", "unknown task 'CTCF2'"),
    ("bad_layer", "unknown layer 'conv9'"),
    ("bad_json", "cannot parse --dataloader-args"),
    ("unreadable_fasta", "cannot read the FASTA file"),
    ("bad_device", "--device 'tpu': use cpu, gpu or gpu:K"),
    ("absent_gpu", "--device gpu:99: TensorFlow sees"),
])
def test_bad_input_is_one_line(capsys, world, tmp_path, case, message):
    args = {"intervals_file": str(world["bed"]), "fasta_file": str(world["fasta"])}
    extra = []
    if case == "missing_fasta":
        args["fasta_file"] = str(tmp_path / "absent.fa")
    elif case == "past_end":
        args["intervals_file"] = str(K.write_bed(tmp_path, [("chr2", 380, 430, "x", 0, "+")]))
    elif case == "unknown_chrom":
        args["intervals_file"] = str(K.write_bed(tmp_path, [("chrX", 10, 60, "x", 0, "+")]))
    elif case == "empty_bed":
        args["intervals_file"] = str(K.write_bed(tmp_path, []))
    elif case == "unknown_arg":
        args["fasta"] = args.pop("fasta_file")
    elif case == "bad_task":
        extra = ["--tasks", "CTCF2"]
    elif case == "bad_layer":
        extra = ["--layers", "conv9"]
    elif case == "unreadable_fasta":
        bad = tmp_path / "bad.fa"
        bad.write_bytes(b"\x00\x01 this is not a FASTA file\n\xff\xfe")
        args["fasta_file"] = str(bad)
    elif case in ("bad_device", "absent_gpu"):
        extra = ["--device", "tpu" if case == "bad_device" else "gpu:99"]
    out = tmp_path / "o.h5"
    dl_args = "{not json" if case == "bad_json" else json.dumps(args)
    fails(capsys, ["score", str(world["model"]), "--dataloader-args", dl_args, "-o", str(out),
                   *extra], out, message)
    assert not out.exists()


def _fail_on_second_append(monkeypatch, failure):
    from kipoi_deeplift.io import writers
    calls = {"n": 0}
    original = writers.H5Writer.append

    def failing_append(self, arrays):
        calls["n"] += 1
        if calls["n"] == 2:      # after one batch has been written
            raise failure
        return original(self, arrays)

    monkeypatch.setattr(writers.H5Writer, "append", failing_append)


def test_full_disk_keeps_the_earlier_output(capsys, world, tmp_path, monkeypatch):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"an earlier result")
    _fail_on_second_append(monkeypatch, OSError(28, "No space left on device"))
    fails(capsys, ["score", str(world["model"]), "--dataloader-args", world["args"], "-o",
                   str(out), "--batch-size", "2", "--n-references", "2"], out,
          "No space left on device")
    assert out.read_bytes() == b"an earlier result"


def test_interrupt_keeps_the_earlier_output_and_the_finished_batches(capsys, world, tmp_path,
                                                                     monkeypatch):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"an earlier result")
    _fail_on_second_append(monkeypatch, KeyboardInterrupt())
    status = cli.main(["score", str(world["model"]), "--dataloader-args", world["args"], "-o",
                       str(out), "--batch-size", "2", "--n-references", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "interrupted; 2 finished sequences are kept for `--resume`" in err[0]
    assert out.read_bytes() == b"an earlier result"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".keep.h5.")]
    assert len(kept) == 1 and kept[0].name.endswith(".kd-tmp")
    with h5py.File(kept[0], "r") as f:
        assert f.attrs["rows_written"] == 2 and f["contrib/seq/CTCF"].shape[0] == 2


def test_python2_lambda_files_point_to_the_zoo(capsys, tmp_path):
    h5 = fixture_path("deepbind", "kipoi_2018_h5", "D00328.018_CTCF", "model.h5")
    d = tmp_path / "deepbind"
    d.mkdir()
    (d / "model.h5").symlink_to(h5)
    tpl = fixture_path("deepbind", "kipoi_2018_h5", "template_model.yaml").read_text()
    (d / "model.yaml").write_text(tpl.replace("model_files/model.h5", "model.h5")
                                  .replace("default_dataloader: .", "default_dataloader:\n"
                                           "  defined_as: kipoiseq.dataloaders.SeqIntervalDl"))
    # Recognised from its model.yaml, the directory is rebuilt (tests/test_deepbind_today.py);
    # without the config its file cannot be read, and the message points to the zoo configs.
    fails(capsys, ["score", str(d), "-o", str(tmp_path / "o.h5"), "--zoo-config", "none"],
          tmp_path / "o.h5", "Python bytecode of another Python version")


def test_intervals_of_different_lengths_are_refused_clearly(tmp_path):
    from kipoi_deeplift.io.writers import H5Writer
    w = H5Writer(tmp_path / "x.h5")
    w.append({"contrib/seq/t": np.zeros((2, 50, 4), np.float32)})
    with pytest.raises(kd.UserError, match="intervals differ in length"):
        w.append({"contrib/seq/t": np.zeros((2, 60, 4), np.float32)})
    w.close()
