"""The one error type for bad input: the CLI reports it in one line; anything else is a bug and keeps its traceback."""


class CnnlensError(Exception):
    """Input the user can fix (a missing file, an unknown name, a bad config value); the message says how."""
