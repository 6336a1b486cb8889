"""The one error a BXML document can raise: what is wrong and where (line, column)."""

from __future__ import annotations

from switchboard.errors import ValidationError


class BxmlError(ValidationError):
    """A BXML document that cannot run. `line` and `column` are 1-based, None when the problem
    concerns the document as a whole (its size, its encoding).

    It is a `ValidationError` so that PUT .../bxml renders it as a 400 `validation` body without
    a mapping of its own; a callback's invalid answer ends the call with `invalid-bxml` instead.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(_render(message, line, column))

    def __repr__(self) -> str:
        return f"BxmlError({self.message!r}, line={self.line!r}, column={self.column!r})"


def _render(message: str, line: int | None, column: int | None) -> str:
    if line is None:
        return message
    if column is None:
        return f"line {line}: {message}"
    return f"line {line}, column {column}: {message}"
