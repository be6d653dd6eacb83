"""OCPP values ↔ domain values, for both protocol versions. The domain never sees an
OCPP enum; the charger never sees a domain one."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.access.services import Authorization, Decision
from apps.chargers.models import Charger, Connector, SessionEvent
from apps.chargers.services import ENERGY_REGISTER, DataTransferStatus, Sample

log = logging.getLogger(__name__)

# --- time ---------------------------------------------------------------------


def parse_timestamp(value: str) -> datetime:
    """An OCPP dateTime (RFC 3339). A charger that leaves out the offset means UTC
    (OCPP requires UTC). Raises ValueError for anything else: the package does not
    check the format."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- registration -------------------------------------------------------------

REGISTRATION = {
    Charger.Registration.ACCEPTED: "Accepted",
    Charger.Registration.PENDING: "Pending",
    Charger.Registration.REJECTED: "Rejected",
}

# --- connector status ---------------------------------------------------------

STATUS_V16 = {
    "Available": Connector.Status.AVAILABLE,
    "Preparing": Connector.Status.PREPARING,
    "Charging": Connector.Status.CHARGING,
    "SuspendedEV": Connector.Status.SUSPENDED_EV,
    "SuspendedEVSE": Connector.Status.SUSPENDED_EVSE,
    "Finishing": Connector.Status.FINISHING,
    "Reserved": Connector.Status.RESERVED,
    "Unavailable": Connector.Status.UNAVAILABLE,
    "Faulted": Connector.Status.FAULTED,
}
STATUS_V201 = {
    "Available": Connector.Status.AVAILABLE,
    "Occupied": Connector.Status.OCCUPIED,
    "Reserved": Connector.Status.RESERVED,
    "Unavailable": Connector.Status.UNAVAILABLE,
    "Faulted": Connector.Status.FAULTED,
}


def connector_status(value: str, version: str) -> str:
    table = STATUS_V16 if version == "1.6" else STATUS_V201
    return table.get(value, Connector.Status.UNKNOWN)


def error_code_v16(value: str) -> str:
    """1.6 reports "NoError" when all is well: the domain keeps no error then."""
    return "" if value == "NoError" else value


# --- authorization ------------------------------------------------------------

# 1.6 knows fewer answers: a token refused here or now is "Invalid" for it.
AUTHORIZATION_V16 = {
    Decision.ACCEPTED: "Accepted",
    Decision.BLOCKED: "Blocked",
    Decision.EXPIRED: "Expired",
    Decision.INVALID: "Invalid",
    Decision.NOT_AT_THIS_LOCATION: "Invalid",
    Decision.NOT_AT_THIS_TIME: "Invalid",
}
AUTHORIZATION_V201 = {
    Decision.ACCEPTED: "Accepted",
    Decision.BLOCKED: "Blocked",
    Decision.EXPIRED: "Expired",
    Decision.INVALID: "Invalid",
    Decision.NOT_AT_THIS_LOCATION: "NotAtThisLocation",
    Decision.NOT_AT_THIS_TIME: "NotAtThisTime",
}


ID_TAG_MAX_LENGTH_V16 = 20


def id_tag_info(authorization: Authorization) -> dict[str, Any]:
    """1.6 IdTagInfo (snake_case keys: the package turns them into camelCase)."""
    info: dict[str, Any] = {"status": AUTHORIZATION_V16[authorization.decision]}
    if authorization.expires_at is not None:
        info["expiry_date"] = format_timestamp(authorization.expires_at)
    # IdToken in 1.6 is at most 20 characters; a longer group id (2.0.1-sized)
    # would make the whole answer invalid, so it is left out for 1.6.
    if authorization.group_uid and len(authorization.group_uid) <= ID_TAG_MAX_LENGTH_V16:
        info["parent_id_tag"] = authorization.group_uid
    return info


def id_token_info(authorization: Authorization) -> dict[str, Any]:
    """2.0.1 IdTokenInfoType."""
    info: dict[str, Any] = {"status": AUTHORIZATION_V201[authorization.decision]}
    if authorization.expires_at is not None:
        info["cache_expiry_date_time"] = format_timestamp(authorization.expires_at)
    if authorization.group_uid:
        # The group id is ours, not any issuer's: type "Central" (a CSMS-generated id).
        info["group_id_token"] = {"id_token": authorization.group_uid, "type": "Central"}
    return info


# --- sessions -----------------------------------------------------------------

