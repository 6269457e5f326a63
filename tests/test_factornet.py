"""FactorNet: the rebuild computes the trained (Theano) model, from the original Keras 1 files,
from Kipoi's Keras 2 conversion and for the meta-feature variants; DeepLIFT on it is exact."""
import numpy as np
import pytest

import _factornet_files as FF
import kipoi_deeplift as kd
from conftest import fixture_path
from kipoi_deeplift import zoo
from kipoi_deeplift.zoo.rebuild import factornet

EGR1 = "GCGTGGGCG"        # EGR1's consensus (JASPAR MA0162); its mirror image is GCGGGTGCG


def egr1_files():
    d = fixture_path("factornet", "EGR1_onePeak_DGF")
    return d / "best_model.hdf5", d / "model.json"


def inputs(n, seed=0, motif=None, dnase=0.0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, (n, 1002))
    if motif:
        mid = 501 - len(motif) // 2
        idx[:, mid:mid + len(motif)] = ["ACGT".index(c) for c in motif]
    seq = np.concatenate([np.eye(4)[idx], np.full((n, 1002, 1), dnase)], -1).astype(np.float32)
    return seq, seq[:, ::-1, [3, 2, 1, 0, 4]].copy()      # the dataloader's seq_rc


@pytest.fixture(scope="module")
def egr1():
    return factornet.from_files(*egr1_files())


def test_rebuild_reproduces_the_theano_model_written_out_in_numpy(egr1):
    weights, _ = egr1_files()
    w = FF.keras1_weights(weights)
    seq, seq_rc = inputs(3, seed=1)
    seq[..., 4] = np.random.default_rng(2).gamma(1.0, 1.0, seq.shape[:2])
    seq_rc = seq[:, ::-1, [3, 2, 1, 0, 4]].copy()
    want = FF.factornet_numpy(w, seq, seq_rc)
    np.testing.assert_allclose(egr1.predict([seq, seq_rc], verbose=0).ravel(), want,
                               rtol=1e-5, atol=1e-6)


def test_the_model_prefers_the_egr1_motif_to_its_mirror_image(egr1):
    """Independent of any NumPy convention: the trained EGR1 model must score EGR1's own motif
    above the reversed one (no DNase signal: with it the model calls everything bound). An
    unflipped kernel (cross-correlation) gets it backwards."""
    real = egr1.predict(list(inputs(8, motif=EGR1)), verbose=0).ravel()
    mirror = egr1.predict(list(inputs(8, motif=EGR1[::-1])), verbose=0).ravel()
    assert real.mean() > 0.1 and mirror.max() < 0.01, (real, mirror)
    assert (real > mirror).all()
    conv = egr1.get_layer("convolution1d_1")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel[::-1].copy(), bias])            # Keras 3's convention, unflipped
    try:
        wrong_real = egr1.predict(list(inputs(8, motif=EGR1)), verbose=0).ravel()
        wrong_mirror = egr1.predict(list(inputs(8, motif=EGR1[::-1])), verbose=0).ravel()
    finally:
        conv.set_weights([kernel, bias])
    assert wrong_mirror.mean() > wrong_real.mean()


@pytest.mark.parametrize("legacy_merge", [True, False])
def test_kipoi_converted_keras2_files_load_and_match(tmp_path, egr1, legacy_merge):
    weights, _ = egr1_files()
    js, h5 = FF.convert_like_kipoi(weights, tmp_path / "k2", legacy_merge)
    converted = factornet.from_files(h5, js)
    seq, seq_rc = inputs(3, seed=3, motif=EGR1)
    np.testing.assert_allclose(converted.predict([seq, seq_rc], verbose=0),
                               egr1.predict([seq, seq_rc], verbose=0), rtol=1e-5, atol=1e-6)
    import tf_keras                                            # and tf_keras's own forward pass
    k2 = FF.convert_like_kipoi(weights, tmp_path / "k2b", legacy_merge=False)
    ref = tf_keras.models.model_from_json(k2[0].read_text())
    ref.load_weights(k2[1])
    np.testing.assert_allclose(ref.predict([seq, seq_rc], verbose=0),
                               egr1.predict([seq, seq_rc], verbose=0), rtol=1e-5, atol=1e-6)


