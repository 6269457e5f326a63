"""Scale: shards merged equal an unsharded run exactly; the Dask path equals the serial run."""
import json

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import kipoi_deeplift as kd
from kipoi_deeplift import cli
from kipoi_deeplift.kipoi.scoring import shard_bounds

#: 23 intervals of 50 bp on both chromosomes, some on the minus strand.
MANY = [("chr1" if i % 3 else "chr2", 10 + 13 * i, 60 + 13 * i, f"i{i}", 0, "+-"[i % 2])
        for i in range(23)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    args = {"intervals_file": str(K.write_bed(d, MANY)), "fasta_file": str(K.write_genome(d))}
    model = K.write_model_dir(d / "model")
    whole = d / "whole.h5"
    kd.score(str(model), args, str(whole), n_references=3, batch_size=4, hypothetical=True)
    return d, model, args, whole


def arrays(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[:]) if isinstance(v, h5py.Dataset)
                     else None)
    return out


def assert_same_arrays(a, b):
    a, b = arrays(a), arrays(b)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_shard_bounds_cover_everything_once_at_batch_boundaries():
    for total, n, bs in ((23, 3, 4), (100, 7, 8), (5, 8, 2), (1000, 16, 32)):
        bounds = [shard_bounds(total, i, n, bs) for i in range(1, n + 1)]
        assert bounds[0][0] == 0 and bounds[-1][1] == total
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert all(start % bs == 0 for start, _ in bounds)


def test_merged_shards_equal_the_unsharded_run_exactly(world, capsys):
    d, model, args, whole = world
    parts = []
    for i in (3, 1, 2):                      # any order
        p = d / f"part{i}.h5"
        assert cli.main(["score", str(model), "--dataloader-args", json.dumps(args), "-o",
                         str(p), "--n-references", "3", "--batch-size", "4", "--hypothetical",
                         "--shard", f"{i}/3"]) == 0
        parts.append(str(p))
    merged = d / "merged.h5"
    assert cli.main(["merge", *parts, "-o", str(merged), "--bigwig", str(d / "m")]) == 0
    assert "merged 3 shards, 23 sequences" in capsys.readouterr().out
    assert_same_arrays(whole, merged)
    with h5py.File(merged) as f, h5py.File(whole) as g:
        assert "--shard" not in f.attrs["command"]
        for key in ("rule", "seed", "weights_sha256", "tasks"):
            assert f.attrs[key] == g.attrs[key]
    assert (d / "m.CTCF.bw").stat().st_size > 0


