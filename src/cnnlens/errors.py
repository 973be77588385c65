"""The one error type for bad input: the CLI reports it in one line; anything else is a bug and keeps its traceback."""


class CnnlensError(Exception):
    """Input the user can fix (a missing file, an unknown name, a bad config value); the message says how."""


def one_line(error: BaseException) -> str:
    """The first line of an error message, since errors are reported in one line."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
