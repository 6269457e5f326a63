"""The parts stay apart: reading, writing and comparing score files, references, results and
the command line's start need no TensorFlow (importing it costs seconds and a GPU probe)."""
import subprocess
import sys

import pytest

TF_FREE = ["scorefile", "writers", "derived", "merge", "compare", "report", "plots",
           "references", "result", "orientation", "genome", "resume", "zoo", "batching",
           "preflight", "errors", "cli"]


@pytest.mark.parametrize("module", TF_FREE)
def test_module_imports_without_tensorflow(module):
    code = (f"import sys, kipoi_deeplift.{module}; "
            "bad = [m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "", f"kipoi_deeplift.{module} imports {out.stdout.strip()}"
