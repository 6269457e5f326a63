"""`score --strands`: the reverse complement scored with reverse-complemented references and read
back along the sequence; `both` averages the strands, so the file explains (f(x) + f(rc x)) / 2
exactly. Checked against the model's own predictions of the sequences and their reverse
complements, a reverse-complement-symmetric model (both = forward), and the refusals.
Profile outputs (positions P, channels C): the reverse strand's position p is P-1-p, its
channel c the declared strand_channels[c] (tests at the end)."""
import json

import h5py
import numpy as np
import pytest
import yaml

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


# --- Profile outputs: (N, P) and (N, P, C), flipped along their positions --------------------

def _flip_positions(name, n):
    """(N, n, C) -> the same with its positions reversed, by standard layers (a fixed
    anti-identity Dense over the positions; weights set after randomising)."""
    import keras

    L = keras.layers
    dense = L.Dense(n, use_bias=False, name=f"{name}_rev")

    def apply(t):
        return L.Permute((2, 1), name=f"{name}_t2")(dense(L.Permute((2, 1),
                                                                     name=f"{name}_t1")(t)))
    return apply, dense


def _rc_layers():
    """The reverse complement of the input by standard layers (as _symmetric_model)."""
    import keras

    L = keras.layers
    back = L.Dense(K.LENGTH, use_bias=False, name="reverse")
    swap = L.Dense(4, use_bias=False, name="complement")
    return (lambda t: swap(L.Permute((2, 1), name="rc_t2")(back(L.Permute((2, 1),
                                                                         name="rc_t1")(t))))), \
        [(back, np.eye(K.LENGTH)[::-1]), (swap, np.eye(4)[::-1])]


def _profile_trunk(crop=(0, 0)):
    """h: (N, L, 4) -> (N, L - crops, 1), a small 'same'-padded CNN, not strand-symmetric."""
    import keras

    L = keras.layers
    c1 = L.Conv1D(4, 5, padding="same", activation="relu", name="c1")
    c2 = L.Conv1D(1, 7, padding="same", name="c2")
    cut = L.Cropping1D(crop, name="crop")
    return lambda t: cut(c2(c1(t)))


def _profile_model(kind, seed=3):
    """``plain``: (N, L) from h, not symmetric. ``equivariant``: (N, P, 1) with P = L - 4
    (cropped 2 each side), f(x) = h(x) + flip(h(rc x)), so f(rc x)[p] = f(x)[P-1-p] layer by
    layer. ``stranded``: (N, L, 2), channel 0 h(x), channel 1 flip(h(rc x)): channel 1 is
    channel 0 of the reverse complement, so f(rc x)[p, c] = f(x)[L-1-p, 1-c]."""
    import keras

    L = keras.layers
    i = keras.Input((K.LENGTH, 4), name="seq")
    if kind == "plain":
        out = L.Reshape((K.LENGTH,), name="profile")(_profile_trunk()(i))
        return M.randomise(keras.Model(i, out), seed, scale=0.4)
    crop = (2, 2) if kind == "equivariant" else (0, 0)
    h = _profile_trunk(crop)
    rc, fixed = _rc_layers()
    flip, dense = _flip_positions("out", K.LENGTH - sum(crop))
    merge = L.Add(name="profile") if kind == "equivariant" else \
        L.Concatenate(name="profile")
    model = M.randomise(keras.Model(i, merge([h(i), flip(h(rc(i)))])), seed, scale=0.4)
    for layer, w in fixed + [(dense, np.eye(K.LENGTH - sum(crop))[::-1])]:
        layer.set_weights([w.astype(np.float32)])
    return model


def _read_all(path):
    """Every dataset by task: {'contrib', 'hyp', 'delta', 'preds', 'convergence'} -> task ->
    array, with the sequences and the task names."""
    with h5py.File(path) as f:
        tasks = list(f["delta"])
        out = {k: {t: f[f"{k}/{t}"][:] for t in tasks} for k in ("delta", "preds",
                                                                  "convergence")}
        out["contrib"] = {t: f[f"contrib/seq/{t}"][:] for t in tasks}
        out["hyp"] = {t: f[f"hyp_contrib/seq/{t}"][:] for t in tasks} \
            if "hyp_contrib" in f else {}
        out["x"], out["tasks"] = f["inputs/seq"][:], tasks
    return out


POS = [f"pos{j}" for j in range(K.LENGTH)]


