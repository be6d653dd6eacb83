"""Reading the domain-level parameters of a remote command, with errors a person
can act on. Every problem is a ValueError whose message names the field: the
consumer answers it as "bad_request", the API as 422.

Enumerations are matched leniently ("soft", "Soft", "SOFT"; "tx_default",
"TxDefaultProfile"): callers write domain words, the translators pick the OCPP
spelling for the charger's version."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


def _fold(value: str) -> str:
    """ "Tx_Default-Profile" -> "txdefaultprofile": the key for lenient matching."""
    return re.sub(r"[\s_\-.]", "", value).lower()


class Params:
    """The parameters of one command. Each accessor marks its key as read;
    `finish()` then refuses keys nobody read, so that a typo ("conector_id") is an
    error instead of a silently ignored field."""

    def __init__(self, command: str, params: Mapping[str, Any] | None, prefix: str = "") -> None:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(f"{command}: the parameters must be a JSON object.")
        self.command = command
        self._params = dict(params)
        self._read: set[str] = set()
        self._prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _error(self, key: str, message: str) -> ValueError:
        return ValueError(f"{self.command}: {self._name(key)} {message}")

    def require(self, key: str, value: T | None) -> T:
        """`value`, or the "is required" error for `key`. Narrows what a reader
        called with required=True (or a default) returned to its type."""
        if value is None:
            raise self._error(key, "is required.")
        return value

    def has(self, key: str) -> bool:
        self._read.add(key)
        return self._params.get(key) is not None

    def raw(self, key: str) -> Any:
        self._read.add(key)
        return self._params.get(key)

    def integer(
        self,
        key: str,
        *,
        default: int | None = None,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self._error(key, "is required.")
            return default
        # bool is an int in Python; "true" for a connector id is a mistake.
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self._error(key, "must be an integer.")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise self._error(key, "must be an integer.") from None
        if minimum is not None and value < minimum:
            raise self._error(key, f"must be at least {minimum}.")
        if maximum is not None and value > maximum:
            raise self._error(key, f"must be at most {maximum}.")
        return value

    def required_integer(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        return self.require(key, self.integer(key, required=True, minimum=minimum, maximum=maximum))

    def number(self, key: str, *, required: bool = False, minimum: float = 0) -> float | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self._error(key, "is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._error(key, "must be a number.")
        if value < minimum:
            raise self._error(key, f"must be at least {minimum}.")
        return float(value)

    def required_number(self, key: str, *, minimum: float = 0) -> float:
        return self.require(key, self.number(key, required=True, minimum=minimum))

    def text(
        self,
        key: str,
        *,
        default: str | None = None,
        required: bool = False,
        max_length: int | None = None,
    ) -> str | None:
        value = self.raw(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self._error(key, "is required.")
            return default
        if not isinstance(value, str):
            raise self._error(key, "must be a string.")
        if max_length is not None and len(value) > max_length:
            raise self._error(key, f"must be at most {max_length} characters.")
        return value

    def required_text(self, key: str, *, max_length: int | None = None) -> str:
        return self.require(key, self.text(key, required=True, max_length=max_length))

    def boolean(self, key: str, *, default: bool | None = None) -> bool:
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self._error(key, "is required (true or false).")
            return default
        if not isinstance(value, bool):
            raise self._error(key, "must be true or false.")
        return value

    def choice(
        self,
        key: str,
        choices: Mapping[str, str],
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        """`choices` maps accepted spellings to the value to use; spellings are
        compared without case, spaces, '-', '_' or '.'."""
        value = self.raw(key)
        if value is None:
            if required:
                raise self._error(key, f"is required: one of {_listing(choices)}.")
            return default
        if not isinstance(value, str):
            raise self._error(key, f"must be one of {_listing(choices)}.")
        folded = {_fold(k): v for k, v in choices.items()}
        if _fold(value) not in folded:
            raise self._error(key, f"must be one of {_listing(choices)}, not {value!r}.")
        return folded[_fold(value)]

    def required_choice(self, key: str, choices: Mapping[str, str]) -> str:
        return self.require(key, self.choice(key, choices, required=True))

    def timestamp(self, key: str, *, required: bool = False) -> str | None:
        """An ISO 8601 date and time with a time zone, as OCPP wants it (UTC, "Z")."""
        value = self.raw(key)
        if value is None:
            if required:
                raise self._error(key, "is required (an ISO 8601 date and time).")
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self._error(
                    key, f"must be an ISO 8601 date and time, not {value!r}."
                ) from None
        if not isinstance(value, datetime):
            raise self._error(key, "must be an ISO 8601 date and time.")
        if value.tzinfo is None:
            raise self._error(key, "must include a time zone (e.g. 2026-01-01T08:00:00Z).")
        return iso_utc(value)

    def string_list(self, key: str) -> list[str] | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._error(key, "must be a list of non-empty strings.")
        return value

    def nested(self, key: str, *, required: bool = False) -> Params | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self._error(key, "is required (an object).")
            return None
        if not isinstance(value, Mapping):
            raise self._error(key, "must be an object.")
        return Params(self.command, value, prefix=f"{self._name(key)}.")

    def required_nested(self, key: str) -> Params:
        return self.require(key, self.nested(key, required=True))

    def nested_list(self, key: str, *, required: bool = False) -> list[Params]:
        value = self.raw(key)
        if value is None:
            if required:
                raise self._error(key, "is required (a list of objects).")
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self._error(key, "must be a list of objects.")
        return [
            Params(self.command, item, prefix=f"{self._name(key)}[{index}].")
            for index, item in enumerate(value)
        ]

    def finish(self) -> None:
        unknown = sorted(set(self._params) - self._read)
        if unknown:
            names = ", ".join(self._name(k) for k in unknown)
            raise ValueError(f"{self.command}: unknown parameter(s): {names}.")


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _listing(choices: Mapping[str, str]) -> str:
    # Show each distinct target once, in the spelling a caller most likely uses.
    seen: dict[str, str] = {}
    for spelling, target in choices.items():
        seen.setdefault(target, spelling)
    return ", ".join(repr(s) for s in seen.values())
