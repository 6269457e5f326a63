"""Hostile inputs and faults (issue 11): each reproduces a defect seen by a user or a cluster,
and checks the contract: one line on stderr, exit status 2, earlier output intact, no temp file
left, and never a NaN passed off as exact."""
import hashlib
import json

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import kipoi_deeplift as kd
from _cli import fails, run_cli
from kipoi_deeplift import references as refs


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    fasta = K.write_genome(d)
    genome = K.read_genome(fasta)
    # An assembly gap (N) and an IUPAC code (R) inside the third interval.
    g1 = genome["chr1"]
    genome["chr1"] = g1[:320] + "NNNNN" + g1[325:330] + "R" + g1[331:]
    with open(fasta, "w") as f:
        for name, seq in genome.items():
            f.write(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60))
                    + "\n")
    bed = K.write_bed(d)
    model = K.write_model_dir(d / "model")
    args = {"intervals_file": str(bed), "fasta_file": str(fasta)}
    good = d / "good.h5"
    kd.score(str(model), args, str(good), n_references=3)
    return {"d": d, "model": model, "args": args, "good": good}


def score_argv(world, out, *extra):
    return ["score", str(world["model"]), "--dataloader-args", json.dumps(world["args"]),
            "-o", str(out), "--n-references", "3", *extra]


# -- 1. non-finite references ----------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_references_are_refused_and_the_earlier_file_kept(world, capsys, bad):
    r = np.full((2, K.LENGTH, 4), 0.25, np.float32)
    r[1, 7, 2] = bad
    np.save(world["d"] / "bad_refs.npy", r)
    before = digest(world["good"])
    fails(capsys, score_argv(world, world["good"], "--references",
                             str(world["d"] / "bad_refs.npy")),
          world["good"], "contain NaN or inf")
    assert digest(world["good"]) == before


def test_a_model_that_gives_nan_is_never_reported_exact():
    import keras

    i = keras.Input((6, 4), name="seq")
    dense = keras.layers.Dense(1, name="out")
    model = keras.Model(i, dense(keras.layers.Flatten(name="flat")(i)))
    dense.set_weights([np.full((24, 1), 3e38, np.float32), np.zeros(1, np.float32)])  # overflows
    x = np.eye(4, dtype=np.float32)[np.zeros((2, 6), int)]
    with pytest.raises(ValueError, match="NaN or inf"):
        kd.DeepLift(model, rule="grad-input").explain(x, references="zeros")


# -- 12. N and IUPAC codes --------------------------------------------------------------------
def test_dinuc_shuffle_keeps_n_and_zero_rows_as_symbols():
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 40))]
    x[0, 5:9] = 0.25                  # N as kipoiseq writes it
    x[0, 20] = 0.0                    # an IUPAC code (or N) as an all-zero row
    x[2, 30:] = 0.25
    assert refs.is_one_hot(x)
    sh = refs.dinuc_shuffle(x, 5, seed=1)
    for i in range(3):
        tok = refs._tokens(x[i:i + 1])[0]
        for k in range(5):
            t = refs._tokens(sh[i, k][None])[0]
            pairs = lambda v: sorted(zip(v[:-1], v[1:]))      # noqa: E731
            assert pairs(t) == pairs(tok) and t[0] == tok[0] and t[-1] == tok[-1]
    n_rows, zero_rows = refs.non_acgt_counts(x)
    assert list(n_rows) == [4, 0, 10] and list(zero_rows) == [1, 0, 0]


def test_sequences_with_n_are_scored_and_counted(world, tmp_path):
    status, out, err = run_cli(*score_argv(world, tmp_path / "n.h5"))
    assert status == 0, err
    assert "1 sequence(s) hold positions that are not A/C/G/T (5 N written as 0.25, 1 " \
           "all-zero" in out
    with h5py.File(tmp_path / "n.h5") as f:
        assert list(f["metadata/n_positions"][:]) == [0, 0, 0, 5, 0]
        assert list(f["metadata/zero_positions"][:]) == [0, 0, 0, 1, 0]
        assert f["convergence/CTCF"][:].max() < 1e-4


# -- 9. options checked before any work; 11. argparse mistakes in one line ---------------------
@pytest.mark.parametrize("extra, message", [
    (["--n-references", "-1"], "--n-references must be a whole number of at least 1"),
    (["--n-references", "0"], "--n-references must be a whole number of at least 1"),
    (["--batch-size", "0"], "--batch-size must be a whole number of at least 1"),
    (["--limit", "-3"], "--limit must be a whole number of at least 1"),
    (["--seed", "-1"], "--seed must be a whole number of at least 0"),
    (["--shard", "3/2"], "--shard '3/2'"),
])
def test_bad_options_fail_before_any_work(world, capsys, extra, message):
    out = world["d"] / "opt.h5"
    argv = score_argv(world, out)
    argv = [a for a in argv if a not in ("--n-references", "3")] + extra
    fails(capsys, argv, out, message)
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["score", "m", "--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    (["score"], "the following arguments are required: model"),
    (["scor"], "invalid choice: 'scor'"),
    (["score", "m", "--rule", "deep"], "argument --rule: invalid choice: 'deep'"),
])
def test_argparse_mistakes_are_one_line(argv, message):
    status, out, err = run_cli(*argv)
    assert status == 2
    assert err.strip().count("\n") == 0 and message in err, err


# -- 5. argument types --------------------------------------------------------------------------
@pytest.mark.parametrize("value, shown", [(None, "null"), (5, "5"), ([1], "[1]")])
def test_dataloader_path_arguments_must_be_paths(world, capsys, value, shown):
    out = world["d"] / "types.h5"
    argv = score_argv(world, out)
    argv[3] = json.dumps({**world["args"], "fasta_file": value})
    fails(capsys, argv, out, f"'fasta_file' must be the path of a FASTA file, got {shown}")


# -- 13. BED headers and comments with kipoiseq's dataloader ----------------------------------
@pytest.mark.parametrize("first", ["# comment", "track name=x", "chrom\tstart\tend"])
def test_bed_headers_are_named_for_kipoiseq(world, capsys, first):
    bed = world["d"] / "header.bed"
    bed.write_text(first + "\n" + open(world["args"]["intervals_file"]).read())
    out = world["d"] / "hdr.h5"
    argv = score_argv(world, out)
    argv[3] = json.dumps({**world["args"], "intervals_file": str(bed)})
    fails(capsys, argv, out, "header")
