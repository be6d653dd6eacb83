"""REST operations of the chargers app (mounted in config/api.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from apps.chargers import selectors, services
from apps.chargers.commands import command_send
from apps.chargers.exceptions import CommandInvalid
from apps.chargers.models import Charger, CommandLog
from apps.chargers.schemas import (
    COMMAND_SCHEMAS,
    ChargerCreateIn,
    ChargerOut,
    CommandIn,
    CommandOut,
    CustomerInformationOut,
    MeterSampleOut,
    SessionDetailOut,
    SessionFilterIn,
    SessionOut,
)
from apps.sites.schemas import PageIn, error_responses

router = Router(tags=["chargers"])


@router.get("/chargers", response={200: list[ChargerOut], **error_responses(401, 422)})
def charger_list(
    request: HttpRequest,
    page: Query[PageIn],
    zone_id: int | None = None,
    property_id: int | None = None,
) -> object:
    """The chargers you may see, by charge point id; optionally of one zone or property.
    Each connector comes with its session in progress, as in a single read."""
    return selectors.charger_list(
        user=request.user,
        zone_id=zone_id,
        property_id=property_id,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/chargers", response={201: ChargerOut, **error_responses(401, 403, 409, 422)})
def charger_register(request: HttpRequest, payload: ChargerCreateIn) -> Status[Charger]:
    """Register a charger in one of your zones. The password, when given, is stored
    hashed and never returned."""
    charger = services.charger_register(
        actor=request.user,
        zone_id=payload.zone_id,
        charge_point_id=payload.charge_point_id,
        max_power_w=payload.max_power_w,
        name=payload.name,
        password=payload.password,
    )
    return Status(201, charger)


@router.get("/chargers/{charge_point_id}", response={200: ChargerOut, **error_responses(401, 404)})
def charger_get(request: HttpRequest, charge_point_id: str) -> object:
    """One charger by its charge point id (URL-encoded: `CP%2001` for `CP 01`): whether
    it is online, and each connector's session in progress with its energy so far,
    power and the vehicle's state of charge, from the meter values it sent."""
    return selectors.charger_get(user=request.user, charge_point_id=charge_point_id)


@router.get("/sessions", response={200: list[SessionOut], **error_responses(401, 422)})
def session_list(
    request: HttpRequest,
    page: Query[PageIn],
    filters: Query[SessionFilterIn],
) -> object:
    """The charging sessions you may see, newest first; optionally of one charger, in
    one status, or started in a time window (with a time zone offset). A charger you
    cannot see gives an empty list, like one that does not exist."""
    return selectors.session_list(
        user=request.user,
        charge_point_id=filters.charger,
        state=filters.status,
        since=filters.since,
        until=filters.until,
        offset=page.offset,
        limit=page.limit,
    )


@router.get("/sessions/{session_id}", response={200: SessionDetailOut, **error_responses(401, 404)})
def session_get(request: HttpRequest, session_id: int) -> object:
    """One charging session, with why it stopped and whose token started it."""
    return selectors.session_get(user=request.user, session_id=session_id)


@router.get(
    "/sessions/{session_id}/meter-samples",
    response={200: list[MeterSampleOut], **error_responses(401, 404, 422)},
)
def session_meter_samples(request: HttpRequest, session_id: int, page: Query[PageIn]) -> object:
    """A session's meter readings in the order they were taken: energy register,
    power, current, voltage, SoC, each with the meter's signature when the charger
    signed it (OCPP signed meter values), for billing disputes and calibration-law
    checks."""
    return selectors.session_meter_samples(
        user=request.user, session_id=session_id, offset=page.offset, limit=page.limit
    )


@router.get(
    "/chargers/{charge_point_id}/customer-information/{request_id}",
    response={200: CustomerInformationOut, **error_responses(401, 403, 404)},
)
def customer_information_get(request: HttpRequest, charge_point_id: str, request_id: int) -> object:
    """What the charger reported about a customer for one `customer-information`
    command (its `request_id`, which is its `command_id`): the
    NotifyCustomerInformation parts in order, their data joined, and whether more is
    to come. Personal data: for the roles that may command the charger."""
    return selectors.customer_information_get(
        user=request.user, charge_point_id=charge_point_id, request_id=request_id
    )


# --- remote commands ------------------------------------------------------------------
# One operation per command, so that each body is typed and documented in the
# OpenAPI schema, plus a catch-all that answers an unknown command name with 422.

_COMMAND_ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)


def _command_operation(command: str, schema: type[CommandIn]) -> Callable[..., Any]:
    # Async: waiting up to OCPP_COMMAND_TIMEOUT for a charger holds no worker thread.
    async def operation(request: HttpRequest, charge_point_id: str, payload: CommandIn) -> object:
        # JSON-ready domain parameters: datetimes as ISO 8601, unset fields left out.
        params = payload.model_dump(mode="json", exclude_none=True)
        result = await command_send(
            charger=charge_point_id,
            command=command,
            params=params,
            issued_by=request.user,
            source=CommandLog.Source.API,
        )
        # An instance, not a dict: ninja re-validating a dict would drop the fields
        # that only some commands return (configuration keys, a schedule, ...).
        return CommandOut.model_validate({**result.response, "command_id": result.command_id})

    # ninja reads the body's type from the annotation: give each command its own.
    operation.__annotations__ = {**operation.__annotations__, "payload": schema}
    operation.__name__ = "charger_command_" + command.replace("-", "_")
    operation.__doc__ = (
        f"Send `{command}` to the charger and return its answer (OCPP 1.6 and 2.0.1 alike). "
        "409: the charger is offline; 504: it did not answer in time; 502: it answered "
        "with an OCPP error; 422: the body does not make a valid request."
    )
    return operation


for _command, _schema in COMMAND_SCHEMAS.items():
    router.post(
        f"/chargers/{{charge_point_id}}/commands/{_command}",
        response={200: CommandOut, **_COMMAND_ERRORS},
        operation_id=f"charger_command_{_command.replace('-', '_')}",
        summary=f"Command: {_command}",
    )(_command_operation(_command, _schema))


@router.post(
    "/chargers/{charge_point_id}/commands/{command}",
    response={200: CommandOut, **_COMMAND_ERRORS},
    include_in_schema=False,
)
def charger_command_unknown(request: HttpRequest, charge_point_id: str, command: str) -> object:
    """Any other name: the list of valid ones (422)."""
    raise CommandInvalid(
        f"Unknown command {command!r}. Valid commands: {', '.join(sorted(COMMAND_SCHEMAS))}."
    )
