"""Domain errors of the access app (mapped to HTTP once, in config/api.py)."""

from __future__ import annotations

from apps.sites.exceptions import AlreadyExists, DomainError


class AccessError(DomainError):
    """Base class: the message is safe to show to the user."""


class IdTokenAlreadyExists(AccessError, AlreadyExists):
    pass
