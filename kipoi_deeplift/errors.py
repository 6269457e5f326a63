"""The one exception users see: what is wrong and what to do, in one line."""


def describe(e: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (for one-line errors about other code's failures)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:limit]}" if text else type(e).__name__


class UserError(ValueError):
    """A problem with the user's model, data or options (the CLI prints it and exits 2)."""
