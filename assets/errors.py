"""Errors raised by the register; messages name the row, the field, the value and the fix."""

from __future__ import annotations


class RegisterError(ValueError):
    """Base class for register errors a user can cause."""


class InvalidRecord(RegisterError):
    """A record with one or more invalid fields; ``problems`` lists them all."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems  # (field, message)
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


class FileRefused(RegisterError):
    """A spreadsheet that cannot be read at all (too big, not a table, malformed)."""


class StaleVersion(RegisterError):
    """An update based on a version someone else has changed since."""


class NotFound(RegisterError):
    """No record with that id (or not one the acting user may see)."""


class PermissionDenied(RegisterError):
    """The acting user's role does not allow this action."""


class MappingError(RegisterError):
    """A column mapping that names a column the file lacks or a field the register lacks."""
