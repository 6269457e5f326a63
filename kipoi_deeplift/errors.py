"""The one exception users see: what is wrong and what to do, in one line."""


def describe(e: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, for one-line errors about other code's failures.

    Parameters
    ----------
    e : BaseException
        The exception to describe.
    limit : int, default 300
        At most this many characters of the message's first line.

    Returns
    -------
    str
        ``Type: first line``, or just the type's name when the message is empty.
    """
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:limit]}" if text else type(e).__name__


class UserError(ValueError):
    """A problem with the user's model, data or options (the CLI prints it and exits 2).

    Parameters
    ----------
    message : str
        What is wrong and what to do, in one line.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``timeout``, SLURM, ``docker stop``), with what was kept.

    Parameters
    ----------
    message : str, default ""
        The one line the CLI prints (what was kept); empty for the CLI's own wording.
    signal_name : str, default "SIGINT"
        ``"SIGINT"`` or ``"SIGTERM"``; the CLI says "terminated (SIGTERM)" for the latter.
    """

    def __init__(self, message: str = "", signal_name: str = "SIGINT"):
        super().__init__(message)
        self.message, self.signal_name = message, signal_name


class Notice(UserWarning):
    """Something the user should know that is not a failure (the CLI prints it as a note).

    Parameters
    ----------
    message : str
        The note, in one line.
    """
