"""Kipoi's PyTorch DNA models rebuilt in Keras 3: each architecture is built in torch from the
zoo's own module file (../shared/fixtures/kipoi_pytorch) with random weights, its state dict
saved as the published .pth would be, rebuilt here, and required to predict what torch
predicts; DeepLIFT on the rebuild meets summation-to-delta.

Memory (one test process stays under 4 GB): Beluga's weights are 570 MB and TensorFlow's
oneDNN allocator keeps the memory it has freed for itself (its high-water mark stays), so

* no test holds a torch network beside the Keras rebuild it is compared with: the network
  gives its predictions, its state dict is saved, and it is gone before the rebuild is built
  (or, in the zoo-names test, is built after the scoring, from the saved file);
* after each test (and each model of the zoo-names test) the custom gradients that the
  DeepLIFT passes registered are forgotten: TensorFlow keeps every ``tf.custom_gradient``
  traced in a ``tf.function`` in a global registry, and through it the traced graph and every
  weight of the model (tensorflow/tensorflow#27492, #97697), so each model explained would
  otherwise stay in memory until the process ends.
"""
import gc
import importlib.util
import json
import sys

import numpy as np
import pytest

from conftest import fixture_path

torch = pytest.importorskip("torch", reason="torch is not installed (pip install "
                                            "'kipoi_deeplift[pytorch]')")

import kipoi_deeplift as kd  # noqa: E402
from kipoi_deeplift.zoo.rebuild import torch_zoo  # noqa: E402


def zoo_module(*parts):
    """Import one of the zoo's module files as Kipoi would.

    DeepSEA's and Basset's files build their networks when imported (for Kipoi to pick up):
    that is done on torch's meta device, where they hold no weights (DeepSEA's two would be
    400 MB for as long as the module stays in ``sys.modules``). The tests build their own
    networks by calling the module's functions, outside it."""
    path = fixture_path("kipoi_pytorch", *parts)
    name = "zoo_" + "_".join(p.replace(".py", "") for p in parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with torch.device("meta"):
        spec.loader.exec_module(module)
    return module


def randomise(net, seed):
    """Random weights everywhere, batch norms with random running statistics, eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return net.eval()


def one_hot(n, length, seed, layout):
    """(n, 4, 1, L) or (n, 4, L, 1) one-hot in ACGT order, and the same as (n, L, 4)."""
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]       # (n, L, 4)
    t = x.transpose(0, 2, 1)
    return (t[:, :, None, :] if layout == "4,1,L" else t[:, :, :, None]), x


def torch_predict(net, x_torch_layout) -> np.ndarray:
    """``net``'s forward pass (eval mode, no autograd) on ``x_torch_layout``."""
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x_torch_layout))).numpy()


def saved(net, path, x_torch_layout) -> np.ndarray:
    """Save ``net``'s state dict at ``path`` as the published .pth is; torch's predictions on
    ``x_torch_layout``. The caller drops ``net`` afterwards (see the module docstring)."""
    torch.save(net.state_dict(), path)
    return torch_predict(net, x_torch_layout)


#: TensorFlow's custom-gradient registrations present when the running test began.
_KEPT_GRADIENTS: set = set()


def _gradient_registry() -> dict:
    """TensorFlow's global gradient registry (name -> entry), or {} where TensorFlow is not
    imported or keeps it elsewhere (then nothing is forgotten: only memory is at stake)."""
    ops = sys.modules.get("tensorflow.python.framework.ops")
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else {}


def release():
    """Let go of what a dropped network or model left: the custom gradients registered since
    the test began (they pin the traced graph and the model's weights, see the module
    docstring; the graphs that used them are never differentiated again), then reference
    cycles; the next model reuses the memory."""
    registry = _gradient_registry()
    for name in [k for k in registry if k.startswith("CustomGradient-")
                 and k not in _KEPT_GRADIENTS]:
        del registry[name]
    gc.collect()


@pytest.fixture(autouse=True)
def released_after_each_test():
    """Each test's models are let go of when it ends (see :func:`release`); registrations
    made before it (by other test files in the same process) are left as they are."""
    _KEPT_GRADIENTS.clear()
    _KEPT_GRADIENTS.update(_gradient_registry())
    yield
    release()


def load_torch(make, path):
    """The zoo's network ``make()`` with the state dict saved at ``path`` (every parameter and
    batch-norm statistic, ``strict``): built on torch's meta device (no weights of its own)
    and given the file's tensors, memory-mapped, so it holds Beluga's 570 MB once, not a
    random initialisation beside a copy of the file."""
    with torch.device("meta"):
        net = make()
    net.load_state_dict(torch.load(path, weights_only=True, mmap=True), strict=True,
                        assign=True)
    return net.eval()


def check(model_keras, want, x, tol=1e-5):
    """The rebuild predicts on ``x`` (its own input layout) what torch predicted (``want``)."""
    got = model_keras.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=tol, rtol=0)
    return want


