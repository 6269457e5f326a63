"""`kipoi deeplift ...` through Kipoi's real executable (the .pth hook), Kipoi's flag
spellings, hidden-neuron targets, --version, and commands that never start TensorFlow."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
from _cli import BIN, run_cli
from kipoi_deeplift import kipoi_plugin


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return K.make_world(tmp_path_factory.mktemp("plugin"))


def kipoi(*argv, env=None):
    p = subprocess.run([str(BIN / "kipoi"), *argv], capture_output=True, text=True,
                       timeout=600, env={**os.environ, **(env or {})})
    return p.returncode, p.stdout, p.stderr


def test_kipoi_lists_the_plugin():
    assert kipoi_plugin.installed(), "the install put no kipoi_deeplift-plugin.pth in " \
        "site-packages (setup.py's build_py / editable_wheel)"
    status, out, _ = kipoi("list_plugins")
    assert status == 0
    row = [line for line in out.splitlines() if "kipoi_deeplift" in line]
    assert row and "True" in row[0], out
    status, out, err = kipoi("deeplift", "--version")
    assert status == 0 and out.strip() == f"kipoi deeplift {kipoi_plugin_version()}", (out, err)


def kipoi_plugin_version():
    from kipoi_deeplift import __version__

    return __version__


def test_switched_off_for_one_shell():
    status, out, _ = kipoi("list_plugins", env={"KIPOI_DEEPLIFT_PLUGIN": "0"})
    assert status == 0 and "kipoi_deeplift" not in out


def test_disable_and_enable_round_trip():
    try:
        status, out, _ = run_cli("kipoi-plugin", "disable")
        assert status == 0 and "removed" in out
        assert not kipoi_plugin.installed()
        status, _, err = kipoi("deeplift", "--version")
        assert status == 1 and "Command `deeplift` not found" in err + _
    finally:
        status, out, _ = run_cli("kipoi-plugin", "enable")
    assert status == 0 and "kipoi lists `deeplift`: yes" in out
    assert kipoi_plugin.installed()[0].read_text() == kipoi_plugin.pth_line()
    assert kipoi("deeplift", "--version")[0] == 0


def test_hook_acts_only_on_kipoi_plugin_and_never_raises():
    """The hook's finder declines every other import, and a failing registration leaves
    Kipoi importable (PLUGINS replaced by something that is not a list)."""
    code = ("import sys; exec(open(sys.argv[1]).read().split('; ', 1)[1]); "
            "f = [m for m in sys.meta_path if getattr(m, 'kipoi_deeplift_hook', False)][0]; "
            "assert f.find_spec('json', None) is None; "
            "import kipoi.plugin as p; "
            "assert [x['plugin'] for x in p.PLUGINS].count('kipoi_deeplift') == 1; "
            "print('ok')")
    pth = kipoi_plugin.installed()[0]
    out = subprocess.run([sys.executable, "-S", "-c", code, str(pth)], capture_output=True,
                         text=True, timeout=120, env={**os.environ,
                                                      "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "ok", out.stderr[-800:]


def test_kipoi_spellings_score_the_same(world, tmp_path):
    """Kipoi's spellings (-s, --dataloader_args, --batch_size, -n) under `kipoi deeplift`
    write the same scores as ours under `kipoi-deeplift`; output stays clean."""
    ours = tmp_path / "ours.h5"
    status, _, err = run_cli("score", str(world["model"]), "--source", "dir",
                             "--dataloader-args", world["args"], "-o", str(ours),
                             "--n-references", "3", "--batch-size", "2")
    assert status == 0, err
    theirs = tmp_path / "theirs.h5"
    status, out, err = kipoi("deeplift", "score", str(world["model"]), "-s", "dir",
                             "--dataloader_args", world["args"], "-o", str(theirs),
                             "--n_references", "3", "--batch_size", "2", "-n", "2")
    assert status == 0, err
    assert "scored 5 sequences" in out
    noise = [line for line in (out + err).splitlines()
             if "INFO" in line or "pkg_resources" in line or "Warning" in line]
    assert not noise, noise
    with h5py.File(ours) as a, h5py.File(theirs) as b:
        for task in ("CTCF", "GATA1"):
            np.testing.assert_array_equal(a[f"contrib/seq/{task}"][:],
                                          b[f"contrib/seq/{task}"][:])
        assert "--num-workers 2" in b.attrs["command"]


def test_target_layer_and_neuron_from_the_command_line(world, tmp_path):
    """--target-neuron F: filter F summed over positions; P,F: one position. Each sums to its
    own delta, and the sum over positions of P,F deltas is the F delta."""
    import keras

    import kipoi_deeplift as kd

    out = tmp_path / "filters.h5"
    status, _, err = run_cli("score", str(world["model"]), "--dataloader-args", world["args"],
                             "-o", str(out), "--n-references", "3", "--maxpool", "exact",
                             "--target-layer", "conv", "--target-neuron", "2;0,2;1,2")
    assert status == 0, err
    with h5py.File(out) as f:
        tasks = json.loads(f.attrs["tasks"])
        assert tasks == ["conv[*,2]", "conv[0,2]", "conv[1,2]"]
        for t in tasks:
            c = f[f"contrib/seq/{t}"][:]
            np.testing.assert_allclose(c.sum((1, 2)), f[f"delta/{t}"][:], atol=1e-4)
        x = f["inputs/seq"][:]
        assert "--target-layer conv --target-neuron '2;0,2;1,2'" in f.attrs["command"]
        whole = f["delta/conv[*,2]"][:]
    # Against the Python API: every position's filter-2 delta adds up to the summed one.
    dl = kd.DeepLift(keras.saving.load_model(world["model"] / "model.keras"))
    length = dl.tensor_shapes([x])[dl.layer_key("conv")][0]
    res = dl.explain(x, target_layer="conv", target_neuron=[(p, 2) for p in range(length)],
                     n_references=3, references="zeros")
    res_sum = dl.explain(x, target_layer="conv", target_neuron=(None, 2), n_references=3,
                         references="zeros")
    per_position = sum(res.delta[t] for t in res.tasks)
    np.testing.assert_allclose(per_position, res_sum.delta["conv[*,2]"], rtol=1e-4, atol=1e-4)
    assert whole.shape == per_position.shape


def test_target_flags_refused_in_one_line(world, tmp_path):
    status, _, err = run_cli("score", str(world["model"]), "--dataloader-args", world["args"],
                             "-o", str(tmp_path / "x.h5"), "--target-layer", "conv")
    assert status == 2 and "--target-layer and --target-neuron go together" in err
    status, _, err = run_cli("score", str(world["model"]), "--dataloader-args", world["args"],
                             "-o", str(tmp_path / "x.h5"), "--target-layer", "nope",
                             "--target-neuron", "1")
    assert status == 2 and "unknown layer 'nope'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--version"], ["zoo", "list"], ["compare", "--help"],
                                  ["merge", "a.h5", "-o", "b.h5"], ["kipoi-plugin", "status"],
                                  ["score", "m", "--rule", "nope"],
                                  ["score", "m", "--n-references", "0"],
                                  ["score", "m", "--target-layer", "conv"]])
def test_commands_without_a_model_never_import_tensorflow(argv):
    code = ("import sys\nfrom kipoi_deeplift import cli\n"
            "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('TF' if 'tensorflow' in sys.modules else 'none', file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                       timeout=120)
    assert p.stderr.strip().splitlines()[-1] == "none", p.stderr[-600:]


def test_bed_names_kept_and_resizing_said(world, tmp_path):
    """kipoiseq numbers intervals '0', '1', ...: the BED's names are what the file keeps; the
    intervals the dataloader resizes are counted in one note."""
    rows = [("chr1", 10, 60, "peak_a", 0, "+"), ("chr1", 100, 180, "peak_b", 0, "+"),
            ("chr2", 100, 150, "peak_c", 0, "-")]
    bed = K.write_bed(tmp_path, rows, "named.bed")
    args = json.loads(world["args"])
    args["intervals_file"] = str(bed)
    out = tmp_path / "named.h5"
    status, _, err = run_cli("score", str(world["model"]), "--dataloader-args",
                             json.dumps(args), "-o", str(out), "--n-references", "2")
    assert status == 0, err
    assert f"note: 1 of 3 intervals are not {K.LENGTH} bp" in err
    with h5py.File(out) as f:
        assert list(f["metadata/ranges/id"].asstr()[:]) == ["peak_a", "peak_b", "peak_c"]
        assert list(f["metadata/ranges/start"][:]) == [10, 140 - K.LENGTH // 2, 100]


def test_python_api_starts_quietly(world, tmp_path):
    """kd.score from a script: no TensorFlow start-up lines (oneDNN, CUDA probing, cuInit)
    and no Kipoi INFO lines on stderr."""
    code = ("import sys, kipoi_deeplift as kd\n"
            "kd.score(sys.argv[1], sys.argv[2], sys.argv[3], n_references=2, progress=False)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    p = subprocess.run([sys.executable, "-c", code, str(world["model"]), world["args"],
                        str(tmp_path / "api.h5")], capture_output=True, text=True, timeout=300,
                       env=env)
    assert p.returncode == 0, p.stderr[-800:]
    assert p.stderr.strip() == "", p.stderr[-800:]


FORWARD_DL_YAML = """type: Dataset
defined_as: dataloader.ForwardDl
args:
  intervals_file:
    doc: BED file
  fasta_file:
    doc: FASTA file
