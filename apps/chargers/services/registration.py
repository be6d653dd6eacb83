"""Registration: adding chargers, admitting them at the handshake, and their OCPP passwords."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.chargers import commands, credentials
from apps.chargers.exceptions import (
    ChargerAlreadyExists,
    ChargerError,
    ChargerOffline,
    CommandInvalid,
    CommandRejected,
)
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    charge_point_id_validator,
)
from apps.sites.exceptions import DomainError, Forbidden, NotFound
from apps.sites.models import Property, Zone
from apps.sites.selectors import row_for_write
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)


# What an onboarded charger may draw until its manager says more: the lowest
# common AC rating (32 A single phase), so load management errs on the safe side.
ONBOARDING_MAX_POWER_W = 7_400

# How long a rotation's unconfirmed password stays acceptable while the charger
# keeps logging in with its current one. A charger that applied the new password
# uses it at its next connection; one still using the old password a day later
# evidently did not apply it, and the spare password is dropped.
PENDING_PASSWORD_GRACE = timedelta(hours=24)


class ChargerNotAccepted(ChargerError):
    """The charger's registration is pending or rejected: it may not charge."""


class Refusal(enum.StrEnum):
    UNKNOWN_CHARGER = "unknown_charger"
    WRONG_ONBOARDING_KEY = "wrong_onboarding_key"
    BAD_CREDENTIALS = "bad_credentials"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Admission:
    """Whether a charger may open its connection. `charger` is set when admitted.
    `replaced_channel` (from `charger_admit_connect`): the channel that held the
    charger's socket before this connection, "" if none; that socket is to close."""

    charger: Charger | None
    refusal: Refusal | None = None
    onboarded: bool = False
    replaced_channel: str = ""


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
    password stops working at once, and so does a rotation's unconfirmed one: the
    manager has set the password on the charger by hand."""
    charger.password_hash = credentials.hash_password(password) if password else ""
    charger.pending_password_hash = ""
    charger.pending_password_set_at = None
    charger.save(
        update_fields=["password_hash", "pending_password_hash", "pending_password_set_at"]
    )


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
    return admit(
        charge_point_id=charge_point_id,
        onboarding_key=onboarding_key,
        username=username,
        password=password,
        lock=False,
    )


def admit(
    *,
    charge_point_id: str,
    onboarding_key: str | None,
    username: str | None,
    password: str | None,
    lock: bool,
) -> Admission:
    """`charger_admit` inside the caller's transaction. With `lock`, the charger's
    row is read FOR UPDATE in the same query (for `charger_admit_connect`, which
    goes on to record the connection on it)."""
    try:
        charge_point_id_validator(charge_point_id)
    except ValidationError:
        return Admission(None, Refusal.UNKNOWN_CHARGER)
    chargers = Charger.objects.select_related("zone__property")
    if lock:
        # of=self: the zone and property are read, not locked.
        chargers = chargers.select_for_update(of=("self",))
    try:
        # charge_point_id is unique: no ORDER BY needed to pick one.
        charger: Charger | None = chargers.get(charge_point_id=charge_point_id)
    except Charger.DoesNotExist:
        charger = None
    if charger is None:
        return _admit_unknown(charge_point_id, onboarding_key, username, lock=lock)

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
    """Whether the charger's Basic-auth credentials are good. Runs inside
    `charger_admit`'s transaction: a login with a rotation's pending password
    promotes it there, so that from then on the old one is refused."""
    # The Basic-auth username must be the charge point id itself (OCPP security
    # profiles 1 and 2); a charger without a stored password needs none.
    if username is not None and username != charger.charge_point_id:
        return False
    if (
        password is not None
        and charger.pending_password_hash
        and credentials.check_password(password, charger.pending_password_hash)
    ):
        return _pending_password_promote(charger)
    if charger.password_hash and (
        password is None or not credentials.check_password(password, charger.password_hash)
    ):
        return False
    # The current password (or none, when the charger has none yet).
    _pending_password_expire(charger)
    return True


def _pending_password_promote(charger: Charger) -> bool:
    """The charger logged in with the password of a rotation whose answer was lost:
    it did apply it. Compare-and-set on the pending hash, so that a parallel login
    or rotation cannot promote a hash other than the one just checked."""
    pending = charger.pending_password_hash
    promoted = Charger.objects.filter(pk=charger.pk, pending_password_hash=pending).update(
        password_hash=pending, pending_password_hash="", pending_password_set_at=None
    )
    if not promoted:
        # Promoted or cleared meanwhile: only a hash still stored may admit.
        current = Charger.objects.values_list("password_hash", flat=True).get(pk=charger.pk)
        if current != pending:
            return False
    charger.password_hash = pending
    charger.pending_password_hash = ""
    charger.pending_password_set_at = None
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Logged in with the new OCPP password of an unconfirmed rotation: "
        "it is now the password, the old one is refused",
    )
    log.info("%s: unconfirmed OCPP password rotation completed at login", charger)
    return True


def _pending_password_expire(charger: Charger) -> None:
    """A login with the current password: a pending one past its grace period was
    evidently not applied by the charger, and is dropped."""
    set_at = charger.pending_password_set_at
    if not charger.pending_password_hash or set_at is None:
        return
    if timezone.now() - set_at < PENDING_PASSWORD_GRACE:
        return
    Charger.objects.filter(
        pk=charger.pk, pending_password_hash=charger.pending_password_hash
    ).update(pending_password_hash="", pending_password_set_at=None)
    charger.pending_password_hash = ""
    charger.pending_password_set_at = None
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Logged in with the current OCPP password a day after an unconfirmed "
        "rotation: the unconfirmed password is dropped",
    )


def _admit_unknown(
    charge_point_id: str, onboarding_key: str | None, username: str | None, *, lock: bool
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
        chargers = Charger.objects.select_related("zone__property")
        if lock:
            chargers = chargers.select_for_update(of=("self",))
        charger = chargers.get(charge_point_id=charge_point_id)
        return Admission(charger)
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Unknown charger connected with the onboarding URL: registered as pending",
    )
    return Admission(charger, onboarded=True)


def require_accepted(charger: Charger, registration: str | None = None) -> None:
    """Raise ChargerNotAccepted unless the charger's registration, as stored, is
    accepted. `registration`: the caller read it from the database just now (in
    its own query), so it is not read again."""
    if registration is None:
        registration = Charger.objects.values_list("registration", flat=True).get(pk=charger.pk)
    if registration != Charger.Registration.ACCEPTED:
        raise ChargerNotAccepted(
            f"Charger {charger.charge_point_id} is {registration}: it may not start sessions."
        )


# --- OCPP password rotation (OCA TC_073_CSMS, TC_A_09_CSMS, TC_A_10_CSMS) ------------


class PasswordChangePending(ChargerError):
    """An earlier rotation's answer was lost: the charger may be using either
    password until it next logs in, so a new rotation must wait."""


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
    """Give the charger a new random OCPP password. Its hash is stored as pending
    first, then the password is sent. Accepted: it becomes the password and the old
    one is refused from then on. Any other answer (RebootRequired included: the
    charger would switch at some later reboot we cannot see) or a failure before
    the charger could have it drops the pending hash; the old password stays. No
    answer (a timeout, a socket dropped mid-call, a caller gone, anything
    unforeseen): the charger may have applied it, so the pending hash is kept
    and admission accepts either password until the charger uses one (see
    `_credentials_ok`). The new password
    is never logged nor returned.

    Raises PasswordChangePending while an earlier rotation is unconfirmed, and what
    `commands.charger_password_send` raises: NotFound, Forbidden, ChargerOffline,
    ChargerNoAnswer, CommandRejected, CommandInvalid."""
    password = credentials.generate_password()
    pending_hash = credentials.hash_password(password)
    charge_point_id = await database_sync_to_async(_pending_password_store)(
        charger=charger, issued_by=issued_by, pending_hash=pending_hash
    )
    try:
        result = await commands.charger_password_send(
            charger=charge_point_id, password=password, issued_by=issued_by, source=source
        )
    except (ChargerOffline, CommandInvalid, CommandRejected):
        # Not sent, or refused with a CALLERROR: the charger keeps the old password.
        await asyncio.shield(
            database_sync_to_async(_pending_password_settle)(
                charge_point_id=charge_point_id, pending_hash=pending_hash, accepted=False
            )
        )
        raise
    except BaseException:
        # No answer (ChargerNoAnswer: a timeout, a socket dropped mid-call), the
        # caller gone, or anything unforeseen: the charger may have applied the
        # new password. Keeping a pending hash too many costs nothing; dropping
        # one the charger uses locks it out.
        log.warning(
            "%s: OCPP password rotation unconfirmed (no answer): the charger may use "
            "the old or the new password until it next logs in",
            charge_point_id,
        )
        raise
    rotated = result.status == "Accepted"
    # Shielded: once the charger has the new password, a caller that goes away
    # must not leave the old hash alone in force.
    await asyncio.shield(
        database_sync_to_async(_pending_password_settle)(
            charge_point_id=charge_point_id, pending_hash=pending_hash, accepted=rotated
        )
    )
    if rotated:
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
def _pending_password_store(
    *, charger: Charger | str, issued_by: AnyUser | None, pending_hash: str
) -> str:
    """Check `issued_by`'s rights (as the command will) and store the rotation's
    hash as pending, before anything is sent; returns the charge point id. The row
    lock makes a parallel rotation of the same charger see this one's pending hash."""
    charge_point_id = charger if isinstance(charger, str) else charger.charge_point_id
    visible = Charger.objects.all() if issued_by is None else Charger.objects.visible_to(issued_by)
    pk = visible.filter(charge_point_id=charge_point_id).values_list("pk", flat=True).first()
    if pk is None:
        raise NotFound(f"No charger with charge point id {charge_point_id!r}.")
    if (
        issued_by is not None
        and not Charger.objects.editable_by(issued_by, MANAGE_ROLES).filter(pk=pk).exists()
    ):
        raise Forbidden(
            "Your role in the charger's organization does not allow commands "
            f"(it takes one of: {', '.join(sorted(MANAGE_ROLES))})."
        )
    row = Charger.objects.select_for_update().get(pk=pk)
    if row.pending_password_hash:
        # A second pending password would have to replace the first, which the
        # charger may be using: refuse rather than risk locking it out.
        since = timezone.localtime(row.pending_password_set_at).strftime("%Y-%m-%d %H:%M %Z")
        raise PasswordChangePending(
            f"Charger {charge_point_id} has an unconfirmed OCPP password change since "
            f"{since}: it may use the old or the new password until it next logs in. "
            "Rotate again after it has reconnected, or set a password by hand."
        )
    row.pending_password_hash = pending_hash
    row.pending_password_set_at = timezone.now()
    row.save(update_fields=["pending_password_hash", "pending_password_set_at"])
    return charge_point_id


@transaction.atomic
def _pending_password_settle(*, charge_point_id: str, pending_hash: str, accepted: bool) -> None:
    """The charger answered: accepted, the pending hash becomes the password;
    otherwise it is dropped. Only this rotation's own hash: a login may have
    promoted it meanwhile, or a manager set a password by hand."""
    row = Charger.objects.select_for_update().get(charge_point_id=charge_point_id)
    if row.pending_password_hash != pending_hash:
        return
    if accepted:
        row.password_hash = pending_hash
    row.pending_password_hash = ""
    row.pending_password_set_at = None
    row.save(update_fields=["password_hash", "pending_password_hash", "pending_password_set_at"])


def charger_password_rotate_many_sync(
    *, chargers: Sequence[Charger | str], issued_by: AnyUser | None = None, source: str
) -> list[PasswordRotation | DomainError]:
    """`charger_password_rotate` for several chargers concurrently (admin bulk
    action): each charger's PasswordRotation or domain error, in the order given."""

    async def rotate(charger: Charger | str) -> PasswordRotation:
        return await charger_password_rotate(charger=charger, issued_by=issued_by, source=source)

    return async_to_sync(commands.for_each_charger)(chargers, rotate)
