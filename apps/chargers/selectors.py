"""Reads for chargers, scoped by tenancy and explicitly ordered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Prefetch

from apps.chargers.models import Charger, Connector
from apps.sites.exceptions import NotFound
from apps.sites.tenancy import TenantQuerySet

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


def _chargers(user: AnyUser) -> TenantQuerySet:
    return (
        Charger.objects.visible_to(user)
        .select_related("zone__property")
        .prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
        )
    )


def charger_list(
    *, user: AnyUser, zone_id: int | None = None, property_id: int | None = None
) -> TenantQuerySet:
    """The chargers the user may see, optionally in one zone or property."""
    chargers = _chargers(user)
    if zone_id is not None:
        chargers = chargers.filter(zone_id=zone_id)
    if property_id is not None:
        chargers = chargers.filter(zone__property_id=property_id)
    return chargers.order_by("charge_point_id")


def charger_get(*, user: AnyUser, charge_point_id: str) -> Charger:
    """One charger by its OCPP identity; NotFound when it is missing or not visible."""
    charger = _chargers(user).filter(charge_point_id=charge_point_id).first()
    if charger is None:
        raise NotFound(f"No charger with charge point id {charge_point_id!r}.")
    return charger
