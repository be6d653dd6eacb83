"""Charger passwords for OCPP HTTP Basic auth (security profiles 1 and 2).

Station passwords are random, 16 to 40 characters, one per station: their entropy,
not a slow hash, protects them. A salted SHA-256 checks in microseconds, so a
thousand stations reconnecting after a restart cost nothing, where PBKDF2 would
spend about ten CPU-minutes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALGORITHM = "sha256"
MIN_LENGTH = 16
MAX_LENGTH = 40


class PasswordPolicyError(ValueError):
    pass


def validate_password(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise PasswordPolicyError(
            f"A charger password has {MIN_LENGTH} to {MAX_LENGTH} characters."
        )


def generate_password(length: int = 24) -> str:
    """A random password that fits OCPP's passwordString rules (letters and digits)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_password(password: str) -> str:
    validate_password(password)
    salt = secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}{password}".encode()).hexdigest()
    return f"{ALGORITHM}${salt}${digest}"


def check_password(password: str, encoded: str) -> bool:
    try:
        algorithm, salt, digest = encoded.split("$", 2)
    except ValueError:
        return False
    if algorithm != ALGORITHM:
        return False
    candidate = hashlib.sha256(f"{salt}{password}".encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)
