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


def browser_or_skip() -> str:
    """The headless Chromium that opens reports, or the test skipped saying what is missing."""
    import shutil

    import pytest

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium installed (Debian package chromium) to open the report")
    return browser


def opens_and_sorts(browser: str, report: Path, probe: Path, table: str, header: str) -> None:
    """Open ``report`` in headless Chromium: every image decodes, and clicks on the header of
    table ``table`` that starts with ``header`` sort its rows by that column, ascending then
    descending (the page's own script)."""
    probe.write_text(report.read_text().replace("</body>", """<script>window.onload=()=>{
const ok=[...document.images].every(i=>i.complete&&i.naturalWidth>0);
const t=document.getElementById('%s');
const h=[...t.tHead.rows[0].cells];const k=h.findIndex(c=>c.textContent.startsWith('%s'));
const col=()=>[...t.tBodies[0].rows].map(r=>parseFloat(r.cells[k].textContent));
const up=a=>a.every((x,i)=>i==0||a[i-1]<=x);
h[k].click();const asc=up(col());h[k].click();const desc=up(col().reverse());
document.title=(ok?'IMAGES-OK':'IMAGES-BROKEN')+(asc&&desc?' SORT-OK':' SORT-BROKEN');}
</script></body>""" % (table, header)))
    p = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert "<title>IMAGES-OK SORT-OK</title>" in p.stdout, p.stderr[-500:]
