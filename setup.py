"""Packaging for kipoi_deeplift (setup.py is what the project contract asks for)."""
import runpy
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = Path(__file__).parent
version = {}
exec((HERE / "kipoi_deeplift" / "_version.py").read_text(), version)


def write_plugin_hook(folder: str) -> str:
    """kipoi_deeplift-plugin.pth into ``folder`` (a wheel's root: site-packages once
    installed), so that `kipoi deeplift` works after install (see
    kipoi_deeplift/kipoi_plugin.py and the README)."""
    hook = runpy.run_path(str(HERE / "kipoi_deeplift" / "kipoi_plugin.py"))
    target = Path(folder) / hook["PTH_NAME"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(hook["pth_line"]())
    return str(target)


class build_py_with_plugin_hook(build_py):
    """Regular installs: the hook at the root of the built library."""

    def run(self):
        super().run()
        write_plugin_hook(self.build_lib)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + \
            [str(Path(self.build_lib) / "kipoi_deeplift-plugin.pth")]


class editable_wheel_with_plugin_hook(editable_wheel):
    """Editable installs (pip install -e): the hook at the root of the editable wheel."""

    def _run_build_commands(self, dist_name, unpacked_wheel, *args, **kwargs):
        # setuptools' own step (a private method, so its other arguments pass through as
        # they are); `kipoi-deeplift kipoi-plugin enable` writes the hook where this fails.
        result = super()._run_build_commands(dist_name, unpacked_wheel, *args, **kwargs)
        write_plugin_hook(unpacked_wheel)
        return result

setup(
    name="kipoi_deeplift",
    version=version["__version__"],
    description="DeepLIFT importance scores for Kipoi models on TensorFlow 2 / Keras 3",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["kipoi_deeplift", "kipoi_deeplift.*"]),
    # The zoo configs (model_zoo_configs/ at the top of the repository) are package data:
    # kipoi_deeplift/zoo/configs is a link to them in the source tree (what editable installs
    # and PYTHONPATH read), and the wheel holds copies (read with importlib.resources).
    package_data={"kipoi_deeplift.zoo": ["configs/*.yaml"]},
    python_requires=">=3.10,<3.13",
    install_requires=[
        # One TensorFlow: tf_keras requires `tensorflow`, so `tensorflow-cpu` beside it would
        # install a second copy of the same files. Linux, macOS (arm64 too) and Windows wheels.
        "tensorflow>=2.21,<2.22",
        "keras>=3.10,<4",
        "tf_keras>=2.21,<2.22",
        "numpy>=1.26,<3",
        "h5py>=3.10,<4",
        # Random references compiled (dinucleotide shuffles at memory speed, GIL released).
        "numba>=0.59,<1",
        # Score files compressed off the GIL at about 3x zlib's speed (standard deflate).
        "zlib-ng>=0.5,<2",
        "tqdm>=4.66,<5",
        "pyyaml>=6,<7",
        # Kipoi and what it needs but does not declare on this stack (see README).
        "kipoi==0.8.6",
        "kipoiseq==0.7.1",
        "kipoi-utils>=0.7.7,<0.8",
        "six>=1.16",
        "pybedtools>=0.10,<0.13",
        "pyfaidx>=0.8,<0.10",
        # `variants` reads VCFs with htslib's parser (plain or bgzipped); pybedtools needs it too.
        "pysam>=0.22,<0.26",
        "pyBigWig>=0.3.22,<0.4",
        "pandas>=2,<4",
        "scipy>=1.11,<2",
        "matplotlib>=3.8,<4",
        "logomaker>=0.8,<0.9",
        "setuptools<81",
    ],
    extras_require={
        # torch 2.13.0: the CPU build this project's machines hold (a newer one is a CUDA build
        # of several GB); it only reads the zoo's .pth state dicts in tests.
        "test": ["pytest>=8,<10", "pytest-xdist>=3.5,<4", "shap>=0.51,<0.60", "scikit-learn>=1.4,<2",
                 "pyjaspar>=4,<5", "dask[distributed]>=2024.1,<2027", "torch==2.13.0",
                 "modisco-lite>=2.2,<4"],
        # `kipoi-deeplift motifs` runs TF-MoDISco (modisco-lite) and matches patterns to JASPAR.
        "motifs": ["modisco-lite>=2.2,<4", "pyjaspar>=4,<5"],
        # Reading Kipoi's PyTorch state dicts (DeepSEA, Beluga, Basset rebuilds).
        "pytorch": ["torch>=2.0"],
        "dask": ["dask[distributed]>=2024.1,<2027"],
        # Peers of the benchmark (benchmarks/run.py): torch twins of its models.
        "bench": ["shap>=0.51,<0.60", "torch>=2.0", "tangermeme>=1.6,<2", "captum>=0.9,<1"],
        # NVIDIA GPUs on Linux: TensorFlow's CUDA libraries as pip packages (a driver is needed).
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "examples": ["pyjaspar>=4,<5", "scikit-learn>=1.4,<2"],
    },
    entry_points={"console_scripts": ["kipoi-deeplift=kipoi_deeplift.cli:console"]},
    cmdclass={"build_py": build_py_with_plugin_hook,
              "editable_wheel": editable_wheel_with_plugin_hook},
)
