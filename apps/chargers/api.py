"""REST operations of the chargers app (mounted in config/api.py)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from apps.chargers import selectors, services
from apps.chargers.models import Charger
from apps.chargers.schemas import ChargerCreateIn, ChargerOut
from apps.sites.schemas import PageIn, error_responses

router = Router(tags=["chargers"])


@router.get("/chargers", response={200: list[ChargerOut], **error_responses(401, 422)})
def charger_list(
    request: HttpRequest,
    page: Query[PageIn],
    zone_id: int | None = None,
    property_id: int | None = None,
) -> object:
    """The chargers you may see, by charge point id; optionally of one zone or property."""
    return page.apply(
        selectors.charger_list(user=request.user, zone_id=zone_id, property_id=property_id)
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
    """One charger by its charge point id (URL-encoded: `CP%2001` for `CP 01`)."""
    return selectors.charger_get(user=request.user, charge_point_id=charge_point_id)
