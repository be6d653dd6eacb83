"""Remote commands, translated for the charger's OCPP version.

The consumer holding a charger's socket calls `execute()` (in a task of its own,
never inside `receive()`) when an "ocpp.command" message reaches it through the
channel layer. `execute()` turns the domain command and its snake_case
parameters into the OCPP 1.6 or 2.0.1 request, awaits the charger's answer, and
turns that back into a domain dict: always a "status" plus whatever the answer
carries (configuration keys, a schedule, a file name).

Errors, as the consumer reports them to the caller:
- ValueError: the parameters do not make a valid request (bad_request, HTTP 422);
- asyncio.TimeoutError: the charger did not answer in time;
- ocpp.exceptions.OCPPError: the charger answered with a CALLERROR, or with an
  answer that breaks the schema.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

from channels.db import database_sync_to_async
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, validate_payload
from ocpp.v16 import call as call16
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from apps.chargers.commands import (
    COMMAND_NAMES,
    charger_has_password,
    charging_session_transaction_id,
)
from apps.ocpp_consumer.command_params import Params, iso_utc

Answer = Callable[[dict[str, Any]], dict[str, Any]]
Translation = tuple[Any, Answer]

# --- vocabularies: domain words (and OCPP spellings, accepted too) -> domain value

RESET_TYPES = {"soft": "soft", "hard": "hard", "on_idle": "soft", "immediate": "hard"}
RESET_16 = {"soft": "Soft", "hard": "Hard"}
# 2.0.1 has no soft/hard: OnIdle waits for transactions to end, Immediate does not.
RESET_201 = {"soft": "OnIdle", "hard": "Immediate"}

# Domain kinds of IdToken (apps.access) and the 2.0.1 IdTokenEnumType values.
ID_TOKEN_TYPES = {
    "rfid": "ISO14443",
    "app": "Central",
    "vehicle_mac": "MacAddress",
    "other": "Local",
    "central": "Central",
    "iso14443": "ISO14443",
    "iso15693": "ISO15693",
    "emaid": "eMAID",
    "key_code": "KeyCode",
    "local": "Local",
    "mac_address": "MacAddress",
    "no_authorization": "NoAuthorization",
}

AUTHORIZATION_STATUSES = {
    s: s for s in ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
}

TRIGGERS_COMMON = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification")
TRIGGERS_16 = {
    **{m: m for m in TRIGGERS_COMMON},
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "DiagnosticsStatusNotification": "DiagnosticsStatusNotification",
    # 2.0.1's name for the same upload progress report.
    "LogStatusNotification": "DiagnosticsStatusNotification",
}
TRIGGERS_201 = {
    **{m: m for m in TRIGGERS_COMMON},
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "LogStatusNotification": "LogStatusNotification",
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "TransactionEvent": "TransactionEvent",
    "SignChargingStationCertificate": "SignChargingStationCertificate",
    "SignV2GCertificate": "SignV2GCertificate",
    "SignCombinedCertificate": "SignCombinedCertificate",
    "PublishFirmwareStatusNotification": "PublishFirmwareStatusNotification",
}

PROFILE_PURPOSES = {
    "charger_max": "charger_max",
    "ChargePointMaxProfile": "charger_max",
    "ChargingStationMaxProfile": "charger_max",
    "tx_default": "tx_default",
    "TxDefaultProfile": "tx_default",
    "tx": "tx",
    "TxProfile": "tx",
}
PURPOSE_16 = {
    "charger_max": "ChargePointMaxProfile",
    "tx_default": "TxDefaultProfile",
    "tx": "TxProfile",
}
PURPOSE_201 = {
    "charger_max": "ChargingStationMaxProfile",
    "tx_default": "TxDefaultProfile",
    "tx": "TxProfile",
}
PROFILE_KINDS = {k: k.capitalize() for k in ("absolute", "recurring", "relative")}
RECURRENCY_KINDS = {"daily": "Daily", "weekly": "Weekly"}
RATE_UNITS = {"W": "W", "A": "A"}
REPORT_BASES = {
    "configuration": "ConfigurationInventory",
    "ConfigurationInventory": "ConfigurationInventory",
    "full": "FullInventory",
    "FullInventory": "FullInventory",
    "summary": "SummaryInventory",
    "SummaryInventory": "SummaryInventory",
}

# Well-known 1.6 configuration keys and where 2.0.1 keeps them, so that
# get-configuration / change-configuration with a 1.6 key work on both versions.
KEYS_16_TO_201 = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "WebSocketPingInterval": ("OCPPCommCtrlr", "WebSocketPingInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "LocalAuthListEnabled": ("LocalAuthListCtrlr", "Enabled"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled"),
    "AuthorizationKey": ("SecurityCtrlr", "BasicAuthPassword"),
    "SecurityProfile": ("SecurityCtrlr", "SecurityProfile"),
}
# 2.0.1 attribute statuses in the 1.6 ConfigurationStatus vocabulary.
SET_VARIABLE_STATUS = {
    "Accepted": "Accepted",
    "Rejected": "Rejected",
    "RebootRequired": "RebootRequired",
    "UnknownComponent": "NotSupported",
    "UnknownVariable": "NotSupported",
    "NotSupportedAttributeType": "NotSupported",
}


class _Context:
    """What a translation needs besides the parameters."""

    def __init__(self, cp: Any, ocpp_version: str) -> None:
        version = ocpp_version.removeprefix("ocpp")
        if version == "1.6":
            self.calls: ModuleType = call16
        elif version in ("2.0.1", "2.0"):
            version, self.calls = "2.0.1", call201
        elif version == "2.1":
            # 2.1 keeps the 2.0.1 messages used here (same names and fields).
            self.calls = call21
        else:
            raise ValueError(f"Unsupported OCPP version {ocpp_version!r}.")
        self.cp = cp
        self.version = version
        self.v16 = version == "1.6"

    async def transaction_id(self, session_id: int, *, active_only: bool = True) -> str:
        """The OCPP transaction id of one of THIS charger's active sessions (or any of
        its sessions, `active_only=False`): a session id of another charger must never
        stop someone else's charge, nor reveal its transaction id."""
        return await database_sync_to_async(charging_session_transaction_id)(
            charge_point_id=self.cp.id, session_id=session_id, active_only=active_only
        )

    async def has_password(self) -> bool:
        """Whether the charger logs in with a password checked here (read fresh:
        a rotation may have set one since it connected)."""
        return await database_sync_to_async(charger_has_password)(charge_point_id=self.cp.id)


