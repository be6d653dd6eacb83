"""Domain errors shared by every app. Each interface maps them to its own
vocabulary once: the REST API in config/api.py (404, 403, 409, 422)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the message is safe to show to the user."""


class NotFound(DomainError):
    """The row does not exist, or the user may not see it (the two are never told apart)."""


class Forbidden(DomainError):
    """The user sees the row but their role does not let them change it."""


class AlreadyExists(DomainError):
    """A unique rule would be broken."""


class InvalidReference(DomainError):
    """A reference given in the input (an id) points at nothing the user may use.
    `field` names the input field, so the caller can show the error next to it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
