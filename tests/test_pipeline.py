"""Genome-scale throughput (issue 22): references travel as tokens, the stages overlap in
order, batches run at one shape, and the writer's chunks compressed off the lock read back as
written. (The shuffles themselves: tests/test_references.py.)"""
import threading
import time

import h5py
import numpy as np
import pytest

import kipoi_deeplift as kd
from kipoi_deeplift.core import pipeline, references as R


# -- references as the pass takes them ----------------------------------------------------------
def test_tokens_rows_and_given_arrays_give_the_same_scores():
    """Random references made inside the run (tokens, one-hot rows made in the pass) and the
    same references handed over as float arrays give the same numbers."""
    import keras

    import _models as M

    model, _ = M.maxpool_model(keras)
    x = M.one_hot(7, 40, seed=2)
    dl = kd.DeepLift(model)
    made = dl.explain(x, n_references=4, seed=9, hypothetical=True, batch_size=3,
                      index_offset=100)
    given = dl.explain(x, references=R.dinuc_shuffle(x, 4, 9, range(100, 107)),
                       hypothetical=True, batch_size=3)
    for task in made.tasks:
        np.testing.assert_allclose(made.contrib["seq"][task], given.contrib["seq"][task],
                                   rtol=0, atol=1e-6)
        np.testing.assert_allclose(made.hyp_contrib["seq"][task],
                                   given.hyp_contrib["seq"][task], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(made.delta[task], given.delta[task])


def test_every_batch_reaches_the_pass_at_one_shape(monkeypatch):
    """The last batch is padded, so a long run compiles once; the padding never shows."""
    import keras

    import _models as M

    model, _ = M.maxpool_model(keras)
    x = M.one_hot(10, 40, seed=3)
    dl = kd.DeepLift(model)
    shapes = []
    function = dl._backend.function

    def spy(*a, **kw):
        fn = function(*a, **kw)

        def run(xs, rs):
            shapes.append((xs[0].shape[0], rs[0].array.shape[0]))
            return fn(xs, rs)
        return run

    monkeypatch.setattr(dl._backend, "function", spy)
    res = dl.explain(x, n_references=3, batch_size=4)
    assert shapes == [(4, 12)] * 3
    assert res.delta[res.tasks[0]].shape == (10,)
    whole = kd.DeepLift(model).explain(x, n_references=3, batch_size=10)
    for task in res.tasks:
        np.testing.assert_allclose(res.contrib["seq"][task], whole.contrib["seq"][task],
                                   rtol=1e-5, atol=1e-6)


def test_stream_yields_in_order_with_tags_and_names_the_failing_batch():
    import keras

    import _models as M

    model, _ = M.maxpool_model(keras)
    x = M.one_hot(9, 40, seed=4)
    dl = kd.DeepLift(model)
    whole = dl.explain(x, n_references=2, batch_size=4)
    got = list(dl.stream(((x[a:a + 4], a, f"batch{a}") for a in range(0, 9, 4)), 4,
                         n_references=2))
    assert [tag for _, tag in got] == ["batch0", "batch4", "batch8"]
    task = whole.tasks[0]
    np.testing.assert_array_equal(np.concatenate([r.delta[task] for r, _ in got]),
                                  whole.delta[task])
    bad = x.copy()
    bad[6, 3] = np.nan
    with pytest.raises(ValueError, match=r"sequences 4-7: input 'seq' contains NaN"):
        list(dl.stream(((bad[a:a + 4], a, None) for a in range(0, 9, 4)), 4, n_references=2))


# -- the stages ------------------------------------------------------------------------------
def test_ahead_keeps_order_whatever_the_timing():
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.01, 40)

    def slow(i):
        time.sleep(delays[i])
        return i * i

    assert list(pipeline.ahead(slow, range(40), depth=3, workers=3)) == \
        [i * i for i in range(40)]


def test_ahead_stays_within_its_depth():
    started = []
    lock = threading.Lock()

    def source():
        for i in range(100):
            with lock:
                started.append(i)
            yield i

    stream = pipeline.ahead(lambda i: i, source(), depth=2)
    assert next(stream) == 0
    time.sleep(0.3)            # the feeder may run ahead, but only so far
    with lock:
        assert len(started) <= 5, started
    stream.close()
    time.sleep(0.3)
    with lock:
        stopped = len(started)
    time.sleep(0.2)
    assert len(started) == stopped <= 6          # closing stopped the feeder