SESSION_EVENT_KIND = {
    "Started": SessionEvent.Kind.STARTED,
    "Updated": SessionEvent.Kind.UPDATED,
    "Ended": SessionEvent.Kind.ENDED,
}

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def domain_word(value: str | None) -> str:
    """An OCPP enum value as a domain word: "EVDisconnected" → "ev_disconnected",
    "SOCLimitReached" → "soc_limit_reached". Used for stop reasons, triggers and
    charging states, whose vocabularies both versions share in spirit."""
    if not value:
        return ""
    return _CAMEL_BOUNDARY.sub("_", value).lower()


# --- meter values -------------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"Not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"Not a finite number: {value!r}")
    return result


def _unit(unit: str | None, measurand: str | None) -> str:
    # Both versions default the unit to Wh; it only makes sense for energy.
    if unit:
        return unit
    return "Wh" if (measurand or ENERGY_REGISTER).startswith("Energy") else ""


def _reading_key(sv: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        sv.get("measurand") or ENERGY_REGISTER,
        sv.get("phase") or "",
        sv.get("location") or "",
        sv.get("context") or "",
    )


def samples_v16(meter_values: list[dict[str, Any]]) -> list[Sample]:
    """1.6 meterValue entries (snake_case keys). A signed reading (format SignedData)
    carries the meter's signed blob instead of a number: it is kept as the signature
    of the plain reading of the same measurand, phase, location and context in the
    same entry. A signed reading without its plain twin has no number to store and
    is dropped (logged)."""
    samples = []
    for entry in meter_values:
        at = parse_timestamp(entry["timestamp"])
        values = entry.get("sampled_value", [])
        signatures = {
            _reading_key(sv): {"signed_meter_data": str(sv["value"])}
            for sv in values
            if sv.get("format") == "SignedData"
        }
        plain = [sv for sv in values if sv.get("format") != "SignedData"]
        for key in signatures.keys() - {_reading_key(sv) for sv in plain}:
            log.info("Signed %s reading at %s without a plain value: dropped.", key[0], at)
        for sv in plain:
            samples.append(
                Sample(
                    sampled_at=at,
                    value=_decimal(sv["value"]),
                    measurand=sv.get("measurand") or ENERGY_REGISTER,
                    unit=_unit(sv.get("unit"), sv.get("measurand")),
                    phase=sv.get("phase") or "",
                    context=sv.get("context") or "",
                    location=sv.get("location") or "",
                    signed=signatures.get(_reading_key(sv)),
                )
            )
    return samples


# 2.0.1 SignedMeterValueType (snake_case, as the package hands it over) -> domain keys.
_SIGNED_FIELDS = ("signed_meter_data", "signing_method", "encoding_method", "public_key")


def signed_meter_value(value: dict[str, Any] | None) -> dict[str, str] | None:
    """A 2.0.1 signedMeterValue as the domain keeps it: the fields the charger sent."""
    if not value:
        return None
    signed = {field: str(value[field]) for field in _SIGNED_FIELDS if value.get(field)}
    return signed or None


def samples_v201(meter_values: list[dict[str, Any]] | None) -> list[Sample]:
    """2.0.1 MeterValueType entries. The unit's multiplier is applied (value ×
    10^multiplier) so that every stored value is in its plain unit."""
    samples = []
    for entry in meter_values or []:
        at = parse_timestamp(entry["timestamp"])
        for sv in entry.get("sampled_value", []):
            unit = sv.get("unit_of_measure") or {}
            value = _decimal(sv["value"])
            multiplier = int(unit.get("multiplier", 0))
            if multiplier:
                value = value.scaleb(multiplier)
            samples.append(
                Sample(
                    sampled_at=at,
                    value=value,
                    measurand=sv.get("measurand") or ENERGY_REGISTER,
                    unit=_unit(unit.get("unit"), sv.get("measurand")),
                    phase=sv.get("phase") or "",
                    context=sv.get("context") or "",
                    location=sv.get("location") or "",
                    signed=signed_meter_value(sv.get("signed_meter_value")),
                )
            )
    return samples


# --- data transfer ------------------------------------------------------------

DATA_TRANSFER_STATUS = {
    DataTransferStatus.ACCEPTED: "Accepted",
    DataTransferStatus.REJECTED: "Rejected",
    DataTransferStatus.UNKNOWN_VENDOR: "UnknownVendorId",
    DataTransferStatus.UNKNOWN_MESSAGE: "UnknownMessageId",
}
