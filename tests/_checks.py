"""Checks shared by the numerics tests: the engine against the float64 reference in
tests/_reference.py."""
import numpy as np

import _reference as ref
import kipoi_deeplift as kd

TOL = 1e-5   # of the score scale (the largest |contribution|)


def random_refs(x, k, seed):
    """References that are not one-hot: (N, K, ...) uniform noise, a hard case for Rescale."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (x.shape[0], k) + x.shape[1:]).astype(np.float32)


def assert_close(got, want):
    scale = np.abs(want).max()
    assert scale > 1e-3, "degenerate test: contributions are all ~0"
    err = np.abs(got - want).max()
    assert err <= TOL * scale, f"max |diff| {err:.3g} > {TOL:g} x scale {scale:.3g}"


def check_forward(model, forward, xs):
    """The hand-written forward must reproduce the model (else the reference proves nothing)."""
    preds = model.predict(xs, verbose=0)
    preds = preds if isinstance(preds, list) else [preds]
    logits = forward([np.asarray(v, np.float64) for v in xs], ref.Plain())
    for p, z in zip(preds, logits):
        z = z.numpy()
        prob = 1 / (1 + np.exp(-z))
        soft = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        assert min(np.abs(p - z).max(), np.abs(p - prob).max(), np.abs(p - soft).max()) < 1e-5


def two_tasks_match_reference(model, forward, x, r):
    """Rescale contributions and deltas of tasks 0 and 1 of a one-input model ('seq') agree
    with the float64 reference, and sum to the delta."""
    check_forward(model, forward, [x])
    res = kd.DeepLift(model).explain(x, references=r, tasks=[0, 1])
    for task in (0, 1):
        want, delta = ref.deeplift_rescale(forward, x, r, task)
        assert_close(res.contrib["seq"][str(task)], want)
        np.testing.assert_allclose(res.delta[str(task)], delta.mean(1), rtol=1e-5, atol=1e-5)
        assert res.convergence[str(task)].max() < 1e-4
    return res