def test_ahead_raises_in_order():
    def fn(i):
        if i == 3:
            raise ValueError("three")
        return i

    got = []
    with pytest.raises(ValueError, match="three"):
        for v in pipeline.ahead(fn, range(10), depth=4, workers=2):
            got.append(v)
    assert got == [0, 1, 2]

    def source():
        yield 1
        raise KeyError("the source failed")

    out = pipeline.ahead(lambda i: i, source())
    assert next(out) == 1
    with pytest.raises(KeyError, match="the source failed"):
        next(out)


# -- storage ---------------------------------------------------------------------------------
def test_writer_chunks_compressed_off_the_lock_read_back(tmp_path):
    from kipoi_deeplift.io.writers import H5Writer, _chunk_rows

    assert _chunk_rows(256) == 64 and _chunk_rows(100) == 50 and _chunk_rows(7) == 7
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (23, 30))]
    c = (rng.normal(0, 1, (23, 30, 1)) * x).astype(np.float32)
    h = rng.normal(0, 1, (23, 30, 4)).astype(np.float16)
    w = H5Writer(tmp_path / "w.h5", {"a": 1})
    for a, b in ((0, 8), (8, 16), (16, 21), (21, 23)):      # the last two not chunk-aligned
        w.append({"inputs/seq": x[a:b], "contrib/seq/t": c[a:b], "hyp_contrib/seq/t": h[a:b],
                  "delta/t": c[a:b].sum((1, 2))})
    w.close()
    with h5py.File(tmp_path / "w.h5") as f:
        np.testing.assert_array_equal(f["inputs/seq"][:], x)
        np.testing.assert_array_equal(f["contrib/seq/t"][:], c)
        np.testing.assert_array_equal(f["hyp_contrib/seq/t"][:], h)
        assert f["contrib/seq/t"].compression == "gzip" and f["contrib/seq/t"].shuffle
        assert f["hyp_contrib/seq/t"].compression is None     # dense floats stored as they are
        assert f["hyp_contrib/seq/t"].dtype == np.float16
        assert f.attrs["rows_written"] == 23


@pytest.mark.parametrize("references", ["dinuc-shuffle", "shuffle", "uniform"])
def test_hypothetical_contributions_match_the_float64_reference(references):
    """TF-MoDISco's hypothetical contributions, written out by hand from the float64
    reference's multipliers: mean over references of m[l, b] - sum_c m[l, c] r[l, c], for
    each form the references travel in (tokens, shared)."""
    import keras

    import _models as M
    import _reference as ref
    from _checks import assert_close

    model, forward = M.maxpool_model(keras)
    x = M.one_hot(5, 40, seed=6)
    r = R.make_references(references, x, 4, 3, range(5), "seq")
    r = np.broadcast_to(r, (5, r.shape[1]) + x.shape[1:]).astype(np.float32)
    want_c, _, m = ref.deeplift_rescale(forward, x, r, 0, maxpool="exact", multipliers=True)
    want_h = (m - (m * r).sum(-1, keepdims=True)).mean(axis=1)
    res = kd.DeepLift(model).explain(x, references=references, n_references=4, seed=3,
                                     hypothetical=True, batch_size=2)
    task = res.tasks[0]
    assert_close(res.contrib["seq"][task], want_c)
    assert_close(res.hyp_contrib["seq"][task], want_h)
    # At the observed base the hypothetical score is the position's contribution.
    np.testing.assert_allclose((res.hyp_contrib["seq"][task] * x).sum(-1),
                               res.contrib["seq"][task].sum(-1), atol=1e-6)


def test_the_pipeline_benchmark_runs_every_stage(capsys):
    """benchmarks/pipeline.py (in `make bench`) measures each stage and the whole run on a
    small case: every rate is there and positive, and `score` wrote what it was asked."""
    import pipeline as bench          # benchmarks/pipeline.py

    r = bench.stages("cheap", 150, 3, 64)
    assert set(bench.LABELS) <= set(r["sequences_per_s"])
    assert all(v > 0 for v in r["sequences_per_s"].values())
    assert r["score_batch_size"] == 64 and r["ratio_to_floor"]["floor"] == 1.0
    bench.report(r)
    assert "score, steady state" in capsys.readouterr().out
