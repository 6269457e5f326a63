"""Ensembles (`score MODEL_A MODEL_B ...`): the file holds the members' means, scored with the
same references, so it sums to the mean delta. Checked against each member scored alone (the
same command with one model), the models' own predictions (an independent forward pass), and
the refusals; shards, --resume, tracks, compare and the Python entry points on the same files."""
import json
import shlex

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import kipoi_deeplift as kd
from _cli import fails
from kipoi_deeplift import cli

OPTS = ["--n-references", "3", "--batch-size", "2", "--hypothetical"]


def _score(world, models, out, *extra):
    assert cli.main(["score", *map(str, models), "--dataloader-args", world["args"], "-o",
                     str(out), *OPTS, *extra]) == 0
    return out


def _arrays(path, prefix=""):
    with h5py.File(path) as f:
        out = {}
        f[prefix or "/"].visititems(lambda k, v: out.__setitem__(k, v[:])
                                    if isinstance(v, h5py.Dataset) else None)
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("ensemble")
    fasta, bed = K.write_genome(d), K.write_bed(d)
    args = json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)})
    w = {"d": d, "args": args, "fasta": fasta, "bed": bed,
         "a": K.write_model_dir(d / "a", K.conv_model(seed=0)),
         "b": K.write_model_dir(d / "b", K.conv_model(seed=1)),
         # the same tasks named in the other order
         "c": K.write_model_dir(d / "c", K.conv_model(seed=2), labels=("GATA1", "CTCF")),
         "odd": K.write_model_dir(d / "odd", K.conv_model(seed=3), labels=("CTCF", "TAL1"))}
    w["A"] = _score(w, [w["a"]], d / "A.h5")
    w["B"] = _score(w, [w["b"]], d / "B.h5")
    w["AB"] = _score(w, [w["a"], w["b"]], d / "AB.h5", "--keep-members", "--bigwig",
                     str(d / "tracks"), "--modisco", str(d / "mod"))
    return w


