"""Domain errors of the chargers app (mapped to HTTP once, in config/api.py)."""

from __future__ import annotations

from apps.sites.exceptions import AlreadyExists, DomainError


class ChargerError(DomainError):
    """Base class: the message is safe to show to the user."""


class ChargerAlreadyExists(ChargerError, AlreadyExists):
    pass


# --- remote commands (apps/chargers/commands.py) -----------------------------------


class CommandInvalid(ChargerError, ValueError):
    """The command or its parameters cannot make a request (unknown name, a bad
    field, a session of another charger). A ValueError too: the OCPP edge reports
    it to the caller as a bad request."""


class ChargerOffline(ChargerError):
    """No socket to the charger is open: the command was not sent."""


class ChargerNoAnswer(ChargerError):
    """The command was sent but the charger did not answer in time."""


class CommandRejected(ChargerError):
    """The charger answered with an OCPP error (CALLERROR), or the command failed on
    the way. A charger that answers "Rejected" is not an error: that is its answer."""
