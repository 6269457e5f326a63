"""Running the command line as a user does: in a fresh process, or in this one, checking the
contract for errors (one line on stderr, exit status 2, nothing left under the output name)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kipoi_deeplift import cli

BIN = Path(sys.executable).parent


def run_cli(*argv, entry="console"):
    """Run the command line in a fresh process; returns (status, stdout, stderr)."""
    if entry == "console":
        cmd = [str(BIN / "kipoi-deeplift"), *argv]
    elif entry == "module":
        cmd = [sys.executable, "-m", "kipoi_deeplift", *argv]
    else:   # Kipoi's own executable: the installed hook lists this plugin
        cmd = [str(BIN / "kipoi"), "deeplift", *argv]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return p.returncode, p.stdout, p.stderr


def fails(capsys, argv, out: Path, message: str):
    status = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1, err
    assert message in err[0], err[0]
    assert "Traceback" not in err[0]
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not leftovers, leftovers
    return err[0]
