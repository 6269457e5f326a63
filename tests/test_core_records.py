"""The core's records: tasks carry their layer and neuron index as fields (their names, which
score files record, keep today's spelling); in-silico mutagenesis is core/ism.py and gives what
DeepLift(rule="ism") gives; every result says which method made it and whether
summation-to-delta is expected to hold."""
from __future__ import annotations

import numpy as np
import pytest

import _kipoi_dirs as K
from kipoi_deeplift.core import ism as ism_lib
from kipoi_deeplift.core import tasks as task_lib
from kipoi_deeplift.core.methods import METHODS, is_exact
from kipoi_deeplift.core.result import Explanation
from kipoi_deeplift.core.tasks import Task


def test_task_names_are_made_from_their_fields():
    hidden = Task("conv", (None, 3), key=5, unit=(3, 9, 15))
    assert hidden.hidden and hidden.name == "conv[*,3]"
    assert (hidden.layer, hidden.index) == ("conv", (None, 3))
    output = Task("out", (1,), key=7, unit=1, label="GATA1")
    assert not output.hidden and output.name == "GATA1" and output.layer == "out"


def test_neuron_tasks_carry_layer_and_index():
    shape = (4, 3)                              # (positions, filters)
    flat, filt, one = task_lib.neuron_tasks("conv", 2, shape, [7, (None, 1), (2, 1)])
    assert (flat.layer, flat.index, flat.unit, flat.name) == ("conv", (2, 1), 7, "conv[2,1]")
    assert filt.index == (None, 1) and filt.unit == (1, 4, 7, 10) and filt.name == "conv[*,1]"
    assert one.unit == 7 and one.name == "conv[2,1]"
    with pytest.raises(ValueError, match="outside layer 'conv'"):
        task_lib.neuron_tasks("conv", 2, shape, (4, 0))


def test_output_tasks_keep_todays_names():
    one = task_lib.output_tasks([1], ["out"], [(None, 3)])
    assert [t.name for t in one] == ["0", "1", "2"]
    assert [(t.layer, t.index, t.unit) for t in one] == [("out", (i,), i) for i in range(3)]
    two = task_lib.output_tasks([1, 2], ["a", "b"], [(None, 1), (None, 2)])
    assert [t.name for t in two] == ["a", "b_0", "b_1"]
    named = task_lib.output_tasks([1], ["out"], [(None, 2)], ["CTCF", "GATA1"])
    assert [t.name for t in named] == ["CTCF", "GATA1"] and named[1].index == (1,)


def test_results_say_their_method_and_whether_they_are_exact():
    for method in METHODS:
        assert Explanation({}, {}, {}, {}, rule=method).exact == is_exact(method)
    assert [m for m in METHODS if is_exact(m)] == ["rescale", "reveal-cancel",
                                                   "genomics-default"]
    res = Explanation({}, {}, {}, {}, rule="grad-input")
    assert res.method == "grad-input" and res.exact is False


def _linear_predict(w):
    """A model f(x) = sum(x * w[..., t]) per task t (its output and logit alike), in a
    backend's predict layout (rows, tasks, 2)."""
    def predict(xs):
        f = np.einsum("nlb,lbt->nt", xs[0], w)
        return np.stack([f, f], -1).astype(np.float32)
    return predict


def test_ism_of_a_linear_model_is_its_weights_centred():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(9, 4, 2)).astype(np.float32)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 9))]
    tasks = [Task("out", (j,), 0, j, name) for j, name in enumerate(("a", "b"))]
    res = ism_lib.ism(_linear_predict(w), [x], tasks, ["seq"], hypothetical=True, rows=50)
    assert res.method == "ism" and res.exact is False and res.references == "none"
    for j, t in enumerate(("a", "b")):
        centred = w[..., j] - w[..., j].mean(-1, keepdims=True)
        np.testing.assert_allclose(res.hyp_contrib["seq"][t], np.broadcast_to(centred, x.shape),
                                   atol=1e-5)
        np.testing.assert_allclose(res.contrib["seq"][t], centred * x, atol=1e-5)
        np.testing.assert_allclose(res.preds[t], np.einsum("nlb,lb->n", x, w[..., j]),
                                   atol=1e-5)


def test_engine_tasks_ism_and_exactness():
    """On a model: hidden tasks' fields, output_of reading them (a layer name holding '[' is
    not cut), DeepLift(rule='ism') equal bit for bit to core.ism, and exact on the results."""
    import kipoi_deeplift as kd

    model = K.conv_model()
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (2, K.LENGTH))]
    dl = kd.DeepLift(model, rule="ism", task_names=["CTCF", "GATA1"])
    assert dl.mode == "ism" and dl.method == "ism" and not dl.exact
    res = dl.explain(x, hypothetical=True)
    direct = ism_lib.ism(dl._backend.predict(tuple(dl.tasks)), [x], dl.tasks, ["seq"],
                         hypothetical=True)
    assert not res.exact and res.method == "ism"
    for t in ("CTCF", "GATA1"):
        assert res.contrib["seq"][t].tobytes() == direct.contrib["seq"][t].tobytes()
        assert res.hyp_contrib["seq"][t].tobytes() == direct.hyp_contrib["seq"][t].tobytes()
        assert res.preds[t].tobytes() == direct.preds[t].tobytes()
    (task,) = dl.hidden_tasks("conv", (None, 2))
    assert (task.layer, task.index, task.name) == ("conv", (None, 2), "conv[*,2]")
    assert dl.output_of(task) == ("conv", None, 1)
    odd = Task("odd[name", (0,), task.key, 0)
    assert dl.output_of(odd) == ("odd[name", None, 1)
    assert dl.output_of(dl.tasks[1]) == ("out", "sigmoid", 2)
    rescale = kd.DeepLift(model)
    assert rescale.mode == "deeplift" and rescale.exact
    assert rescale.explain(x, n_references=2).exact
    grad = kd.DeepLift(model, rule="grad-input")
    assert not grad.exact and not grad.explain(x, n_references=2).exact
