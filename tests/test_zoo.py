"""model_zoo_configs: every config valid; the DeepBind and HOCOMOCO rebuilds against the
published files; DeepLIFT on real weights; test architectures for the other groups."""
import json

import h5py
import numpy as np
import pytest
import yaml

import _kipoi_dirs as K
import _models as M
import _zoo_models as Z
import kipoi_deeplift as kd
from conftest import fixture_path
from kipoi_deeplift import cli
from kipoi_deeplift import zoo
from kipoi_deeplift.errors import UserError
from kipoi_deeplift.zoo.rebuild import bpnet, deepbind, factornet, hocomoco
from kipoi_deeplift.kipoi.schema import dna_layout

GROUPS = {"DeepBind", "pwm_HOCOMOCO", "tal1_model", "MPRA-DragoNN", "FactorNet", "BPNet-OSKN",
          "CpGenie", "Divergent421", "DeepSTARR", "DeepMEL", "DeepSEA-variantEffects",
          "DeepSEA-predict", "DeepSEA-Beluga", "Basset", "BPNet-Dmel", "scBasset",
          "a2z-chromatin", "DeepCpG-DNA", "TREDNet", "DeepFlyBrain", "DeepLiver"}
DEEPBIND_2018 = {"D00317.009_CEBPB": "D00317.009", "D00328.018_CTCF": "D00328.018",
                 "D00765.001_GATA1": "D00765.001", "D00817.001_TBP": "D00817.001"}


def onehot(seq):
    return np.stack([np.eye(4, dtype=np.float32)["ACGT".index(c)]
                     for c in seq.upper().replace("U", "T")])


@pytest.fixture(scope="module")
def configs():
    return zoo.load_configs()


def test_every_group_has_a_valid_config(configs):
    assert set(configs) == GROUPS
    for cfg in configs.values():
        assert isinstance(cfg, zoo.ZooConfig)
        layout = cfg.input.layout
        if layout.startswith("("):
            assert dna_layout(eval(layout)) is not None or not cfg.input.dna, layout
    assert zoo.find("DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF").name == "DeepBind"
    assert zoo.find("pwm_HOCOMOCO/human/CTCF").name == "pwm_HOCOMOCO"
    assert zoo.find("Basset").name == "Basset"
    assert zoo.find("DeepSEA/predict").name == "DeepSEA-predict"
    assert zoo.find("Basenji") is None
    # The table's last line counts models, from each config's `models:` line.
    assert zoo.table(configs).splitlines()[-1].startswith(
        f"{sum(zoo.model_count(c) for c in configs.values())} Kipoi models in {len(GROUPS)} ")
    assert zoo.model_count(configs["DeepBind"]) == 927


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("rule"), "^deepbind.yaml: missing rule$"),
    (lambda c: c.update(rule="deep-shap"), "rule 'deep-shap'"),
    (lambda c: c["references"].update(kind="dinuc"), "unknown reference 'dinuc'"),
    (lambda c: c.update(rebuild="kipoi_deeplift.zoo.rebuild.deepbind:nope"), "cannot import"),
    (lambda c: c["status"].pop("loads"), "^deepbind.yaml: status.loads is missing$"),
    (lambda c: c.update(rebuilt="x"), "^deepbind.yaml: unknown key 'rebuilt' "),
    (lambda c: c["input"].update(lenght=101), "^deepbind.yaml: unknown key input.lenght "),
    (lambda c: c.update(kipoi_class={"weights": "w"}), "kipoi_class.defined_as is missing"),
    (lambda c: c.update(input=None), "input is not a mapping"),
])
def test_validation_names_the_file_and_the_key(configs, change, message):
    raw = yaml.safe_load(configs["DeepBind"].text)
    raw["kipoi_class"] = {"defined_as": "model.X"}
    assert zoo.parse(json.loads(json.dumps(raw)), "deepbind.yaml") is not None
    change(raw)
    with pytest.raises(UserError, match=message) as e:
        zoo.parse(raw, "deepbind.yaml")
    assert "\n" not in str(e.value)


