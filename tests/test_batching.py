"""The batch-size chooser: the largest batch whose memory fits the cap, checked by measuring."""
import subprocess
import sys
import textwrap

from kipoi_deeplift.core import batching

LARGE_MODEL = textwrap.dedent("""
    import resource, sys, numpy as np, keras
    import kipoi_deeplift as kd
    L = keras.layers
    i = keras.Input((2000, 4)); h = i
    for j in range(6):
        h = L.Conv1D(128, 9, padding="same", activation="relu")(h)
    model = keras.Model(i, L.Dense(3)(L.GlobalAveragePooling1D()(h)))
    cap, k = int(sys.argv[1]), 4
    x = np.eye(4, dtype="float32")[np.random.default_rng(0).integers(0, 4, (64, 2000))]
    dl = kd.DeepLift(model)
    dl.explain(x[:1], n_references=k, batch_size=1)          # start-up and tracing
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res = dl.explain(x, n_references=k, memory_cap=cap)      # batch chosen by the engine
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    chosen = batching.choose(dl.tensor_shapes([x]).values(), k, len(x), cap)
    print("RESULT", chosen, peak - base, res.max_convergence_error)
""").replace("import kipoi_deeplift as kd", "import kipoi_deeplift as kd\nfrom kipoi_deeplift import batching")


def test_choice_fits_the_cap_by_the_estimate():
    shapes = [(1000, 4), (1000, 64), (1000, 64), (64,), (1,)]
    per = batching.bytes_per_sequence(shapes, 20)
    for cap in (per - 1, per, 10 * per + 5, 10 ** 12):
        b = batching.choose(shapes, 20, 500, cap)
        assert 1 <= b <= 500
        assert b == 1 or b * per <= cap
    assert batching.choose(shapes, 20, 500, 10 * per + 5) == 10
    assert batching.default_cap() <= batching.DEFAULT_CEILING


def test_the_chosen_batch_stays_under_its_cap_on_a_large_model():
    cap = 400 * 2 ** 20
    p = subprocess.run([sys.executable, "-c", LARGE_MODEL, str(cap)], capture_output=True,
                       text=True, timeout=600)
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")) \
        if "RESULT" in p.stdout else p.stderr[-2000:]
    _, chosen, growth, err = line.split()
    assert int(chosen) > 1                   # the cap allows more than one sequence...
    assert int(growth) <= cap, (chosen, int(growth) / 2 ** 20)   # ...and is respected
    assert float(err) < 1e-3
