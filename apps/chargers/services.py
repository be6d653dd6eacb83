"""Writes for chargers: registration and credentials."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.access.services import Authorization, id_token_authorize
from apps.chargers import commands, credentials
from apps.chargers.exceptions import ChargerAlreadyExists, ChargerError
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    Connector,
    IssuedTransactionId,
    MeterSample,
    SessionEvent,
    StatusChange,
    charge_point_id_validator,
)
from apps.sites.exceptions import DomainError
from apps.sites.models import Property, Zone
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


# --- What chargers report ----------------------------------------------------
#
# The services below are called by the OCPP edge (apps/ocpp_consumer), one per
# message, each in one database transaction: a message is acknowledged only after
# its service returned, so what a charger reports is stored before the charger is
# told so. They speak the domain's vocabulary; OCPP enums are mapped at the edge.

log = logging.getLogger(__name__)

# How often an accepted charger sends a heartbeat, and how soon a pending one asks
# again. A pending answer with an interval is also how we shed load in a reconnect
# storm: stations back off.
HEARTBEAT_INTERVAL_S = 300
PENDING_RETRY_INTERVAL_S = 60
# What an onboarded charger may draw until its manager says more: the lowest
# common AC rating (32 A single phase), so load management errs on the safe side.
ONBOARDING_MAX_POWER_W = 7_400

ENERGY_REGISTER = "Energy.Active.Import.Register"
CONTEXT_BEGIN = "Transaction.Begin"
CONTEXT_END = "Transaction.End"
# A session closed because a new one started on its connector before its stop
# arrived. Such a stop, if it comes later, is still applied.
STOP_REASON_NO_STOP_RECEIVED = "no_stop_received"

_SAMPLE_LIMIT = Decimal("1e14")  # what MeterSample.value (20 digits, 6 decimals) holds
_SAMPLE_QUANTUM = Decimal("0.000001")


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


@dataclass(frozen=True)
class BootResult:
    registration: str
    heartbeat_interval_s: int
    at: datetime


@dataclass(frozen=True)
class Sample:
    """One reading of a charger's meter, in the charger's unit and at its time."""

    sampled_at: datetime
    value: Decimal
    measurand: str = ENERGY_REGISTER
    unit: str = ""
    phase: str = ""
    context: str = ""
    location: str = ""


@dataclass(frozen=True)
class SessionResult:
    """A session after a start, stop or event, and the decision about the token
    presented with it (None when no token came with the message). `session` is
    None for a stop that matches no session of this charger."""

    session: ChargingSession | None
    authorization: Authorization | None
    duplicate: bool = False


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


@transaction.atomic
def charger_connected(
    *, charger: Charger, channel_name: str, ocpp_version: str, at: datetime
) -> str:
    """Record that `channel_name` now holds the charger's socket. Returns the channel
    that held it before ("" if none): that older socket is to be closed."""
    locked = Charger.objects.select_for_update().only("channel_name").get(pk=charger.pk)
    previous = locked.channel_name if locked.channel_name != channel_name else ""
    Charger.objects.filter(pk=charger.pk).update(
        channel_name=channel_name,
        connected_at=at,
        last_seen_at=at,
        ocpp_version=ocpp_version,
    )
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary=f"Connected (OCPP {ocpp_version})"
        + (", replacing an older connection" if previous else ""),
        reported_at=at,
    )
    charger.channel_name, charger.connected_at, charger.ocpp_version = (
        channel_name,
        at,
        ocpp_version,
    )
    return previous


@transaction.atomic
def charger_disconnected(*, charger: Charger, channel_name: str, at: datetime) -> bool:
    """Record that `channel_name` lost the charger's socket. A newer connection that
    already took over is left alone. Returns whether the charger is now offline."""
    cleared = Charger.objects.filter(pk=charger.pk, channel_name=channel_name).update(
        channel_name="", disconnected_at=at
    )
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Disconnected" if cleared else "Older connection closed",
        reported_at=at,
    )
    return bool(cleared)


@transaction.atomic
def charger_boot(
    *,
    charger: Charger,
    vendor: str,
    model: str,
    serial_number: str = "",
    firmware_version: str = "",
    ocpp_version: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> BootResult:
    """A charger (re)started: store what it says it is, and tell it whether it is
    accepted and how often to send a heartbeat."""
    now = at or timezone.now()
    registration = Charger.objects.values_list("registration", flat=True).get(pk=charger.pk)
    fields = {
        "vendor": vendor[:50],
        "model": model[:50],
        "serial_number": serial_number[:50],
        "firmware_version": firmware_version[:50],
        "last_boot_at": now,
        "last_seen_at": now,
    }
    if ocpp_version:
        fields["ocpp_version"] = ocpp_version
    Charger.objects.filter(pk=charger.pk).update(**fields)
    for name, value in fields.items():
        setattr(charger, name, value)
    charger.registration = registration
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.BOOT,
        summary=f"Boot: {vendor} {model}, firmware {firmware_version or '?'}"
        + (f" ({reason})" if reason else ""),
        payload=details or {},
        reported_at=now,
    )
    accepted = registration == Charger.Registration.ACCEPTED
    return BootResult(
        registration=registration,
        heartbeat_interval_s=HEARTBEAT_INTERVAL_S if accepted else PENDING_RETRY_INTERVAL_S,
        at=now,
    )


def charger_heartbeat(*, charger: Charger, at: datetime | None = None) -> datetime:
    """The charger is alive. Returns the time to tell it (ours)."""
    now = at or timezone.now()
    Charger.objects.filter(pk=charger.pk).update(last_seen_at=now)
    return now


@transaction.atomic
def connector_status_update(
    *,
    charger: Charger,
    connector_id: int,
    status: str,
    at: datetime,
    error_code: str = "",
    vendor_error_code: str = "",
    info: str = "",
) -> StatusChange:
    """Keep a status report as history and, unless an offline-queued report is older
    than what we know, as the connector's current status. Connector 0 is the whole
    charger."""
    connector = None
    if connector_id > 0:
        connector, _ = Connector.objects.get_or_create(charger=charger, connector_id=connector_id)
        if connector.status_at is None or at >= connector.status_at:
            Connector.objects.filter(pk=connector.pk).update(
                status=status,
                error_code=error_code[:50],
                vendor_error_code=vendor_error_code[:50],
                status_at=at,
            )
    return StatusChange.objects.create(
        charger=charger,
        connector=connector,
        status=status,
        error_code=error_code[:50],
        vendor_error_code=vendor_error_code[:50],
        info=info[:255],
        reported_at=at,
    )


def _require_accepted(charger: Charger) -> None:
    registration = Charger.objects.values_list("registration", flat=True).get(pk=charger.pk)
    if registration != Charger.Registration.ACCEPTED:
        raise ChargerNotAccepted(
            f"Charger {charger.charge_point_id} is {registration}: it may not start sessions."
        )


def _connector(charger: Charger, connector_id: int) -> Connector:
    if connector_id < 1:
        raise ValueError("A session runs on a connector numbered from 1.")
    connector, _ = Connector.objects.get_or_create(charger=charger, connector_id=connector_id)
    return connector


def _close_unfinished(connector: Connector | None, at: datetime, keep: int | None = None) -> None:
    """A session still active on a connector where a new one starts never got its
    stop (lost, or the charger rebooted): close it without inventing a reading."""
    if connector is None:
        return
    stale = ChargingSession.objects.filter(connector=connector, state=ChargingSession.State.ACTIVE)
    if keep is not None:
        stale = stale.exclude(pk=keep)
    for session in stale.select_for_update():
        session.state = ChargingSession.State.COMPLETED
        session.stopped_at = max(at, session.started_at)
        session.stop_reason = STOP_REASON_NO_STOP_RECEIVED
        session.save(update_fields=["state", "stopped_at", "stop_reason"])
        log.warning("Session %s closed without a stop: a new one started.", session.pk)


@transaction.atomic
def session_start(
    *,
    charger: Charger,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    started_at: datetime,
) -> SessionResult:
    """A charger started charging (OCPP 1.6 StartTransaction). We issue the session's
    transaction id. The same start sent again (its answer was lost) gets the same
    session. The session is recorded whatever the token's decision: the charger may
    already be delivering energy; the decision tells it whether to go on."""
    _require_accepted(charger)
    connector = _connector(charger, connector_id)
    authorization = id_token_authorize(zone=charger.zone, uid=id_tag, at=started_at)
    existing = (
        ChargingSession.objects.filter(
            charger=charger,
            connector=connector,
            id_tag=id_tag,
            meter_start_wh=meter_start_wh,
            started_at=started_at,
        )
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return SessionResult(existing, authorization, duplicate=True)
    _close_unfinished(connector, started_at)
    token = authorization.id_token
    session = ChargingSession.objects.create(
        charger=charger,
        connector=connector,
        ocpp_transaction_id=str(IssuedTransactionId.objects.create().pk),
        id_tag=id_tag[:36],
        id_token=token,
        person=token.person if token else None,
        vehicle=token.vehicle if token else None,
        meter_start_wh=meter_start_wh,
        started_at=started_at,
    )
    return SessionResult(session, authorization)


@transaction.atomic
def session_stop(
    *,
    charger: Charger,
    transaction_id: str,
    meter_stop_wh: int,
    stopped_at: datetime,
    reason: str = "",
    id_tag: str = "",
    samples: Sequence[Sample] = (),
) -> SessionResult:
    """A charger stopped charging (OCPP 1.6 StopTransaction). Applied once: the same
    stop sent again changes nothing. A transaction id of another charger matches
    nothing here (ids belong to the charger that started them)."""
    authorization = (
        id_token_authorize(zone=charger.zone, uid=id_tag, at=stopped_at) if id_tag else None
    )
    session = (
        ChargingSession.objects.select_for_update()
        .filter(charger=charger, ocpp_transaction_id=transaction_id)
        .first()
    )
    if session is None:
        log.warning(
            "%s stopped unknown transaction %s: readings kept, no session changed.",
            charger.charge_point_id,
            transaction_id,
        )
        _record_samples(charger, 0, None, samples)
        return SessionResult(None, authorization)
    if _is_finished(session):
        return SessionResult(session, authorization, duplicate=True)
    _finish(session, stopped_at=stopped_at, meter_stop_wh=meter_stop_wh, reason=reason)
    _record_samples(charger, _connector_number(session), session, samples)
    return SessionResult(session, authorization)


def _is_finished(session: ChargingSession) -> bool:
    return (
        session.state == ChargingSession.State.COMPLETED
        and session.stop_reason != STOP_REASON_NO_STOP_RECEIVED
    )


def _connector_number(session: ChargingSession) -> int:
    return session.connector.connector_id if session.connector else 0


def _finish(
    session: ChargingSession, *, stopped_at: datetime, meter_stop_wh: int | None, reason: str
) -> None:
    if meter_stop_wh is not None and (
        session.meter_start_wh is not None and meter_stop_wh < session.meter_start_wh
    ):
        # A meter that ran backwards (replaced, or reset): the energy is unknown. The
        # reading itself is kept as a sample by the caller.
        log.warning(
            "Session %s: stop reading %s Wh below start %s Wh; energy left unknown.",
            session.pk,
            meter_stop_wh,
            session.meter_start_wh,
        )
        meter_stop_wh = None
    if stopped_at < session.started_at:
        log.warning("Session %s: stop time before start time (charger clock).", session.pk)
        stopped_at = session.started_at
    session.state = ChargingSession.State.COMPLETED
    session.stopped_at = stopped_at
    session.meter_stop_wh = meter_stop_wh
    session.stop_reason = reason[:40]
    session.save(update_fields=["state", "stopped_at", "meter_stop_wh", "stop_reason"])
    session.refresh_from_db(fields=["energy_wh"])


def _energy_wh(samples: Iterable[Sample], *, contexts: tuple[str, ...] = ()) -> int | None:
    """The energy register reading among `samples` (in Wh), preferring the given
    contexts in order, or None when there is none."""
    readings = [
        s
        for s in samples
        if s.measurand == ENERGY_REGISTER and s.phase == "" and s.unit in ("", "Wh", "kWh")
    ]
    for context in (*contexts, None):
        for sample in readings:
            if context is None or sample.context == context:
                value = sample.value * 1000 if sample.unit == "kWh" else sample.value
                return int(value.to_integral_value(rounding=ROUND_HALF_UP))
    return None


@transaction.atomic
def session_event(
    *,
    charger: Charger,
    transaction_id: str,
    kind: str,
    seq_no: int,
    at: datetime,
    trigger: str = "",
    charging_state: str = "",
    offline: bool = False,
    connector_id: int | None = None,
    id_tag: str | None = None,
    stop_reason: str = "",
    samples: Sequence[Sample] = (),
) -> SessionResult:
    """A session started, changed or ended (OCPP 2.0.1 TransactionEvent; the charger
    chose the transaction id). Never refused: an event whose predecessors were lost
    still creates or updates the session. An event already seen (same seqNo) changes
    nothing."""
    _require_accepted(charger)
    authorization = id_token_authorize(zone=charger.zone, uid=id_tag, at=at) if id_tag else None
    session = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("connector")
        .filter(charger=charger, ocpp_transaction_id=transaction_id)
        .first()
    )
    if session is not None and SessionEvent.objects.filter(session=session, seq_no=seq_no).exists():
        return SessionResult(session, authorization, duplicate=True)

    connector: Connector | None = None
    if connector_id is not None and connector_id > 0:
        connector = _connector(charger, connector_id)
    elif session is None or session.connector is None:
        only = list(Connector.objects.filter(charger=charger).order_by("connector_id")[:2])
        connector = only[0] if len(only) == 1 else None

    token = authorization.id_token if authorization else None
    if session is None:
        _close_unfinished(connector, at)
        session = ChargingSession.objects.create(
            charger=charger,
            connector=connector,
            ocpp_transaction_id=transaction_id[:36],
            id_tag=(id_tag or "")[:36],
            id_token=token,
            person=token.person if token else None,
            vehicle=token.vehicle if token else None,
            meter_start_wh=_energy_wh(samples, contexts=(CONTEXT_BEGIN,))
            if kind == SessionEvent.Kind.STARTED
            else _energy_wh([s for s in samples if s.context == CONTEXT_BEGIN]),
            started_at=at,
            last_seq_no=seq_no,
            had_offline_events=offline,
        )
    else:
        changed = ["last_seq_no", "had_offline_events"]
        session.last_seq_no = max(seq_no, session.last_seq_no or 0)
        session.had_offline_events = session.had_offline_events or offline
        if session.connector is None and connector is not None:
            _close_unfinished(connector, at, keep=session.pk)
            session.connector = connector
            changed.append("connector")
        if id_tag and not session.id_tag:
            session.id_tag = id_tag[:36]
            session.id_token = token
            session.person = token.person if token else None
            session.vehicle = token.vehicle if token else None
            changed += ["id_tag", "id_token", "person", "vehicle"]
        if session.meter_start_wh is None:
            begin = _energy_wh([s for s in samples if s.context == CONTEXT_BEGIN])
            if begin is not None:
                session.meter_start_wh = begin
                changed.append("meter_start_wh")
        if kind == SessionEvent.Kind.STARTED and at < session.started_at:
            session.started_at = at  # the Started event came after a later one
            changed.append("started_at")
        session.save(update_fields=changed)

    if kind == SessionEvent.Kind.ENDED and not _is_finished(session):
        _finish(
            session,
            stopped_at=at,
            meter_stop_wh=_energy_wh(samples, contexts=(CONTEXT_END,)),
            reason=stop_reason,
        )
    SessionEvent.objects.create(
        session=session,
        seq_no=seq_no,
        kind=kind,
        trigger=trigger[:40],
        charging_state=charging_state[:24],
        offline=offline,
        reported_at=at,
    )
    _record_samples(charger, _connector_number(session), session, samples)
    return SessionResult(session, authorization)


def _record_samples(
    charger: Charger,
    connector_id: int,
    session: ChargingSession | None,
    samples: Iterable[Sample],
) -> int:
    rows = []
    for s in samples:
        if not s.value.is_finite() or abs(s.value) >= _SAMPLE_LIMIT:
            log.warning("%s: meter value %s out of range, dropped.", charger, s.value)
            continue
        rows.append(
            MeterSample(
                charger=charger,
                connector_id=connector_id,
                session=session,
                sampled_at=s.sampled_at,
                measurand=s.measurand[:48],
                value=s.value.quantize(_SAMPLE_QUANTUM, rounding=ROUND_HALF_UP),
                unit=s.unit[:16],
                phase=s.phase[:8],
                context=s.context[:24],
                location=s.location[:8],
            )
        )
    # A reading already stored (a retransmitted message) is skipped by the
    # database's unique constraint, not by a racy check first.
    MeterSample.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def meter_samples_record(
    *,
    charger: Charger,
    connector_id: int,
    samples: Sequence[Sample],
    transaction_id: str | None = None,
) -> int:
    """Store a charger's meter readings at the charger's own timestamps (offline-
    queued readings keep theirs). With a transaction id of this charger they belong
    to that session. Returns how many readings were offered for storage."""
    session = None
    if transaction_id is not None:
        session = (
            ChargingSession.objects.filter(charger=charger, ocpp_transaction_id=transaction_id)
            .only("pk")
            .first()
        )
    return _record_samples(charger, connector_id, session, samples)


@transaction.atomic
def charger_event_record(
    *,
    charger: Charger,
    kind: str,
    summary: str,
    payload: dict[str, Any] | None = None,
    reported_at: datetime | None = None,
) -> ChargerEvent:
    """Keep what a charger reported besides status and metering (firmware and upload
    progress, security events, 2.0.1 events and reports), as it sent it."""
    return ChargerEvent.objects.create(
        charger=charger,
        kind=kind,
        summary=summary[:255],
        payload=payload or {},
        reported_at=reported_at,
    )


class DataTransferStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN_VENDOR = "unknown_vendor"
    UNKNOWN_MESSAGE = "unknown_message"


@transaction.atomic
def charger_data_transfer(
    *, charger: Charger, vendor_id: str, message_id: str = "", data: Any = None
) -> DataTransferStatus:
    """A vendor-specific message. Kept; no vendor extension is understood yet, so
    the charger hears that its vendor id is unknown."""
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.DATA_TRANSFER,
        summary=f"Data transfer from {vendor_id}" + (f" ({message_id})" if message_id else ""),
        payload={"vendor_id": vendor_id, "message_id": message_id, "data": data},
    )
    return DataTransferStatus.UNKNOWN_VENDOR


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


# --- presence ---------------------------------------------------------------
# A charger's socket is recorded in `channel_name` by the process holding it. If
# that process dies (crash, OOM kill, deploy without a clean shutdown) nobody
# clears it and the charger would look online forever; the sweep below does.
#
# Every inbound message proves the charger alive, not only Heartbeat: OCPP lets
# a busy charger skip heartbeats while it sends other messages. The consumer
# writes `last_seen_at` at most once per SEEN_WRITE_INTERVAL_S per connection,
# so a charger streaming meter values costs one UPDATE a minute, not one per frame.
SEEN_WRITE_INTERVAL_S = 60
# Silence after which a connected charger is taken as gone: two missed heartbeats,
# plus the write throttle above (last_seen_at may lag that much behind the truth),
# plus slack for a slow network.
PRESENCE_GRACE_S = 2 * HEARTBEAT_INTERVAL_S + SEEN_WRITE_INTERVAL_S + 60


@transaction.atomic
def charger_seen(
    *,
    charger: Charger,
    at: datetime,
    channel_name: str = "",
    connected_at: datetime | None = None,
) -> bool:
    """The charger sent something at `at`. Never moves last_seen_at backwards (a
    heartbeat written meanwhile may be newer). Returns whether last_seen_at changed.

    With the connection's `channel_name` and `connected_at`: if the presence sweep
    took this live connection for a dead one (the charger was silent longer than
    the grace period), hearing from it again puts the charger back online. Only
    while no newer connection has been recorded since (connected_at unchanged)."""
    seen = (
        Charger.objects.filter(pk=charger.pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at))
        .update(last_seen_at=at)
    )
    if channel_name and connected_at is not None:
        revived = Charger.objects.filter(
            pk=charger.pk, channel_name="", connected_at=connected_at
        ).update(channel_name=channel_name)
        if revived:
            ChargerEvent.objects.create(
                charger=charger,
                kind=ChargerEvent.Kind.CONNECTION,
                summary="Back online: heard from again on the connection marked offline",
                reported_at=at,
            )
            log.info("%s back online on its existing connection", charger.charge_point_id)
    return bool(seen)


def charger_presence_sweep(
    *, now: datetime, grace_s: int = PRESENCE_GRACE_S, summary: str = ""
) -> list[Charger]:
    """Mark offline every charger that looks connected but has not been heard from
    for more than `grace_s` seconds, with a connection event for each. Returns the
    chargers marked offline. `summary` replaces the event's default text.

    Each charger is cleared with an UPDATE conditional on the channel and silence
    read a moment before: a charger that reconnected (new channel) or spoke
    (fresh last_seen_at) in between is left alone. Running it twice changes
    nothing the second time."""
    cutoff = now - timedelta(seconds=grace_s)
    silent = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff)
    candidates = list(
        Charger.objects.exclude(channel_name="")
        .filter(silent)
        .only("pk", "charge_point_id", "channel_name", "last_seen_at")
        .order_by("pk")
    )
    marked: list[Charger] = []
    for charger in candidates:
        with transaction.atomic():
            cleared = (
                Charger.objects.filter(pk=charger.pk, channel_name=charger.channel_name)
                .filter(silent)
                .update(channel_name="", disconnected_at=now)
            )
            if not cleared:
                continue
            seen = charger.last_seen_at.isoformat() if charger.last_seen_at else "never"
            ChargerEvent.objects.create(
                charger=charger,
                kind=ChargerEvent.Kind.CONNECTION,
                summary=summary or f"Marked offline: not heard from since {seen}",
                payload={"last_seen_at": seen, "grace_s": grace_s},
                reported_at=now,
            )
        log.warning(
            "%s marked offline: silent since %s (its server process may have died)",
            charger.charge_point_id,
            seen,
        )
        charger.channel_name, charger.disconnected_at = "", now
        marked.append(charger)
    return marked