def test_configs_are_typed_and_frozen(configs):
    import dataclasses

    cfg = configs["DeepBind"]
    assert cfg.kipoi == ("DeepBind/*",) and cfg.references == zoo.config.References(
        "dinuc-shuffle", 20, 0)
    assert cfg.identify.info_name == "DeepBind" and cfg.kipoi_class is None
    assert configs["DeepSEA-Beluga"].dataloader_args == {"alphabet": "ACGT"}
    assert configs["BPNet-OSKN"].kipoi_class.then.endswith("bpnet:zero_bias_inputs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rule = "rescale"
    # scoring's defaults: as the dict configs gave them
    assert zoo.score_defaults(configs["BPNet-Dmel"])["output_names"][:2] == \
        ["Bcd/profile", "Bcd/counts"]
    assert zoo.score_defaults(cfg) == {"rule": "genomics-default", "references": "dinuc-shuffle",
                                       "n_references": 20, "seed": 0, "maxpool": "exact",
                                       "input": "seq"}


def test_configs_are_package_data(configs):
    """Read through importlib.resources from the package (kipoi_deeplift/zoo/configs), the
    same files as model_zoo_configs/ at the top of the repository."""
    from pathlib import Path

    files = zoo.config_files()
    top = Path(__file__).resolve().parents[1] / "model_zoo_configs"
    assert [f.name for f in files] == sorted(p.name for p in top.glob("*.yaml"))
    assert {f.read_text() for f in files} == {p.read_text() for p in top.glob("*.yaml")}
    assert zoo.load_configs(top).keys() == configs.keys()


@pytest.mark.parametrize("group, model_yaml", [
    ("tal1_model", ("kipoi_tal1_model", "model.yaml")),
    ("DeepBind", ("deepbind", "kipoi_2018_h5", "template_model.yaml")),
    ("pwm_HOCOMOCO", ("hocomoco", "kipoi_model-template.yaml")),
])
def test_configs_match_the_published_schemas(configs, group, model_yaml):
    text = fixture_path(*model_yaml).read_text()
    # Kipoi's templates hold Jinja placeholders: the schema does not.
    text = "\n".join(line for line in text.splitlines() if "{%" not in line and "{{" not in line)
    schema = yaml.safe_load(text)["schema"]
    cfg = configs[group]
    assert schema["inputs"]["name"] == cfg.input.name
    assert schema["inputs"]["special_type"] == "DNASeq"
    assert eval(schema["inputs"]["shape"]) == eval(cfg.input.layout)
    assert list(cfg.tasks) == [schema["targets"]["name"]]


def test_factornet_schema_names_the_configs_input(configs):
    d = fixture_path("factornet", "EGR1_onePeak_DGF")
    schema = yaml.safe_load((d / "kipoi" / "model.yaml").read_text())["schema"]
    names = [i["name"] for i in schema["inputs"]]
    assert configs["FactorNet"].input.name in names
    assert names == list(factornet.INPUT_NAMES[:2])


def test_status_yes_is_backed_by_tests_that_load_real_files(configs):
    """`zoo list` says "yes" (or "partly") on real weights only where named tests exist and
    read a published file from the fixtures."""
    import re
    from pathlib import Path

    root = Path(__file__).parent
    claims = 0
    for cfg in configs.values():
        said = cfg.status.tested_on_real_weights
        evidence = cfg.status_notes.get("evidence") or []
        if said.startswith(("yes", "partly")):
            claims += 1
            assert evidence, f"{cfg.name}: claims {said!r} without evidence"
        else:
            assert "real" not in cfg.status.scores, cfg.name
        for item in evidence:
            path, _, test = item.partition("::")
            text = (root.parent / path).read_text()
            bodies = {m.group(1): m.group(0) for m in
                      re.finditer(r"^def (\w+)\(.*?(?=^def |^@|\Z)", text, re.S | re.M)}
            assert test in bodies, f"{cfg.name}: {item} does not exist"
            # Helpers it calls and pytest fixtures it takes, one level down.
            called = set(re.findall(r"(\w+)\b", bodies[test])) & set(bodies)
            called |= {g for f in list(called) for g in re.findall(r"(\w+)\(", bodies[f])
                       if g in bodies}
            assert any("fixture_path(" in bodies[f] for f in called | {test}), \
                f"{item} reads no published file"
    assert claims >= 4


# -- DeepBind -------------------------------------------------------------------------------
def test_deepbind_params_reproduce_the_published_example_scores():
    """README.TXT's table (the version whose windows see adjacent sequence) to 1e-4."""
    readme = fixture_path("deepbind", "README.TXT").read_text().splitlines()
    ids = ["D00210.001", "D00120.001", "D00410.003", "D00328.003"]
    seqs = ["AGGUAAUAAUUUGCAUGAAAUAACUUGGAGAGGAUAGC", "AGACAGAGCUUCCAUCAGCGCUAGCAGCAGAGACCAUU",
            "GAGGTTACGCGGCAAGATAA", "TACCACTAGGGGGCGCCACC"]
    header = next(i for i, line in enumerate(readme) if line.split() == ids)
    want = np.array([[float(v) for v in readme[header + 1 + k].split()] for k in range(4)])
    for j, model_id in enumerate(ids):
        for k, s in enumerate(seqs):
            model = deepbind.from_params(fixture_path("deepbind", "params", f"{model_id}.txt"),
                                         length=len(s))
            got = model.predict(onehot(s)[None], verbose=0)[0, 0]
            assert abs(got - want[k, j]) < 1e-4, (model_id, k, got, want[k, j])


@pytest.mark.parametrize("name", sorted(DEEPBIND_2018))
def test_deepbind_2018_hdf5_rebuild_matches_the_parameter_file(name):
    h5 = fixture_path("deepbind", "kipoi_2018_h5", name, "model.h5")
    params = deepbind.read_params(fixture_path("deepbind", "params",
                                               f"{DEEPBIND_2018[name]}.txt"))
    from_h5, length = deepbind.params_from_kipoi_h5(h5)
    assert length == 101
    np.testing.assert_allclose(from_h5.detectors, params.detectors, rtol=1e-6, atol=1e-7)
    rebuilt = deepbind.from_kipoi_h5(h5)
    raw = deepbind.from_params(fixture_path("deepbind", "params", f"{DEEPBIND_2018[name]}.txt"))
    x = M.one_hot(8, 101, seed=3)
    prob = rebuilt.predict(x, verbose=0)[:, 0]
    logit = raw.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logit)), rtol=1e-5, atol=1e-7)
    res = kd.DeepLift(rebuilt, rule="genomics-default", maxpool="exact").explain(
        x, n_references=10)
    assert res.max_convergence_error < 1e-4
    np.testing.assert_allclose(res.preds["binding_prob"], logit, rtol=1e-5, atol=1e-5)


