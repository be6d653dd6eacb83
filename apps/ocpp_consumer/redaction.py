"""What the raw OCPP message log must not keep: the secrets our own commands carry.

The charger gets the real values; the log (OcppMessage, shown on the charger page
and exported as CSV) keeps "***" in their place, as the command log does. Only
our outgoing CALLs carry secrets: a new station password (1.6 ChangeConfiguration
AuthorizationKey, 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword) and the
credentials of a network profile (2.0.1 SetNetworkProfile)."""

from __future__ import annotations

import json
from typing import Any

MASK = "***"

_PASSWORD_VARIABLES = frozenset({"BasicAuthPassword", "AuthorizationKey"})
# SetNetworkProfile: connectionData.<object>.<field>.
_NETWORK_PROFILE_SECRETS = (
    ("apn", "apnPassword"),
    ("apn", "simPin"),
    ("vpn", "password"),
    ("vpn", "key"),
)

ACTIONS_WITH_SECRETS = frozenset({"ChangeConfiguration", "SetVariables", "SetNetworkProfile"})


def redact_call(action: str, text: str) -> str:
    """`text` (a CALL we send) as it may be logged: unchanged unless `action` can
    carry a secret, then with every secret replaced by MASK. A frame that cannot be
    read is logged as the bare action, never as is."""
    if action not in ACTIONS_WITH_SECRETS:
        return text
    try:
        frame = json.loads(text)
        payload = frame[3]
    except (ValueError, IndexError, KeyError, TypeError):
        return json.dumps([2, "", action, MASK])
    if not isinstance(payload, dict):
        return text
    if not _mask(action, payload):
        return text
    return json.dumps([frame[0], frame[1], frame[2], payload], separators=(",", ":"))


def _mask(action: str, payload: dict[str, Any]) -> bool:
    """Mask the secrets in `payload` in place; whether there were any."""
    masked = False
    if action == "ChangeConfiguration":
        if payload.get("key") in _PASSWORD_VARIABLES and "value" in payload:
            payload["value"] = MASK
            masked = True
    elif action == "SetVariables":
        for item in payload.get("setVariableData") or []:
            variable = item.get("variable") if isinstance(item, dict) else None
            if isinstance(variable, dict) and variable.get("name") in _PASSWORD_VARIABLES:
                item["attributeValue"] = MASK
                masked = True
    elif action == "SetNetworkProfile":
        data = payload.get("connectionData")
        for outer, field in _NETWORK_PROFILE_SECRETS:
            nested = data.get(outer) if isinstance(data, dict) else None
            if isinstance(nested, dict) and field in nested:
                nested[field] = MASK
                masked = True
    return masked