def sums_to_delta(model_keras, x_torch_layout, x_lc, tasks):
    """DeepLIFT (exact max pooling) on the rebuild: summation-to-delta for a few tasks, with
    dinucleotide-shuffled references given in the model's own layout."""
    refs = kd.dinuc_shuffle(x_lc, 3, seed=0)                       # (n, 3, L, 4)
    refs = refs.transpose(0, 1, 3, 2)
    refs = refs[:, :, :, None, :] if x_torch_layout.shape[2] == 1 else refs[..., None]
    res = kd.DeepLift(model_keras, rule="genomics-default", maxpool="exact").explain(
        x_torch_layout, references=refs.astype(np.float32), tasks=tasks)
    assert res.max_relative_error < 1e-3, res.max_relative_error
    return res


def test_deepsea_variant_effects_and_predict(tmp_path):
    arch = zoo_module("DeepSEA", "model_architecture.py")
    x, x_lc = one_hot(3, 1000, 0, "4,1,L")
    for variant, make in (("variantEffects", arch.get_model),
                          ("predict", arch.get_seqpred_model)):
        path = tmp_path / f"deepsea_{variant}.pth"
        want = saved(randomise(make(load_weights=False), 1), path, x)
        release()
        model = torch_zoo.deepsea(str(path), variant)
        check(model, want, x)
        assert want.shape == (3, 919)
        sums_to_delta(model, x, x_lc, [0, 5, 918])
        del model
        release()


def test_deepsea_threshold_is_not_relu(tmp_path):
    """nn.Threshold(0, 1e-6) gives 1e-6 below zero: a rebuild with ReLU would differ. Here
    every unit is pushed below zero, where the two differ most."""
    arch = zoo_module("DeepSEA", "model_architecture.py")
    net = randomise(arch.get_model(load_weights=False), 2)
    with torch.no_grad():
        net[1][0].bias.fill_(-100.0)          # conv1 below zero everywhere: 1e-6 passes on
    path = tmp_path / "thr.pth"
    x, _ = one_hot(2, 1000, 3, "4,1,L")
    want = saved(net, path, x)
    del net
    release()
    model = torch_zoo.deepsea(str(path))
    check(model, want, x, tol=1e-6)
    thr = model.get_layer("thr1")(np.full((1, 2, 3), -5.0, np.float32))
    np.testing.assert_allclose(np.asarray(thr), 1e-6)


def test_beluga_reads_acgt(tmp_path):
    """Beluga's dataloader encodes AGCT: torch gets AGCT, the rebuild ACGT, same predictions."""
    mod = zoo_module("DeepSEA", "beluga", "model.py")
    path = tmp_path / "beluga.pth"
    x, x_lc = one_hot(2, 2000, 5, "4,1,L")
    want = saved(randomise(mod.Beluga(), 4), path, x[:, [0, 2, 1, 3]])   # torch reads AGCT
    release()
    model = torch_zoo.beluga(str(path))
    check(model, want, x)                                                 # the rebuild ACGT
    assert want.shape == (2, 2002)
    sums_to_delta(model, x, x_lc, [0, 2001])


def test_basset_with_batch_norms(tmp_path):
    mod = zoo_module("Basset", "pretrained_model_reloaded_th.py")
    path = tmp_path / "basset.pth"
    x, x_lc = one_hot(3, 600, 7, "4,L,1")
    want = saved(randomise(mod.get_model(load_weights=False), 6), path, x)
    release()
    model = torch_zoo.basset(str(path))
    check(model, want, x)
    assert want.shape == (3, 164)
    sums_to_delta(model, x, x_lc, [0, 163])


def test_a_state_dict_of_another_model_is_refused(tmp_path):
    mod = zoo_module("Basset", "pretrained_model_reloaded_th.py")
    path = tmp_path / "basset.pth"
    torch.save(mod.get_model(load_weights=False).state_dict(), path)
    with pytest.raises(kd.UserError, match="not this model's state dict"):
        torch_zoo.deepsea(str(path))