def test_ctcf_deepbind_top_bases_fall_inside_an_embedded_ctcf_site():
    pcms = hocomoco.read_pcms(fixture_path("hocomoco", "HOCOMOCOv10_pcms_HUMAN_mono.txt"))
    site = pcms[hocomoco.motif_for(pcms, "human/CTCF")].argmax(1)
    seqs = np.random.default_rng(0).integers(0, 4, (6, 101))
    start = 40
    seqs[:, start:start + len(site)] = site
    x = np.eye(4, dtype=np.float32)[seqs]
    model = deepbind.from_kipoi_h5(fixture_path("deepbind", "kipoi_2018_h5", "D00328.018_CTCF",
                                                "model.h5"))
    res = kd.DeepLift(model, rule="genomics-default", maxpool="exact").explain(x,
                                                                               n_references=20)
    for per_base in res.contrib["seq"]["binding_prob"].sum(-1):
        top = np.argsort(-per_base)[:10]
        assert np.mean((top >= start) & (top < start + len(site))) >= 0.9, sorted(top)


def test_deepbind_zoo_name_scores_end_to_end_through_kipoi(tmp_path):
    """A Kipoi source holding DeepBind's CTCF model as the zoo names it: Kipoi resolves it and
    its dataloader, the config's rebuild reads the Python 2 HDF5 file, `score` uses the
    config's rule, references and exact max pooling."""
    import kipoi

    name = "DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF"
    K.deepbind_2018_dir(tmp_path / "zoo" / name,
                        fixture_path("deepbind", "kipoi_2018_h5", "D00328.018_CTCF", "model.h5"),
                        fixture_path("deepbind", "kipoi_2018_h5", "template_model.yaml"))
    kipoi.config.add_source("kd_deepbind", kipoi.sources.LocalSource(str(tmp_path / "zoo")))
    fasta = K.write_genome(tmp_path)
    bed = K.write_bed(tmp_path, [("chr1", 100, 201), ("chr2", 50, 151)])
    out = tmp_path / "ctcf.h5"
    res = kd.score(name, {"intervals_file": str(bed), "fasta_file": str(fasta)}, str(out),
                   source="kd_deepbind", n_references=5)
    assert res["sequences"] == 2
    with h5py.File(out) as f:
        assert f.attrs["zoo_config"] == "DeepBind"
        assert (f.attrs["rule"], f.attrs["maxpool"]) == ("genomics-default", "exact")
        assert f["contrib/seq/binding_prob"].shape == (2, 101, 4)
        assert f["convergence/binding_prob"][:].max() < 1e-4