def test_deeplift_on_the_rebuild_is_exact_and_finds_the_motif(egr1):
    seq, seq_rc = inputs(2, motif=EGR1)
    res = kd.DeepLift(egr1, maxpool="exact").explain({"seq": seq, "seq_rc": seq_rc},
                                                     references="zeros")
    task = res.tasks[0]
    assert res.max_convergence_error < 1e-5
    per_base = res.contrib["seq"][task][..., :4].sum(-1)
    mid = 501 - len(EGR1) // 2
    for row in per_base:
        top = np.argsort(-row)[:5]
        assert ((top >= mid - 3) & (top < mid + len(EGR1) + 3)).mean() >= 0.6, sorted(top)


@pytest.mark.parametrize("n_meta", [6, 8, 14])
def test_meta_feature_variants_are_rebuilt_and_scored(tmp_path, n_meta):
    weights, arch = egr1_files()
    js, h5, w = FF.write_meta_variant(weights, arch, tmp_path / "meta", n_meta=n_meta)
    model = factornet.from_files(h5, js)
    assert [t.name.split(":")[0] for t in model.inputs] == ["seq", "seq_rc", "meta_features"]
    seq, seq_rc = inputs(2, seed=5, motif=EGR1)
    meta = np.random.default_rng(6).normal(0, 1, (2, n_meta)).astype(np.float32)
    want = FF.factornet_numpy(w, seq, seq_rc, meta.astype(np.float64))
    np.testing.assert_allclose(model.predict([seq, seq_rc, meta], verbose=0).ravel(), want,
                               rtol=1e-5, atol=1e-6)
    x = {"seq": seq, "seq_rc": seq_rc, "meta_features": meta}
    res = kd.DeepLift(model, maxpool="exact").explain(x, references="zeros")
    task = res.tasks[0]
    assert res.max_convergence_error < 1e-5
    assert np.abs(res.contrib["meta_features"][task]).max() > 0
    # A user-given reference for the meta input (e.g. the cell type's mean) is honoured.
    refs = {"seq": np.zeros((1, 1002, 5), np.float32), "seq_rc": np.zeros((1, 1002, 5),
            np.float32), "meta_features": meta[:1]}
    res2 = kd.DeepLift(model, maxpool="exact").explain(x, references=refs)
    np.testing.assert_allclose(res2.contrib["meta_features"][task][0], 0, atol=1e-7)
    assert res2.max_convergence_error < 1e-5


def test_the_zoo_config_uses_this_rebuild():
    cfg = zoo.load_configs()["FactorNet"]
    assert zoo.function(cfg.rebuild) is factornet.from_files


FACTORNET_DATALOADER = '''
import numpy as np
import pyBigWig
import pyfaidx
from kipoi.data import Dataset
from kipoi.metadata import GenomicRanges


class SeqDataset(Dataset):
    # Kipoi's FactorNet dataloader with pyfaidx and pyBigWig in place of genomelake: ACGT
    # one-hot plus the DNase signal, the reverse complement (signal reversed) as seq_rc.
    SEQ_WIDTH = 1002

    def __init__(self, intervals_file, fasta_file, dnase_file, use_linecache=True):
        self.rows = [line.split("\\t")[:3] for line in open(intervals_file).read().splitlines()]
        self.fasta, self.dnase_file = pyfaidx.Fasta(fasta_file), dnase_file

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, idx):
        chrom, start, end = self.rows[idx][0], int(self.rows[idx][1]), int(self.rows[idx][2])
        center = (start + end) // 2
        start, end = center - self.SEQ_WIDTH // 2, center + self.SEQ_WIDTH // 2
        seq = self.fasta[chrom][start:end].seq.upper()
        onehot = np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in seq]]
        bw = pyBigWig.open(self.dnase_file)
        dnase = np.nan_to_num(np.array(bw.values(chrom, start, end), np.float32))[:, None]
        bw.close()
        x = np.concatenate([onehot, dnase], -1)
        x_rc = np.concatenate([onehot[::-1, ::-1], dnase[::-1]], -1)
        ranges = GenomicRanges(chrom, start, end, str(idx))
        ranges_rc = GenomicRanges(chrom, start, end, str(idx), "-")
        return {"inputs": [x, x_rc], "targets": {},
                "metadata": {"ranges": ranges, "ranges_rc": ranges_rc}}
'''