async def execute(
    cp: Any, ocpp_version: str, command: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Send `command` to the charger behind `cp` (an `ocpp` ChargePoint of its
    version) and return its answer as a domain dict with at least "status"."""
    translate = _TRANSLATIONS.get(command)
    if translate is None:
        raise ValueError(
            f"Unknown command {command!r}. Valid commands: {', '.join(sorted(_TRANSLATIONS))}."
        )
    context = _Context(cp, ocpp_version)
    reader = Params(command, params)
    request, answer = await translate(context, reader)
    reader.finish()
    await _check_request(request, context.version)
    result = await cp.call(request, suppress=False)
    if result is None:
        # Only a ChargePoint that swallows CALLERRORs returns None; say so.
        raise RuntimeError(f"{command}: the charger's answer was lost (CALLERROR suppressed).")
    return answer(_plain(result))


async def _check_request(request: Any, version: str) -> None:
    """Validate the request against the OCPP JSON schema before it is sent. `call()`
    does so too, but its OCPPError would read as the charger's refusal; here a bad
    request is the caller's mistake (ValueError)."""
    payload = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
    message = Call(unique_id="check", action=type(request).__name__, payload=payload)
    try:
        await validate_payload(message, version)
    except OCPPError as exc:
        cause = (exc.details or {}).get("cause", exc.description)
        raise ValueError(f"The {message.action} request would be invalid: {cause}") from exc


def _plain(value: Any) -> Any:
    """An answer object as plain JSON data: no None fields, no customData."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and k != "custom_data"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        # The package parses 1.6 schedule limits as Decimal to validate them; the
        # answer travels through the channel layer and into JSON: plain numbers.
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _status(result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The common shape: the charger's status, its reason when it gave one."""
    answer: dict[str, Any] = {"status": result.get("status", "Accepted")}
    if "status_info" in result:
        answer["status_info"] = result["status_info"]
    answer.update(extra)
    return answer


def _request_id(params: Params) -> int:
    """The id that ties later reports (TransactionEvent, FirmwareStatusNotification,
    LogStatusNotification, NotifyReport) to this command. The domain passes the
    command's log id; a random one otherwise."""
    value = params.integer("request_id", minimum=1)
    return value if value is not None else secrets.randbelow(2**31 - 2) + 1


def _id_token(value: str, kind: str) -> dict[str, str]:
    return {"id_token": value, "type": kind}


def _id_tag(
    params: Params, ctx: _Context, key: str = "id_tag", *, required: bool = True
) -> str | None:
    # 1.6 idTag: at most 20 characters; 2.0.1 idToken: at most 36.
    return params.text(key, required=required, max_length=20 if ctx.v16 else 36)


def _configuration_key(ctx: _Context, key: str) -> tuple[str, str, str | None, str | None]:
    """A 2.0.1 (component, variable, component instance, variable instance) from
    "Component.Variable" (each part may carry an instance: "EVSE[2].Power[max]") or
    a well-known 1.6 key."""
    if key in KEYS_16_TO_201:
        component, variable = KEYS_16_TO_201[key]
        return component, variable, None, None
    component, dot, variable = key.partition(".")
    if not dot or not component or not variable:
        raise ValueError(
            f"{key!r} is not a 2.0.1 key: write 'Component.Variable' "
            "(e.g. 'OCPPCommCtrlr.HeartbeatInterval') or give component and variable."
        )

    def split(part: str) -> tuple[str, str | None]:
        name, bracket, instance = part.partition("[")
        if bracket and not instance.endswith("]"):
            raise ValueError(f"{key!r}: an instance is written 'Name[instance]'.")
        return name, (instance[:-1] or None) if bracket else None

    component, component_instance = split(component)
    variable, variable_instance = split(variable)
    return component, variable, component_instance, variable_instance


def _component_variable(
    component: str, variable: str, component_instance: str | None, variable_instance: str | None
) -> dict[str, Any]:
    return {
        "component": {"name": component, "instance": component_instance},
        "variable": {"name": variable, "instance": variable_instance},
    }


def _key_label(result: dict[str, Any]) -> str:
    def part(entry: dict[str, Any]) -> str:
        name = entry.get("name", "")
        return f"{name}[{entry['instance']}]" if entry.get("instance") else name

    return f"{part(result.get('component', {}))}.{part(result.get('variable', {}))}"


async def _charging_profile(
    ctx: _Context, params: Params, *, default_purpose: str | None = None
) -> dict[str, Any]:
    """A domain charging profile, in the charger's version's shape:
    {"id", "stack_level"?, "purpose": charger_max|tx_default|tx, "kind"?:
    absolute|recurring|relative, "recurrency_kind"?, "valid_from"?, "valid_to"?,
    "session_id"? (tx profiles), "schedule": {"rate_unit": W|A, "periods":
    [{"start_period", "limit", "number_phases"?}], "duration"?, "start_at"?,
    "min_charging_rate"?}}"""
    profile_id = params.required_integer("id", minimum=0)
    stack_level = params.integer("stack_level", default=0, minimum=0)
    purpose = params.require(
        "purpose",
        params.choice(
            "purpose", PROFILE_PURPOSES, default=default_purpose, required=default_purpose is None
        ),
    )
    kind = params.choice("kind", PROFILE_KINDS, default="Absolute")
    recurrency = params.choice("recurrency_kind", RECURRENCY_KINDS)
    if kind == "Recurring" and recurrency is None:
        raise ValueError(f"{params.command}: a recurring profile needs recurrency_kind.")
    valid_from = params.timestamp("valid_from")
    valid_to = params.timestamp("valid_to")
    session_id = params.integer("session_id", minimum=1)
    transaction_id = await ctx.transaction_id(session_id) if session_id is not None else None
    if transaction_id is not None and purpose != "tx":
        raise ValueError(f"{params.command}: only a 'tx' profile names a session.")

    schedule = params.required_nested("schedule")
    rate_unit = schedule.required_choice("rate_unit", RATE_UNITS)
    periods = []
    for period in schedule.nested_list("periods", required=True):
        limit = period.required_number("limit")
        periods.append(
            {
                "start_period": period.required_integer("start_period", minimum=0),
                # OCPP wants at most one decimal.
                "limit": round(limit, 1),
                "number_phases": period.integer("number_phases", minimum=1, maximum=3),
            }
        )
        period.finish()
    if not periods:
        raise ValueError(f"{params.command}: the schedule needs at least one period.")
    if periods[0]["start_period"] != 0:
        raise ValueError(f"{params.command}: the first period must start at 0.")
    duration = schedule.integer("duration", minimum=1)
    start_at = schedule.timestamp("start_at")
    min_rate = schedule.number("min_charging_rate")
    schedule.finish()

    body = {
        "duration": duration,
        "start_schedule": start_at,
        "charging_rate_unit": rate_unit,
        "charging_schedule_period": periods,
        "min_charging_rate": round(min_rate, 1) if min_rate is not None else None,
    }
    common = {
        "stack_level": stack_level,
        "charging_profile_kind": kind,
        "recurrency_kind": recurrency,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }
    if ctx.v16:
        if transaction_id is not None and not transaction_id.isdigit():
            raise ValueError(f"{params.command}: the session has no 1.6 transaction id.")
        return {
            "charging_profile_id": profile_id,
            "charging_profile_purpose": PURPOSE_16[purpose],
            "transaction_id": int(transaction_id) if transaction_id else None,
            "charging_schedule": body,
            **common,
        }
    return {
        "id": profile_id,
        "charging_profile_purpose": PURPOSE_201[purpose],
        "transaction_id": transaction_id,
        # One schedule per profile; its id only has to be unique within the profile.
        "charging_schedule": [{"id": profile_id, **body}],
        **common,
    }


# --- one translation per command --------------------------------------------------


async def _reset(ctx: _Context, p: Params) -> Translation:
    kind = p.required_choice("type", RESET_TYPES)
    connector_id = p.integer("connector_id", minimum=1)
    if ctx.v16:
        if connector_id is not None:
            raise ValueError("reset: a 1.6 charger resets as a whole (leave out connector_id).")
        return ctx.calls.Reset(type=RESET_16[kind]), _status
    # 2.0.1 can reset one EVSE only (TC_B_25..27).
    return ctx.calls.Reset(type=RESET_201[kind], evse_id=connector_id), _status


async def _remote_start(ctx: _Context, p: Params) -> Translation:
    connector_id = p.integer("connector_id", minimum=1)
    id_tag = _id_tag(p, ctx)
    token_type = p.choice("id_token_type", ID_TOKEN_TYPES, default="Central")
    profile_params = p.nested("charging_profile")
    profile = (
        await _charging_profile(ctx, profile_params, default_purpose="tx")
        if profile_params is not None
        else None
    )
    if profile_params is not None:
        profile_params.finish()
        if profile and profile["charging_profile_purpose"] != "TxProfile":
            # The profile of a remote start limits that transaction, nothing else.
            raise ValueError("remote-start: the charging profile's purpose must be tx.")
    request_id = _request_id(p)
    if ctx.v16:
        request = ctx.calls.RemoteStartTransaction(
            id_tag=id_tag, connector_id=connector_id, charging_profile=profile
        )
        return request, _status
    request = ctx.calls.RequestStartTransaction(
        id_token=_id_token(id_tag or "", token_type or "Central"),
        remote_start_id=request_id,
        evse_id=connector_id,
        charging_profile=profile,
    )

    def answer(result: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {"remote_start_id": request_id}
        if "transaction_id" in result:
            extra["transaction_id"] = result["transaction_id"]
        return _status(result, **extra)

    return request, answer


async def _remote_stop(ctx: _Context, p: Params) -> Translation:
    session_id = p.required_integer("session_id", minimum=1)
    transaction_id = await ctx.transaction_id(session_id)
    if ctx.v16:
        if not transaction_id.isdigit():
            raise ValueError(f"remote-stop: session {session_id} has no 1.6 transaction id.")
        return ctx.calls.RemoteStopTransaction(transaction_id=int(transaction_id)), _status
    return ctx.calls.RequestStopTransaction(transaction_id=transaction_id), _status


async def _unlock_connector(ctx: _Context, p: Params) -> Translation:
    connector_id = p.required_integer("connector_id", minimum=1)
    if ctx.v16:
        return ctx.calls.UnlockConnector(connector_id=connector_id), _status
    # Plugboard's connector id is the 2.0.1 EVSE id, with one connector per EVSE.
    return ctx.calls.UnlockConnector(evse_id=connector_id, connector_id=1), _status


async def _change_availability(ctx: _Context, p: Params) -> Translation:
    connector_id = p.integer("connector_id", default=0, minimum=0)
    operative = "Operative" if p.boolean("available") else "Inoperative"
    if ctx.v16:
        return ctx.calls.ChangeAvailability(connector_id=connector_id, type=operative), _status
    evse = {"id": connector_id} if connector_id else None
    return ctx.calls.ChangeAvailability(operational_status=operative, evse=evse), _status


async def _trigger_message(ctx: _Context, p: Params) -> Translation:
    message = p.required_choice("message", TRIGGERS_16 if ctx.v16 else TRIGGERS_201)
    connector_id = p.integer("connector_id", minimum=1)
    if ctx.v16:
        request = ctx.calls.TriggerMessage(requested_message=message, connector_id=connector_id)
        return request, _status
    evse = None
    if connector_id is not None:
        evse = {"id": connector_id}
        if message == "StatusNotification":
            # A triggered StatusNotification is about one connector of the EVSE.
            evse["connector_id"] = 1
    return ctx.calls.TriggerMessage(requested_message=message, evse=evse), _status


async def _get_configuration(ctx: _Context, p: Params) -> Translation:
    keys = p.string_list("keys")
    if ctx.v16:
        _request_id(p)  # accepted for symmetry with 2.0.1; 1.6 has no report id

        def answer16(result: dict[str, Any]) -> dict[str, Any]:
            return {
                "status": "Accepted",
                "configuration": [
                    {"key": e["key"], "value": e.get("value"), "readonly": e["readonly"]}
                    for e in result.get("configuration_key", [])
                ],
                "unknown_keys": result.get("unknown_key", []),
            }

        return ctx.calls.GetConfiguration(key=keys), answer16

    if not keys:
        # 2.0.1 has no "all variables" GetVariables: ask for the configuration
        # report instead; it arrives as NotifyReport messages (stored as events).
        request_id = _request_id(p)
        report = p.choice("report", REPORT_BASES, default="ConfigurationInventory")
        request = ctx.calls.GetBaseReport(request_id=request_id, report_base=report)
        return request, lambda result: _status(result, report_request_id=request_id)

    _request_id(p)
    wanted = [_configuration_key(ctx, key) for key in keys]
    request = ctx.calls.GetVariables(get_variable_data=[_component_variable(*w) for w in wanted])

    def answer201(result: dict[str, Any]) -> dict[str, Any]:
        configuration, unknown = [], []
        for entry in result.get("get_variable_result", []):
            key = _key_label(entry)
            status = entry.get("attribute_status")
            if status in ("UnknownComponent", "UnknownVariable"):
                unknown.append(key)
                continue
            configuration.append(
                {"key": key, "value": entry.get("attribute_value"), "attribute_status": status}
            )
        return {"status": "Accepted", "configuration": configuration, "unknown_keys": unknown}

    return request, answer201


def _configuration_value(value: Any, *, v16: bool) -> str:
    if value is None or isinstance(value, dict | list):
        raise ValueError("change-configuration: value is required (a string, number or boolean).")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if len(text) > (500 if v16 else 1000):
        raise ValueError("change-configuration: value is too long.")
    return text


def _set_variable_answer(entry: dict[str, Any]) -> dict[str, Any]:
    status = entry.get("attribute_status", "Rejected")
    answer: dict[str, Any] = {
        "key": _key_label(entry),
        "status": SET_VARIABLE_STATUS.get(status, status),
        "ocpp_status": status,
    }
    if "attribute_status_info" in entry:
        answer["status_info"] = entry["attribute_status_info"]
    return answer


async def _change_configuration(ctx: _Context, p: Params) -> Translation:
    key = p.text("key", max_length=50 if ctx.v16 else None)
    values = p.raw("values")
    if ctx.v16:
        if values is not None:
            raise ValueError("change-configuration: 1.6 changes one key at a time (key, value).")
        if key is None:
            raise ValueError("change-configuration: key is required.")
        text = _configuration_value(p.raw("value"), v16=True)
        return ctx.calls.ChangeConfiguration(key=key, value=text), _status

    if values is not None:
        # Several variables in one SetVariables (TC_B_10).
        if key is not None or p.has("value") or p.has("component") or p.has("variable"):
            raise ValueError("change-configuration: give either values or one key and value.")
        if not isinstance(values, dict) or not values:
            raise ValueError(
                "change-configuration: values must be an object of 'Component.Variable': value."
            )
        changes = [
            (_configuration_key(ctx, k), _configuration_value(v, v16=False))
            for k, v in values.items()
        ]
    else:
        text = _configuration_value(p.raw("value"), v16=False)
        component = p.text("component", max_length=50)
        variable = p.text("variable", max_length=50)
        component_instance = p.text("component_instance", max_length=50)
        variable_instance = p.text("variable_instance", max_length=50)
        if key is not None and (component or variable):
            raise ValueError("change-configuration: give either key or component and variable.")
        if key is not None:
            target = _configuration_key(ctx, key)
        elif component and variable:
            target = (component, variable, component_instance, variable_instance)
        else:
            raise ValueError("change-configuration: key (or component and variable) is required.")
        changes = [(target, text)]
    request = ctx.calls.SetVariables(
        set_variable_data=[
            {"attribute_value": text, **_component_variable(*target)} for target, text in changes
        ]
    )

    def answer(result: dict[str, Any]) -> dict[str, Any]:
        results = [_set_variable_answer(e) for e in result.get("set_variable_result", [])]
        if values is None and len(results) == 1:
            return results[0]
        statuses = {r["status"] for r in results}
        if statuses <= {"Accepted"}:
            overall = "Accepted"
        elif statuses <= {"Accepted", "RebootRequired"}:
            overall = "RebootRequired"
        elif statuses & {"Accepted", "RebootRequired"}:
            overall = "PartiallyAccepted"
        else:
            overall = "Rejected"
        return {"status": overall, "results": results}

    return request, answer


async def _clear_cache(ctx: _Context, p: Params) -> Translation:
    return ctx.calls.ClearCache(), _status


async def _send_local_list(ctx: _Context, p: Params) -> Translation:
    version = p.required_integer("version", minimum=1)
    update_type = p.choice(
        "update_type", {"full": "Full", "differential": "Differential"}, default="Full"
    )
    entries: list[dict[str, Any]] = []
    for entry in p.nested_list("entries"):
        id_tag = _id_tag(entry, ctx)
        # In a differential update, an entry without a status removes the token.
        default_status = "Accepted" if update_type == "Full" else None
        status = entry.choice("status", AUTHORIZATION_STATUSES, default=default_status)
        expiry_at = entry.timestamp("expiry_at")
        parent = _id_tag(entry, ctx, "parent_id_tag", required=False)
        token_type = entry.choice("id_token_type", ID_TOKEN_TYPES, default="ISO14443")
        entry.finish()
        if ctx.v16:
            info = {"status": status, "expiry_date": expiry_at, "parent_id_tag": parent}
            entries.append({"id_tag": id_tag, "id_tag_info": info if status else None})
        else:
            info201 = {
                "status": status,
                "cache_expiry_date_time": expiry_at,
                "group_id_token": _id_token(parent, "Central") if parent else None,
            }
            entries.append(
                {
                    "id_token": _id_token(id_tag or "", token_type or "ISO14443"),
                    "id_token_info": info201 if status else None,
                }
            )
    if ctx.v16:
        request = ctx.calls.SendLocalList(
            list_version=version, update_type=update_type, local_authorization_list=entries
        )
    else:
        request = ctx.calls.SendLocalList(
            version_number=version,
            update_type=update_type,
            local_authorization_list=entries or None,
        )
    return request, _status


async def _get_local_list_version(ctx: _Context, p: Params) -> Translation:
    def answer(result: dict[str, Any]) -> dict[str, Any]:
        version = result.get("list_version", result.get("version_number"))
        # 1.6: -1 means the charger has no local authorization list at all.
        return {"status": "NotSupported" if version == -1 else "Accepted", "version": version}

    return ctx.calls.GetLocalListVersion(), answer


async def _reserve_now(ctx: _Context, p: Params) -> Translation:
    connector_id = p.integer("connector_id", default=0, minimum=0)
    expiry_at = p.timestamp("expiry_at", required=True)
    id_tag = _id_tag(p, ctx)
    parent = _id_tag(p, ctx, "parent_id_tag", required=False)
    token_type = p.choice("id_token_type", ID_TOKEN_TYPES, default="ISO14443")
    reservation_id = p.integer("reservation_id", minimum=0)
    if reservation_id is None:
        reservation_id = _request_id(p)
    else:
        p.raw("request_id")

    def answer(result: dict[str, Any]) -> dict[str, Any]:
        return _status(result, reservation_id=reservation_id)

    if ctx.v16:
        request = ctx.calls.ReserveNow(
            connector_id=connector_id,
            expiry_date=expiry_at,
            id_tag=id_tag,
            reservation_id=reservation_id,
            parent_id_tag=parent,
        )
        return request, answer
    request = ctx.calls.ReserveNow(
        id=reservation_id,
        expiry_date_time=expiry_at,
        id_token=_id_token(id_tag or "", token_type or "ISO14443"),
        evse_id=connector_id or None,
        group_id_token=_id_token(parent, "Central") if parent else None,
    )
    return request, answer


async def _cancel_reservation(ctx: _Context, p: Params) -> Translation:
    reservation_id = p.required_integer("reservation_id", minimum=0)
    return ctx.calls.CancelReservation(reservation_id=reservation_id), _status


async def _set_charging_profile(ctx: _Context, p: Params) -> Translation:
    connector_id = p.integer("connector_id", default=0, minimum=0)
    profile_params = p.required_nested("profile")
    profile = await _charging_profile(ctx, profile_params)
    profile_params.finish()
    if ctx.v16:
        request = ctx.calls.SetChargingProfile(
            connector_id=connector_id, cs_charging_profiles=profile
        )
    else:
        request = ctx.calls.SetChargingProfile(evse_id=connector_id, charging_profile=profile)
    return request, _status


async def _clear_charging_profile(ctx: _Context, p: Params) -> Translation:
    profile_id = p.integer("profile_id", minimum=0)
    connector_id = p.integer("connector_id", minimum=0)
    purpose = p.choice("purpose", PROFILE_PURPOSES)
    stack_level = p.integer("stack_level", minimum=0)
    if ctx.v16:
        request = ctx.calls.ClearChargingProfile(
            id=profile_id,
            connector_id=connector_id,
            charging_profile_purpose=PURPOSE_16[purpose] if purpose else None,
            stack_level=stack_level,
        )
        return request, _status
    criteria = {
        "evse_id": connector_id,
        "charging_profile_purpose": PURPOSE_201[purpose] if purpose else None,
        "stack_level": stack_level,
    }
    request = ctx.calls.ClearChargingProfile(
        charging_profile_id=profile_id,
        charging_profile_criteria=criteria
        if any(v is not None for v in criteria.values())
        else None,
    )
    return request, _status


async def _get_composite_schedule(ctx: _Context, p: Params) -> Translation:
    connector_id = p.integer("connector_id", default=0, minimum=0)
    duration = p.required_integer("duration", minimum=1)
    rate_unit = p.choice("rate_unit", RATE_UNITS)

    def schedule(body: dict[str, Any], start: str | None, connector: int | None) -> dict[str, Any]:
        return {
            "connector_id": connector,
            "start_at": start or body.get("start_schedule"),
            "duration": body.get("duration"),
            "rate_unit": body.get("charging_rate_unit"),
            "periods": body.get("charging_schedule_period", []),
            "min_charging_rate": body.get("min_charging_rate"),
        }

    def answer(result: dict[str, Any]) -> dict[str, Any]:
        if ctx.v16:
            body = result.get("charging_schedule")
            found = (
                schedule(body, result.get("schedule_start"), result.get("connector_id"))
                if body
                else None
            )
        else:
            body = result.get("schedule")
            found = (
                schedule(body, body.get("schedule_start"), body.get("evse_id")) if body else None
            )
        return _status(result, schedule=_plain(found))

    if ctx.v16:
        request = ctx.calls.GetCompositeSchedule(
            connector_id=connector_id, duration=duration, charging_rate_unit=rate_unit
        )
    else:
        request = ctx.calls.GetCompositeSchedule(
            evse_id=connector_id, duration=duration, charging_rate_unit=rate_unit
        )
    return request, answer


async def _update_firmware(ctx: _Context, p: Params) -> Translation:
    location = p.required_text("location", max_length=512)
    retrieve_at = p.timestamp("retrieve_at") or iso_utc(datetime.now(UTC))
    retries = p.integer("retries", minimum=0)
    retry_interval = p.integer("retry_interval", minimum=0)
    if ctx.v16:
        _request_id(p)
        request = ctx.calls.UpdateFirmware(
            location=location,
            retrieve_date=retrieve_at,
            retries=retries,
            retry_interval=retry_interval,
        )
        # 1.6 answers with an empty object: receiving it is the acceptance.
        return request, lambda result: {"status": "Accepted"}
    request_id = _request_id(p)
    firmware = {
        "location": location,
        "retrieve_date_time": retrieve_at,
        "install_date_time": p.timestamp("install_at"),
        "signing_certificate": p.text("signing_certificate", max_length=5500),
        "signature": p.text("signature", max_length=800),
    }
    request = ctx.calls.UpdateFirmware(
        request_id=request_id, firmware=firmware, retries=retries, retry_interval=retry_interval
    )
    return request, lambda result: _status(result, request_id=request_id)


async def _get_diagnostics(ctx: _Context, p: Params) -> Translation:
    location = p.required_text("location", max_length=512)
    start_at = p.timestamp("start_at")
    stop_at = p.timestamp("stop_at")
    retries = p.integer("retries", minimum=0)
    retry_interval = p.integer("retry_interval", minimum=0)
    if ctx.v16:
        _request_id(p)
        request = ctx.calls.GetDiagnostics(
            location=location,
            retries=retries,
            retry_interval=retry_interval,
            start_time=start_at,
            stop_time=stop_at,
        )
        # 1.6 has no status: the file name is left out when there is nothing to upload.
        return request, lambda result: {
            "status": "Accepted",
            "file_name": result.get("file_name"),
        }
    request_id = _request_id(p)
    request = ctx.calls.GetLog(
        log={
            "remote_location": location,
            "oldest_timestamp": start_at,
            "latest_timestamp": stop_at,
        },
        log_type="DiagnosticsLog",
        request_id=request_id,
        retries=retries,
        retry_interval=retry_interval,
    )
    return request, lambda result: _status(
        result, file_name=result.get("filename"), request_id=request_id
    )


async def _data_transfer(ctx: _Context, p: Params) -> Translation:
    vendor_id = p.required_text("vendor_id", max_length=255)
    message_id = p.text("message_id", max_length=50)
    data = p.raw("data")
    if ctx.v16 and data is not None and not isinstance(data, str):
        # 1.6 data is a string: structured data travels as JSON text.
        data = json.dumps(data, separators=(",", ":"))
    request = ctx.calls.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
    return request, lambda result: _status(
        result, **({"data": result["data"]} if "data" in result else {})
    )


async def _get_transaction_status(ctx: _Context, p: Params) -> Translation:
    session_id = p.integer("session_id", minimum=1)
    if ctx.v16:
        # 1.6 has no such message: a charger there keeps its queue to itself.
        raise ValueError(
            "get-transaction-status: GetTransactionStatus is OCPP 2.0.1 only; "
            "this charger speaks OCPP 1.6."
        )
    # An ended session may be asked about too (TC_E_31): are its last events queued?
    transaction_id = (
        await ctx.transaction_id(session_id, active_only=False) if session_id is not None else None
    )
    request = ctx.calls.GetTransactionStatus(transaction_id=transaction_id)

    def answer(result: dict[str, Any]) -> dict[str, Any]:
        # The answer has no status of its own: receiving it is the acceptance.
        # ongoingIndicator comes only when a transaction id was asked about.
        return {
            "status": "Accepted",
            "ongoing_indicator": result.get("ongoing_indicator"),
            "messages_in_queue": result["messages_in_queue"],
        }

    return request, answer


def _only_201(ctx: _Context, command: str, message: str) -> None:
    """Refuse a command that OCPP 1.6 has no message for (422, nothing is sent)."""
    if ctx.v16:
        raise ValueError(f"{command}: {message} is OCPP 2.0.1 only; this charger speaks OCPP 1.6.")


# The CSMS URL of a network profile: a websocket URL. Profiles 2 and 3 are TLS.
_WS_URL = re.compile(r"^wss?://[^\s/]+(/\S*)?$", re.IGNORECASE)
OCPP_VERSIONS_201 = {
    "2.0.1": "OCPP20",
    "2.0": "OCPP20",
    "OCPP20": "OCPP20",
    "1.6": "OCPP16",
    "OCPP16": "OCPP16",
}
OCPP_TRANSPORTS = {"json": "JSON", "soap": "SOAP"}
OCPP_INTERFACES = {
    f"{kind}{n}": f"{kind.capitalize()}{n}" for kind in ("wired", "wireless") for n in range(4)
}
APN_AUTHENTICATIONS = {a.lower(): a for a in ("CHAP", "NONE", "PAP", "AUTO")}
VPN_TYPES = {v: v for v in ("IKEv2", "IPSec", "L2TP", "PPTP")}


async def _set_network_profile(ctx: _Context, p: Params) -> Translation:
    """A connection profile in one of the station's slots (B09). It is used once the
    slot comes first in OCPPCommCtrlr.NetworkConfigurationPriority (change-configuration)
    and the station reconnects (reset): the security profile upgrade of A05 / TC_A_19."""
    _only_201(ctx, "set-network-profile", "SetNetworkProfile")
    slot = p.required_integer("configuration_slot", minimum=0)
    url = p.required_text("ocpp_csms_url", max_length=512)
    security_profile = p.required_integer("security_profile", minimum=0, maximum=3)
    if not _WS_URL.match(url):
        raise ValueError(
            "set-network-profile: ocpp_csms_url must be a websocket URL (ws:// or wss://)."
        )
    if security_profile >= 2 and not url.lower().startswith("wss://"):
        raise ValueError(
            f"set-network-profile: security profile {security_profile} is TLS: "
            "ocpp_csms_url must start with wss://."
        )
    connection: dict[str, Any] = {
        "ocpp_version": p.choice("ocpp_version", OCPP_VERSIONS_201, default="OCPP20"),
        "ocpp_transport": p.choice("ocpp_transport", OCPP_TRANSPORTS, default="JSON"),
        "ocpp_csms_url": url,
        "message_timeout": p.integer("message_timeout", default=30, minimum=1),
        "security_profile": security_profile,
        "ocpp_interface": p.choice("ocpp_interface", OCPP_INTERFACES, default="Wired0"),
        "apn": None,
        "vpn": None,
    }
    apn = p.nested("apn")
    if apn is not None:
        connection["apn"] = {
            "apn": apn.required_text("apn", max_length=512),
            "apn_user_name": apn.text("apn_user_name", max_length=20),
            "apn_password": apn.text("apn_password", max_length=20),
            "sim_pin": apn.integer("sim_pin", minimum=0),
            "preferred_network": apn.text("preferred_network", max_length=6),
            "use_only_preferred_network": apn.boolean("use_only_preferred_network", default=False),
            "apn_authentication": apn.choice(
                "apn_authentication", APN_AUTHENTICATIONS, default="AUTO"
            ),
        }
        apn.finish()
    vpn = p.nested("vpn")
    if vpn is not None:
        connection["vpn"] = {
            "server": vpn.required_text("server", max_length=512),
            "user": vpn.required_text("user", max_length=20),
            "group": vpn.text("group", max_length=20),
            "password": vpn.required_text("password", max_length=20),
            "key": vpn.required_text("key", max_length=255),
            "type": vpn.required_choice("type", VPN_TYPES),
        }
        vpn.finish()
    if security_profile in (1, 2) and not await ctx.has_password():
        # The station would log in with a password Plugboard cannot check: a
        # charger without a password here is admitted without one.
        raise ValueError(
            f"set-network-profile: security profile {security_profile} authenticates "
            "with HTTP Basic auth, and this charger has no OCPP password here: rotate "
            'its password first (admin action "Rotate OCPP password").'
        )
    request = ctx.calls.SetNetworkProfile(configuration_slot=slot, connection_data=connection)
    return request, lambda result: _status(result, configuration_slot=slot)


HASH_ALGORITHMS = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}


async def _customer_information(ctx: _Context, p: Params) -> Translation:
    """Ask the station for what it keeps about one customer (report) and/or have it
    forget it (clear) (N09, N10). The data arrives later in NotifyCustomerInformation
    messages carrying the request id, kept as charger events and read back per request
    (GET /chargers/{id}/customer-information/{request_id})."""
    _only_201(ctx, "customer-information", "CustomerInformation")
    report = p.boolean("report", default=True)
    clear = p.boolean("clear", default=False)
    if not report and not clear:
        raise ValueError("customer-information: ask for a report, a clear, or both.")
    customer_identifier = p.text("customer_identifier", max_length=64)
    id_tag = _id_tag(p, ctx, "id_tag", required=False)
    token_type = p.choice("id_token_type", ID_TOKEN_TYPES, default="ISO14443")
    certificate = p.nested("customer_certificate")
    certificate_hash = None
    if certificate is not None:
        certificate_hash = {
            "hash_algorithm": certificate.required_choice("hash_algorithm", HASH_ALGORITHMS),
            "issuer_name_hash": certificate.required_text("issuer_name_hash", max_length=128),
            "issuer_key_hash": certificate.required_text("issuer_key_hash", max_length=128),
            "serial_number": certificate.required_text("serial_number", max_length=40),
        }
        certificate.finish()
    given = [v for v in (customer_identifier, id_tag, certificate_hash) if v is not None]
    if len(given) != 1:
        raise ValueError(
            "customer-information: name the customer by exactly one of "
            "customer_identifier, id_tag or customer_certificate."
        )
    request_id = _request_id(p)
    request = ctx.calls.CustomerInformation(
        request_id=request_id,
        report=report,
        clear=clear,
        customer_identifier=customer_identifier,
        id_token=_id_token(id_tag, token_type or "ISO14443") if id_tag else None,
        customer_certificate=certificate_hash,
    )
    return request, lambda result: _status(result, request_id=request_id)


_TRANSLATIONS: dict[str, Callable[[_Context, Params], Awaitable[Translation]]] = {
    "reset": _reset,
    "remote-start": _remote_start,
    "remote-stop": _remote_stop,
    "unlock-connector": _unlock_connector,
    "change-availability": _change_availability,
    "trigger-message": _trigger_message,
    "get-configuration": _get_configuration,
    "change-configuration": _change_configuration,
    "clear-cache": _clear_cache,
    "send-local-list": _send_local_list,
    "get-local-list-version": _get_local_list_version,
    "reserve-now": _reserve_now,
    "cancel-reservation": _cancel_reservation,
    "set-charging-profile": _set_charging_profile,
    "clear-charging-profile": _clear_charging_profile,
    "get-composite-schedule": _get_composite_schedule,
    "update-firmware": _update_firmware,
    "get-diagnostics": _get_diagnostics,
    "data-transfer": _data_transfer,
    "get-transaction-status": _get_transaction_status,
    "set-network-profile": _set_network_profile,
    "customer-information": _customer_information,
}

# The domain's catalogue and this table must name the same commands.
if set(_TRANSLATIONS) != set(COMMAND_NAMES):  # pragma: no cover (import-time guard)
    raise ImportError(
        "apps.chargers.commands.COMMAND_NAMES and apps.ocpp_consumer.commands disagree: "
        f"{sorted(set(_TRANSLATIONS) ^ set(COMMAND_NAMES))}"
    )
