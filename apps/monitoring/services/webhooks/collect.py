"""Finding webhook events in what the chargers domain stored (see the package
docstring)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.chargers.models import Charger, ChargerEvent, ChargingSession, Connector, StatusChange
from apps.monitoring.models import (
    Alert,
    WebhookCursor,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from apps.monitoring.services.webhooks._common import _iso, _lockable

# Rows younger than this are left for the next run (see the package docstring).
COLLECT_SETTLE_S = 5
# Rows read per source and run: a backlog drains over a few runs.
COLLECT_BATCH = 500


# --- finding events -----------------------------------------------------------------------


@dataclass
class _Spec:
    """An event found in a source row, before it is stored."""

    event_id: str
    type: str
    organization_id: int
    property_id: int | None
    occurred_at: datetime
    data: dict[str, Any]


@dataclass
class _Source:
    name: str
    start: Callable[[WebhookCursor], None]
    read: Callable[[WebhookCursor, datetime], list[_Spec]]


@dataclass
class CollectResult:
    events: int = 0
    deliveries: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def _charger_context(charger: Charger) -> dict[str, Any]:
    zone = charger.zone
    prop = zone.property
    return {
        "charger": {
            "id": charger.pk,
            "charge_point_id": charger.charge_point_id,
            "name": charger.name,
        },
        "zone": {"id": zone.pk, "name": zone.name},
        "property": {"id": prop.pk, "name": prop.name},
    }


def _spec(event_id: str, type_: str, charger: Charger, at: datetime, data: dict[str, Any]) -> _Spec:
    prop = charger.zone.property
    return _Spec(
        event_id=event_id,
        type=type_,
        organization_id=prop.organization_id,
        property_id=prop.pk,
        occurred_at=at,
        data={**_charger_context(charger), **data},
    )


def _max_pk(queryset: Any) -> int:
    return int(queryset.aggregate(top=Max("pk"))["top"] or 0)


def _new_rows(queryset: Any, cursor: WebhookCursor, cutoff: datetime, at_field: str) -> Any:
    return queryset.filter(pk__gt=cursor.last_id, **{f"{at_field}__lte": cutoff})


def _advance(
    cursor: WebhookCursor, queryset: Any, cutoff: datetime, at_field: str, read: list[int]
) -> None:
    """Move the cursor past what was read; when the read was not cut short by the
    batch size, past every settled row of the table (rows of other kinds)."""
    if len(read) >= COLLECT_BATCH:
        cursor.last_id = max(read)
    else:
        cursor.last_id = max(cursor.last_id, _max_pk(_new_rows(queryset, cursor, cutoff, at_field)))


# connections: the chargers domain records connect, disconnect, the presence sweep's
# "marked offline" and "back online" as ChargerEvent rows of kind connection. The
# summary says which (apps/chargers/services/connections.py); "Older connection
# closed" (a newer socket took over) changes nothing for the outside world.
def _connection_type(summary: str, payload: Any) -> str | None:
    if summary.startswith(("Connected", "Back online")):
        return WebhookEventType.CHARGER_ONLINE
    if summary.startswith(("Disconnected", "Marked offline")) or (
        isinstance(payload, dict) and "grace_s" in payload
    ):
        return WebhookEventType.CHARGER_OFFLINE
    return None


def _connections_start(cursor: WebhookCursor) -> None:
    cursor.last_id = _max_pk(ChargerEvent.objects.all())


def _connections_read(cursor: WebhookCursor, cutoff: datetime) -> list[_Spec]:
    table = ChargerEvent.objects.all()
    rows = list(
        _new_rows(table, cursor, cutoff, "received_at")
        .filter(kind=ChargerEvent.Kind.CONNECTION)
        .select_related("charger__zone__property")
        .order_by("pk")[:COLLECT_BATCH]
    )
    specs = []
    for row in rows:
        type_ = _connection_type(row.summary, row.payload)
        if type_ is None:
            continue
        at = row.reported_at or row.received_at
        specs.append(
            _spec(
                f"evt_conn_{row.pk}",
                type_,
                row.charger,
                at,
                {"at": _iso(at), "reason": row.summary},
            )
        )
    _advance(cursor, table, cutoff, "received_at", [r.pk for r in rows])
    return specs


def _faults_start(cursor: WebhookCursor) -> None:
    cursor.last_id = _max_pk(StatusChange.objects.all())


def _faults_read(cursor: WebhookCursor, cutoff: datetime) -> list[_Spec]:
    table = StatusChange.objects.all()
    rows = list(
        _new_rows(table, cursor, cutoff, "received_at")
        .filter(status=Connector.Status.FAULTED)
        .select_related("charger__zone__property", "connector")
        .order_by("pk")[:COLLECT_BATCH]
    )
    specs = []
    for row in rows:
        # A charger repeats its status (after a reconnect, on request): only a
        # change into Faulted, or to another error, is news.
        previous = (
            StatusChange.objects.filter(
                charger_id=row.charger_id, connector_id=row.connector_id, pk__lt=row.pk
            )
            .order_by("-pk")
            .values("status", "error_code", "vendor_error_code")
            .first()
        )
        if previous == {
            "status": row.status,
            "error_code": row.error_code,
            "vendor_error_code": row.vendor_error_code,
        }:
            continue
        specs.append(
            _spec(
                f"evt_fault_{row.pk}",
                WebhookEventType.CONNECTOR_FAULTED,
                row.charger,
                row.reported_at,
                {
                    # OCPP numbering; 0 is the whole charger.
                    "connector_id": row.connector.connector_id if row.connector else 0,
                    "error_code": row.error_code,
                    "vendor_error_code": row.vendor_error_code,
                    "info": row.info,
                    "reported_at": _iso(row.reported_at),
                },
            )
        )
    _advance(cursor, table, cutoff, "received_at", [r.pk for r in rows])
    return specs


def _session_data(session: ChargingSession, *, as_started: bool = False) -> dict[str, Any]:
    """The session's fields; `as_started`: as they were at its start (the collector
    may find the start only once the session has already stopped)."""
    data = {
        "id": session.pk,
        "ocpp_transaction_id": session.ocpp_transaction_id,
        "connector_id": session.connector.connector_id if session.connector else None,
        "id_tag": session.id_tag,
        "person_id": session.person_id,
        "vehicle_id": session.vehicle_id,
        "state": session.state,
        "started_at": _iso(session.started_at),
        "stopped_at": _iso(session.stopped_at),
        "stop_reason": session.stop_reason,
        "meter_start_wh": session.meter_start_wh,
        "meter_stop_wh": session.meter_stop_wh,
        "energy_wh": session.energy_wh,
    }
    if as_started:
        data |= {
            "state": ChargingSession.State.ACTIVE.value,
            "stopped_at": None,
            "stop_reason": "",
            "meter_stop_wh": None,
            "energy_wh": None,
        }
    return {"session": data}


def _session_specs(session: ChargingSession, *, started: bool) -> list[_Spec]:
    specs = []
    if started:
        specs.append(
            _spec(
                f"evt_sess_{session.pk}_started",
                WebhookEventType.SESSION_STARTED,
                session.charger,
                session.started_at,
                _session_data(session, as_started=True),
            )
        )
    if session.state == ChargingSession.State.COMPLETED and session.stopped_at is not None:
        specs.append(
            _spec(
                f"evt_sess_{session.pk}_stopped",
                WebhookEventType.SESSION_STOPPED,
                session.charger,
                session.stopped_at,
                _session_data(session),
            )
        )
    return specs


def _sessions_start(cursor: WebhookCursor) -> None:
    cursor.last_id = _max_pk(ChargingSession.objects.all())
    cursor.watching = sorted(
        ChargingSession.objects.filter(state=ChargingSession.State.ACTIVE).values_list(
            "pk", flat=True
        )
    )


def _sessions_read(cursor: WebhookCursor, cutoff: datetime) -> list[_Spec]:
    table = ChargingSession.objects.all()
    related = ("charger__zone__property", "connector")
    specs: list[_Spec] = []
    # Watched first: a stop of an older session comes before the starts read below.
    watched = set(cursor.watching)
    for session in (
        table.filter(pk__in=watched, state=ChargingSession.State.COMPLETED)
        .select_related(*related)
        .order_by("pk")
    ):
        specs += _session_specs(session, started=False)
        watched.discard(session.pk)
    # Watched rows that disappeared (deleted) are dropped too.
    watched &= set(table.filter(pk__in=watched).values_list("pk", flat=True))
    rows = list(
        _new_rows(table, cursor, cutoff, "created_at")
        .select_related(*related)
        .order_by("pk")[:COLLECT_BATCH]
    )
    for session in rows:
        specs += _session_specs(session, started=True)
        if session.state == ChargingSession.State.ACTIVE:
            watched.add(session.pk)
    _advance(cursor, table, cutoff, "created_at", [r.pk for r in rows])
    cursor.watching = sorted(watched)
    return specs


def _alert_spec(alert: Alert, type_: str, at: datetime) -> _Spec:
    suffix = "opened" if type_ == WebhookEventType.ALERT_OPENED else "resolved"
    return _spec(
        f"evt_alert_{alert.pk}_{suffix}",
        type_,
        alert.charger,
        at,
        {
            "alert": {
                "id": alert.pk,
                "kind": alert.kind,
                "severity": alert.severity,
                "title": alert.title,
                "status": alert.status,
                "connector_id": alert.connector.connector_id if alert.connector else None,
                "opened_at": _iso(alert.opened_at),
                "resolved_at": _iso(alert.resolved_at),
            }
        },
    )


def _alerts_start(cursor: WebhookCursor) -> None:
    cursor.last_id = _max_pk(Alert.objects.all())
    cursor.watching = sorted(
        Alert.objects.filter(status=Alert.Status.OPEN).values_list("pk", flat=True)
    )


def _alerts_read(cursor: WebhookCursor, cutoff: datetime) -> list[_Spec]:
    table = Alert.objects.all()
    related = ("charger__zone__property", "connector")
    specs: list[_Spec] = []
    watched = set(cursor.watching)
    for alert in (
        table.filter(pk__in=watched, status=Alert.Status.RESOLVED)
        .select_related(*related)
        .order_by("pk")
    ):
        specs.append(
            _alert_spec(alert, WebhookEventType.ALERT_RESOLVED, alert.resolved_at or cutoff)
        )
        watched.discard(alert.pk)
    watched &= set(table.filter(pk__in=watched).values_list("pk", flat=True))
    # Alerts have no insert time of their own: opened_at is when the problem began,
    # never later than the insert, so the settle rule holds with it too.
    rows = list(
        _new_rows(table, cursor, cutoff, "opened_at")
        .select_related(*related)
        .order_by("pk")[:COLLECT_BATCH]
    )
    for alert in rows:
        specs.append(_alert_spec(alert, WebhookEventType.ALERT_OPENED, alert.opened_at))
        if alert.status == Alert.Status.RESOLVED:
            specs.append(
                _alert_spec(
                    alert, WebhookEventType.ALERT_RESOLVED, alert.resolved_at or alert.opened_at
                )
            )
        else:
            watched.add(alert.pk)
    _advance(cursor, table, cutoff, "opened_at", [r.pk for r in rows])
    cursor.watching = sorted(watched)
    return specs


SOURCES = (
    _Source("connections", _connections_start, _connections_read),
    _Source("faults", _faults_start, _faults_read),
    _Source("sessions", _sessions_start, _sessions_read),
    _Source("alerts", _alerts_start, _alerts_read),
)


def _cursors_start(*, now: datetime) -> None:
    """Create the missing cursors at the current end of their tables: events are
    found from now on, history is not replayed."""
    existing = set(WebhookCursor.objects.values_list("source", flat=True))
    for source in SOURCES:
        if source.name in existing:
            continue
        cursor = WebhookCursor(source=source.name)
        source.start(cursor)
        WebhookCursor.objects.bulk_create([cursor], ignore_conflicts=True)


def _subscriptions_by_org() -> dict[int, list[tuple[WebhookSubscription, set[int]]]]:
    found: dict[int, list[tuple[WebhookSubscription, set[int]]]] = defaultdict(list)
    for subscription in (
        WebhookSubscription.objects.filter(is_active=True)
        .prefetch_related("properties")
        .order_by("pk")
    ):
        found[subscription.organization_id].append(
            (subscription, {p.pk for p in subscription.properties.all()})
        )
    return found


def _store(
    specs: list[_Spec],
    subscriptions: dict[int, list[tuple[WebhookSubscription, set[int]]]],
    now: datetime,
    result: CollectResult,
) -> None:
    for spec in specs:
        wanting = [
            subscription
            for subscription, property_ids in subscriptions.get(spec.organization_id, [])
            if spec.type in subscription.event_types
            and (not property_ids or spec.property_id in property_ids)
        ]
        if not wanting:
            continue
        event, created = WebhookEvent.objects.get_or_create(
            event_id=spec.event_id,
            defaults={
                "organization_id": spec.organization_id,
                "property_id": spec.property_id,
                "type": spec.type,
                "occurred_at": spec.occurred_at,
                "data": spec.data,
            },
        )
        made = WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(subscription=s, event=event, next_attempt_at=now) for s in wanting],
            ignore_conflicts=True,
        )
        if created:
            result.events += 1
            result.by_type[spec.type] = result.by_type.get(spec.type, 0) + 1
        result.deliveries += len(made)


def webhook_events_collect(
    *, now: datetime | None = None, settle_s: float = COLLECT_SETTLE_S
) -> CollectResult:
    """Find new events in every source since its cursor, store those that an active
    subscription wants, with a pending delivery each. Safe to run concurrently (a
    source whose cursor another run holds is skipped) and to repeat. Rows younger
    than `settle_s` are left for a later run (tests that wrote everything already
    pass 0)."""
    now = now or timezone.now()
    result = CollectResult()
    if not WebhookSubscription.objects.filter(is_active=True).exists():
        # Nobody listens: forget the cursors, so that a subscription activated
        # later starts from its activation, not from a backlog of stale history.
        if WebhookCursor.objects.exists():
            WebhookCursor.objects.all().delete()
        return result
    _cursors_start(now=now)
    subscriptions = _subscriptions_by_org()
    cutoff = now - timedelta(seconds=settle_s)
    for source in SOURCES:
        with transaction.atomic():
            cursor = _lockable(WebhookCursor.objects.filter(source=source.name)).first()
            if cursor is None:
                continue
            before = (cursor.last_id, list(cursor.watching))
            specs = source.read(cursor, cutoff)
            _store(specs, subscriptions, now, result)
            # No write when nothing moved: in embedded mode SQLite has one writer,
            # and the chargers come first.
            if (cursor.last_id, list(cursor.watching)) != before:
                cursor.save(update_fields=["last_id", "watching", "updated_at"])
    return result
