"""Domain errors of the chargers app (mapped to HTTP once, in config/api.py)."""

from __future__ import annotations

from apps.sites.exceptions import AlreadyExists, DomainError


class ChargerError(DomainError):
    """Base class: the message is safe to show to the user."""


class ChargerAlreadyExists(ChargerError, AlreadyExists):
    pass
