"""The one exception type for problems the user must fix."""

from __future__ import annotations


class AimaError(Exception):
    """Something the user must fix: a bad file, a missing daemon, a refused plan.

    The CLI prints ``str(error)`` on one line (plus ``Hint: ...`` when a hint is given)
    and exits non-zero; it never shows a traceback for an ``AimaError``.
    """

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(AimaError):
    """A data file (images.yaml, a profile, a stack file) is malformed; the message names file:line: key."""

    def __init__(self, path: str, line: int | None, key: str | None, problem: str, *, hint: str | None = None) -> None:
        where = path if line is None else f"{path}:{line}"
        what = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        super().__init__(what, hint=hint)
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