def write_fasta(path, length=6000, seed=0):
    rng = np.random.default_rng(seed)
    seq = "".join(rng.choice(list("ACGT"), length))
    path.write_text(">chr1\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, length, 60)))
    return path


def kipoi_source(tmp_path, weights):
    """A Kipoi source laid out like kipoi/models (DeepSEA/, Basset/: the zoo's model.yaml and
    module files), each model.yaml's weights URL pointing at a state dict made here (with its
    md5), so Kipoi's own code resolves, downloads and checks it."""
    import hashlib
    import shutil

    import kipoi
    import yaml

    root = tmp_path / "models"
    shutil.copytree(fixture_path("kipoi_pytorch"), root)
    for name, pth in weights.items():
        spec_path = root / name / "model.yaml"
        spec = yaml.safe_load(spec_path.read_text())
        spec["args"]["weights"] = {"url": pth.resolve().as_uri(),
                                   "md5": hashlib.md5(pth.read_bytes()).hexdigest()}
        spec.pop("test", None)
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    kipoi.config.add_source("kd_torch", kipoi.sources.LocalSource(str(root)))
    return "kd_torch"


def test_zoo_names_score_through_a_kipoi_source(tmp_path):
    """`score DeepSEA/variantEffects`, `DeepSEA/predict`, `DeepSEA/beluga` and `Basset` by
    name: Kipoi resolves the model, downloads the state dict, builds the default dataloader;
    the config rebuilds the network; predictions equal torch's on the stored inputs."""
    import h5py

    arch = zoo_module("DeepSEA", "model_architecture.py")
    # The torch networks, made one at a time (with random weights) and, in the loop below,
    # again from the state dicts they saved, so that one is held at a time.
    nets = {"DeepSEA/variantEffects": lambda: arch.get_model(load_weights=False),
            "DeepSEA/predict": lambda: arch.get_seqpred_model(load_weights=False),
            "DeepSEA/beluga": lambda: zoo_module("DeepSEA", "beluga", "model.py").Beluga(),
            "Basset": lambda: zoo_module("Basset", "pretrained_model_reloaded_th.py")
            .get_model(load_weights=False)}
    weights = {}
    for seed, (name, make) in enumerate(nets.items(), 11):
        weights[name] = tmp_path / (name.replace("/", "_") + ".pth")
        torch.save(randomise(make(), seed).state_dict(), weights[name])
        release()
    source = kipoi_source(tmp_path, weights)
    fasta = write_fasta(tmp_path / "genome.fa")
    bed = tmp_path / "two.bed"
    bed.write_text("chr1\t2500\t2600\nchr1\t3000\t3100\n")
    args = {"intervals_file": str(bed), "fasta_file": str(fasta)}
    for name, make in nets.items():
        out = tmp_path / (name.replace("/", "_") + ".h5")
        # DeepSEA names K562/CTCF several times (the later ones get #2, #3): a regex takes all
        tasks = "^K562_CTCF_None" if name.startswith("DeepSEA") else "0,163"
        res = kd.score(name, args, str(out), source=source, n_references=2, tasks=tasks)
        release()      # the scored Keras model, before the torch network is built
        with h5py.File(out) as f:
            assert f.attrs["zoo_config"] == {"DeepSEA/variantEffects": "DeepSEA-variantEffects",
                                             "DeepSEA/predict": "DeepSEA-predict",
                                             "DeepSEA/beluga": "DeepSEA-Beluga",
                                             "Basset": "Basset"}[name]
            assert f.attrs["maxpool"] == "exact"
            chosen = json.loads(f.attrs["tasks"])
            if name.startswith("DeepSEA"):     # a regex over the schema's names
                assert chosen[:2] == ["K562_CTCF_None", "K562_CTCF_None#2"], chosen
            x = f["inputs/seq"][:]                                  # (N, L, 4), ACGT
            t = x.transpose(0, 2, 1)
            if name == "DeepSEA/beluga":
                t = t[:, [0, 2, 1, 3]]      # torch reads the AGCT its dataloader would give
            t = t[:, :, None, :] if name != "Basset" else t[:, :, :, None]
            net = load_torch(make, weights[name])   # the weights Kipoi downloaded, scored
            probs = torch_predict(net, t)
            del net
            release()
            names = task_names(name)
            for task in chosen:
                p = probs[:, names.index(task)]
                got = f[f"preds/{task.replace('/', '_')}"][:]
                want = p if name == "DeepSEA/predict" else np.log(p / (1 - p))   # logits
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
                c = f[f"contrib/seq/{task.replace('/', '_')}"][:].sum((1, 2))
                np.testing.assert_allclose(c, f[f"delta/{task.replace('/', '_')}"][:],
                                           atol=1e-3)
        assert res["sequences"] == 2


def task_names(name):
    folder = fixture_path("kipoi_pytorch", "Basset" if name == "Basset" else "DeepSEA")
    if name == "DeepSEA/beluga":
        folder = folder / "beluga"
    path = folder / ("target_labels.txt" if name == "Basset" else "predictor_names.txt")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    seen = {}
    for i, n in enumerate(names):        # a repeated name is a task of its own: X#2
        seen[n] = seen.get(n, 0) + 1
        names[i] = n if seen[n] == 1 else f"{n}#{seen[n]}"
    return names


@pytest.mark.parametrize("kind, message", [
    ({"type": "tensorflow"}, "is a TensorFlow 1 graph (type: tensorflow)"),
    ({"defined_as": "model.LsgkmSvm", "doc": "gapped k-mer SVM (lsgkm)"},
     "GkmExplain (Shrikumar et al. 2019) is the analogous method"),
    ({"type": "pytorch"}, "is a PyTorch model with no Keras rebuild")])
def test_models_deeplift_does_not_apply_to_are_refused_by_kind(tmp_path, kind, message):
    import yaml

    import _kipoi_dirs as K
    from _cli import run_cli

    d = K.write_model_dir(tmp_path / "model")
    spec = yaml.safe_load((d / "model.yaml").read_text())
    spec.pop("type")
    if "type" in kind:
        spec["type"] = kind["type"]
    else:
        spec["defined_as"] = kind["defined_as"]
        spec["info"]["doc"] = kind["doc"]
    (d / "model.yaml").write_text(yaml.safe_dump(spec))
    status, _, err = run_cli("score", str(d), "--dataloader-args", "{}", "-o",
                             str(tmp_path / "x.h5"), "--zoo-config", "none")
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