def test_the_file_is_the_members_mean_and_sums_to_the_mean_delta(world):
    a, b, ab = _arrays(world["A"]), _arrays(world["B"]), _arrays(world["AB"])
    for key in [k for k in a if k.split("/")[0] in ("contrib", "hyp_contrib", "delta",
                                                    "preds")]:
        np.testing.assert_allclose(ab[key], (a[key].astype(np.float64) + b[key]) / 2,
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    for task in ("CTCF", "GATA1"):
        np.testing.assert_allclose(ab[f"contrib/seq/{task}"].sum((1, 2)), ab[f"delta/{task}"],
                                   atol=1e-4)
        assert (ab[f"convergence/{task}"] < 1e-4).all()
    np.testing.assert_array_equal(ab["inputs/seq"], a["inputs/seq"])
    np.testing.assert_array_equal(ab["metadata/ranges/start"], a["metadata/ranges/start"])


def test_members_are_kept_and_equal_their_own_runs(world):
    a, b = _arrays(world["A"]), _arrays(world["B"])
    for i, own in enumerate((a, b)):
        kept = _arrays(world["AB"], f"members/{i}")
        assert set(kept) == {k for k in own if not k.startswith(("inputs", "metadata"))}
        for key, v in kept.items():
            np.testing.assert_allclose(v, own[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_preds_are_the_mean_of_the_models_own_logits(world):
    import keras

    ab = _arrays(world["AB"])
    x = ab["inputs/seq"]
    probs = [keras.saving.load_model(world[m] / "model.keras").predict(x, verbose=0)
             for m in ("a", "b")]
    logits = np.mean([np.log(p / (1 - p)) for p in probs], axis=0)
    for j, task in enumerate(("CTCF", "GATA1")):
        np.testing.assert_allclose(ab[f"preds/{task}"], logits[:, j], rtol=1e-4, atol=1e-4)


def test_the_file_names_every_member_and_its_rerun_command(world):
    with h5py.File(world["AB"]) as f:
        attrs = dict(f.attrs)
    members = json.loads(attrs["members"])
    assert [m["model"] for m in members] == [str(world["a"]), str(world["b"])]
    assert all(m["weights_sha256"] and m["zoo_config"] for m in members)
    assert attrs["model"] == f"{world['a']} + {world['b']}" and attrs["keep_members"] == 1
    words = shlex.split(attrs["command"])
    assert words[2:4] == [str(world["a"]), str(world["b"])] and "--keep-members" in words
    parsed = cli.build_parser().parse_args(words[1:])
    assert parsed.model == [str(world["a"]), str(world["b"])]


def test_tasks_are_matched_by_name(world, tmp_path):
    ac = _arrays(_score(world, [world["a"], world["c"]], tmp_path / "AC.h5"))
    c = _arrays(_score(world, [world["c"]], tmp_path / "C.h5"))
    a = _arrays(world["A"])
    for task in ("CTCF", "GATA1"):
        np.testing.assert_allclose(ac[f"delta/{task}"], (a[f"delta/{task}"].astype(np.float64)
                                                          + c[f"delta/{task}"]) / 2, rtol=1e-5,
                                   atol=1e-6)
    with h5py.File(tmp_path / "AC.h5") as f:
        assert json.loads(f.attrs["tasks"]) == ["CTCF", "GATA1"]


def test_tasks_that_differ_are_refused_with_the_lists(world, capsys, tmp_path):
    fails(capsys, ["score", str(world["a"]), str(world["odd"]), "--dataloader-args",
                   world["args"], "-o", str(tmp_path / "x.h5")], tmp_path / "x.h5",
          "the members' tasks differ")
    # the common task chosen: scored
    out = _score(world, [world["a"], world["odd"]], tmp_path / "ctcf.h5", "--tasks", "CTCF")
    with h5py.File(out) as f:
        assert json.loads(f.attrs["tasks"]) == ["CTCF"]


@pytest.mark.parametrize("extra, message", [
    (["--layers", "conv"], "an ensemble explains its outputs only"),
    (["--target-layer", "conv", "--target-neuron", "0"], "an ensemble explains its outputs"),
])
def test_hidden_layers_are_refused(world, capsys, tmp_path, extra, message):
    out = tmp_path / "x.h5"
    fails(capsys, ["score", str(world["a"]), str(world["b"]), "--dataloader-args",
                   world["args"], "-o", str(out), *extra], out, message)


def test_keep_members_needs_several_models(world, capsys, tmp_path):
    out = tmp_path / "x.h5"
    fails(capsys, ["score", str(world["a"]), "--dataloader-args", world["args"], "-o",
                   str(out), "--keep-members"], out, "--keep-members needs several models")


def test_shards_merge_into_the_unsharded_file(world, tmp_path):
    shards = [_score(world, [world["a"], world["b"]], tmp_path / f"s{i}.h5", "--keep-members",
                     "--shard", f"{i}/2") for i in (1, 2)]
    out = tmp_path / "merged.h5"
    assert cli.main(["merge", *map(str, shards), "-o", str(out)]) == 0
    merged, whole = _arrays(out), _arrays(world["AB"])
    assert set(merged) == set(whole)
    for key, v in whole.items():
        np.testing.assert_array_equal(merged[key], v, err_msg=key)


def test_resume_continues_an_ensemble(world, tmp_path, monkeypatch):
    from kipoi_deeplift.io import writers

    out = tmp_path / "resumed.h5"
    calls, original = {"n": 0}, writers.H5Writer.append

    def interrupted(self, arrays):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt()
        return original(self, arrays)

    argv = ["score", str(world["a"]), str(world["b"]), "--dataloader-args", world["args"],
            "-o", str(out), *OPTS, "--keep-members"]
    monkeypatch.setattr(writers.H5Writer, "append", interrupted)
    assert cli.main(argv) == 2 and not out.exists()
    monkeypatch.setattr(writers.H5Writer, "append", original)
    assert cli.main(argv + ["--resume"]) == 0
    resumed, whole = _arrays(out), _arrays(world["AB"])
    for key, v in whole.items():
        np.testing.assert_array_equal(resumed[key], v, err_msg=key)


def test_tracks_modisco_plot_and_compare_read_the_ensemble_file(world, tmp_path):
    import pyBigWig

    tracks = list(world["d"].glob("tracks*.bw"))
    assert tracks, "no bigWig written"
    with pyBigWig.open(str(tracks[0])) as bw:
        assert bw.header()["nBasesCovered"] > 0
    report = tmp_path / "report.html"
    assert cli.main(["compare", str(world["AB"]), str(world["A"]), "-o", str(report),
                     "--tsv", str(tmp_path / "t.tsv")]) == 0
    assert report.stat().st_size > 0 and (tmp_path / "t.tsv").read_text().count("\n") > 1
    ab = _arrays(world["AB"])
    with np.load(world["d"] / "mod.ohe.npz") as ohe, \
            np.load(world["d"] / "mod.GATA1.hyp.npz") as hyp:
        x, h = ohe[ohe.files[0]], hyp[hyp.files[0]]
    np.testing.assert_array_equal(x, ab["inputs/seq"].transpose(0, 2, 1))
    np.testing.assert_array_equal(h, ab["hyp_contrib/seq/GATA1"].transpose(0, 2, 1))
    png = tmp_path / "logo.png"
    assert cli.main(["plot", str(world["AB"]), "--example", "0", "--task", "GATA1", "-o",
                     str(png)]) == 0 and png.stat().st_size > 0


def test_python_score_takes_a_list_and_the_engine_averages(world, tmp_path):
    res = kd.score([str(world["a"]), str(world["b"])], world["args"],
                   output=str(tmp_path / "py.h5"), n_references=3, batch_size=2,
                   hypothetical=True)
    assert res["sequences"] == len(K.INTERVALS)
    py, ab = _arrays(tmp_path / "py.h5"), _arrays(world["AB"])
    np.testing.assert_array_equal(py["contrib/seq/GATA1"], ab["contrib/seq/GATA1"])


def test_ensemble_engine_explains_as_the_members_mean():
    import keras

    Ensemble = kd.Ensemble      # the Python entry point
    models = [K.conv_model(seed=s) for s in (0, 1)]
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(1).integers(0, 4, (5, K.LENGTH))]
    kw = dict(references="dinuc-shuffle", n_references=4, seed=2)
    own = [kd.DeepLift(m).explain(x, **kw) for m in models]
    ens = Ensemble([kd.DeepLift(m) for m in models])
    res = ens.explain(x, **kw)
    name = ens.input_names[0]
    for t in res.tasks:
        want = (own[0].contrib[name][t].astype(np.float64) + own[1].contrib[name][t]) / 2
        np.testing.assert_allclose(res.contrib[name][t], want, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(res.contrib[name][t].sum((1, 2)), res.delta[t], atol=1e-4)
    streamed = list(ens.stream(iter([(x[:3], 0, "a"), (x[3:], 3, "b")]), 3, **kw))
    assert [tag for _, tag in streamed] == ["a", "b"]
    for t in res.tasks:
        np.testing.assert_array_equal(np.concatenate([r.delta[t] for r, _ in streamed]),
                                      res.delta[t])
    with pytest.raises(ValueError, match="at least two"):
        Ensemble([kd.DeepLift(models[0])])
    other = keras.Sequential([keras.Input((K.LENGTH + 1, 4)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="inputs differ"):
        Ensemble([kd.DeepLift(models[0]), kd.DeepLift(other)])


@pytest.mark.parametrize("rule", ["ism", "grad-input"])
def test_the_stream_averages_other_methods_too(rule):
    models = [K.conv_model(seed=s) for s in (0, 1)]
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(1).integers(0, 4, (5, K.LENGTH))]
    ens = kd.Ensemble([kd.DeepLift(m, rule=rule) for m in models])
    streamed = [r for r, _ in ens.stream(iter([(x[:3], 0, 0), (x[3:], 3, 1)]), 3,
                                         n_references=2)]
    own = [kd.DeepLift(m, rule=rule).explain(x, n_references=2) for m in models]
    task, name = streamed[0].tasks[0], ens.input_names[0]
    got = np.concatenate([r.contrib[name][task] for r in streamed])
    want = sum(np.asarray(next(iter(o.contrib.values()))[task], np.float64) for o in own) / 2
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not ens.exact and ens.method == rule


def test_both_strands_keep_each_member_averaged_over_its_strands(world, tmp_path):
    both = _arrays(_score(world, [world["a"], world["b"]], tmp_path / "ABboth.h5",
                          "--strands", "both", "--keep-members"))
    for i, m in enumerate(("a", "b")):
        own = _arrays(_score(world, [world[m]], tmp_path / f"{m}both.h5", "--strands", "both"))
        for key in ("contrib/seq/GATA1", "hyp_contrib/seq/GATA1", "delta/CTCF", "preds/GATA1"):
            np.testing.assert_allclose(both[f"members/{i}/{key}"], own[key], rtol=1e-6,
                                       atol=1e-7, err_msg=f"member {i}: {key}")
    np.testing.assert_allclose(both["contrib/seq/GATA1"].sum((1, 2)), both["delta/GATA1"],
                               atol=1e-4)


def _yaml_edit(model_dir, **changes):
    import yaml

    spec = yaml.safe_load((model_dir / "model.yaml").read_text())
    for path, value in changes.items():
        node = spec
        *head, last = path.split("__")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return model_dir


def _rerun(attrs_command, out):
    words = shlex.split(attrs_command)
    k = words.index("-o")
    words[k + 1] = str(out)
    assert cli.main(words[1:]) == 0, words
    return out


def test_the_first_members_method_is_every_members_and_the_rerun_agrees(world, tmp_path):
    """A member whose model.yaml asks for another rule and max-pooling mode is scored with the
    first member's (one method in the mean, as the file records), and the recorded command
    reruns to the same file; a member naming its input otherwise needs no --input."""
    other = K.write_model_dir(tmp_path / "other", K.conv_model(seed=1),
                              postprocessing={"rule": "rescale", "maxpool": "gradient"})
    _yaml_edit(other, schema__inputs__name="dna")
    out = _score(world, [world["a"], other], tmp_path / "mixed.h5", "--keep-members")
    with h5py.File(out) as f:
        attrs = dict(f.attrs)
    alone = _score(world, [other], tmp_path / "alone.h5", "--rule", attrs["rule"],
                   "--maxpool", attrs["maxpool"])
    kept, own = _arrays(out, "members/1"), _arrays(alone)
    np.testing.assert_allclose(kept["contrib/seq/GATA1"], own["contrib/dna/GATA1"],
                               rtol=1e-6, atol=1e-7)
    words = shlex.split(attrs["command"])
    assert not {"--input", "--zoo-config", "--source"} & set(words)
    again = _arrays(_rerun(attrs["command"], tmp_path / "again.h5"))
    for key, v in _arrays(out).items():
        np.testing.assert_array_equal(again[key], v, err_msg=key)


def test_members_scoring_other_kinds_of_output_are_refused(world, capsys, tmp_path):
    import keras

    model = K.conv_model(seed=5)
    model.get_layer("out").activation = keras.activations.softmax
    soft = K.write_model_dir(tmp_path / "soft", model)
    out = tmp_path / "x.h5"
    fails(capsys, ["score", str(world["a"]), str(soft), "--dataloader-args", world["args"],
                   "-o", str(out)], out, "at different outputs")


def test_members_declaring_other_strand_channels_are_refused(world, capsys, tmp_path):
    sc = K.write_model_dir(tmp_path / "sc", K.conv_model(seed=6),
                           postprocessing={"strand_channels": [1, 0]})
    out = tmp_path / "x.h5"
    fails(capsys, ["score", str(world["a"]), str(sc), "--dataloader-args", world["args"],
                   "-o", str(out), "--strands", "both"], out, "different strand_channels")


def test_paths_and_labels(world, tmp_path):
    from pathlib import Path

    from kipoi_deeplift.io.scorefile import model_label

    res = kd.score(Path(world["a"]), world["args"], output=str(tmp_path / "p.h5"),
                   n_references=2)
    assert res["sequences"] == len(K.INTERVALS)
    with pytest.raises(kd.UserError, match="no model given"):
        kd.score([], world["args"], output=str(tmp_path / "none.h5"))
    assert model_label("/x/fold0 + /x/fold1") == "fold0 + fold1"
    assert model_label("DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF") == \
        "D00328.018_ChIP-seq_CTCF"
    with pytest.raises(ValueError, match="outputs only"):
        kd.Ensemble([kd.DeepLift(K.conv_model(seed=s)) for s in (0, 1)]).hidden_tasks("conv", 0)
