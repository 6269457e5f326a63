"""DeepLIFT-Rescale against the independent float64 implementation in tests/_reference.py."""
import keras
import numpy as np
import pytest
import tf_keras

import _models as M
import _reference as ref
from _checks import assert_close, check_forward, random_refs, two_tasks_match_reference
import kipoi_deeplift as kd

KERAS = {"keras3": keras, "tf_keras": tf_keras}


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_bpnet_like_residual_dilated(flavour):
    model, forward = M.bpnet_like(KERAS[flavour])
    x = M.one_hot(6, 200, seed=1)
    two_tasks_match_reference(model, forward, x, kd.references.dinuc_shuffle(x, 4, seed=3))


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_multi_input_multi_output_with_softmax(flavour):
    model, forward = M.multi_io(KERAS[flavour])
    seq = M.one_hot(5, 60, seed=2)
    trk = np.random.default_rng(0).gamma(1.0, 1.0, (5, 60, 1)).astype(np.float32)
    check_forward(model, forward, [seq, trk])
    rseq, rtrk = random_refs(seq, 3, 0), random_refs(trk, 3, 1)
    dl = kd.DeepLift(model)
    assert dl.task_names == ["bind_0", "bind_1", "bind_2", "cls_0", "cls_1", "cls_2", "cls_3"]
    res = dl.explain({"seq": seq, "dnase": trk}, references={"seq": rseq, "dnase": rtrk})
    for out, units, softmax, name in ((0, 3, False, "bind"), (1, 4, True, "cls")):
        for u in range(units):
            want, delta = ref.deeplift_rescale(forward, [seq, trk], [rseq, rtrk], u, out, softmax)
            task = f"{name}_{u}"
            assert_close(res.contrib["seq"][task], want[0])
            assert_close(res.contrib["dnase"][task], want[1])
            np.testing.assert_allclose(res.delta[task], delta.mean(1), rtol=1e-5, atol=1e-5)
    # The softmax normalisation: contributions to all classes sum to zero at every position.
    total = sum(res.contrib["seq"][f"cls_{u}"] for u in range(4))
    assert np.abs(total).max() < 1e-5


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_conv2d_strided_gelu_exponential(flavour):
    model, forward = M.conv2d_model(KERAS[flavour])
    x = np.random.default_rng(5).uniform(0, 1, (4, 4, 30, 1)).astype(np.float32)
    check_forward(model, forward, [x])
    shared = np.random.default_rng(6).uniform(0, 1, (3, 4, 30, 1)).astype(np.float32)
    res = kd.DeepLift(model).explain(x, references=shared)
    want, delta = ref.deeplift_rescale(forward, x, np.broadcast_to(shared, (4,) + shared.shape), 0)
    assert_close(res.contrib["seq2d"]["o"], want)
    assert res.max_convergence_error < 1e-4


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_shared_submodel_is_inlined_per_call(flavour):
    model, forward = M.shared_submodel(KERAS[flavour])
    fwd = M.one_hot(4, 30, seed=7)
    rc = fwd[:, ::-1, ::-1].copy()
    check_forward(model, forward, [fwd, rc])
    dl = kd.DeepLift(model)
    res = dl.explain([fwd, rc], references="dinuc-shuffle", n_references=3, seed=1)
    r_f = kd.references.dinuc_shuffle(fwd, 3, seed=1)
    r_r = kd.references.dinuc_shuffle(rc, 3, seed=1)
    want, _ = ref.deeplift_rescale(forward, [fwd, rc], [r_f, r_r], 0)
    assert_close(res.contrib["fwd"]["o"], want[0])
    assert_close(res.contrib["rc"]["o"], want[1])


@pytest.mark.parametrize("global_pool", [False, True])
def test_max_pooling_gradient_mode_matches_reference(global_pool):
    model, forward = M.maxpool_model(keras, global_pool=global_pool)
    x = M.one_hot(5, 40, seed=8)
    check_forward(model, forward, [x])
    r = kd.references.dinuc_shuffle(x, 3, seed=0)
    res = kd.DeepLift(model, maxpool="gradient").explain(x, references=r)
    want, _ = ref.deeplift_rescale(forward, x, r, 0)
    assert_close(res.contrib["seq"]["act"], want)


@pytest.mark.parametrize("builder", [M.bpnet_like, M.conv2d_model, M.multi_io])
def test_summation_to_delta_and_determinism(builder):
    model, _ = builder(keras)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    rng = np.random.default_rng(0)
    xs = [M.one_hot(7, s[0], seed=9) if s[-1] == 4 and len(s) == 2
          else rng.uniform(0, 1, (7,) + s).astype(np.float32) for s in shapes]
    x = xs if len(xs) > 1 else xs[0]
    dl = kd.DeepLift(model)
    kw = dict(references="dinuc-shuffle" if len(shapes[0]) == 2 else "zeros", n_references=5,
              seed=11)
    a = dl.explain(x, batch_size=3, **kw)
    again = kd.DeepLift(model).explain(x, batch_size=3, **kw)
    rebatched = dl.explain(x, batch_size=7, **kw)
    for task in a.tasks:
        total = sum(c[task].sum(axis=tuple(range(1, c[task].ndim))) for c in a.contrib.values())
        np.testing.assert_allclose(total, a.delta[task], atol=1e-4, rtol=1e-4)
        for name in a.contrib:
            # Same seed: identical arrays. Another batch size changes only float32 round-off
            # (the references are drawn per sequence, not per batch).
            np.testing.assert_array_equal(a.contrib[name][task], again.contrib[name][task])
            np.testing.assert_allclose(a.contrib[name][task], rebatched.contrib[name][task],
                                       rtol=1e-4, atol=1e-6)
    assert a.max_convergence_error < 1e-4


def test_gradient_baselines_match_float64_gradient():
    model, forward = M.bpnet_like(keras, length=100)
    x = M.one_hot(3, 100, seed=4)
    grad = ref.gradient(forward, x, 1)
    sal = kd.DeepLift(model, rule="gradient").explain(x, references="zeros", tasks=[1])
    assert_close(sal.contrib["seq"]["1"], grad)
    gi = kd.DeepLift(model, rule="grad-input").explain(x, references="uniform", tasks=[1])
    assert_close(gi.contrib["seq"]["1"], grad * (x - 0.25))
