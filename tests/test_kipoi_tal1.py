"""The Kipoi tal1 example model (Keras 2 JSON + weights, loaded with tf_keras)."""
import h5py
import numpy as np
import tf_keras

from conftest import fixture_path
import kipoi_deeplift as kd


def load_tal1():
    d = fixture_path("kipoi_tal1_model")
    model = tf_keras.models.model_from_json((d / "model_files" / "arch.json").read_text())
    model.load_weights(str(d / "model_files" / "weights.hdf5"))
    with h5py.File(d / "example_files" / "grads.hdf5", "r") as f:
        return model, f["inputs"][:], f["grads"][:]


def test_grad_input_with_zero_reference_matches_kipoi_gradients():
    model, x, grads = load_tal1()
    dl = kd.DeepLift(model, rule="grad-input")
    # The scored output is dense_1, the logit before the final sigmoid, as kipoi-interpret did.
    assert dl.task_names == ["activation_1"]
    res = dl.explain(x, references="zeros")
    got = res.contrib[dl.input_names[0]]["activation_1"]
    np.testing.assert_allclose(got, grads * x, atol=1e-5 * np.abs(grads).max())
    sal = kd.DeepLift(model, rule="gradient").explain(x, references="zeros")
    np.testing.assert_allclose(sal.contrib[dl.input_names[0]]["activation_1"], grads,
                               atol=1e-5 * np.abs(grads).max())


def test_rescale_on_tal1_scores_the_logit():
    model, x, _ = load_tal1()
    dl = kd.DeepLift(model)
    res = dl.explain(x[:4], references="zeros")
    logit_model = tf_keras.Model(model.inputs, model.get_layer("dense_1").output)
    np.testing.assert_allclose(res.preds["activation_1"], logit_model.predict(x[:4], verbose=0)[:, 0],
                               rtol=1e-5, atol=1e-5)
