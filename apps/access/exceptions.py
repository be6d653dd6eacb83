"""Domain errors of the access app (mapped to HTTP once, in config/api.py)."""


class AccessError(Exception):
    """Base class: the message is safe to show to the user."""


class IdTokenAlreadyExists(AccessError):
    pass