info:
  doc: kipoiseq reading every interval forward
output_schema:
  inputs:
    name: seq
    shape: (50, 4)
    special_type: DNASeq
    doc: one-hot
    associated_metadata: ranges
  metadata:
    ranges:
      type: GenomicRanges
      doc: ranges
dependencies:
  pip: []
"""
FORWARD_DL_PY = '''from kipoiseq.dataloaders import SeqIntervalDl


class ForwardDl(SeqIntervalDl):
    def __init__(self, intervals_file, fasta_file):
        super().__init__(intervals_file, fasta_file, auto_resize_len=50, use_strand=False,
                         ignore_targets=True, label_dtype=str)
'''


def test_another_dataloader_as_kipoi_predict(world, tmp_path):
    """--dataloader DIR --dataloader_source dir: Kipoi builds that dataloader (this one reads
    minus-strand intervals forward, which the file's orientation shows) instead of the
    model's default (which reverse-complements them)."""
    dl = tmp_path / "forward_dl"
    dl.mkdir()
    (dl / "dataloader.yaml").write_text(FORWARD_DL_YAML)
    (dl / "dataloader.py").write_text(FORWARD_DL_PY)
    minus = [r[5] for r in K.INTERVALS].index("-")
    runs = {}
    for name, extra in (("default", []),
                        ("forward", ["--dataloader", str(dl), "--dataloader_source", "dir"])):
        out = tmp_path / f"{name}.h5"
        status, _, err = run_cli("score", str(world["model"]), "--dataloader-args",
                                 world["args"], "-o", str(out), "--n-references", "2", *extra)
        assert status == 0, err
        with h5py.File(out) as f:
            runs[name] = list(f["metadata/orientation"].asstr()[:])
            if extra:
                assert f"--dataloader {dl} --dataloader-source dir" in f.attrs["command"]
    assert runs["default"][minus] == "reverse_complement"
    assert runs["forward"] == ["genome"] * len(K.INTERVALS)
    status, _, err = run_cli("score", str(world["model"]), "--dataloader-args", world["args"],
                             "-o", str(tmp_path / "x.h5"), "--dataloader", str(tmp_path / "no"),
                             "--dataloader-source", "dir")
    assert status == 2 and "cannot load dataloader" in err and len(err.strip().splitlines()) == 1
