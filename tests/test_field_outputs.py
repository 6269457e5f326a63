"""Score files as the field's tools read them: /contrib on the observed base, the file's
conventions in its attributes, and TF-MoDISco's command working on the files written."""
from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import _kipoi_dirs as K
import _models as M
import kipoi_deeplift as kd
from kipoi_deeplift.io import scorefile as sf


def odd_length_model(length=51):
    """An odd input length, as DeepBind (101), MPRA-DragoNN (145) and DeepSTARR (249) have."""
    import keras

    L = keras.layers
    i = keras.Input((length, 4), name="seq")
    h = L.Flatten()(L.Conv1D(4, 5, activation="relu")(i))
    return M.randomise(keras.Model(i, L.Dense(2, activation="sigmoid", name="out")(h)), 5, 0.4)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The standard test world scored with per-channel contributions and an N in one
    sequence (genome position chr1:20 set to N; all-zero rows come from a second run)."""
    d = tmp_path_factory.mktemp("projected")
    w = K.make_world(d)
    text = w["fasta"].read_text().splitlines()
    text[1] = text[1][:20] + "N" + text[1][21:]
    w["fasta"].write_text("\n".join(text) + "\n")
    out = d / "scores.h5"
    kd.score(str(w["model"]), {"intervals_file": str(w["bed"]), "fasta_file": str(w["fasta"])},
             str(out), n_references=3, per_channel=True, hypothetical=True)
    return out


def test_contrib_is_on_the_observed_base_and_sums_to_delta(scored):
    with h5py.File(scored) as f:
        x = f["inputs/seq"][:]
        for task in ("CTCF", "GATA1"):
            c = f[f"contrib/seq/{task}"][:]
            per = f[f"contrib_per_channel/seq/{task}"][:]
            # Per channel, mass sits on bases not in the sequence; projected, none does.
            one_base = x.max(-1) == 1
            assert np.abs(per[one_base] * (1 - x[one_base])).sum() > 0
            assert np.all(c[one_base] * (1 - x[one_base]) == 0)
            # Each position keeps its total, so summation-to-delta holds from the file.
            np.testing.assert_allclose(c.sum(-1), per.sum(-1), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(c.sum((1, 2)), f[f"delta/{task}"][:], rtol=1e-4,
                                       atol=1e-5)
            # The N (0.25 in each channel) shares its total equally.
            n_rows = np.isclose(x, 0.25).all(-1)
            assert n_rows.any()
            np.testing.assert_allclose(c[n_rows], per[n_rows].sum(-1, keepdims=True) / 4 *
                                       np.ones(4), rtol=1e-5, atol=1e-7)


def test_the_file_states_its_conventions(scored):
    with h5py.File(scored) as f:
        attrs = dict(f.attrs)
    assert attrs["alphabet"] == "ACGT"
    assert "(sequence, position, base" in attrs["axes"]
    assert attrs["contrib_form"].startswith("projected")
    assert "0-based, half-open" in attrs["coordinates"]
    assert "/metadata/orientation" in attrs["sequence_orientation"]
    assert attrs["per_channel"] == 1 and "--per-channel" in attrs["command"]


def test_project_keeps_all_zero_rows_per_channel():
    per = np.arange(12, dtype=np.float32).reshape(1, 3, 4) - 5
    x = np.array([[[0, 1, 0, 0], [0, 0, 0, 0], [0.25] * 4]], np.float32)
    got = sf.project(per, x)
    np.testing.assert_array_equal(got[0, 0], [0, per[0, 0].sum(), 0, 0])
    np.testing.assert_array_equal(got[0, 1], per[0, 1])
    np.testing.assert_allclose(got[0, 2], [per[0, 2].sum() / 4] * 4)
    assert np.isclose(got.sum(), per.sum())


def modisco_executable() -> str | None:
    here = Path(sys.executable).parent / "modisco"
    return str(here) if here.exists() else shutil.which("modisco")


def test_the_printed_modisco_command_runs_on_an_odd_length_file(tmp_path):
    """`--modisco` prints the `modisco motifs` command for the file written; run as printed
    (with -n, and -w that fits an odd length) modisco-lite accepts it."""
    exe = modisco_executable()
    if exe is None:
        pytest.skip("modisco-lite is not installed (pip install -e '.[motifs]')")
    fasta = K.write_genome(tmp_path)
    rows = [("chr1", s, s + 51, f"r{s}", 0, "+") for s in range(0, 540, 27)]
    bed = K.write_bed(tmp_path, rows)
    mdir = K.write_model_dir(tmp_path / "model", model=odd_length_model(),
                             dataloader_args={"auto_resize_len": 51}, shape=(51, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kd.score(str(mdir), {"intervals_file": str(bed), "fasta_file": str(fasta)},
                 str(tmp_path / "s.h5"), n_references=2, tasks="CTCF",
                 modisco=str(tmp_path / "m"))
    notes = [str(w.message) for w in caught if "modisco motifs" in str(w.message)]
    assert len(notes) == 1, [str(w.message) for w in caught]
    command = notes[0].split(": ", 1)[1]
    assert " -n 2000 " in command and " -w 50 " in command and " -z 10 " in command, command
    import shlex

    words = shlex.split(command)
    done = subprocess.run([exe] + words[1:], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "m.modisco.h5").exists()
