"""``kipoi deeplift ...``: this package listed among Kipoi's plugins without editing Kipoi.

Kipoi 0.8.6 finds plugins only in a hard-coded list (``kipoi.plugin.PLUGINS``). A one-line
``kipoi_deeplift-plugin.pth`` file in site-packages (installed with the package, or by
``kipoi-deeplift kipoi-plugin enable``) runs :data:`HOOK_SOURCE` at interpreter start: it puts a
finder at the front of ``sys.meta_path`` that ignores every import except ``kipoi.plugin``;
when Kipoi imports that module, the finder lets Python load it as usual and then appends this
package's entry to ``PLUGINS``. Nothing else is imported at start (the hook is a few
definitions), nothing of Kipoi is edited (a reinstall of Kipoi keeps working), and every step
is guarded so that a broken hook can never stop Python. ``KIPOI_DEEPLIFT_PLUGIN=0`` turns it
off for one shell; ``kipoi-deeplift kipoi-plugin disable`` removes the file.

This module imports nothing heavy either: it is also what ``kipoi-plugin status|enable|disable``
runs.
"""
from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "kipoi_deeplift-plugin.pth"

#: The entry Kipoi's ``PLUGINS`` gets (Kipoi strips ``kipoi_`` to make the command name).
ENTRY = {"plugin": "kipoi_deeplift", "url": "the installed Python package kipoi_deeplift (see its README)",
         "cli": True,
         "description": "DeepLIFT importance scores, per base and per neuron (kipoi_deeplift)"}

#: Run by the .pth file at interpreter start, in a namespace of its own.
HOOK_SOURCE = '''
def _install():
    import os, sys
    if os.environ.get("KIPOI_DEEPLIFT_PLUGIN", "1") == "0":
        return
    entry = ENTRY

    def register(module):
        try:
            plugins = getattr(module, "PLUGINS", None)
            if isinstance(plugins, list) and not any(
                    isinstance(p, dict) and p.get("plugin") == entry["plugin"] for p in plugins):
                plugins.append(dict(entry))
        except Exception:
            pass

    def quiet_kipoi_start():
        # `kipoi deeplift ...` (no --debug): Kipoi's start warns that pkg_resources is
        # deprecated, a line about Kipoi, not about this run.
        try:
            argv = sys.argv
            if len(argv) > 1 and argv[1] == "deeplift" and "--debug" not in argv:
                import warnings
                warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                                        category=UserWarning)
        except Exception:
            pass

    class Loader:
        def __init__(self, loader):
            self.loader = loader

        def create_module(self, spec):
            return self.loader.create_module(spec)

        def exec_module(self, module):
            self.loader.exec_module(module)
            register(module)
            quiet_kipoi_start()

        def __getattr__(self, name):          # get_source, get_code, ... as the real loader
            return getattr(self.loader, name)

    class Finder:
        """Acts on one import only: kipoi.plugin."""
        kipoi_deeplift_hook = True

        def find_spec(self, fullname, path=None, target=None):
            if fullname != "kipoi.plugin":
                return None
            try:
                from importlib.machinery import PathFinder
                spec = PathFinder.find_spec(fullname, path)
                if spec is not None and spec.loader is not None:
                    spec.loader = Loader(spec.loader)
                return spec
            except Exception:
                return None

    if not any(getattr(f, "kipoi_deeplift_hook", False) for f in sys.meta_path):
        sys.meta_path.insert(0, Finder())
    if "kipoi.plugin" in sys.modules:
        register(sys.modules["kipoi.plugin"])

try:
    _install()
except Exception:
    pass
'''


def pth_line() -> str:
    """The .pth file's one line (``site`` executes lines that start with ``import``).

    Returns
    -------
    str
        The line, ending in a newline, that installs the hook when Python starts.
    """
    source = f"ENTRY = {ENTRY!r}\n{HOOK_SOURCE}"
    return (f"import sys; exec({source!r}, "
            "{'__name__': 'kipoi_deeplift_plugin_hook'})\n")


def site_dirs() -> list[Path]:
    """Where this interpreter reads .pth files: site-packages (and the user's).

    Returns
    -------
    list of pathlib.Path
        The folders, each once, site-packages first.
    """
    dirs = [Path(sysconfig.get_paths()["purelib"])]
    dirs += [Path(p) for p in getattr(site, "getsitepackages", lambda: [])()]
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user and site.ENABLE_USER_SITE:
        dirs.append(Path(user))
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def installed() -> list[Path]:
    """The plugin's .pth files this interpreter reads.

    Returns
    -------
    list of pathlib.Path
        The existing hook files (empty when the plugin is not enabled).
    """
    return [d / PTH_NAME for d in site_dirs() if (d / PTH_NAME).is_file()]


def enable() -> Path:
    """Write the .pth file into site-packages (replacing an older one).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    target = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    tmp = target.with_name(f".{PTH_NAME}.{os.getpid()}.tmp")
    tmp.write_text(pth_line())
    os.replace(tmp, target)
    return target


def disable() -> list[Path]:
    """Remove every .pth file of the plugin.

    Returns
    -------
    list of pathlib.Path
        The paths removed (empty when none was installed).
    """
    gone = []
    for path in installed():
        path.unlink()
        gone.append(path)
    return gone


def status() -> dict:
    """Whether the hook is installed and current, and whether Kipoi lists the plugin.

    Kipoi is started afresh by this interpreter, so that it reads the .pth files as ``kipoi``
    will.

    Returns
    -------
    dict
        ``files`` (list of str), ``current`` (bool), ``listed_by_kipoi`` (bool, or None when
        Kipoi cannot be started) and ``switched_off`` (``KIPOI_DEEPLIFT_PLUGIN=0``).
    """
    import subprocess

    files = installed()
    current = bool(files) and all(p.read_text() == pth_line() for p in files)
    code = ("import kipoi.plugin as p; "
            f"print(any(x.get('plugin') == {ENTRY['plugin']!r} for x in p.PLUGINS))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120).stdout.strip().splitlines()
        listed = {"True": True, "False": False}.get(out[-1] if out else "")
    except (OSError, subprocess.SubprocessError):
        listed = None
    return {"files": [str(p) for p in files], "current": current, "listed_by_kipoi": listed,
            "switched_off": os.environ.get("KIPOI_DEEPLIFT_PLUGIN", "1") == "0"}


def act(action: str) -> str:
    """``kipoi-deeplift kipoi-plugin ACTION``: does it, then says what is installed.

    Parameters
    ----------
    action : {"status", "enable", "disable"}
        What to do; ``status`` only reports.

    Returns
    -------
    str
        Lines saying what was done, the hook file(s), and whether Kipoi lists the plugin.
    """
    lines = []
    if action == "enable":
        lines.append(f"wrote {enable()}: `kipoi deeplift ...` runs this package")
    elif action == "disable":
        gone = disable()
        lines += [f"removed {p}" for p in gone] or ["no hook was installed for this interpreter"]
    st = status()
    files = ", ".join(st["files"]) or "none"
    listed = {True: "yes", False: "no", None: "unknown (Kipoi not importable)"}
    lines.append(f"hook file: {files}" + ("" if st["current"] or not st["files"] else
                                          " (from another version: run `kipoi-plugin enable`)"))
    lines.append(f"kipoi lists `deeplift`: {listed[st['listed_by_kipoi']]}"
                 + (" (switched off by KIPOI_DEEPLIFT_PLUGIN=0)" if st["switched_off"] else ""))
    return "\n".join(lines)
