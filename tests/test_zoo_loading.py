"""Zoo models that Kipoi loads through their own classes or custom layers, scored by name.

Each test lays out a Kipoi source as kipoi/models has the group (model.yaml with the same
``defined_as`` and arguments, the weights behind file:// URLs with their md5), holding files
written by tf_keras (the Keras 2 API the published files were written with) with random
weights; the model's own Python files raise on import, so a pass shows they were not run.
Predictions in the score file are checked against the tf_keras model run here, and every
task's contributions against its delta.
"""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest
import yaml

import kipoi_deeplift as kd

tf_keras = pytest.importorskip("tf_keras")
import tensorflow as tf  # noqa: E402

L = tf_keras.layers
UNRUNNABLE = "raise ImportError('this model file needs TensorFlow 1 / Keras 2 packages')\n"


def remote(path) -> dict:
    """A model.yaml argument Kipoi downloads (file:// URL) and checks (md5)."""
    return {"url": path.resolve().as_uri(), "md5": hashlib.md5(path.read_bytes()).hexdigest()}


def model_dir(root, name, spec: dict, py_files=("model.py",), length=200, extra=None):
    """``root/name`` with model.yaml (``spec`` plus a SeqIntervalDl and a schema) and the
    model's own Python files, which raise on import."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    for f in py_files:
        (d / f).write_text(UNRUNNABLE)
    spec = {**spec,
            "default_dataloader": {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl",
                                   "default_args": {"auto_resize_len": length,
                                                    "ignore_targets": True}},
            "info": {"authors": [{"name": "kipoi_deeplift tests"}], "doc": "test"},
            "dependencies": {"pip": []},
            "schema": {"inputs": {"name": "seq", "shape": f"({length}, 4)",
                                  "special_type": "DNASeq", "associated_metadata": "ranges"},
                       "targets": extra or {"name": "y", "shape": "(1,)"}}}
    (d / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return d


@pytest.fixture
def world(tmp_path):
    """A Kipoi source (``kd_zoo_loading``), a genome and two intervals."""
    import kipoi

    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    fasta = tmp_path / "genome.fa"
    fasta.write_text(">chr1\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, 3000, 60)))
    bed = tmp_path / "two.bed"
    bed.write_text("chr1\t1000\t1200\nchr1\t1800\t2000\n")
    root = tmp_path / "models"
    root.mkdir()
    kipoi.config.add_source("kd_zoo_loading", kipoi.sources.LocalSource(str(root)))
    return {"root": root, "files": tmp_path, "tmp": tmp_path,
            "args": {"intervals_file": str(bed), "fasta_file": str(fasta)}}


def score(world, name, **kw):
    out = world["tmp"] / (name.replace("/", "_") + ".h5")
    res = kd.score(name, world["args"], str(out), source="kd_zoo_loading", n_references=3,
                   **kw)
    assert res["sequences"] == 2
    return out


def check_sums(f, tasks):
    for task in tasks:
        key = task.replace("/", "_")
        np.testing.assert_allclose(f[f"contrib/seq/{key}"][:].sum((1, 2)), f[f"delta/{key}"][:],
                                   rtol=1e-4, atol=1e-4)


def seeded(model, seed):
    """Random weights and biases (biases are zero at initialisation); batch norms' moving
    variances positive."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = [rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()]
        if isinstance(layer, L.BatchNormalization):
            ws[-1] = np.abs(ws[-1]) + 0.5
        layer.set_weights(ws)
    return model


# -- BPNet (BPNet_Dmel_OreR_2to3hr_ZDTBCG, BPNet-OSKN): model.BPNetOldSeqModel ----------------
def bpnet_tf_keras(length, tfs, bias=False):
    """The old bpnet package's layout: dilated residual convolutions, per TF a profile head
    (L, 2) and a count head (2,); with ``bias``, per TF a profile and a count bias input joined
    to its head, as BPNet-OSKN's file has."""
    seq = L.Input((length, 4), name="seq")
    h = L.Conv1D(8, 9, padding="same", activation="relu")(seq)
    for j in (1, 2):
        h = L.add([h, L.Conv1D(8, 3, padding="same", dilation_rate=2 ** j,
                               activation="relu")(h)])
    inputs, outs = [seq], []
    for t in tfs:
        p = L.Conv1D(2, 9, padding="same")(h)
        c = L.Dense(2)(L.GlobalAveragePooling1D()(h))
        if bias:
            bp = L.Input((length, 2), name=f"bias/{t}/profile")
            bc = L.Input((2,), name=f"bias/{t}/counts")
            inputs += [bp, bc]
            p = L.Conv1D(2, 1)(L.concatenate([p, bp]))
            c = L.Dense(2)(L.concatenate([c, bc]))
        outs += [p, c]
    return seeded(tf_keras.Model(inputs, outs), 3)


