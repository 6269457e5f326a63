"""In-silico mutagenesis as a method of its own: every single-base substitution, all tasks from
one forward pass, in DeepLIFT's file layout (so `compare` puts the two side by side)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import kipoi_deeplift as kd
from kipoi_deeplift import cli


def logits(model, v):
    """The model's sigmoid outputs as logits, float64 (what the scores explain)."""
    p = model.predict(v, verbose=0).astype(np.float64)
    return np.log(p / (1 - p))


def test_ism_matches_every_substitution_made_by_hand():
    model = K.conv_model()
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (3, K.LENGTH))]
    x[1, 5] = 0.25                                   # an N: every base is a substitution
    res = kd.DeepLift(model, rule="ism", task_names=["CTCF", "GATA1"]).explain(
        x, hypothetical=True)
    f0 = logits(model, x)
    want = np.zeros((3, K.LENGTH, 4, 2))
    for i in range(3):
        for pos in range(K.LENGTH):
            v = np.repeat(x[i:i + 1], 4, axis=0)
            v[:, pos] = np.eye(4)
            want[i, pos] = logits(model, v) - f0[i]
    for j, task in enumerate(("CTCF", "GATA1")):
        centred = want[..., j] - want[..., j].mean(-1, keepdims=True)
        np.testing.assert_allclose(res.hyp_contrib["seq"][task], centred, atol=2e-5)
        np.testing.assert_allclose(res.contrib["seq"][task], centred * x, atol=2e-5)
        np.testing.assert_allclose(res.preds[task], f0[:, j], atol=2e-5)
        np.testing.assert_allclose(res.delta[task], (centred * x).sum((1, 2)), atol=1e-4)
    with pytest.raises(ValueError, match="no per-neuron contributions"):
        kd.DeepLift(model, rule="ism").explain(x, layers=["conv"])


def test_method_ism_writes_the_deeplift_layout_and_compares(tmp_path, capsys):
    w = K.make_world(tmp_path)
    ism, dl = tmp_path / "ism.h5", tmp_path / "dl.h5"
    assert cli.main(["score", str(w["model"]), "--dataloader-args", w["args"], "-o", str(ism),
                     "--method", "ism", "--hypothetical"]) == 0
    assert "in-silico mutagenesis" in capsys.readouterr().out
    assert cli.main(["score", str(w["model"]), "--dataloader-args", w["args"], "-o", str(dl),
                     "--n-references", "3"]) == 0
    with h5py.File(ism) as f, h5py.File(dl) as g:
        assert f.attrs["rule"] == "ism" and f.attrs["references"] == "none"
        assert "--rule ism" in f.attrs["command"]
        for key in ("contrib/seq/CTCF", "hyp_contrib/seq/GATA1", "inputs/seq", "preds/CTCF",
                    "delta/CTCF", "metadata/orientation"):
            assert f[key].shape == (g[key].shape if key in g else f[key].shape)
        np.testing.assert_allclose(f["preds/CTCF"][:], g["preds/CTCF"][:], rtol=1e-5,
                                   atol=1e-6)
        x = f["inputs/seq"][:]
        c = f["contrib/seq/CTCF"][:]
        assert np.all(c * (1 - x) == 0)          # on the observed base, as DeepLIFT's file
        assert json.loads(f.attrs["tasks"]) == ["CTCF", "GATA1"]
    report = tmp_path / "r.html"
    assert cli.main(["compare", str(dl), str(ism), "-o", str(report)]) == 0
    assert "ism" in report.read_text()
    assert cli.main(["score", str(w["model"]), "--dataloader-args", w["args"], "-o",
                     str(tmp_path / "x.h5"), "--method", "ism", "--layers", "conv"]) == 2
