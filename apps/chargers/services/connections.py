"""A charger's connection: connect, boot, heartbeat, disconnect, and the sweep that
notices chargers whose server process died."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.chargers.models import (
    Charger,
    ChargerEvent,
)
from apps.chargers.services import _sql
from apps.chargers.services.registration import Admission, admit

log = logging.getLogger(__name__)


# How often an accepted charger sends a heartbeat, and how soon a pending one asks
# again. A pending answer with an interval is also how we shed load in a reconnect
# storm: stations back off.
HEARTBEAT_INTERVAL_S = 300
PENDING_RETRY_INTERVAL_S = 60


@dataclass(frozen=True)
class BootResult:
    registration: str
    heartbeat_interval_s: int
    at: datetime


@transaction.atomic
def charger_admit_connect(
    *,
    charge_point_id: str,
    onboarding_key: str | None,
    username: str | None,
    password: str | None,
    channel_name: str,
    ocpp_version: str,
    at: datetime,
) -> Admission:
    """The handshake's one domain call: `charger_admit`, and when the charger is
    admitted, `charger_connected`, in one transaction. The charger's row is locked
    by the admission's own read, so recording the connection needs no second read.
    A refused charger records nothing but its refusal. `replaced_channel` of the
    answer is the older socket to close."""
    admission = admit(
        charge_point_id=charge_point_id,
        onboarding_key=onboarding_key,
        username=username,
        password=password,
        lock=True,
    )
    if admission.charger is None:
        return admission
    charger = admission.charger
    previous = charger.channel_name if charger.channel_name != channel_name else ""
    _connection_record(charger, channel_name, ocpp_version, at, previous)
    return replace(admission, replaced_channel=previous)


@transaction.atomic
def charger_connected(
    *, charger: Charger, channel_name: str, ocpp_version: str, at: datetime
) -> str:
    """Record that `channel_name` now holds the charger's socket. Returns the channel
    that held it before ("" if none): that older socket is to be closed."""
    locked = Charger.objects.select_for_update().only("channel_name").get(pk=charger.pk)
    previous = locked.channel_name if locked.channel_name != channel_name else ""
    _connection_record(charger, channel_name, ocpp_version, at, previous)
    return previous


def _connection_record(
    charger: Charger, channel_name: str, ocpp_version: str, at: datetime, previous: str
) -> None:
    """Write the connection on the charger's row (locked by the caller) and as an event."""
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
    # The registration is read from the database (a manager may have accepted or
    # rejected the charger since it connected), folded into the UPDATE: one that
    # matches only an accepted charger answers for the usual case in one query.
    registration: str = Charger.Registration.ACCEPTED
    if not Charger.objects.filter(pk=charger.pk, registration=registration).update(**fields):
        registration = (
            Charger.objects.select_for_update()
            .values_list("registration", flat=True)
            .get(pk=charger.pk)
        )
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


# --- presence ---------------------------------------------------------------
# A charger's socket is recorded in `channel_name` by the process holding it. If
# that process dies (crash, OOM kill, deploy without a clean shutdown) nobody
# clears it and the charger would look online forever; the sweep below does.
#
# Every inbound message proves the charger alive, not only Heartbeat: OCPP lets
# a busy charger skip heartbeats while it sends other messages. The consumer
# notes `last_seen_at` at most once per SEEN_WRITE_INTERVAL_S per connection, and
# the server process writes what its connections noted with one statement a
# second (`chargers_seen`), so a fleet streaming meter values costs one UPDATE a
# second per process, not one per charger and minute.
SEEN_WRITE_INTERVAL_S = 60
# Silence after which a connected charger is taken as gone: two missed heartbeats,
# plus the write throttle above (last_seen_at may lag that much behind the truth),
# plus slack for a slow network and the second the write may wait.
PRESENCE_GRACE_S = 2 * HEARTBEAT_INTERVAL_S + SEEN_WRITE_INTERVAL_S + 60


def charger_seen(
    *,
    charger: Charger,
    at: datetime,
    channel_name: str = "",
    connected_at: datetime | None = None,
) -> bool:
    """The charger sent something at `at`. Never moves last_seen_at backwards (a
    heartbeat written meanwhile may be newer). Returns whether last_seen_at changed.
    One UPDATE, outside any transaction: this runs once a minute for every
    connected charger, so it is the steady-state cost of holding a fleet.

    With the connection's `channel_name` and `connected_at`: if the presence sweep
    took this live connection for a dead one (the charger was silent longer than
    the grace period), hearing from it again puts the charger back online. Only
    while no newer connection has been recorded since (connected_at unchanged).
    The consumer passes them only when its connection has been silent long enough
    for the sweep to have run (`may_have_been_swept`)."""
    seen = _last_seen_forward(charger.pk, at)
    if channel_name and connected_at is not None:
        with transaction.atomic():
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
        if revived:
            log.info("%s back online on its existing connection", charger.charge_point_id)
    return bool(seen)


def chargers_seen(*, seen: Mapping[int, datetime]) -> int:
    """Many chargers (by pk) sent something, each at its time: `charger_seen` for
    all of them at once, without the revival. Never moves a last_seen_at
    backwards; a charger deleted meanwhile is skipped. Returns how many chargers'
    last_seen_at changed.

    One statement on PostgreSQL; elsewhere (SQLite: embedded mode, small fleets)
    one UPDATE per charger, in one transaction, in pk order."""
    if not seen:
        return 0
    ordered = sorted(seen.items())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_seen_many_sql(), [[pk for pk, _ in ordered], [at for _, at in ordered]])
            return cursor.rowcount
    changed = 0
    with transaction.atomic():
        for pk, at in ordered:
            changed += _last_seen_forward(pk, at)
    return changed


def _last_seen_forward(pk: int, at: datetime) -> int:
    """One charger's last_seen_at moved to `at`, never backwards: one UPDATE."""
    return (
        Charger.objects.filter(pk=pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at))
        .update(last_seen_at=at)
    )


def _seen_many_sql() -> str:
    """`chargers_seen`'s statement, built from the model's table and column names
    (quoted), never from a charger's data: hence the S608 noqa."""
    table, pk, seen = (
        _sql.table(Charger),
        _sql.column(Charger, "pk"),
        _sql.column(Charger, "last_seen_at"),
    )
    return (
        f"UPDATE {table} AS c SET {seen} = s.at"  # noqa: S608
        " FROM unnest(%s::bigint[], %s::timestamptz[]) AS s(pk, at)"
        f" WHERE c.{pk} = s.pk AND (c.{seen} IS NULL OR c.{seen} < s.at)"
    )


# Clocks of server processes and the sweep's worker may differ a little.
_SWEEP_CLOCK_SLACK_S = 60


def may_have_been_swept(*, silent_s: float, grace_s: float = PRESENCE_GRACE_S) -> bool:
    """Whether the presence sweep may have taken a connection for dead, given how
    long (seconds) it went without its last_seen_at being written: it clears only
    chargers silent for longer than its grace period."""
    return silent_s >= grace_s - _SWEEP_CLOCK_SLACK_S


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
