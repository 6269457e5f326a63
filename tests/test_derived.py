"""Derived outputs are a registry: a new format is one function and one row, and becomes a
flag of `score` and `merge`, a keyword of score(), and a word of the recorded command."""
import json

import h5py
import numpy as np

import _kipoi_dirs as K
from kipoi_deeplift import cli
from kipoi_deeplift.io import derived
from kipoi_deeplift.io import scorefile as sf


def test_a_new_format_is_one_row(tmp_path, monkeypatch, capsys):
    def per_base_npy(h5, prefix, tasks, dna, fasta, out):
        for task in tasks:
            with open(out(f"{prefix}.{task}.npy"), "wb") as f:   # np.save would add .npy
                np.save(f, h5[sf.contrib(dna, task)][:].sum(-1))

    row = derived.Format("perbase", "write PREFIX.<task>.npy per-base sums", "{prefix}.x.npy",
                         per_base_npy)
    monkeypatch.setitem(derived.FORMATS, "perbase", row)
    fasta = K.write_genome(tmp_path)
    bed = K.write_bed(tmp_path)
    model = K.write_model_dir(tmp_path / "m")
    out = tmp_path / "o.h5"
    args = json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)})
    status = cli.main(["score", str(model), "--dataloader-args", args, "-o", str(out),
                       "--n-references", "2", "--perbase", str(tmp_path / "pb")])
    assert status == 0, capsys.readouterr().err
    assert "wrote " + str(tmp_path / "pb.CTCF.npy") in capsys.readouterr().out
    with h5py.File(out) as f:
        np.testing.assert_array_equal(np.load(tmp_path / "pb.CTCF.npy"),
                                      f["contrib/seq/CTCF"][:].sum(-1))
        assert "--perbase " + str(tmp_path / "pb") in f.attrs["command"]
