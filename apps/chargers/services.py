"""Writes for chargers: registration and credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.chargers import credentials
from apps.chargers.exceptions import ChargerAlreadyExists
from apps.chargers.models import Charger, charge_point_id_validator
from apps.sites.models import Zone
from apps.sites.selectors import row_for_write

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


@transaction.atomic
def charger_create(
    *,
    charge_point_id: str,
    zone: Zone,
    max_power_w: int,
    name: str = "",
    password: str | None = None,
    registration: str = Charger.Registration.ACCEPTED,
) -> Charger:
    """Register a charger in a zone. With a password, it must connect with HTTP Basic
    auth (OCPP security profile 1 or 2)."""
    try:
        charge_point_id_validator(charge_point_id)
    except ValidationError as exc:
        # Name the field, so that forms and the API show the error next to it.
        raise ValidationError({"charge_point_id": exc.messages}) from exc
    if max_power_w <= 0:
        raise ValidationError({"max_power_w": "The maximum power must be above zero."})
    password_hash = credentials.hash_password(password) if password else ""
    try:
        with transaction.atomic():
            return Charger.objects.create(
                charge_point_id=charge_point_id,
                zone=zone,
                name=name,
                max_power_w=max_power_w,
                password_hash=password_hash,
                registration=registration,
            )
    except IntegrityError as exc:
        if Charger.objects.filter(charge_point_id=charge_point_id).exists():
            raise ChargerAlreadyExists(
                f"A charger with charge point id {charge_point_id!r} already exists."
            ) from exc
        raise


def charger_set_password(*, charger: Charger, password: str | None) -> None:
    """Set (or, with None, remove) the charger's HTTP Basic auth password. The old
    password stops working at once."""
    charger.password_hash = credentials.hash_password(password) if password else ""
    charger.save(update_fields=["password_hash"])


def charger_register(
    *,
    actor: AnyUser,
    zone_id: int,
    charge_point_id: str,
    max_power_w: int,
    name: str = "",
    password: str | None = None,
) -> Charger:
    """`actor` registers a charger in one of their zones (the API's and portal's
    entry point). A zone the actor cannot see is "no such zone"; one they see
    without a managing role is Forbidden."""
    zone = row_for_write(
        Zone.objects.select_related("property"),
        zone_id,
        user=actor,
        field="zone_id",
        label="zone",
    )
    return charger_create(
        charge_point_id=charge_point_id,
        zone=zone,
        max_power_w=max_power_w,
        name=name,
        password=password,
    )
