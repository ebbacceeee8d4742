"""User-facing errors.

Anything the user can fix (a path, a column, a flag, a row of data) raises `UserError`. The CLI prints
its message and exits with status 2 instead of a traceback; the Python API lets it propagate.
"""


class UserError(Exception):
    """A problem with the user's input, config or data; the message says where and how to fix it."""


def where(path, line=None) -> str:
    """Format a location as `file, line N` for error messages."""
    return f"{path}, line {line}" if line is not None else str(path)


def flag(name: str) -> str:
    """An option as the CLI and the Python API both spell it, for messages: `--text-column (text_column=)`.

    One option has one name (config.py): `text_column` in Python and YAML, `--text-column` on the command line;
    an error can be raised from either, so it names both."""
    name = name.lstrip("-").replace("-", "_")
    return f"--{name.replace('_', '-')} ({name}=)"


def check(checks) -> None:
    """Raise UserError with the message of the first `(ok, message)` pair whose `ok` is false.

    The options dataclasses list their checks as such pairs in `__post_init__`, so each reads as one line."""
    for ok, message in checks:
        if not ok:
            raise UserError(message)