# -- pwm_HOCOMOCO ---------------------------------------------------------------------------
@pytest.mark.parametrize("tf", ["CTCF", "GATA1", "TAL1", "SP1"])
def test_hocomoco_deeplift_recovers_the_pwm_log_odds_at_the_best_site(tf):
    pcms = hocomoco.read_pcms(fixture_path("hocomoco", "HOCOMOCOv10_pcms_HUMAN_mono.txt"))
    counts = pcms[hocomoco.motif_for(pcms, f"human/{tf}")]
    kernel = hocomoco.log_odds(counts)
    site = kernel.argmax(1)                        # the best-scoring sequence of the PWM
    seqs = np.random.default_rng(1).integers(0, 4, (3, 60))
    start = 17
    seqs[:, start:start + len(site)] = site
    x = np.eye(4, dtype=np.float32)[seqs]
    model = hocomoco.build(counts)
    res = kd.DeepLift(model, maxpool="exact").explain(x, references="zeros")
    per_base = res.contrib["seq"]["pwm_match"].sum(-1)
    want = kernel[np.arange(len(site)), site]      # the PWM's own log-odds of each base
    for row in per_base:
        np.testing.assert_allclose(row[start:start + len(site)], want, rtol=1e-5, atol=1e-5)
        assert np.abs(np.delete(row, np.s_[start:start + len(site)])).max() < 1e-6
    np.testing.assert_allclose(res.preds["pwm_match"], want.sum(), rtol=1e-5)


# -- groups whose files are not at hand ----------------------------------------------------
@pytest.mark.parametrize("group", sorted(Z.TEST_ARCHITECTURES))
def test_config_rule_is_exact_on_the_published_architecture(configs, group):
    builder, length = Z.TEST_ARCHITECTURES[group]
    cfg = configs[group]
    model = builder(length)
    x = M.one_hot(3, length, seed=2)
    res = kd.DeepLift(model, rule=cfg.rule, maxpool=cfg.maxpool).explain(
        x, references=cfg.references.kind, n_references=4)
    assert res.max_convergence_error < 1e-3 * max(1.0, max(np.abs(d).max()
                                                          for d in res.delta.values()))
    dna = next(iter(res.contrib))
    assert all(np.abs(c).max() > 0 for c in res.contrib[dna].values())


@pytest.mark.parametrize("group, tfs", [("BPNet-OSKN", ("Oct4", "Sox2", "Nanog", "Klf4")),
                                        ("BPNet-Dmel", ("Zld", "Dl", "Twi", "Bcd", "Cad", "GAF"))])
