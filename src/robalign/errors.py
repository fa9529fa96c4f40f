"""The one error type a user can cause.

Every mistake a user can make (a bad recipe key, a missing file, a dataset without a needed
column, a NaN in a score table...) is raised as :class:`UserError`. The CLI turns it into ONE
line on stderr and exit code 2; anything else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations


class UserError(Exception):
    """An error in the user's input: printed as one line, exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A recipe/config problem, located by file and dotted key path.

    >>> str(ConfigError("recipe.yaml", "training.beta", "a number", got="'high'"))
    "recipe.yaml: training.beta: expected a number, got 'high'"
    """

    def __init__(self, file: str | None, key: str | None, expected: str, got: str | None = None):
        self.file, self.key, self.expected, self.got = file, key, expected, got
        where = ": ".join(p for p in (str(file) if file else None, key) if p)
        msg = f"expected {expected}" if not expected.startswith(("expected", "unknown", "missing", "file")) else expected
        if got is not None:
            msg += f", got {got}"
        super().__init__(f"{where}: {msg}" if where else msg)
