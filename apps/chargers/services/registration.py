"""Registration: adding chargers, admitting them at the handshake, and their OCPP passwords."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.chargers import commands, credentials
from apps.chargers.exceptions import ChargerAlreadyExists, ChargerError
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    charge_point_id_validator,
)
from apps.sites.exceptions import DomainError
from apps.sites.models import Property, Zone
from apps.sites.selectors import row_for_write

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)


# What an onboarded charger may draw until its manager says more: the lowest
# common AC rating (32 A single phase), so load management errs on the safe side.
ONBOARDING_MAX_POWER_W = 7_400


class ChargerNotAccepted(ChargerError):
    """The charger's registration is pending or rejected: it may not charge."""


class Refusal(enum.StrEnum):
    UNKNOWN_CHARGER = "unknown_charger"
    WRONG_ONBOARDING_KEY = "wrong_onboarding_key"
    BAD_CREDENTIALS = "bad_credentials"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Admission:
    """Whether a charger may open its connection. `charger` is set when admitted."""

    charger: Charger | None
    refusal: Refusal | None = None
    onboarded: bool = False


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


@transaction.atomic
def charger_admit(
    *,
    charge_point_id: str,
    onboarding_key: str | None,
    username: str | None,
    password: str | None,
) -> Admission:
    """May `charge_point_id` connect? Known chargers need their password (when they
    have one) and, when they connect with a property key, their own property's. An
    unknown charger connecting with the key of a property that accepts unknown
    chargers is registered there as pending."""
    try:
        charge_point_id_validator(charge_point_id)
    except ValidationError:
        return Admission(None, Refusal.UNKNOWN_CHARGER)
    charger = (
        Charger.objects.select_related("zone__property")
        .filter(charge_point_id=charge_point_id)
        .first()
    )
    if charger is None:
        return _admit_unknown(charge_point_id, onboarding_key, username)

    refusal: Refusal | None = None
    if onboarding_key is not None and onboarding_key != charger.zone.property.onboarding_key:
        refusal = Refusal.WRONG_ONBOARDING_KEY
    elif not _credentials_ok(charger, username, password):
        refusal = Refusal.BAD_CREDENTIALS
    elif charger.registration == Charger.Registration.REJECTED:
        refusal = Refusal.REJECTED
    if refusal is not None:
        ChargerEvent.objects.create(
            charger=charger,
            kind=ChargerEvent.Kind.CONNECTION,
            summary=f"Connection refused: {refusal.value.replace('_', ' ')}",
        )
        return Admission(None, refusal)
    return Admission(charger)


def _credentials_ok(charger: Charger, username: str | None, password: str | None) -> bool:
    # The Basic-auth username must be the charge point id itself (OCPP security
    # profiles 1 and 2); a charger without a stored password needs none.
    if username is not None and username != charger.charge_point_id:
        return False
    if not charger.password_hash:
        return True
    return password is not None and credentials.check_password(password, charger.password_hash)


def _admit_unknown(
    charge_point_id: str, onboarding_key: str | None, username: str | None
) -> Admission:
    if onboarding_key is None:
        return Admission(None, Refusal.UNKNOWN_CHARGER)
    prop = (
        Property.objects.select_related("onboarding_zone__property")
        .filter(onboarding_key=onboarding_key, accept_unknown_chargers=True)
        .exclude(onboarding_zone=None)
        .first()
    )
    if prop is None or prop.onboarding_zone is None:
        return Admission(None, Refusal.UNKNOWN_CHARGER)
    if username is not None and username != charge_point_id:
        return Admission(None, Refusal.BAD_CREDENTIALS)
    try:
        with transaction.atomic():
            charger = Charger.objects.create(
                charge_point_id=charge_point_id,
                zone=prop.onboarding_zone,
                max_power_w=ONBOARDING_MAX_POWER_W,
                registration=Charger.Registration.PENDING,
            )
    except IntegrityError:
        # Registered meanwhile by a parallel connection attempt: admit that one.
        charger = Charger.objects.select_related("zone__property").get(
            charge_point_id=charge_point_id
        )
        return Admission(charger)
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Unknown charger connected with the onboarding URL: registered as pending",
    )
    return Admission(charger, onboarded=True)


def require_accepted(charger: Charger) -> None:
    registration = Charger.objects.values_list("registration", flat=True).get(pk=charger.pk)
    if registration != Charger.Registration.ACCEPTED:
        raise ChargerNotAccepted(
            f"Charger {charger.charge_point_id} is {registration}: it may not start sessions."
        )


# --- OCPP password rotation (OCA TC_073_CSMS, TC_A_09_CSMS, TC_A_10_CSMS) ------------


@dataclass(frozen=True)
class PasswordRotation:
    """How a rotation went: `rotated` when the charger accepted the new password and
    its hash is stored; otherwise the old password still works. `status` is the
    charger's answer (Accepted, Rejected, RebootRequired, NotSupported)."""

    charge_point_id: str
    rotated: bool
    status: str
    command_id: int


async def charger_password_rotate(
    *, charger: Charger | str, issued_by: AnyUser | None = None, source: str
) -> PasswordRotation:
    """Give the charger a new random OCPP password. It is sent first; its hash is
    stored only if the charger answers Accepted, and from then on the old one is
    refused. Any other answer (RebootRequired included: the charger would switch at
    some later reboot we cannot see) leaves the old password in force. The new
    password is never logged nor returned.

    Raises what `commands.charger_password_send` raises: NotFound, Forbidden,
    ChargerOffline, ChargerNoAnswer, CommandRejected — the old password stays."""
    password = credentials.generate_password()
    result = await commands.charger_password_send(
        charger=charger, password=password, issued_by=issued_by, source=source
    )
    rotated = result.status == "Accepted"
    if rotated:
        # Shielded: once the charger has the new password, a caller that goes away
        # must not leave the old hash stored.
        await asyncio.shield(
            database_sync_to_async(_charger_password_store)(
                charge_point_id=result.charge_point_id, password=password
            )
        )
        log.info(
            "%s: OCPP password rotated (command %s)", result.charge_point_id, result.command_id
        )
    else:
        log.info(
            "%s: OCPP password not rotated, the charger answered %r (command %s)",
            result.charge_point_id,
            result.status,
            result.command_id,
        )
    return PasswordRotation(
        charge_point_id=result.charge_point_id,
        rotated=rotated,
        status=result.status,
        command_id=result.command_id,
    )


def charger_password_rotate_sync(
    *, charger: Charger | str, issued_by: AnyUser | None = None, source: str
) -> PasswordRotation:
    """`charger_password_rotate` for synchronous callers (admin, tasks)."""
    return async_to_sync(charger_password_rotate)(
        charger=charger, issued_by=issued_by, source=source
    )


@transaction.atomic
def _charger_password_store(*, charge_point_id: str, password: str) -> None:
    charger = Charger.objects.select_for_update().get(charge_point_id=charge_point_id)
    charger_set_password(charger=charger, password=password)


def charger_password_rotate_many_sync(
    *, chargers: Sequence[Charger | str], issued_by: AnyUser | None = None, source: str
) -> list[PasswordRotation | DomainError]:
    """`charger_password_rotate` for several chargers concurrently (admin bulk
    action): each charger's PasswordRotation or domain error, in the order given."""

    async def rotate(charger: Charger | str) -> PasswordRotation:
        return await charger_password_rotate(charger=charger, issued_by=issued_by, source=source)

    return async_to_sync(commands.for_each_charger)(chargers, rotate)
