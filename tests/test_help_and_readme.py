"""What a new user reads and pastes: `--help` states the defaults, the README's commands and
config snippets work as pasted, the example scripts start TensorFlow without its C++ lines."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _cli import BIN, fails
from conftest import fixture_path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = ROOT / "examples"


def help_text(*command) -> str:
    p = subprocess.run([str(BIN / "kipoi-deeplift"), *command, "--help"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def option_help(text: str, flag: str) -> str:
    """The help of one option (or positional) of an argparse --help, on one line."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines)             # past the usage lines
                 if line in ("positional arguments:", "options:"))
    start = next(i for i, line in enumerate(lines) if i > first and
                 re.match(rf"\s+(-\w[\w ]*, )?{re.escape(flag)}\b", line))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if re.match(r"\s{2}\S", line) or not line.strip():     # the next option, or the end
            break
        block.append(line)
    return " ".join(" ".join(block).split())


def test_help_states_the_defaults():
    score = help_text("score")
    assert "default: deeplift.h5" in option_help(score, "-o")
    compare = help_text("compare")
    assert "(default: 10)" in option_help(compare, "--top-k")
    assert "(default: 4" in option_help(compare, "--intervals")
    motifs = help_text("motifs")
    assert "default: none" in option_help(motifs, "--database")


def test_help_says_motifs_needs_hypothetical_scores():
    motifs = " ".join(help_text("motifs").split())
    description = motifs.split("positional arguments:")[0]
    assert "`kipoi-deeplift score --hypothetical`" in description
    assert "pip install -e '.[motifs]'" in description
    listing = " ".join(help_text().split())            # the list of commands
    assert re.search(r"motifs .*needs a file from `score --hypothetical`", listing)


def test_help_describes_merge():
    merge = help_text("merge")
    out = option_help(merge, "-o")
    assert "merged HDF5 file" in out and "unsharded" in out, out
    assert "each once, in any order" in option_help(merge, "SHARD.h5")
    assert "--shard I/N" in " ".join(merge.split())


# ---------------------------------------------------------------- README, as pasted


def readme_block(after: str, lang: str = "") -> str:
    """The first fenced block after the text ``after``."""
    at = README.index(after)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(README, at)
    return m.group(1)


def pasted_commands(block: str) -> list[list[str]]:
    """The `$ kipoi-deeplift ...` lines of a transcript, split as a shell splits them."""
    return [shlex.split(line[2:]) for line in block.splitlines()
            if line.startswith("$ kipoi-deeplift ")]


def check_dataloader_args(argv: list[str]) -> None:
    for flag in ("--dataloader-args", "--dataloader_args"):
        if flag in argv:
            assert isinstance(json.loads(argv[argv.index(flag) + 1]), dict), argv


@pytest.mark.parametrize("script", ["demo", "planted_sites"])
def test_examples_print_commands_a_shell_reads_back(script, monkeypatch, capsys):
    mod = __import__(script)
    monkeypatch.setattr(mod.subprocess, "run", lambda *a, **k: None)
    args = ("score", "some dir/model", "--dataloader-args",
            json.dumps({"intervals_file": "a b.bed", "fasta_file": "g.fa"}), "-o", "x.h5")
    mod.kipoi_deeplift(*args)
    line = capsys.readouterr().out.strip()
    assert line.startswith("$ ")
    assert shlex.split(line[2:]) == ["kipoi-deeplift", *args]


def test_readme_demo_transcript_pastes_into_a_shell():
    block = readme_block("runs the command line as a user would. Real output:")
    commands = pasted_commands(block)
    assert [c[1] for c in commands] == ["score", "plot", "score", "compare"]
    for argv in commands:
        check_dataloader_args(argv)
    assert "--dataloader-args {" not in block       # the unquoted form a shell splits


def test_readme_installs_extras_from_the_checkout():
    from importlib.metadata import metadata

    extras = set(metadata("kipoi_deeplift").get_all("Provides-Extra") or [])
    named = re.findall(r"pip install -e ['\"]\.\[(\w+)\]['\"]", README)
    assert {"motifs", "pytorch"} <= set(named)
    assert set(named) <= extras, (named, extras)
    assert "pip install 'kipoi_deeplift[" not in README      # not on PyPI


def test_readme_kipoi_source_config_is_what_kipoi_reads(tmp_path):
    """The `my_zoo` snippet, as ~/.kipoi/config.yaml, gives Kipoi 0.8.6 both sources."""
    text = readme_block("`model_sources:` key of `~/.kipoi/config.yaml`", "yaml")
    home = tmp_path / "home"
    (home / ".kipoi").mkdir(parents=True)
    (tmp_path / "my_zoo").mkdir()
    (home / ".kipoi" / "config.yaml").write_text(
        text.replace("/home/me/my_zoo", str(tmp_path / "my_zoo"))
        .replace("/home/me/", f"{home}/"))
    probe = ("import kipoi; s = kipoi.config.get_source('my_zoo'); "
             "print(type(s).__name__, s.local_path); "
             "print(' '.join(sorted(kipoi.config.model_sources())))")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "HOME": str(home)})
    assert p.returncode == 0, p.stderr
    kind, sources = p.stdout.splitlines()
    assert kind == f"LocalSource {tmp_path / 'my_zoo'}/"
    assert {"kipoi", "my_zoo"} <= set(sources.split())


