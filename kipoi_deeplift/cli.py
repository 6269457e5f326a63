"""The command line: ``kipoi-deeplift score|plot ...``, also ``python -m kipoi_deeplift`` and
``kipoi deeplift ...`` through Kipoi's plugin protocol (:func:`cli_main`).

Here: the entry points, the error contract and the ``score`` sub-command; the other
sub-commands' parsers and runners are in :mod:`kipoi_deeplift.commands`.

Errors end with one line on stderr and exit status 2 (a traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import commands
from ._version import __version__
from .core.methods import MAXPOOL_MODES, METHODS   # plain data: TensorFlow is not imported

#: The choices of --rule and --maxpool (the option table's; kept under their old names).
RULE_CHOICES = tuple(METHODS)
MAXPOOL_CHOICES = MAXPOOL_MODES


def _score_parser(sub):
    p = sub.add_parser("score", help="DeepLIFT scores of a Kipoi model on its dataloader",
                       description="Score MODEL (a Kipoi model name, or a model directory with "
                                   "--source dir) on the intervals its dataloader reads, and "
                                   "write contributions in genome coordinates.")
    p.add_argument("model", nargs="+", metavar="MODEL",
                   help="Kipoi model name or model directory; several: an ensemble (the file "
                        "holds the members' means, the first model's dataloader reads the data)")
    from .kipoi.options import add_flags     # the option table: no TensorFlow

    add_flags(p)
    p.set_defaults(run=_run_score)


def _run_score(a) -> int:
    def run(options):
        from .kipoi.scoring import score    # imports TensorFlow: after the options' check

        return score(a.model, a.dataloader_args, a.output, options)

    res = commands.run_scoring(a, run)
    from .kipoi.scoring import summary_lines

    print("\n".join(summary_lines(res)))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with the contract's errors (one line, no usage block, exit status 2) and
    Kipoi's spellings: every ``--two-words`` flag is also ``--two_words``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def add_argument(self, *names, **kwargs):
        aliases = ["--" + n[2:].replace("-", "_") for n in names
                   if n.startswith("--") and "-" in n[2:]]
        return super().add_argument(*names, *aliases, **kwargs)


def build_parser(prog: str = "kipoi-deeplift") -> argparse.ArgumentParser:
    """The argument parser of every sub-command.

    Parameters
    ----------
    prog : str
        The program's name in usage lines and errors (``kipoi deeplift`` under Kipoi).

    Returns
    -------
    argparse.ArgumentParser
        ``--debug``, ``--version`` and the sub-commands, ``score`` first; each parsed
        command's ``run(args) -> int`` runs it.
    """
    parser = _Parser(prog=prog, description="DeepLIFT importance scores for Kipoi models "
                     "(Keras 3 / tf_keras on TensorFlow 2).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    _score_parser(sub)
    commands.add_parsers(sub)       # merge, compare, plot, motifs, sites, zoo, rules, ...
    return parser


def _quiet_kipoi_logs() -> None:
    """Kipoi's INFO lines off: under `kipoi deeplift`, Kipoi's own start configures its logger
    to print them (its logging.conf); warnings and errors still show."""
    import logging

    for name in ("kipoi", "kipoiseq", "kipoi_utils", "kipoi_conda"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _terminate(signum, frame):
    from .errors import Interrupted

    raise Interrupted("", "SIGTERM")


def _on_sigterm(handler):
    """Install ``handler`` for SIGTERM (only the main thread may); returns the previous one."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def main(argv=None, prog: str = "kipoi-deeplift") -> int:
    """Run the command line; returns (and, as a console script, exits with) the status.

    Ctrl-C and SIGTERM (what ``timeout``, SLURM and ``docker stop`` send) end it the same way,
    at any moment, start-up included: one line, exit status 2, temporary files removed except
    an interrupted score's finished batches (kept for ``--resume``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program's name (default: ``sys.argv[1:]``).
    prog : str
        The program's name in usage lines and errors.

    Returns
    -------
    int
        The exit status: 0 done, 2 a usage error, a failure or an interruption (one line on
        stderr; with ``--debug`` a failure raises instead).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    output = None
    previous = _on_sigterm(_terminate)
    try:
        args = build_parser(prog).parse_args(argv)
        output = getattr(args, "output", None)
        if not debug:
            _quiet_kipoi_logs()
        return args.run(args)
    except BrokenPipeError:        # `... | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())       # no second error when Python flushes
        return 0
    except Exception as e:     # an interrupt that Python wrapped (raised inside __set_name__)
        interrupt = _wrapped_interrupt(e)
        if interrupt is None:
            return _failed(e, prog, debug)
        if debug:
            raise
        return _interrupted(interrupt, prog, output)
    except KeyboardInterrupt as e:
        if debug:
            raise
        return _interrupted(e, prog, output)
    finally:
        if previous is not None:
            _on_sigterm(previous)


def _wrapped_interrupt(e: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind ``e``, if any: Python wraps an exception raised while a
    class is created (in ``__set_name__``, e.g. while matplotlib is imported) in a
    RuntimeError, so an interrupt at that moment arrives as a failure."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _interrupted(e: KeyboardInterrupt, prog: str, output) -> int:
    """One line for an interrupted command; exit status 2."""
    said = getattr(e, "message", "") or (f"interrupted; nothing was written to {output}"
                                         if output else "interrupted")
    if getattr(e, "signal_name", "SIGINT") == "SIGTERM":
        said = said.replace("interrupted", "terminated (SIGTERM)", 1)
    print(f"{prog}: {said}", file=sys.stderr)
    return 2


def _failed(e: Exception, prog: str, debug: bool) -> int:
    """One line for a failure (a traceback with ``--debug``); exit status 2."""
    if debug:
        raise e
    from .errors import UserError

    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if not isinstance(e, UserError):
        msg = f"{type(e).__name__}: {msg} (rerun with --debug for the traceback)"
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return 2


def console() -> None:
    """Console-script entry point: :func:`main` on ``sys.argv``, then exit.

    Returns
    -------
    None
        It never returns: it raises ``SystemExit`` with :func:`main`'s status (2 for a second
        Ctrl-C while the first one is handled).
    """
    try:
        status = main()
    except KeyboardInterrupt:       # a second Ctrl-C while the first one is handled
        status = 2
    sys.exit(status)


def cli_main(command: str, raw_args) -> None:
    """Kipoi's plugin protocol: ``kipoi deeplift <args>`` calls this with ('deeplift', args).

    Parameters
    ----------
    command : str
        The Kipoi sub-command that dispatched here (``'deeplift'``): the program is named
        ``kipoi <command>`` in usage lines and errors.
    raw_args : sequence of str
        The arguments after ``kipoi <command>``.

    Raises
    ------
    SystemExit
        Always, with :func:`main`'s status.
    """
    sys.exit(main(list(raw_args), prog=f"kipoi {command}"))