def test_score_runs_factornet_from_a_kipoi_model_directory(tmp_path):
    """Kipoi's own model.yaml and dataloader.yaml for EGR1 onePeak DGF, in a directory whose
    name says nothing: the FactorNet config is found from model.yaml, its rebuild loads the
    files, and `score` writes exact contributions for both strand inputs."""
    import shutil

    import h5py
    import pyBigWig
    import yaml

    weights, arch = egr1_files()
    kdir = fixture_path("factornet", "EGR1_onePeak_DGF", "kipoi")
    d = tmp_path / "some_model"
    d.mkdir()
    spec = yaml.safe_load((kdir / "model.yaml").read_text())
    spec["args"].update(weights=str(weights), arch=str(arch))
    (d / "model.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(kdir / "dataloader.yaml", d / "dataloader.yaml")
    shutil.copy(kdir / "tasks.txt", d / "tasks.txt")
    (d / "dataloader.py").write_text(FACTORNET_DATALOADER)
    rng = np.random.default_rng(7)
    genome = "".join(rng.choice(list("ACGT"), 3000))
    genome = genome[:1500] + EGR1 + genome[1500 + len(EGR1):]
    (tmp_path / "g.fa").write_text(">chr1\n" + "\n".join(genome[i:i + 60]
                                                       for i in range(0, 3000, 60)) + "\n")
    bw = pyBigWig.open(str(tmp_path / "dnase.bw"), "w")
    bw.addHeader([("chr1", 3000)])
    bw.addEntries("chr1", 0, values=[0.0] * 3000, span=1, step=1)
    bw.close()
    (tmp_path / "i.bed").write_text("chr1\t1000\t2002\nchr1\t1200\t2202\n")
    out = tmp_path / "egr1.h5"
    res = kd.score(str(d), {"intervals_file": str(tmp_path / "i.bed"),
                            "fasta_file": str(tmp_path / "g.fa"),
                            "dnase_file": str(tmp_path / "dnase.bw")}, str(out))
    assert res["sequences"] == 2 and res["max_convergence_error"] < 1e-4
    w = FF.keras1_weights(weights)
    with h5py.File(out) as f:
        assert f.attrs["zoo_config"] == "FactorNet"
        seq, seq_rc = f["inputs/seq"][:], f["inputs/seq_rc"][:]
        np.testing.assert_allclose(f["preds/EGR1"][:], FF.factornet_numpy(w, seq, seq_rc),
                                   rtol=1e-4, atol=1e-6)
        total = f["contrib/seq/EGR1"][:].sum((1, 2)) + f["contrib/seq_rc/EGR1"][:].sum((1, 2))
        np.testing.assert_allclose(total, f["delta/EGR1"][:], atol=1e-4)

    # A user-given reference per input (.npz by schema name): seq's reference is the first
    # sequence itself, so that sequence's seq contributions vanish; seq_rc keeps zeros.
    np.savez(tmp_path / "refs.npz", seq=seq[:1])
    out2 = tmp_path / "egr1_refs.h5"
    kd.score(str(d), {"intervals_file": str(tmp_path / "i.bed"),
                      "fasta_file": str(tmp_path / "g.fa"),
                      "dnase_file": str(tmp_path / "dnase.bw")}, str(out2),
             references=str(tmp_path / "refs.npz"))
    with h5py.File(out2) as f:
        np.testing.assert_allclose(f["contrib/seq/EGR1"][0], 0, atol=1e-7)
        assert np.abs(f["contrib/seq_rc/EGR1"][0]).max() > 0
        assert np.abs(f["contrib/seq/EGR1"][1]).max() > 0
        assert f.attrs["references"].endswith("refs.npz")