@pytest.mark.parametrize("case, message", [
    ("missing", "shards of 3: missing [2]"),
    ("other_run", "differs from"),
    ("unsharded", "is not a shard"),
])
def test_merge_refuses_what_is_not_one_complete_run(world, capsys, case, message):
    d, model, args, whole = world
    run = {}
    for i in (1, 2, 3):
        run[i] = d / f"m{i}.h5"
        if not run[i].exists():
            kd.score(str(model), args, str(run[i]), n_references=3, batch_size=4,
                     shard=f"{i}/3")
    files = {"missing": [run[1], run[3]], "unsharded": [run[1], whole, run[3]]}.get(case)
    if case == "other_run":
        other = d / "other2.h5"
        kd.score(str(model), args, str(other), n_references=3, batch_size=4, shard="2/3",
                 seed=9)
        files = [run[1], other, run[3]]
    out = d / f"{case}.h5"
    assert cli.main(["merge", *map(str, files), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_bad_shard_argument(world, capsys):
    d, model, args, _ = world
    assert cli.main(["score", str(model), "--dataloader-args", json.dumps(args), "-o",
                     str(d / "x.h5"), "--shard", "4/3"]) == 2
    assert "I must be between 1 and N" in capsys.readouterr().err


def test_dask_local_cluster_equals_the_serial_run(world):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    from kipoi_deeplift.kipoi.distributed import score_sharded

    d, model, args, whole = world
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = score_sharded(client, str(model), args, str(d / "dask.h5"), n_shards=4,
                            n_references=3, batch_size=4, hypothetical=True)
    assert res["shards"] == 4 and res["sequences"] == len(MANY)
    assert_same_arrays(whole, d / "dask.h5")
    assert not list(d.glob(".dask.h5.shards-*/*.h5"))      # shard files cleaned up


def test_reading_references_pass_and_writing_overlap_in_order(world, monkeypatch):
    """The stages overlap: batch i+1 is read and its references made before the pass of batch
    i ends, and batch i is written while batch i+1 is in the pass; the file is still the
    serial run's."""
    import threading

    from kipoi_deeplift.backends.tf import passes
    from kipoi_deeplift.core import references
    from kipoi_deeplift.io import writers
    from kipoi_deeplift.kipoi import streaming

    d, model, args, whole = world
    events, lock = [], threading.Lock()

    def log(what):
        with lock:
            events.append(what)

    def wait_for(what, limit=200):
        # Hold a stage until the event it should overlap with has happened, so the order is
        # not left to chance (at most 2 s: a pipeline that does not overlap fails below).
        for _ in range(limit):
            with lock:
                if what in events:
                    return
            threading.Event().wait(0.01)

    guard, make, function = streaming.guard, references.batch_references, passes.TFPass.function
    append = writers.H5Writer.append

    def reading(batches):
        for i, batch in enumerate(guard(batches)):
            log(("read", i))
            yield batch

    def making(spec, x, n_references, seed, index, name, rows, *a, **kw):
        log(("references", rows[0] // 4))       # rows: the batch's rows in the run
        return make(spec, x, n_references, seed, index, name, rows, *a, **kw)

    def compiled(self, *a, **kw):
        fn = function(self, *a, **kw)
        count = iter(range(100))

        def run(xs, rs):
            i = next(count)
            log(("pass start", i))
            out = fn(xs, rs)
            if i + 1 < 6:
                wait_for(("references", i + 1))
            log(("pass end", i))
            return out
        return run

    def writing(self, arrays):
        i = self.n // 4
        log(("write start", i))
        if i + 1 < 6:
            wait_for(("pass start", i + 1))
        append(self, arrays)
        log(("write end", i))

    monkeypatch.setattr(streaming, "guard", reading)
    monkeypatch.setattr(references, "batch_references", making)
    monkeypatch.setattr(passes.TFPass, "function", compiled)
    monkeypatch.setattr(writers.H5Writer, "append", writing)
    kd.score(str(model), args, str(d / "overlap.h5"), n_references=3, batch_size=4,
             hypothetical=True)
    for i in range(5):                    # 23 sequences, batches of 4: batches 0..5
        assert events.index(("read", i + 1)) < events.index(("pass end", i)), events
        assert events.index(("references", i + 1)) < events.index(("pass end", i)), events
        assert events.index(("pass start", i + 1)) < events.index(("write end", i)), events
    assert_same_arrays(whole, d / "overlap.h5")


def test_float16_storage_rounds_only_what_it_stores(world, capsys):
    """--dtype float16: contributions stored in half precision (what the float32 run has,
    rounded); /delta and /convergence stay float32 and the error is the one measured before
    rounding; tracks read the file; a float16 shard does not merge with float32 ones."""
    d, model, args, whole = world
    half = d / "half.h5"
    for out, dtype in ((half, "float16"), (d / "full.h5", "float32")):
        assert cli.main(["score", str(model), "--dataloader-args", json.dumps(args), "-o",
                         str(out), "--n-references", "3", "--batch-size", "4",
                         "--hypothetical", "--dtype", dtype, "--bigwig", str(out)[:-3],
                         "--summary", str(out)[:-3] + ".tsv"]) == 0
    a, b = arrays(whole), arrays(half)
    assert sorted(a) == sorted(b)
    for key in a:
        if key.startswith(("contrib/", "hyp_contrib/")):
            assert b[key].dtype == np.float16, key
            np.testing.assert_array_equal(b[key], a[key].astype(np.float16), err_msg=key)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with h5py.File(half) as f:
        assert f.attrs["dtype"] == "float16" and "--dtype float16" in f.attrs["command"]
        assert f["convergence/CTCF"].dtype == np.float32
    assert (d / "half.CTCF.bw").stat().st_size > 0
    # Tables and tracks read half precision in float64: the float32 run's, to its rounding.
    import pyBigWig

    tables = [(d / name).read_text().splitlines() for name in ("half.tsv", "full.tsv")]
    assert [r.split("\t")[:5] for r in tables[0]] == [r.split("\t")[:5] for r in tables[1]]
    top = [[float(r.split("\t")[-1]) for r in t[1:]] for t in tables]
    np.testing.assert_allclose(top[0], top[1], rtol=2e-3, atol=2e-3)
    with pyBigWig.open(str(d / "half.CTCF.bw")) as h, pyBigWig.open(str(d / "full.CTCF.bw")) as g:
        a, b = (np.nan_to_num(np.array(t.values("chr1", 0, 600))) for t in (h, g))
    np.testing.assert_allclose(a, b, rtol=0, atol=2e-3 * np.abs(b).max())
    parts = []
    for i, dtype in ((1, "float16"), (2, "float32")):
        p = d / f"mixed{i}.h5"
        kd.score(str(model), args, str(p), n_references=3, batch_size=4, shard=f"{i}/2",
                 dtype=dtype)
        parts.append(str(p))
    capsys.readouterr()
    assert cli.main(["merge", *parts, "-o", str(d / "mixed.h5")]) == 2
    assert "dtype" in capsys.readouterr().err


def test_resume_reads_its_check_from_a_dataloader_of_its_own(world, monkeypatch):
    """--resume compares a few stored rows with the data before it scores the rest: on a
    dataloader of its own, so that the one the workers fork from has opened no FASTA yet
    (workers that inherit one open file move each other's reads: with `-n 2`, rows of other
    intervals were written, silently). The resumed file is the uninterrupted one."""
    from kipoi_deeplift.io import writers
    from kipoi_deeplift.kipoi import scoring

    d, model, args, whole = world
    out = d / "resumed.h5"
    append = writers.H5Writer.append

    def stop_after_two_batches(self, arrays):
        if self.n >= 8:
            raise KeyboardInterrupt
        append(self, arrays)

    monkeypatch.setattr(writers.H5Writer, "append", stop_after_two_batches)
    with pytest.raises(KeyboardInterrupt, match="8 finished sequences are kept"):
        kd.score(str(model), args, str(out), n_references=3, batch_size=4, hypothetical=True)
    monkeypatch.setattr(writers.H5Writer, "append", append)
    run = scoring.prepare(str(model), args, str(out), kd.Options(
        n_references=3, batch_size=4, hypothetical=True, resume=True))
    assert run.partial.rows == 8
    assert run.data.dataset.base.seq_dl.fasta_extractors is None    # kipoiseq: opened lazily
    scoring.finish(run, *scoring.stream(run))
    assert_same_arrays(whole, out)
