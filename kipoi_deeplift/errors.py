"""The one exception users see: what is wrong and what to do, in one line."""


class UserError(ValueError):
    """A problem with the user's model, data or options (the CLI prints it and exits 2)."""
