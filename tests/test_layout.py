"""The parts stay apart: reading, writing and comparing score files, references, results and
the command line's start need no TensorFlow (importing it costs seconds and a GPU probe)."""
import subprocess
import sys

import pytest

TF_FREE = ["io", "io.scorefile", "io.writers", "io.derived", "io.merge", "io.orientation",
           "io.genome", "io.resume", "analysis.compare", "analysis.report", "analysis.plots",
           "core", "core.engine", "core.backend", "core.methods", "core.references",
           "core.result", "core.batching", "kipoi.zoo", "kipoi.preflight", "kipoi.options",
           "io.tables", "errors", "cli", "kipoi_plugin"]


def test_the_parts_are_folders():
    """The layout shows the parts: core (engine), backends (TensorFlow), kipoi (adapter), io,
    analysis."""
    from pathlib import Path

    import kipoi_deeplift

    root = Path(kipoi_deeplift.__file__).parent
    assert {p.name for p in root.iterdir() if (p / "__init__.py").exists()} == \
        {"core", "backends", "kipoi", "io", "analysis"}
    loose = sorted(p.stem for p in root.glob("*.py"))
    assert loose == ["__init__", "__main__", "_version", "cli", "errors", "kipoi_plugin",
                     "quiet"], loose


def test_io_and_analysis_do_not_reach_back_up():
    """Data flow one way: kipoi adapter -> core engine -> io -> analysis; io and analysis
    import nothing from the Kipoi adapter, the core nothing from io, analysis, kipoi or the
    backends (it names them in core/backend.py's table), the backends nothing from kipoi, io
    or analysis."""
    import re
    from pathlib import Path

    import kipoi_deeplift

    root = Path(kipoi_deeplift.__file__).parent
    banned = {"core": ("kipoi", "io", "analysis", "backends"), "io": ("kipoi", "analysis"),
              "analysis": ("kipoi",), "backends": ("kipoi", "io", "analysis")}
    for part, others in banned.items():
        for f in (root / part).rglob("*.py"):
            for other in others:
                hits = re.findall(rf"(?m)^\s*(?:from|import)\s+(?:\.\.+{other}\b|"
                                  rf"kipoi_deeplift\.{other}\b)", f.read_text())
                assert not hits, f"{f.relative_to(root)} imports from {other}"


@pytest.mark.parametrize("module", TF_FREE)
def test_module_imports_without_tensorflow(module):
    code = (f"import sys, kipoi_deeplift.{module}; "
            "bad = [m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "", f"kipoi_deeplift.{module} imports {out.stdout.strip()}"
