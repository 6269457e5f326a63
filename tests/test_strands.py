"""`score --strands`: the reverse complement scored with reverse-complemented references and read
back along the sequence; `both` averages the strands, so the file explains (f(x) + f(rc x)) / 2
exactly. Checked against the model's own predictions of the sequences and their reverse
complements, a reverse-complement-symmetric model (both = forward), and the refusals."""
import json

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import _models as M
import kipoi_deeplift as kd
from kipoi_deeplift import cli
from _cli import fails


def _symmetric_model(seed=0):
    """f(x) = g(x) + g(rc x) for a small CNN g: the same function of a sequence and of its
    reverse complement, layer by layer. The reverse complement is taken by standard layers
    (anti-identity Dense maps over positions and over bases), so the file saves and loads."""
    import keras

    L = keras.layers
    i = keras.Input((K.LENGTH, 4), name="seq")
    conv, dense = L.Conv1D(4, 5, activation="relu", name="conv"), L.Dense(2, name="dense")
    back = L.Dense(K.LENGTH, use_bias=False, name="reverse")
    swap = L.Dense(4, use_bias=False, name="complement")
    rc = swap(L.Permute((2, 1), name="t2")(back(L.Permute((2, 1), name="t1")(i))))
    flat = L.Flatten(name="flat")
    pool = L.AveragePooling1D(2, name="pool")
    o = L.Add(name="sum")([dense(flat(pool(conv(i)))), dense(flat(pool(conv(rc))))])
    model = M.randomise(keras.Model(i, o), seed, scale=0.4)
    back.set_weights([np.eye(K.LENGTH, dtype=np.float32)[::-1]])
    swap.set_weights([np.eye(4, dtype=np.float32)[::-1]])
    return model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("strands")
    fasta, bed = K.write_genome(d), K.write_bed(d)
    args = json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)})
    model = K.write_model_dir(d / "asym")          # conv_model: not strand-symmetric
    files = {}
    for strands in ("forward", "reverse", "both"):
        files[strands] = d / f"{strands}.h5"
        assert cli.main(["score", str(model), "--dataloader-args", args, "-o",
                         str(files[strands]), "--n-references", "4", "--strands", strands,
                         "--hypothetical", "--batch-size", "2"]) == 0
    return {"d": d, "args": args, "model": model, "files": files}


def _read(path, task="GATA1"):
    with h5py.File(path) as f:
        return {k: f[f"{k}/{task}"][:] if k != "contrib" else f[f"contrib/seq/{task}"][:]
                for k in ("contrib", "delta", "preds", "convergence")} | {
            "hyp": f[f"hyp_contrib/seq/{task}"][:] if "hyp_contrib" in f else None,
            "x": f["inputs/seq"][:],
            "attrs": dict(f.attrs)}


def test_both_is_the_mean_of_the_strands_and_sums_to_its_delta(world):
    import keras

    fwd, rev, both = (_read(world["files"][s]) for s in ("forward", "reverse", "both"))
    np.testing.assert_array_equal(fwd["x"], both["x"])       # /inputs: the sequences as read
    # The model's own outputs (logits: its sigmoid taken off) of x and of rc(x).
    model = keras.saving.load_model(world["model"] / "model.keras")
    cut = keras.Model(model.inputs, model.get_layer("out").output)
    logit = lambda x: np.log(cut.predict(x, verbose=0)[:, 1]) - \
        np.log1p(-cut.predict(x, verbose=0)[:, 1])
    x = fwd["x"].astype(np.float32)
    np.testing.assert_allclose(fwd["preds"], logit(x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rev["preds"], logit(x[:, ::-1, ::-1]), rtol=1e-4, atol=1e-4)
    assert not np.allclose(fwd["preds"], rev["preds"], atol=1e-3)      # not symmetric
    np.testing.assert_allclose(both["preds"], (fwd["preds"] + rev["preds"]) / 2, rtol=1e-5)
    for key in ("contrib", "hyp", "delta"):
        np.testing.assert_allclose(both[key], (fwd[key] + rev[key]) / 2, rtol=1e-4,
                                   atol=1e-6)
    for r in (fwd, rev, both):                               # summation to delta
        np.testing.assert_allclose(r["contrib"].sum((1, 2)), r["delta"], atol=1e-4)
    # The reverse strand's scores are read along the sequence: the contribution sits on the
    # base the sequence has there (projected /contrib is zero off the observed base).
    assert np.all((rev["contrib"] != 0) <= (rev["x"] > 0))
    assert both["attrs"]["strands"] == "both" and fwd["attrs"]["strands"] == "forward"
    assert "--strands both" in both["attrs"]["command"]
    assert "--strands" not in fwd["attrs"]["command"]


def test_a_strand_symmetric_model_scores_alike_on_both(world, tmp_path):
    """f(x) = f(rc x) layer by layer: the reverse strand, against the reverse-complemented
    references, gives the forward strand's scores, and so does their mean."""
    model = K.write_model_dir(tmp_path / "sym", model=_symmetric_model())
    out = {}
    for strands in ("forward", "reverse", "both"):
        out[strands] = tmp_path / f"{strands}.h5"
        kd.score(str(model), world["args"], str(out[strands]), n_references=3,
                 strands=strands, rule="rescale")
    fwd, rev, both = (_read(out[s]) for s in ("forward", "reverse", "both"))
    for key in ("contrib", "delta", "preds"):
        np.testing.assert_allclose(rev[key], fwd[key], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(both[key], fwd[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("extra, message", [
    (["--layers", "conv"], "--strands both needs output tasks, not hidden neurons"),
    (["--target-layer", "conv", "--target-neuron", "0"], "needs output tasks"),
])
def test_what_has_no_reverse_strand_is_refused(world, capsys, extra, message):
    out = world["d"] / "refused.h5"
    fails(capsys, ["score", str(world["model"]), "--dataloader-args", world["args"], "-o",
                   str(out), "--strands", "both", *extra], out, message)


def test_array_references_are_refused(world, capsys, tmp_path):
    refs = tmp_path / "refs.npy"
    np.save(refs, np.full((2, K.LENGTH, 4), 0.25, np.float32))
    out = tmp_path / "o.h5"
    fails(capsys, ["score", str(world["model"]), "--dataloader-args", world["args"], "-o",
                   str(out), "--strands", "reverse", "--references", str(refs)], out,
          "needs named references")


def test_an_output_of_positions_is_refused(world, capsys, tmp_path):
    """A profile head shaped (N, L): its units are positions, and position j of the reverse
    strand is position L-1-j of the sequence; averaging unit j of both would be wrong."""
    import keras

    L = keras.layers
    i = keras.Input((K.LENGTH, 4), name="seq")
    o = L.Reshape((K.LENGTH,), name="profile")(L.Conv1D(1, 5, padding="same", name="c")(i))
    model = K.write_model_dir(tmp_path / "profile", model=M.randomise(keras.Model(i, o)),
                              labels=[f"pos{j}" for j in range(K.LENGTH)])
    out = tmp_path / "p.h5"
    fails(capsys, ["score", str(model), "--dataloader-args", world["args"], "-o", str(out),
                   "--strands", "both", "--tasks", "pos0"], out, "looks like positions")