@pytest.mark.parametrize("name, tfs, bias", [
    ("BPNet_Dmel_OreR_2to3hr_ZDTBCG", ("Bcd", "Cad", "Dl", "GAF", "Twi", "Zld"), False),
    ("BPNet-OSKN", ("Oct4", "Sox2", "Nanog", "Klf4"), True)])
def test_bpnet_scores_through_its_kipoi_class(world, name, tfs, bias):
    """model.BPNetOldSeqModel is replaced by a reader of model_file; profile heads are scored
    by BPNet's objective (softmax-weighted logits), count heads per strand; the config names
    the outputs; OSKN's bias inputs are fed zeros inside the model."""
    model = bpnet_tf_keras(200, tfs, bias)
    h5 = world["files"] / f"{name}.h5"
    model.save(h5)
    model_dir(world["root"], name, {"defined_as": "model.BPNetOldSeqModel",
                                    "args": {"model_file": remote(h5)}},
              extra={t: {"shape": "(200, 2)"} for t in tfs})
    out = score(world, name)
    tasks = [n for t in tfs for n in (f"{t}/profile", f"{t}/counts_0", f"{t}/counts_1")]
    with h5py.File(out) as f:
        assert json.loads(f.attrs["tasks"]) == tasks
        assert f.attrs["zoo_config"] == ("BPNet-Dmel" if "Dmel" in name else "BPNet-OSKN")
        x = f["inputs/seq"][:]
        feeds = [x] + [np.zeros((len(x),) + tuple(t.shape[1:]), "float32")
                       for t in model.inputs[1:]]
        preds = model.predict(feeds, verbose=0)
        for i, t in enumerate(tfs):
            z = preds[2 * i]
            w = np.exp(z - z.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            np.testing.assert_allclose(f[f"preds/{t}_profile"][:], (w * z).sum((1, 2)),
                                       rtol=1e-4, atol=1e-4)
            for s in (0, 1):
                np.testing.assert_allclose(f[f"preds/{t}_counts_{s}"][:], preds[2 * i + 1][:, s],
                                           rtol=1e-4, atol=1e-5)
        check_sums(f, tasks)


def test_zero_bias_inputs_feed_exact_zeros_and_keep_a_model_without_them():
    from kipoi_deeplift.zoo.rebuild import bpnet

    plain = bpnet_tf_keras(50, ("A",))
    assert bpnet.zero_bias_inputs(plain) is plain
    model = bpnet_tf_keras(50, ("A", "B"), bias=True)
    seq_only = bpnet.zero_bias_inputs(model)
    assert len(seq_only.inputs) == 1
    x = np.eye(4, dtype="float32")[np.random.default_rng(1).integers(0, 4, (3, 50))]
    zeros = [np.zeros((3,) + tuple(t.shape[1:]), "float32") for t in model.inputs[1:]]
    for a, b in zip(seq_only.predict(x, verbose=0), model.predict([x] + zeros, verbose=0)):
        np.testing.assert_array_equal(a, b)


# -- TREDNet: model.PhaseOneModel and model.PhaseTwoModel -------------------------------------
def test_trednet_phase_two_is_scored_from_dna_through_phase_one(world):
    """Phase one (JSON + weights) and phase two (full HDF5) in TREDNet/phase_one and
    TREDNet/phase_two_islet as the zoo has them: phase two's score equals
    phase_two(phase_one(x)[..., None]) and is explained in bases."""
    length, features = 200, 8
    i = L.Input((length, 4))
    h = L.MaxPooling1D(4)(L.Conv1D(6, 8, activation="relu")(i))
    one = seeded(tf_keras.Model(i, L.Dense(features, activation="sigmoid")(
        L.Dense(10, activation="relu")(L.Flatten()(h)))), 4)
    j = L.Input((features, 1))
    two = seeded(tf_keras.Model(j, L.Dense(1, activation="sigmoid")(
        L.Flatten()(L.Conv1D(3, 3, activation="relu")(j)))), 5)
    files = world["files"]
    (files / "p1.json").write_text(one.to_json())
    one.save_weights(files / "p1.h5")
    two.save(files / "p2.h5")
    model_dir(world["root"], "TREDNet/phase_one",
              {"defined_as": "model.PhaseOneModel",
               "args": {"weights": remote(files / "p1.h5"), "arch": remote(files / "p1.json")}},
              length=length, extra={"name": "features", "shape": f"({features},)"})
    model_dir(world["root"], "TREDNet/phase_two_islet",
              {"defined_as": "model.PhaseTwoModel", "args": {"weights": remote(files / "p2.h5")}},
              length=length)
    out = score(world, "TREDNet/phase_two_islet")
    with h5py.File(out) as f:
        assert f.attrs["zoo_config"] == "TREDNet"
        x = f["inputs/seq"][:]
        p = two.predict(one.predict(x, verbose=0)[..., None], verbose=0)[:, 0]
        np.testing.assert_allclose(f["preds/y"][:], np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
        check_sums(f, ["y"])
    out = score(world, "TREDNet/phase_one", tasks="0,7")
    with h5py.File(out) as f:
        p = one.predict(f["inputs/seq"][:], verbose=0)
        np.testing.assert_allclose(f["preds/0"][:], np.log(p[:, 0] / (1 - p[:, 0])), atol=1e-4)
        check_sums(f, ["0", "7"])


def test_trednet_phase_two_without_phase_one_says_what_is_missing(world):
    from kipoi_deeplift.errors import UserError

    j = L.Input((8, 1))
    two = tf_keras.Model(j, L.Dense(1)(L.Flatten()(j)))
    two.save(world["files"] / "p2.h5")
    model_dir(world["root"], "TREDNet/phase_two_K562",
              {"defined_as": "model.PhaseTwoModel",
               "args": {"weights": remote(world["files"] / "p2.h5")}})
    with pytest.raises(UserError, match="needs phase one at .*phase_one"):
        score(world, "TREDNet/phase_two_K562")


# -- DeepLiver: tf_keras_model.tfKerasModel ---------------------------------------------------
def test_deepliver_scores_through_its_kipoi_class(world):
    """DeepLiver's own copy of Kipoi's Keras class (tf_keras_model.tfKerasModel, arch JSON +
    weights) read by this package; one sequence input, as its dataloader gives."""
    i = L.Input((200, 4))
    h = L.MaxPooling1D(10)(L.Conv1D(6, 12, activation="relu")(i))
    h = L.Bidirectional(L.LSTM(4))(h)
    model = seeded(tf_keras.Model(i, L.Dense(5, activation="sigmoid")(h)), 6)
    files = world["files"]
    (files / "dl.json").write_text(model.to_json())
    model.save_weights(files / "dl.hdf5")
    model_dir(world["root"], "DeepLiver/DeepLiver_Accessibility",
              {"defined_as": "tf_keras_model.tfKerasModel",
               "args": {"arch": remote(files / "dl.json"), "weights": remote(files / "dl.hdf5")}},
              py_files=("tf_keras_model.py",), extra={"name": "topic", "shape": "(5,)"})
    out = score(world, "DeepLiver/DeepLiver_Accessibility")
    with h5py.File(out) as f:
        assert f.attrs["zoo_config"] == "DeepLiver"
        p = model.predict(f["inputs/seq"][:], verbose=0)
        for u in range(5):
            np.testing.assert_allclose(f[f"preds/{u}"][:], np.log(p[:, u] / (1 - p[:, u])),
                                       rtol=1e-4, atol=1e-4)
        check_sums(f, [str(u) for u in range(5)])


# -- scBasset: a tf.keras 2.8 JSON with custom layers -----------------------------------------
SCBASSET_OBJECTS = '''
import tensorflow as tf


class GELU(tf.keras.layers.Layer):
    def call(self, x):
        return tf.keras.activations.sigmoid(tf.constant(1.702) * x) * x


class StochasticReverseComplement(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__()

    def call(self, seq_1hot, training=None):
        return seq_1hot, tf.constant(False)


class StochasticShift(tf.keras.layers.Layer):
    def __init__(self, shift_max=0, pad="uniform", **kwargs):
        super().__init__()
        self.shift_max, self.pad = shift_max, pad

    def call(self, seq_1hot, training=None):
        return seq_1hot


class SwitchReverse(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__()

    def call(self, x_reverse):
        x, reverse = x_reverse
        return tf.keras.backend.switch(reverse, tf.reverse(x, axis=[1]), x)


OBJECTS = {"GELU": GELU, "StochasticReverseComplement": StochasticReverseComplement,
           "StochasticShift": StochasticShift, "SwitchReverse": SwitchReverse}
'''


def scbasset_tf_keras(length, cells):
    """scBasset's layout (model.json) in tf_keras, with tf_keras layers of its custom names
    (as TensorFlow 2.8 wrote the file)."""
    class GELU(L.Layer):
        def call(self, x):
            return tf.sigmoid(1.702 * x) * x

    class StochasticReverseComplement(L.Layer):
        def call(self, x, training=None):
            return x, tf.constant(False)

    class StochasticShift(L.Layer):
        def __init__(self, shift_max=0, pad="uniform", **kwargs):
            super().__init__(**kwargs)
            self.shift_max, self.pad = shift_max, pad

        def call(self, x, training=None):
            return x

        def get_config(self):
            return {**super().get_config(), "shift_max": self.shift_max, "pad": self.pad}

    class SwitchReverse(L.Layer):
        def call(self, xr):
            return tf_keras.backend.switch(xr[1], tf.reverse(xr[0], axis=[1]), xr[0])

    i = L.Input((length, 4), name="sequence")
    seq, flag = StochasticReverseComplement()(i)
    h = StochasticShift(3)(seq)
    for filters, width, pool in ((8, 9, 3), (8, 5, 2), (10, 5, 2)):
        h = L.BatchNormalization()(L.Conv1D(filters, width, padding="same",
                                            use_bias=False)(GELU()(h)))
        h = L.MaxPool1D(pool, padding="same")(h)
    h = L.Reshape((1, h.shape[1] * h.shape[2]))(GELU()(h))
    h = L.BatchNormalization()(L.Dense(6, use_bias=False)(h))
    h = L.Dense(cells, activation="sigmoid")(GELU()(h))
    return seeded(tf_keras.Model(i, L.Flatten()(SwitchReverse()([h, flag]))), 7)


def tf28_json(model) -> str:
    """The JSON as tf.keras 2.8 wrote it: no ``module``, ``registered_name`` or
    ``build_config`` keys (added in Keras 2.13)."""
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()
                    if k not in ("module", "registered_name", "build_config")}
        return [strip(v) for v in o] if isinstance(o, list) else o

    cfg = strip(json.loads(model.to_json()))
    cfg["keras_version"] = "2.8.0"
    return json.dumps(cfg)


def test_scbasset_legacy_json_reads_with_its_own_custom_objects(world):
    model = scbasset_tf_keras(160, 4)
    files = world["files"]
    d = model_dir(world["root"], "scbasset", {}, py_files=(), length=160,
                  extra={"name": "reads", "shape": "(4,)"})
    (d / "model.json").write_text(tf28_json(model))
    (d / "custom_objects.py").write_text(SCBASSET_OBJECTS)
    model.save_weights(files / "sc.h5")
    spec = yaml.safe_load((d / "model.yaml").read_text())
    spec.update(type="keras", args={"arch": "model.json", "weights": remote(files / "sc.h5"),
                                    "custom_objects": "custom_objects.py"})
    (d / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    out = score(world, "scbasset")
    with h5py.File(out) as f:
        assert f.attrs["zoo_config"] == "scBasset"
        p = model.predict(f["inputs/seq"][:], verbose=0)
        for u in range(4):
            np.testing.assert_allclose(f[f"preds/{u}"][:], p[:, u], rtol=1e-4, atol=1e-5)
        check_sums(f, [str(u) for u in range(4)])