def kipoi_2018_deepbind_dir(d: Path) -> Path:
    """A DeepBind model directory as Kipoi served it in 2018: the group's model.yaml and its own
    dataloader (dataloader.py imports genomelake), the full HDF5 under model_files/."""
    src = fixture_path("deepbind", "kipoi_2018_h5")
    (d / "model_files").mkdir(parents=True)
    shutil.copy(src / "D00765.001_GATA1" / "model.h5", d / "model_files" / "model.h5")
    for name in ("model.yaml", "dataloader.yaml", "dataloader.py", "custom_keras_objects.py"):
        shutil.copy(src / f"template_{name}", d / name)
    return d


def test_readme_2018_deepbind_commands_work_as_pasted(tmp_path, monkeypatch, capsys):
    import h5py

    from kipoi_deeplift import cli

    block = readme_block("Both of Kipoi's DeepBind forms are rebuilt")
    lines = block.splitlines()
    commands = pasted_commands(block)
    assert len(commands) == 2
    kipoi_2018_deepbind_dir(tmp_path / "D00765.001_GATA1")
    shutil.copy(fixture_path("deepbind", "kipoi_2018_h5", "intervals.bed"),
                tmp_path / "intervals.bed")
    rng = np.random.default_rng(0)
    genome = "".join(rng.choice(list("ACGT"), 10_000))
    (tmp_path / "genome.fa").write_text(
        ">chr22\n" + "".join(genome[i:i + 60] + "\n" for i in range(0, len(genome), 60)))
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        check_dataloader_args(argv)

    # The model's own dataloader: one line, which says what to use instead.
    error = fails(capsys, commands[0][1:], tmp_path / "gata1_2018.h5", "genomelake")
    assert error == lines[1]
    assert "--dataloader kipoiseq.dataloaders.SeqIntervalDl --dataloader-source py" in error

    # kipoiseq's SeqIntervalDl, as the README says.
    assert cli.main(commands[1][1:]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scored 9 sequences x 1 task(s)"), out
    with h5py.File(tmp_path / "gata1_2018.h5") as f:
        assert f.attrs["zoo_config"] == "DeepBind"
        x = f["inputs/seq"][:]
        starts = f["metadata/ranges/start"][:]
        # The + strand of the FASTA, as the 2018 dataloader (genomelake) read it.
        want = np.eye(4, dtype=np.float32)[[["ACGT".index(b) for b in genome[s:s + 101]]
                                            for s in starts]]
        np.testing.assert_array_equal(x, want)
        assert set(f["metadata/orientation"].asstr()[:]) == {"genome"}
        np.testing.assert_allclose(f["contrib/seq/binding_prob"][:].sum((1, 2)),
                                   f["delta/binding_prob"][:], atol=1e-4)


# ---------------------------------------------------------------- quiet examples

#: Each example script run as far as TensorFlow's device start (where CUDA is probed and
#: cuInit reported on a machine without a GPU), in a fresh process: stderr must stay empty.
EXAMPLE_STARTS = {
    "demo": ("import demo, sys\n"
             "def train(rng):\n"
             "    import keras\n"
             "    keras.ops.convert_to_tensor([1.0]).numpy()   # devices started\n"
             "    sys.exit(0)\n"
             "demo.train = train\n"
             "demo.main(['--out', 'out'])\n"),
    "planted_sites": ("import numpy as np, planted_sites\n"
                      "planted_sites.scanner_model()(np.zeros((1, 100, 4), 'float32'))\n"),
    "simulated_motifs": ("import simulated_motifs, keras\n"
                         "keras.ops.convert_to_tensor([1.0]).numpy()\n"),
}
TF_START_LINES = re.compile(r"cuInit|^[EIW]0000 |absl::InitializeLog|cuda_|oneDNN", re.M)


def test_example_scripts_start_tensorflow_quietly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KIPOI_DEEPLIFT_TF_START"}
    env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES), env.get("PYTHONPATH", "")])
    runs = {}
    for name, code in EXAMPLE_STARTS.items():     # in parallel: each pays TensorFlow's import
        (tmp_path / name).mkdir()
        runs[name] = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path / name,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
    for name, p in runs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, (name, err[-2000:])
        assert not TF_START_LINES.search(err), (name, err[-2000:])


def test_the_rules_command_prints_the_table_the_readme_holds():
    from kipoi_deeplift.backends.tf.rule_table import table
    from kipoi_deeplift.backends.tf.rules import LAYER_RULES

    p = subprocess.run([str(BIN / "kipoi-deeplift"), "rules"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == table()
    copy = README.split("<!-- rules-table -->\n")[1].split("\n<!-- /rules-table -->")[0]
    assert copy == table(), "README's table is stale: paste `kipoi-deeplift rules` there"
    for name in ("TimeDistributed", "LayerNormalization", "MultiHeadAttention", "Multiply"):
        assert name in copy and name in LAYER_RULES