@pytest.fixture(scope="module")
def profile(world):
    """The plain (N, L) profile model scored on each strand, all tasks, and `both` on three
    tasks (--tasks)."""
    d = world["d"] / "profile"
    model = K.write_model_dir(d, model=_profile_model("plain"), labels=POS)
    files = {}
    for strands, tasks in (("forward", None), ("reverse", None), ("both", None),
                           ("subset", "pos3,pos20,pos46")):
        files[strands] = d / f"{strands}.h5"
        argv = ["score", str(model), "--dataloader-args", world["args"], "-o",
                str(files[strands]), "--n-references", "3", "--hypothetical",
                "--strands", "both" if strands == "subset" else strands]
        assert cli.main(argv + (["--tasks", tasks] if tasks else [])) == 0
    return {"model": model, "files": files}


def test_reverse_profile_position_p_is_the_models_position_p_mirrored(profile):
    """(1) /preds of the `reverse` file at task p: the model's own output at position L-1-p
    for rc(x) (a Keras forward pass); the forward file's at p for x."""
    import keras

    fwd, rev = (_read_all(profile["files"][s]) for s in ("forward", "reverse"))
    model = keras.saving.load_model(profile["model"] / "model.keras")
    x = fwd["x"].astype(np.float32)
    out_x, out_rc = model.predict(x, verbose=0), model.predict(x[:, ::-1, ::-1], verbose=0)
    assert rev["tasks"] == fwd["tasks"] and sorted(fwd["tasks"]) == sorted(POS)
    for p in range(K.LENGTH):
        np.testing.assert_allclose(fwd["preds"][f"pos{p}"], out_x[:, p], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(rev["preds"][f"pos{p}"], out_rc[:, K.LENGTH - 1 - p],
                                   rtol=1e-4, atol=1e-5)
    # not symmetric: without the flip the strands would disagree at every position
    assert not np.allclose(out_rc[:, ::-1], out_x, atol=1e-3)


def test_both_profile_is_the_mean_and_every_file_sums_to_its_delta(profile):
    """(2) `both` at task p: the mean of the forward file's p and the reverse file's p (which
    holds the reverse complement's position L-1-p); contributions sum to delta in each."""
    fwd, rev, both = (_read_all(profile["files"][s]) for s in ("forward", "reverse", "both"))
    for t in POS:
        for key in ("contrib", "hyp", "delta", "preds"):
            np.testing.assert_allclose(both[key][t], (fwd[key][t] + rev[key][t]) / 2,
                                       rtol=1e-4, atol=1e-6)
        for r in (fwd, rev, both):
            np.testing.assert_allclose(r["contrib"][t].sum((1, 2)), r["delta"][t], atol=1e-4)
    # the reverse strand's scores sit on the bases the sequence has (read along it)
    assert all(np.all((rev["contrib"][t] != 0) <= (rev["x"] > 0)) for t in POS)


def test_a_task_subset_scores_its_mirrors_and_keeps_only_the_asked(profile):
    """(4) --tasks pos3,pos20,pos46 with `both`: the file holds those three, each the same as
    the all-task run's (the reverse strand's pos46, pos29, pos3 were scored for them)."""
    both, sub = (_read_all(profile["files"][s]) for s in ("both", "subset"))
    assert sub["tasks"] == sorted(["pos3", "pos20", "pos46"])
    for t in sub["tasks"]:
        for key in ("contrib", "hyp", "delta", "preds", "convergence"):
            np.testing.assert_allclose(sub[key][t], both[key][t], rtol=1e-5, atol=1e-7)


def test_an_equivariant_cropped_profile_scores_alike_on_every_strand(world, tmp_path):
    """(3) f(rc x)[p] = f(x)[P-1-p] layer by layer, P = L - 4 (cropped 2 bases each side,
    (N, P, 1)): the reverse strand, read back, gives the forward strand's scores."""
    P = K.LENGTH - 4
    model = K.write_model_dir(tmp_path / "eq", model=_profile_model("equivariant"),
                              labels=[f"p{j}" for j in range(P)])
    out = {}
    for strands in ("forward", "reverse", "both"):
        out[strands] = tmp_path / f"{strands}.h5"
        kd.score(str(model), world["args"], str(out[strands]), n_references=3,
                 strands=strands, rule="rescale", tasks=["p0", "p7", f"p{P - 1}"])
    fwd, rev, both = (_read_all(out[s]) for s in ("forward", "reverse", "both"))
    assert not np.allclose(fwd["preds"]["p0"], fwd["preds"][f"p{P - 1}"], atol=1e-3)
    for t in fwd["tasks"]:
        for key in ("contrib", "delta", "preds"):
            np.testing.assert_allclose(rev[key][t], fwd[key][t], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(both[key][t], fwd[key][t], rtol=1e-4, atol=1e-5)


def test_strand_channels_swap_the_channels(world, tmp_path, capsys):
    """(5) (N, L, 2) whose channel 1 is channel 0 of the reverse complement: refused without
    strand_channels; with [1, 0] (model.yaml) the reverse strand's task (p, c) is the rc's
    (L-1-p, 1-c), so every strand gives the same scores; a bad mapping is refused."""
    import keras

    labels = [f"p{p}{'+-'[c]}" for p in range(K.LENGTH) for c in (0, 1)]
    keras_model = _profile_model("stranded")
    plain = K.write_model_dir(tmp_path / "no_map", model=keras_model, labels=labels)
    out = tmp_path / "refused.h5"
    fails(capsys, ["score", str(plain), "--dataloader-args", world["args"], "-o", str(out),
                   "--strands", "both"], out, "declare it as strand_channels")
    bad = K.write_model_dir(tmp_path / "bad", model=keras_model, labels=labels,
                            postprocessing={"strand_channels": [0, 0]})
    fails(capsys, ["score", str(bad), "--dataloader-args", world["args"], "-o", str(out),
                   "--strands", "both"], out, "not a permutation")
    mapped = K.write_model_dir(tmp_path / "map", model=keras_model, labels=labels,
                               postprocessing={"strand_channels": [1, 0]})
    files = {s: tmp_path / f"{s}.h5" for s in ("forward", "reverse", "both")}
    for strands, path in files.items():
        kd.score(str(mapped), world["args"], str(path), n_references=3, strands=strands,
                 rule="rescale", tasks=["p0+", "p0-", "p30-"])
    fwd, rev, both = (_read_all(files[s]) for s in ("forward", "reverse", "both"))
    x = fwd["x"].astype(np.float32)
    out_rc = keras_model.predict(x[:, ::-1, ::-1], verbose=0)
    np.testing.assert_allclose(rev["preds"]["p0+"], out_rc[:, K.LENGTH - 1, 1], rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(rev["preds"]["p30-"], out_rc[:, K.LENGTH - 31, 0], rtol=1e-4,
                               atol=1e-5)
    assert not np.allclose(fwd["preds"]["p0+"], fwd["preds"]["p0-"], atol=1e-3)
    for t in fwd["tasks"]:
        for key in ("contrib", "delta", "preds"):
            np.testing.assert_allclose(rev[key][t], fwd[key][t], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(both[key][t], fwd[key][t], rtol=1e-4, atol=1e-5)


def test_bpnet_profile_head_and_counts_under_both(world, tmp_path):
    """The zoo's profile_head makes a profile (N, L, 2) one number (its softmax-weighted sum
    over positions and strands), the same quantity on either strand: `both` is the mean of
    that number at x and at rc(x). The count head (N, 2) is (+, -): with strand_channels
    [1, 0] the reverse strand's + is the rc's -."""
    import keras

    L = keras.layers
    i = keras.Input((K.LENGTH, 4), name="seq")
    h = L.Conv1D(8, 9, padding="same", activation="relu", name="body")(i)
    prof = L.Conv1D(2, 5, padding="same", name="prof")(h)
    counts = L.Dense(2, name="counts")(L.GlobalAveragePooling1D(name="gap")(h))
    model = M.randomise(keras.Model(i, [prof, counts]), 5, scale=0.4)
    d = K.write_model_dir(tmp_path / "bpnet", model=model, postprocessing={
        "profile_head": "kipoi_deeplift.zoo.rebuild.bpnet:profile_scoring_model",
        "strand_channels": [1, 0]})
    out = tmp_path / "both.h5"
    kd.score(str(d), world["args"], str(out), n_references=3, strands="both",
             rule="rescale")
    r = _read_all(out)
    x = r["x"].astype(np.float32)
    (p_x, c_x), (p_rc, c_rc) = model.predict(x, verbose=0), \
        model.predict(x[:, ::-1, ::-1], verbose=0)

    def objective(z):
        z = z.astype(np.float64)
        w = np.exp(z - z.max(1, keepdims=True))
        return ((w / w.sum(1, keepdims=True)) * z).sum((1, 2))

    profile_task, count0, count1 = r["tasks"][2], r["tasks"][0], r["tasks"][1]
    assert "weighted" in profile_task and count0.endswith("_0"), r["tasks"]
    np.testing.assert_allclose(r["preds"][profile_task],
                               (objective(p_x) + objective(p_rc)) / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r["preds"][count0], (c_x[:, 0] + c_rc[:, 1]) / 2, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(r["preds"][count1], (c_x[:, 1] + c_rc[:, 0]) / 2, rtol=1e-4,
                               atol=1e-5)
    for t in r["tasks"]:
        np.testing.assert_allclose(r["contrib"][t].sum((1, 2)), r["delta"][t], atol=1e-4)


def _one_model(tmp_path, name, out_layer):
    import keras

    L = keras.layers
    i = keras.Input((K.LENGTH, 4), name="seq")
    h = L.Conv1D(2, 5, padding="same", name="c")(i)
    return K.write_model_dir(tmp_path / name, model=M.randomise(keras.Model(i, out_layer(h))))


@pytest.mark.parametrize("name, make, message", [
    ("grid", lambda L: L.Reshape((K.LENGTH, 2, 1), name="o"), "no known orientation"),
    ("odd_crop", lambda L: L.Cropping1D((0, 3), name="o"), "cannot cover a window centred"),
    ("channels", lambda L: L.Cropping1D((1, 1), name="o"), "declare it as strand_channels"),
])
def test_profiles_of_unknown_orientation_are_refused(world, capsys, tmp_path, name, make,
                                                     message):
    """(6) An output (N, L, 2, 1); a crop of 3 bases on one side (47 positions of 50: not a
    centred window); two channels without strand_channels."""
    import keras

    model = _one_model(tmp_path, name, make(keras.layers))
    out = tmp_path / "o.h5"
    fails(capsys, ["score", str(model), "--dataloader-args", world["args"], "-o", str(out),
                   "--strands", "reverse"], out, message)


def test_strand_channels_in_zoo_configs():
    """The BPNet configs declare their (+, -) channels; a config's mapping must be a
    permutation."""
    from kipoi_deeplift import zoo
    from kipoi_deeplift.errors import UserError

    configs = zoo.load_configs()
    for name in ("BPNet-OSKN", "BPNet-Dmel"):
        assert configs[name].output.strand_channels == (1, 0)
        assert zoo.score_defaults(configs[name])["strand_channels"] == [1, 0]
    assert configs["DeepBind"].output.strand_channels is None
    raw = yaml.safe_load(configs["BPNet-OSKN"].text)
    raw["output"]["strand_channels"] = [1, 1]
    with pytest.raises(UserError, match="strand_channels .* not a permutation"):
        zoo.parse(raw, "bpnet_oskn.yaml")


def test_variants_read_a_profile_back_along_the_genome(world, profile, tmp_path):
    """`variants --strands both` on a profile: position p of each allele is the mean of the
    model's position p on the sequence and position L-1-p on its reverse complement."""
    import keras

    genome = K.read_genome(world["d"] / "genome.fa")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" +
                   "".join(f"chr1\t{p}\tv{p}\t{genome['chr1'][p - 1]}\t"
                           f"{'A' if genome['chr1'][p - 1] != 'A' else 'C'}\t.\t.\t.\n"
                           for p in (100, 301)))
    out = tmp_path / "v.h5"
    assert cli.main(["variants", str(profile["model"]), "--vcf", str(vcf), "--fasta",
                     str(world["d"] / "genome.fa"), "-o", str(out), "--strands", "both",
                     "--n-references", "2"]) == 0
    model = keras.saving.load_model(profile["model"] / "model.keras")
    with h5py.File(out) as f:
        x = {a: f[f"{a}/inputs/seq"][:] for a in ("ref", "alt")}
        got = {a: np.stack([f[f"{a}/preds/{t}"][:] for t in POS], 1) for a in x}
        for a in x:                              # every allele's file sums to its delta
            for t in ("pos3", "pos25"):
                np.testing.assert_allclose(f[f"{a}/contrib/seq/{t}"][:].sum((1, 2)),
                                           f[f"{a}/delta/{t}"][:], atol=1e-4)
    for a, xa in x.items():
        fwd = np.asarray(model(xa), np.float64)
        rev = np.asarray(model(xa[:, ::-1, ::-1]), np.float64)[:, ::-1]
        np.testing.assert_allclose(got[a], (fwd + rev) / 2, rtol=1e-4, atol=1e-4)
