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
from kipoi_deeplift.core import references as refs


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
        tok = refs.tokens(x[i:i + 1])[0]
        for k in range(5):
            t = refs.tokens(sh[i, k][None])[0]
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
    (["score"], "the following arguments are required: MODEL"),
    (["scor"], "invalid choice: 'scor'"),
    (["score", "m", "--rule", "deep"], "argument --rule/--method: invalid choice: 'deep'"),
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


# -- 2, 3, 4. full disks and read-only directories ---------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a given size (root can mount one; elsewhere the test is skipped and the
    fault-injecting tests below cover the same code)."""
    import subprocess

    mounted = []

    def make(size: str, readonly: bool = False):
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        opts = f"size={size}" + (",ro" if readonly else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:80]})")
        mounted.append(d)
        return d

    yield make
    import subprocess as sp
    for d in mounted:
        sp.run(["umount", str(d)], capture_output=True)


@pytest.fixture(scope="module")
def many(world):
    """Enough intervals that the HDF5 file outgrows a 3 MB disk part-way through."""
    rows = [("chr1", s, s + 50, "x", 0, "+") for s in range(0, 540, 5)] * 12
    bed = K.write_bed(world["d"], rows, name="many.bed")
    return {**world["args"], "intervals_file": str(bed)}


def many_argv(world, many, out, *extra, batch_size=16):
    return ["score", str(world["model"]), "--dataloader-args", json.dumps(many), "-o",
            str(out), "--hypothetical", "--batch-size", str(batch_size), "--n-references", "5",
            *extra]


def test_disk_full_while_writing_the_hdf5_is_one_line(world, many, small_disk):
    disk = small_disk("3m")
    out = disk / "out.h5"
    status, stdout, err = run_cli(*many_argv(world, many, out))
    assert status == 2, (status, err[-500:])
    assert err.strip().count("\n") == 0 and "the disk is full" in err, err[-2000:]
    assert list(disk.iterdir()) == []          # no temp file, no output


def test_disk_full_during_merge_is_one_line(world, many, small_disk, tmp_path):
    shards = []
    for i in (1, 2):
        p = tmp_path / f"s{i}.h5"
        kd.score(str(world["model"]), many, str(p), hypothetical=True, batch_size=16,
                 n_references=5, shard=f"{i}/2")
        shards.append(str(p))
    disk = small_disk("2m")
    status, stdout, err = run_cli("merge", *shards, "-o", str(disk / "m.h5"))
    assert status == 2 and err.strip().count("\n") == 0 and "the disk is full" in err, err
    assert list(disk.iterdir()) == []


def test_space_is_claimed_before_hdf5_writes(world, many, tmp_path, monkeypatch, capsys):
    """Without a small disk: fallocate fails with ENOSPC on the 3rd batch, as it would if
    another process filled the disk. HDF5 never sees a failed write (it would crash)."""
    import ctypes
    import errno

    from kipoi_deeplift.io import staging
    calls = {"n": 0}

    def fake():
        def fallocate(fd, mode, offset, length):
            calls["n"] += 1
            if calls["n"] >= 3:
                ctypes.set_errno(errno.ENOSPC)
                return -1
            return 0
        return fallocate

    monkeypatch.setattr(staging, "_fallocate", fake)
    out = tmp_path / "o.h5"
    fails(capsys, many_argv(world, many, out), out, "the disk is full")
    assert not out.exists()


def test_a_truncated_bigwig_is_not_reported_written(world, tmp_path, monkeypatch, capsys):
    """libBigWig only prints "likely truncated" when the disk fills: the track is read back."""
    import pyBigWig

    real_open = pyBigWig.open

    class Dropping:
        def __init__(self, bw):
            self.bw = bw

        def addHeader(self, *a, **k):
            return self.bw.addHeader(*a, **k)

        def addEntries(self, *a, **k):     # the entries never reach the disk
            return None

        def close(self):
            return self.bw.close()

    monkeypatch.setattr(pyBigWig, "open", lambda path, mode="r": Dropping(real_open(path, mode))
                        if mode == "w" else real_open(path, mode))
    out = tmp_path / "o.h5"
    fails(capsys, score_argv(world, out, "--bigwig", str(tmp_path / "trk")), out,
          "came out incomplete")
    assert not out.exists() and not list(tmp_path.glob("trk*"))


def test_bigwig_on_a_full_disk(world, many, small_disk, tmp_path):
    disk = small_disk("4k")
    out = tmp_path / "o.h5"
    status, stdout, err = run_cli(*many_argv(world, many, out, "--bigwig", str(disk / "trk")))
    assert status == 2 and err.strip().count("\n") == 0, err[-2000:]
    assert "writing the bigWig" in err and "is the disk full?" in err, err
    assert not out.exists() and list(disk.iterdir()) == []


def test_outputs_in_a_read_only_directory_fail_before_any_work(world, small_disk, tmp_path):
    ro = small_disk("1m", readonly=True)
    for extra, what in ((["--bigwig", str(ro / "trk")], "--bigwig prefix"),
                        (["--modisco", str(ro / "mod")], "--modisco prefix")):
        out = tmp_path / "o.h5"
        status, stdout, err = run_cli(*score_argv(world, out, *extra))
        assert status == 2 and err.strip().count("\n") == 0, err
        assert f"cannot write the {what}" in err and "Read-only file system" in err, err
        assert not list(tmp_path.glob(".o.h5*")) and not out.exists()
    status, stdout, err = run_cli(*score_argv(world, ro / "o.h5"))
    assert status == 2 and "cannot write the output" in err, err


# -- 8. temporary files -------------------------------------------------------------------------
def test_temp_names_are_unique_and_stale_ones_are_removed(world, tmp_path):
    import subprocess
    import sys

    from kipoi_deeplift.io.writers import Staged, stale_temps

    out = tmp_path / "o.h5"
    a, b = Staged(), Staged()
    pa, pb = a.path(out), b.path(out)
    assert pa != pb and pa.parent == pb.parent == tmp_path        # as two containers would
    assert stale_temps(out) == []           # both are locked by this live process
    a.discard()
    b.discard()
    dead = tmp_path / ".o.h5.deadrun1.kd-tmp"      # a kill -9's leftover: nobody holds it
    dead.write_bytes(b"half a file")
    live = tmp_path / ".o.h5.liverun.kd-tmp"       # another live run's file
    live.write_bytes(b"in use")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"),
        str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        status, stdout, err = run_cli(*score_argv(world, out))
        assert status == 0, err
        assert "removed 1 temporary file(s) of o.h5 left by runs that died" in err
        assert not dead.exists() and live.exists()
    finally:
        holder.kill()       # it held flock, the lock this tool's runs hold on their temp files


def _sigint_default():
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


# -- 6, 7. signals --------------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_ctrl_c_at_any_moment_is_one_line(world, many, tmp_path, delay):
    import signal
    import subprocess
    import time

    from _cli import BIN
    out = tmp_path / "o.h5"
    # 1296 sequences: start-up (0.3 s), TensorFlow's import (1.5 s) or scoring (3 s).
    # A shell without job control starts background jobs with SIGINT ignored, and Python then
    # keeps it ignored: the user's terminal has it at its default, so the run does too.
    p = subprocess.Popen([str(BIN / "kipoi-deeplift"), *many_argv(world, many, out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_sigint_default)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 2, (p.returncode, err[-2000:])
    assert err.strip().count("\n") == 0 and "interrupted" in err and "Traceback" not in err, \
        err[-2000:]
    assert not out.exists()


# -- 10. batch size ------------------------------------------------------------------------------
def test_batch_size_moves_contributions_by_float32_rounding_only(world, tmp_path):
    """The README's bound: same batch size, identical arrays; another batch size, at most a
    few float32 roundings (TensorFlow's kernels pick their summation order by shape)."""
    got = {}
    for bs in (1, 3, 7, 16, 16):
        out = tmp_path / f"b{bs}.h5"
        kd.score(str(world["model"]), world["args"], str(out), batch_size=bs, n_references=4,
                 hypothetical=True)
        with h5py.File(out) as f:
            again = {k: f[k][:] for k in ("contrib/seq/CTCF", "hyp_contrib/seq/CTCF",
                                          "preds/CTCF", "delta/CTCF")}
        if bs in got:                                            # the same batch size
            for k, v in again.items():
                np.testing.assert_array_equal(v, got[bs][k])
        got[bs] = again
    scale = np.abs(got[16]["contrib/seq/CTCF"]).max()
    for bs in (1, 3, 7):
        for k in ("contrib/seq/CTCF", "hyp_contrib/seq/CTCF"):
            assert np.abs(got[bs][k] - got[16][k]).max() <= 1e-6 * scale, (bs, k)
        np.testing.assert_array_equal(got[bs]["preds/CTCF"], got[16]["preds/CTCF"])


# -- resumable runs ------------------------------------------------------------------------------
def _interrupt_a_real_run(world, many, out, sig):
    """Start `score` in a process, stop it with ``sig`` once some batches are on disk."""
    import subprocess
    import time

    from _cli import BIN
    p = subprocess.Popen([str(BIN / "kipoi-deeplift"), *many_argv(world, many, out,
                                                                  batch_size=8)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        temps = list(out.parent.glob(f".{out.name}.*.kd-tmp"))
        if temps and temps[0].stat().st_size > 200_000:
            break
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.send_signal(sig)
    stdout, err = p.communicate(timeout=120)
    return p.returncode, err


@pytest.fixture(scope="module")
def uninterrupted(world, many, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "full.h5"
    status, stdout, err = run_cli(*many_argv(world, many, out, batch_size=8))
    assert status == 0, err
    return out


def _same_arrays(a_path, b_path):
    with h5py.File(a_path) as a, h5py.File(b_path) as b:
        names, other = [], []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        b.visititems(lambda n, o: other.append(n) if isinstance(o, h5py.Dataset) else None)
        assert names and sorted(names) == sorted(other)
        for n in names:
            np.testing.assert_array_equal(a[n][:], b[n][:], err_msg=n)
        return a["contrib/seq/CTCF"].shape[0]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_resume_after_a_real_kill_gives_the_uninterrupted_file(world, many, uninterrupted,
                                                               tmp_path, how):
    import signal

    out = tmp_path / "res.h5"
    status, err = _interrupt_a_real_run(world, many, out, getattr(signal, how))
    assert status != 0, "the run finished before it could be stopped"
    if how == "SIGTERM":
        assert status == 2 and "terminated (SIGTERM);" in err and "kept for `--resume`" in err
    assert not out.exists() and list(tmp_path.glob(".res.h5.*.kd-tmp"))
    # Without --resume a run says what it found; with it, the run continues.
    status, stdout, err = run_cli(*many_argv(world, many, out, "--resume",
                                             batch_size=8))
    assert status == 0, err
    assert "reused from the interrupted run" in stdout
    assert "removed the interrupted run's file(s)" in err
    assert _same_arrays(uninterrupted, out) == 1296
    assert not list(tmp_path.glob(".res.h5.*"))


def test_resume_refuses_a_different_command(world, many, tmp_path):
    import signal

    out = tmp_path / "res.h5"
    status, err = _interrupt_a_real_run(world, many, out, signal.SIGKILL)
    assert status != 0, "the run finished before it could be stopped"
    status, stdout, err = run_cli(*many_argv(world, many, out, "--resume", "--seed", "5",
                                             batch_size=8))
    assert status == 2 and "differs in seed" in err and err.count("\n") <= 2, err
    status, stdout, err = run_cli(*many_argv(world, many, out, batch_size=8))
    assert status == 0 and "--resume` continues it" in err
    assert not list(tmp_path.glob(".res.h5.*"))      # a completed run replaces the partial
    status, stdout, err = run_cli(*many_argv(world, many, out, "--resume"))
    assert status == 2 and "no interrupted run of this output was found" in err


def test_output_piped_to_a_closed_reader_ends_quietly(monkeypatch, capsys):
    """`kipoi-deeplift zoo show X | head -1`: the reader goes away; no error, status 0."""
    import os
    import sys

    from kipoi_deeplift import cli
    r, w = os.pipe()
    os.close(r)                                   # the reader is gone
    closed = os.fdopen(w, "w", buffering=1)        # line-buffered: print reaches the pipe
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert cli.main(["zoo", "show", "FactorNet"]) == 0
    finally:
        monkeypatch.undo()
        try:
            closed.close()
        except OSError:
            pass
    assert capsys.readouterr().err == ""


# -- workers (issue 23) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A 40 kb chromosome tiled by overlapping 50 bp intervals 8 bp apart on both strands: one
    batch of 128 spans ~1 kb of the FASTA, the run spans all of it (rows of other intervals
    were written at batch boundaries when workers shared an open FASTA)."""
    import subprocess

    from _cli import BIN
    d = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(7)
    seq = "".join(rng.choice(list("ACGT"), 40_000))
    fasta = d / "wide.fa"
    fasta.write_text(">chrW\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    rows = [("chrW", s, s + 50, f"t{s}{strand}", 0, strand)
            for s in range(0, 40_000 - 50, 8) for strand in "+-"]
    bed = K.write_bed(d, rows, name="tiles.bed")
    model = K.write_model_dir(d / "model")
    args = json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)})

    def argv(out, *extra):
        return [str(BIN / "kipoi-deeplift"), "score", str(model), "--dataloader-args", args,
                "-o", str(out), "--hypothetical", "--batch-size", "128", "--n-references", "4",
                *extra]

    whole = d / "whole.h5"          # read in this process, no workers
    subprocess.run(argv(whole), check=True, capture_output=True)
    return {"d": d, "argv": argv, "whole": whole, "n": len(rows)}


def test_ctrl_c_to_the_group_with_workers_then_resume(wide, tmp_path):
    """As a terminal's Ctrl-C does: SIGINT to the whole process group, workers included. One
    line (no worker tracebacks), then `--resume -n 2` writes the file of an uninterrupted
    run read without workers, row for row."""
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "res.h5"
    p = subprocess.Popen(wide["argv"](out, "-n", "2"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=_sigint_default)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        temps = list(tmp_path.glob(".res.h5.*.kd-tmp"))
        if temps and temps[0].stat().st_size > 1_500_000:
            break
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGINT)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 2, f"the run ended with {p.returncode} before it was stopped: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "kept for `--resume`" in lines[0], err[-3000:]
    r = subprocess.run(wide["argv"](out, "-n", "2", "--resume"), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "reused from the interrupted run" in r.stdout
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert _same_arrays(wide["whole"], out) == wide["n"]


def test_shards_read_by_workers_merge_into_the_whole_run(wide, tmp_path):
    import subprocess

    from _cli import BIN
    parts = []
    for i in (1, 2, 3):
        parts.append(tmp_path / f"part{i}.h5")
        r = subprocess.run(wide["argv"](parts[-1], "-n", "2", "--shard", f"{i}/3"),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    merged = tmp_path / "merged.h5"
    r = subprocess.run([str(BIN / "kipoi-deeplift"), "merge", *map(str, parts), "-o",
                        str(merged)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _same_arrays(wide["whole"], merged) == wide["n"]


def test_an_interrupt_that_python_wrapped_is_still_an_interrupt(monkeypatch, capsys):
    """Ctrl-C while a class is being created (matplotlib's import, 3 s into a run on a busy
    machine) reaches us as "RuntimeError: Error calling __set_name__" with the interrupt as
    its cause: it ends as an interrupt, not as an error to rerun with --debug."""
    from kipoi_deeplift import cli

    def wrapped(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as k:
            raise RuntimeError("Error calling __set_name__ on '_axis_method_wrapper'") from k

    monkeypatch.setattr(cli, "_run_score", wrapped)
    assert cli.main(["score", "m", "-o", "x.h5"]) == 2
    assert capsys.readouterr().err.strip() == "kipoi-deeplift: interrupted; nothing was " \
                                              "written to x.h5"
    monkeypatch.setattr(cli, "_run_score", lambda args: 1 / 0)
    assert cli.main(["score", "m"]) == 2
    assert "ZeroDivisionError: division by zero (rerun with --debug" in capsys.readouterr().err
