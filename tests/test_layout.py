"""The parts stay apart: reading, writing and comparing score files, references, results and
the command line's start need no TensorFlow (importing it costs seconds and a GPU probe)."""
import subprocess
import sys

import pytest

TF_FREE = ["io", "io.scorefile", "io.writers", "io.derived", "io.merge", "io.orientation",
           "io.genome", "io.resume", "analysis.compare", "analysis.report", "analysis.plots",
           "core", "core.engine", "core.backend", "core.methods", "core.references",
           "core.result", "core.batching", "core.ism", "core.tasks", "core.settings",
           "core.stream", "core.collect", "core.strands", "core.ensemble", "kipoi.zoo",
           "kipoi.preflight", "kipoi.options", "kipoi.strand_check",
           "kipoi.arguments", "io.tables", "errors", "cli", "kipoi_plugin", "io.coordinates",
           "io.staging", "io.h5stream", "io.tracks", "io.modisco", "analysis.sites", "commands",
           "analysis.motifs", "analysis.motif_patterns", "analysis.motif_figures",
           "analysis.report_html", "analysis.report_intervals", "zoo", "zoo.config",
           "zoo.catalog", "zoo.loaders", "core.reference_names", "io.layout", "io.vcf",
           "io.variantfile", "kipoi.variants", "kipoi.variant_scoring",
           "analysis.variant_data", "analysis.variant_plot", "analysis.variant_compare",
           "analysis.variant_report", "analysis.variant_motifs"]


def test_the_parts_are_folders():
    """The layout shows the parts: core (engine), backends (TensorFlow), kipoi (adapter), zoo
    (configs, loaders, layers, rebuilds), io, analysis."""
    from pathlib import Path

    import kipoi_deeplift

    root = Path(kipoi_deeplift.__file__).parent
    assert {p.name for p in root.iterdir() if (p / "__init__.py").exists()} == \
        {"core", "backends", "kipoi", "zoo", "io", "analysis"}
    loose = sorted(p.stem for p in root.glob("*.py"))
    assert loose == ["__init__", "__main__", "_version", "cli", "commands", "errors",
                     "kipoi_plugin", "quiet"], loose


def test_io_and_analysis_do_not_reach_back_up():
    """Data flow one way: kipoi adapter -> core engine -> io -> analysis; io and analysis
    import nothing from the Kipoi adapter, the core nothing from io, analysis, kipoi or the
    backends (it names them in core/backend.py's table), the backends nothing from kipoi, io
    or analysis. The zoo may import the core, the backends, io and Kipoi's library; the
    adapter imports the zoo, nothing else does, and the zoo never imports the adapter."""
    import re
    from pathlib import Path

    import kipoi_deeplift

    root = Path(kipoi_deeplift.__file__).parent
    banned = {"core": ("kipoi", "io", "analysis", "backends", "zoo"),
              "io": ("kipoi", "analysis", "zoo"), "analysis": ("kipoi", "zoo"),
              "backends": ("kipoi", "io", "analysis", "zoo"), "zoo": ("kipoi", "analysis")}
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