def test_bpnet_profile_heads_are_scored_as_bpnet_does(configs, group, tfs):
    model = Z.bpnet(tasks=tfs)
    assert zoo.find({"BPNet-OSKN": "BPNet-OSKN", "BPNet-Dmel":
                     "BPNet_Dmel_OreR_2to3hr_ZDTBCG"}[group]).name == group
    scoring = bpnet.profile_scoring_model(model)
    x = M.one_hot(3, 200, seed=4)
    r = kd.references.dinuc_shuffle(x, 4, seed=0)
    res = kd.DeepLift(scoring, maxpool=configs[group].maxpool).explain(x, references=r)
    # Per TF: the profile objective and the count head's two units.
    assert res.tasks[:3] == [f"{tfs[0]}_profile_weighted_0", f"{tfs[0]}_counts_0",
                             f"{tfs[0]}_counts_1"] and len(res.tasks) == 3 * len(tfs)
    assert res.max_convergence_error < 1e-3
    # The objective: softmax(profile logits at x) held constant, applied to x and each reference.
    profile = model.predict(x, verbose=0)[0].astype(np.float64)          # Oct4 profile
    ref_profile = model.predict(r.reshape(-1, 200, 4), verbose=0)[0].reshape(3, 4, 200, 2)
    w = np.exp(profile) / np.exp(profile).sum(1, keepdims=True)
    task = res.tasks[0]
    np.testing.assert_allclose(res.preds[task], (w * profile).sum((1, 2)), rtol=1e-4)
    np.testing.assert_allclose(res.delta[task], (w * profile).sum((1, 2)) -
                               (w[:, None] * ref_profile).sum((2, 3)).mean(1), rtol=1e-3,
                               atol=1e-4)
    assert res.contrib["seq"][task].shape == (3, 200, 4)


@pytest.mark.parametrize("group, topics", [("DeepMEL", 3), ("DeepFlyBrain", 81),
                                           ("DeepLiver", 82)])
def test_deepmel_family_as_published_scores_exactly(configs, group, topics):
    """The family's published layers (TimeDistributed(Dense), a BiLSTM returning sequences
    with hard-sigmoid gates, Flatten, Dense; DeepMEL: two inputs averaged after the sigmoids;
    DeepFlyBrain: the reverse complement made inside by Lambdas, concatenated before the last
    Dense), with the config's rule: exact, the first and last topic."""
    cfg = configs[group]
    model = Z.deepmel(topics=topics) if group == "DeepMEL" else Z.deepflybrain(topics=topics)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"TimeDistributed", "Bidirectional", "Flatten"} <= kinds
    fwd = M.one_hot(2, 500, seed=6)
    dl = kd.DeepLift(model, rule=cfg.rule, maxpool=cfg.maxpool)
    xs = {"input_1": fwd, "input_2": fwd[:, ::-1, ::-1].copy()} if group == "DeepMEL" else fwd
    res = dl.explain(xs, n_references=3, tasks=[0, topics - 1])
    assert res.max_convergence_error < 1e-5
    name = "input_1"
    assert res.contrib[name][res.tasks[0]].shape == (2, 500, 4)
    # DeepMEL ends in an average of sigmoids: the scores explain that probability (no logit).
    want = model.predict([xs["input_1"], xs["input_2"]] if group == "DeepMEL" else xs,
                         verbose=0)[:, 0]
    if group == "DeepMEL":
        np.testing.assert_allclose(res.preds[res.tasks[0]], want, rtol=1e-5, atol=1e-6)
    else:
        assert np.all(res.preds[res.tasks[0]] != want)     # the logit, before the sigmoid
        np.testing.assert_allclose(1 / (1 + np.exp(-res.preds[res.tasks[0]])), want,
                                   rtol=1e-5, atol=1e-6)


def test_zoo_command_line(capsys):
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for group in GROUPS:
        assert group in out
    assert cli.main(["zoo", "show", "pwm_HOCOMOCO/human/CTCF"]) == 0
    assert "name: pwm_HOCOMOCO" in capsys.readouterr().out
    assert cli.main(["zoo", "show", "DeepSEA/beluga"]) == 0
    assert "dataloader_args: {alphabet: ACGT}" in capsys.readouterr().out
    assert cli.main(["zoo", "show", "Basenji"]) == 2
    assert "no config named or matching 'Basenji'" in capsys.readouterr().err


