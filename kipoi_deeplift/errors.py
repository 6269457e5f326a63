"""The one exception users see: what is wrong and what to do, in one line."""


def describe(e: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (for one-line errors about other code's failures)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:limit]}" if text else type(e).__name__


class UserError(ValueError):
    """A problem with the user's model, data or options (the CLI prints it and exits 2)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``timeout``, SLURM, ``docker stop``), with what was kept."""

    def __init__(self, message: str = "", signal_name: str = "SIGINT"):
        super().__init__(message)
        self.message, self.signal_name = message, signal_name


class Notice(UserWarning):
    """Something the user should know that is not a failure (the CLI prints it as a note)."""
