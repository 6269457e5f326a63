"""DeepBind as Kipoi serves it today (model-template.yaml + models.tsv: architecture JSON with
Python 3.6 Lambdas + weights-only HDF5), and the same model found however it is named."""
import hashlib
import json
import os
import shutil

import h5py
import numpy as np
import pytest
import yaml

import _kipoi_dirs as K
import _models as M
import kipoi_deeplift as kd
from conftest import fixture_path
from kipoi_deeplift.errors import UserError
from kipoi_deeplift.zoo.rebuild import deepbind

NAME = "Homo_sapiens/TF/D00765.001_ChIP-seq_GATA1"
FILES = "Homo_sapiens-TF-D00765.001_ChIP-seq_GATA1"


def today(*parts):
    return fixture_path("deepbind", "kipoi_today", *parts)


def test_today_form_equals_the_2018_and_parameter_file_models():
    arch, weights = today("model_files", FILES + ".json"), today("model_files", FILES + ".h5")
    for path, md5 in ((arch, "d0bf8403d0cfe0037537f6f2e002f5b6"),
                      (weights, "9155558f7b04004dd50daf5903c5a514")):
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5     # as models.tsv says
    now = deepbind.from_kipoi(weights, arch)
    then = deepbind.from_kipoi(fixture_path("deepbind", "kipoi_2018_h5", "D00765.001_GATA1",
                                            "model.h5"), sigmoid=False)
    params = deepbind.from_params(fixture_path("deepbind", "params", "D00765.001.txt"))
    x = M.one_hot(16, 101, seed=11)
    logit = params.predict(x, verbose=0).ravel()
    np.testing.assert_allclose(now.predict(x, verbose=0).ravel(), logit, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(then.predict(x, verbose=0).ravel(), logit, rtol=1e-5, atol=1e-6)
    assert now.layers[-1].name == "score"          # today's architecture has no sigmoid


def test_today_form_weights_alone_are_refused_with_a_clear_message():
    with pytest.raises(UserError, match="weights only: give the architecture JSON"):
        deepbind.from_kipoi(today("model_files", FILES + ".h5"))


def test_an_unknown_lambda_is_refused(tmp_path):
    cfg = json.loads(today("model_files", FILES + ".json").read_text())
    import base64
    for layer in cfg["config"]["layers"]:
        if layer["class_name"] == "Lambda" and layer["config"]["function"][2]:   # the pad
            layer["config"]["function"][0] = base64.b64encode(b"\xe3\xda\x02tf\xda\x03exp").decode()
    (tmp_path / "arch.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="is not one of DeepBind's"):
        deepbind.from_kipoi(today("model_files", FILES + ".h5"), tmp_path / "arch.json")


def kipoi_source(tmp_path):
    """A Kipoi source laid out like kipoi/models' DeepBind folder; the download URLs of the one
    model in models.tsv point at the fixture files (same md5s), so Kipoi's own download code
    fetches them."""
    import kipoi

    group = tmp_path / "models" / "DeepBind"
    group.mkdir(parents=True)
    for f in ("model-template.yaml", "custom_keras_objects.py"):
        shutil.copy(today(f), group / f)
    rows = today("models.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    row = dict(zip(header, next(r for r in rows if r.startswith(NAME + "\t")).split("\t")))
    row["args_arch_url"] = today("model_files", FILES + ".json").resolve().as_uri()
    row["args_weights_url"] = today("model_files", FILES + ".h5").resolve().as_uri()
    (group / "models.tsv").write_text("\t".join(header) + "\n" +
                                      "\t".join(row[h] for h in header) + "\n")
    kipoi.config.add_source("kd_today", kipoi.sources.LocalSource(str(tmp_path / "models")))
    return "kd_today"


def intervals(tmp_path):
    fasta = K.write_genome(tmp_path)
    bed = K.write_bed(tmp_path, [("chr1", 100, 201), ("chr2", 50, 151), ("chr1", 300, 401)],
                      name="three.bed")
    return {"intervals_file": str(bed), "fasta_file": str(fasta)}


def test_zoo_name_from_a_kipoi_source_laid_out_like_kipoi_models(tmp_path):
    source = kipoi_source(tmp_path)
    out = tmp_path / "gata1.h5"
    res = kd.score(f"DeepBind/{NAME}", intervals(tmp_path), str(out), source=source,
                   n_references=4)
    assert res["sequences"] == 3 and res["max_convergence_error"] < 1e-4
    params = deepbind.from_params(fixture_path("deepbind", "params", "D00765.001.txt"))
    with h5py.File(out) as f:
        assert f.attrs["zoo_config"] == "DeepBind"
        assert (f.attrs["rule"], f.attrs["maxpool"]) == ("genomics-default", "exact")
        x = f["inputs/seq"][:]
        np.testing.assert_allclose(f["preds/binding_prob"][:],
                                   params.predict(x, verbose=0).ravel(), rtol=1e-5, atol=1e-5)
        c = f["contrib/seq/binding_prob"][:].sum((1, 2))
        np.testing.assert_allclose(c, f["delta/binding_prob"][:], atol=1e-4)
        assert "--zoo-config DeepBind" in f.attrs["command"]


def model_dir_2018(root):
    return K.deepbind_2018_dir(
        root / "DeepBind" / "Homo_sapiens" / "TF" / "D00765.001_ChIP-seq_GATA1",
        fixture_path("deepbind", "kipoi_2018_h5", "D00765.001_GATA1", "model.h5"),
        fixture_path("deepbind", "kipoi_2018_h5", "template_model.yaml"))


def model_dir_today(d):
    """Today's form as a plain model directory (the template rendered by hand)."""
    d.mkdir(parents=True)
    for f in (FILES + ".json", FILES + ".h5"):
        shutil.copy(today("model_files", f), d / f)
    shutil.copy(today("custom_keras_objects.py"), d / "custom_keras_objects.py")
    text = "\n".join(line for line in today("model-template.yaml").read_text().splitlines()
                     if "{%" not in line)
    spec = yaml.safe_load(text.replace("{{ args_arch_url }}", "x").replace(
        "{{ args_arch_md5 }}", "x").replace("{{ args_weights_url }}", "x").replace(
        "{{ args_weights_md5 }}", "x"))
    spec.pop("test", None)
    spec["args"].update(arch=FILES + ".json", weights=FILES + ".h5")
    (d / "model.yaml").write_text(yaml.safe_dump(spec))
    return d


def test_the_same_model_scores_however_its_path_is_written(tmp_path, monkeypatch):
    """Relative, ./, absolute path into a Kipoi checkout, and a copy under any name (recognised
    from its model.yaml): the same config, the same numbers."""
    args = intervals(tmp_path)
    d = model_dir_2018(tmp_path / "checkout")
    plain = tmp_path / "my_gata1_model"
    shutil.copytree(d, plain)
    now = model_dir_today(tmp_path / "today_copy")
    monkeypatch.chdir(tmp_path / "checkout")
    rel = os.path.relpath(d, tmp_path / "checkout")
    outs = []
    for k, model in enumerate([rel, "./" + rel, str(d), str(plain), str(now)]):
        out = tmp_path / f"run{k}.h5"
        kd.score(model, args, str(out), source="dir", n_references=3)
        with h5py.File(out) as f:
            assert f.attrs["zoo_config"] == "DeepBind", model
            outs.append(f["contrib/seq/binding_prob"][:])
    for other in outs[1:]:
        np.testing.assert_allclose(other, outs[0], rtol=1e-5, atol=1e-6)


def test_zoo_config_flag_chooses_or_turns_off_the_config(tmp_path):
    d = model_dir_2018(tmp_path / "checkout")
    args = intervals(tmp_path)
    with pytest.raises(UserError, match="holds Lambda layers stored as Python bytecode of another Python version"):
        kd.score(str(d), args, str(tmp_path / "x.h5"), zoo_config="none")
    with pytest.raises(UserError, match="--zoo-config 'Nope' is not a config"):
        kd.score(str(d), args, str(tmp_path / "x.h5"), zoo_config="Nope")
    assert not (tmp_path / "x.h5").exists()


def test_a_named_bed6_file_scores_with_kipoiseqs_dataloader(tmp_path):
    """kipoiseq's SeqIntervalDl reads BED columns 4+ as float labels ('could not convert string
    to float'): the file is handed to it as the columns it reads, the name kept as the id."""
    source = kipoi_source(tmp_path)
    args = intervals(tmp_path)
    args["intervals_file"] = str(K.write_bed(tmp_path, [("chr1", 100, 201, "a", 0, "-")],
                                             name="named.bed"))
    res = kd.score(f"DeepBind/{NAME}", args, str(tmp_path / "x.h5"), source=source,
                   n_references=2)
    assert res["sequences"] == 1
    with h5py.File(tmp_path / "x.h5") as f:
        assert list(f["metadata/ranges/id"].asstr()[:]) == ["a"]
