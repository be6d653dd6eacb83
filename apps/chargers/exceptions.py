"""Domain errors of the chargers app (mapped to HTTP once, in config/api.py)."""


class ChargerError(Exception):
    """Base class: the message is safe to show to the user."""


class ChargerAlreadyExists(ChargerError):
    pass