def test_old_import_paths_are_the_modules_where_they_live_now():
    """`import kipoi_deeplift.engine`, `from kipoi_deeplift.rebuild import deepbind` (the
    first layout), `from kipoi_deeplift.zoo.rebuild import deepbind` (the second): the old
    module paths import the very module objects of the new ones (not second copies), which
    keep their own names and specs; run in a fresh process in both orders."""
    import subprocess
    import sys

    from kipoi_deeplift import _WHERE

    code = (
        "import importlib, sys\n"
        "from kipoi_deeplift import _WHERE\n"
        "from kipoi_deeplift.rebuild import deepbind\n"
        "import kipoi_deeplift.zoo.rebuild.deepbind as real\n"
        "assert deepbind is real\n"
        "from kipoi_deeplift.zoo.rebuild import deepbind as second\n"
        "assert second is real\n"
        "import kipoi_deeplift.zoo.rebuild.factornet as new\n"
        "import kipoi_deeplift.rebuild.factornet as old\n"
        "import kipoi_deeplift.kipoi.rebuild.factornet as old2\n"
        "assert old is new and old2 is new\n"
        "from kipoi_deeplift.kipoi import zoo\n"
        "import kipoi_deeplift.zoo as package\n"
        "assert zoo is package and zoo.identify is package.catalog.identify\n"
        "import kipoi_deeplift.kipoi.zoo_layers as layers\n"
        "import kipoi_deeplift.zoo_layers as layers0\n"
        "assert layers is layers0 is importlib.import_module('kipoi_deeplift.zoo.layers')\n"
        "assert package.__spec__.name == 'kipoi_deeplift.zoo'\n"
        "assert real.__spec__.name == 'kipoi_deeplift.zoo.rebuild.deepbind'\n"
        "assert len(zoo.load_configs()) > 20\n"
        "from kipoi_deeplift.engine import DeepLift\n"
        "from kipoi_deeplift.core.engine import DeepLift as D\n"
        "assert DeepLift is D\n"
        "for old, new in _WHERE.items():\n"
        "    a = importlib.import_module(f'kipoi_deeplift.{old}')\n"
        "    b = importlib.import_module(f'kipoi_deeplift.{new}')\n"
        "    assert a is b, old\n"
        "    assert a.__name__ == f'kipoi_deeplift.{new}' == a.__spec__.name, old\n"
        "print(len(_WHERE))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == str(len(_WHERE))


def test_modules_and_functions_stay_small():
    """Every module under 450 lines, every function under 80 lines of code (docstring, blank
    and comment lines not counted): the size at which a file still reads as one job."""
    import ast
    from pathlib import Path

    import kipoi_deeplift

    root = Path(kipoi_deeplift.__file__).parent
    big = []
    for f in sorted(root.rglob("*.py")):
        src = f.read_text()
        lines = src.splitlines()
        if len(lines) >= 450:
            big.append(f"{f.relative_to(root)}: {len(lines)} lines")
        for node in ast.walk(ast.parse(src)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = lines[node.lineno - 1:node.end_lineno]
            first = node.body[0]
            doc = first.end_lineno - first.lineno + 1 if isinstance(first, ast.Expr) and \
                isinstance(first.value, ast.Constant) and isinstance(first.value.value, str) \
                else 0
            code = sum(1 for x in body if x.strip() and not x.strip().startswith("#")) - doc
            if code >= 80:
                big.append(f"{f.relative_to(root)}:{node.lineno} {node.name}: {code} lines")
    assert not big, big


def test_zoo_layers_add_their_rows_to_the_rule_table():
    """The backends name no zoo layer; the zoo's rows are in the table as soon as the rules
    are imported (in a fresh process, nothing of the zoo imported first), as the table's own
    (``kipoi-deeplift rules`` lists them), GELU not monotone."""
    code = (
        "import sys\n"
        "from kipoi_deeplift.backends.tf.rules import LAYER_RULES, builtin_rules\n"
        "from kipoi_deeplift.zoo.layers import RULES\n"
        "assert set(RULES) <= set(builtin_rules()), set(RULES) - set(builtin_rules())\n"
        "assert LAYER_RULES['GELU'].monotone is False\n"
        "assert LAYER_RULES['Threshold'].kind == 'elementwise'\n"
        "assert LAYER_RULES['SoftmaxWeightedSum'].kind == 'output'\n"
        "print('ok')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "ok"
    from pathlib import Path

    import kipoi_deeplift
    from kipoi_deeplift.zoo.layers import RULES

    backends = Path(kipoi_deeplift.__file__).parent / "backends"
    for f in backends.rglob("*.py"):
        text = f.read_text()
        named = [n for n in RULES if f'"{n}"' in text]
        assert not named, f"{f.name} names zoo layers {named}"
