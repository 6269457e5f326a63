"""One TensorFlow from `pip install`, a GPU extra, and `--device gpu` errors that say what is
missing (checked as far as a machine without a GPU can)."""
from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest

from kipoi_deeplift.backends.tf.device import gpu_missing, gpu_probe as _gpu_probe

SETUP = (Path(__file__).resolve().parents[1] / "setup.py").read_text()


def requirement_names(section: str) -> list[str]:
    return [re.split(r"[<>=!;\[ ]", r)[0].lower() for r in re.findall(r'"([^"]+)"', section)]


def test_setup_declares_one_tensorflow_for_every_platform_and_a_gpu_extra():
    install = SETUP[SETUP.index("install_requires"):SETUP.index("extras_require")]
    names = requirement_names(install)
    assert "tensorflow" in names and "tensorflow-cpu" not in names
    line = next(r for r in re.findall(r'"([^"]+)"', install) if r.startswith("tensorflow"))
    assert ";" not in line                     # no platform marker: macOS arm64 gets it too
    extras = SETUP[SETUP.index("extras_require"):]
    assert '"gpu": ["tensorflow[and-cuda]>=2.21,<2.22"]' in extras
    for peer in ("torch", "tangermeme", "captum", "shap"):
        assert peer in extras[extras.index('"bench"'):extras.index('"gpu"')]


def test_installed_metadata_resolves_to_one_tensorflow():
    """What pip installed for this environment: tensorflow and no tensorflow-cpu (they share
    14,857 files; whichever came last would win, and removing one breaks the other)."""
    try:
        requires = md.requires("kipoi_deeplift") or []
    except md.PackageNotFoundError:
        pytest.skip("kipoi_deeplift is not installed (pip install -e .)")
    base = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("tensorflow") and "cpu" not in r for r in base), base
    assert md.version("tensorflow").startswith("2.21")
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("tensorflow-cpu")
    gpu = [r for r in requires if 'extra == "gpu"' in r]
    assert gpu and "and-cuda" in gpu[0]


@pytest.mark.parametrize("probe, says", [
    ({"built_with_cuda": False, "driver": False, "cuda_libraries": False},
     "CPU-only build"),
    ({"built_with_cuda": True, "driver": False, "cuda_libraries": False},
     "no NVIDIA driver is loaded"),
    ({"built_with_cuda": True, "driver": True, "cuda_libraries": False},
     "CUDA libraries TensorFlow loads (cuDNN, cuBLAS) are not installed"),
    ({"built_with_cuda": True, "driver": True, "cuda_libraries": True},
     "rerun with --debug"),
])
def test_gpu_messages_name_what_is_missing(probe, says):
    assert says in gpu_missing(**probe)
    if not probe["driver"] or not probe["cuda_libraries"]:
        assert "pip install -e '.[gpu]'" in gpu_missing(**probe) or \
            "driver" in gpu_missing(**probe)


def test_device_gpu_on_this_machine_says_what_it_lacks(tmp_path, capsys):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    import _kipoi_dirs as K
    from kipoi_deeplift import cli

    w = K.make_world(tmp_path)
    code = cli.main(["score", str(w["model"]), "--dataloader-args", w["args"], "-o",
                     str(tmp_path / "x.h5"), "--device", "gpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert gpu_missing(**_gpu_probe()) in err[0] and "--device cpu" in err[0]


def test_probe_without_the_nvidia_packages(monkeypatch):
    """Where no `nvidia` package is installed at all, looking for its modules must not fail."""
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name.startswith("nvidia"):
            raise ModuleNotFoundError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert _gpu_probe()["cuda_libraries"] is False