def test_a_configs_input_is_a_hint_and_an_explicit_input_stays_strict(tmp_path, configs):
    """MPRA-DragoNN's real model has input conv1d_1_input and an unnamed schema input: a config
    must never make `score` fail on an input the user did not name."""
    assert configs["MPRA-DragoNN"].input.name is None
    fasta = K.write_genome(tmp_path)
    bed = K.write_bed(tmp_path)
    d = K.write_model_dir(tmp_path / "m")
    args = {"intervals_file": str(bed), "fasta_file": str(fasta)}
    # DeepMEL's config names input_1, which this model lacks: ignored, the DNA input is found.
    res = kd.score(str(d), args, str(tmp_path / "a.h5"), zoo_config="DeepMEL", n_references=2,
                   limit=2)
    assert res["sequences"] == 2
    with h5py.File(tmp_path / "a.h5") as f:
        assert f.attrs["zoo_config"] == "DeepMEL" and "contrib/seq" in f
    with pytest.raises(UserError, match="input_1"):
        kd.score(str(d), args, str(tmp_path / "b.h5"), input="input_1", n_references=2)
    assert not (tmp_path / "b.h5").exists()


def test_config_model_counts_match_the_zoos_own_lists(configs):
    """The numbers `zoo show` prints, against the zoo's models.tsv files in the fixtures."""
    deepbind_rows = fixture_path("deepbind", "kipoi_today", "models.tsv").read_text() \
        .splitlines()[1:]
    assert configs["DeepBind"].models.startswith(f"{len(deepbind_rows)} ")
    tf = sum("/TF/" in r.split("\t")[0] for r in deepbind_rows)
    assert f"{tf} transcription factors" in configs["DeepBind"].models
    hoco = [r.split("\t")[0] for r in fixture_path("hocomoco", "kipoi_models.tsv").read_text()
            .splitlines()[1:]]
    assert configs["pwm_HOCOMOCO"].models.startswith(f"{len(hoco)} ")
    assert {m.split("/")[0] for m in hoco} == {"human"}
    assert "human only" in configs["pwm_HOCOMOCO"].models
    assert configs["FactorNet"].models.startswith("30 ")
    assert eval(configs["DeepSTARR"].input.layout) == (249, 4, 1)


def test_deepflybrain_json_with_unreadable_lambdas_is_rebuilt(tmp_path, configs):
    """DeepFlyBrain.json's Lambdas hold Python 3.7 bytecode: a file of the published layers
    with its Lambdas' bytecode made unreadable is refused by the plain loader in one line and
    read by the config's rebuild, which predicts what the original model does and scores."""
    import base64
    import json as js

    from kipoi_deeplift.kipoi.loading import load_keras

    model = Z.deepflybrain(topics=81)
    config = js.loads(model.to_json())
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["config"]["function"] = [base64.b64encode(b"\xe3\x00\x01bytecode").decode(),
                                           None, None]
    (tmp_path / "DeepFlyBrain.json").write_text(js.dumps(config))
    model.save_weights(str(tmp_path / "DeepFlyBrain.hdf5"))
    arch, weights = str(tmp_path / "DeepFlyBrain.json"), str(tmp_path / "DeepFlyBrain.hdf5")
    with pytest.raises(UserError, match="holds Lambda layers with Python code.*zoo list"):
        load_keras(weights, arch)
    rebuilt = zoo.loader(configs["DeepFlyBrain"]).keras_model(weights, arch)
    x = M.one_hot(2, 500, seed=3)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    res = kd.DeepLift(rebuilt, rule="genomics-default").explain(x, n_references=2, tasks=[0])
    assert res.max_convergence_error < 1e-5


def test_loading_goes_describe_identify_load(tmp_path, monkeypatch):
    """kipoi.loading.load_model: Kipoi's description (once), the config it identifies (or the
    one asked for), and the model loaded with that config's loader."""
    from kipoi_deeplift.kipoi import loading

    w = K.make_world(tmp_path)
    steps = []
    for name in ("describe_model", "identify"):
        real = getattr(loading, name)
        monkeypatch.setattr(loading, name, lambda *a, real=real, name=name, **k: (
            steps.append(name), real(*a, **k))[1])
    km, cfg = loading.load_model(str(w["model"]))
    assert isinstance(km, loading.KipoiModel) and cfg is None
    assert steps == ["describe_model", "identify"]
    km2, cfg2 = loading.load_model(str(w["model"]), "dir", zoo_config="tal1_model")
    assert cfg2.name == "tal1_model" and km2.source == "dir"
    assert loading.load_model(km) == (km, None)
    with pytest.raises(UserError, match="'nope' is not a config"):
        loading.load_model(str(w["model"]), zoo_config="nope")
