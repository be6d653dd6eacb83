"""Outbound webhooks: subscriptions, finding events, delivering them.

Finding events adds nothing to the OCPP path. A periodic task
(`webhook_events_collect`) reads what the chargers domain stores anyway, each
source past a durable cursor (`WebhookCursor`):

| source           | rows read                                     | events                      |
|------------------|-----------------------------------------------|-----------------------------|
| connections      | ChargerEvent kind "connection"                | charger.online / .offline   |
| faults           | StatusChange with status faulted              | connector.faulted           |
| sessions         | ChargingSession (new rows; active ones watched) | session.started / .stopped |
| alerts           | Alert (new rows; open ones watched)           | alert.opened / .resolved    |

Rows are read in id order up to those received `COLLECT_SETTLE_S` ago: a row
inserted by a transaction that commits later than a newer one (PostgreSQL hands
out ids before commit) is then already visible when the cursor passes its id.
Sessions and alerts change state after they are inserted; the ids still active
(open) are kept in the cursor and looked at again each run.

Each event has a stable id derived from its source row (`evt_conn_123`), so a
run repeated after a crash creates nothing twice (unique in the database), and
receivers can deduplicate retried deliveries on it.

Delivering (`webhook_deliveries_send`) takes due deliveries one at a time under a
lease (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), POSTs them through
apps/monitoring/outbound.py and records the outcome. Failed attempts are retried
with exponential back-off and jitter; a delivery that used all its attempts
fails, and a subscription that has not succeeded since that delivery was created
(about a day of failures) is disabled and its organization's managers are told.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.chargers.models import Charger, ChargerEvent, ChargingSession, Connector, StatusChange
from apps.monitoring import outbound
from apps.monitoring.models import (
    Alert,
    WebhookCursor,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from apps.monitoring.models.webhooks import SUBSCRIBABLE_EVENT_TYPES
from apps.sites.exceptions import Forbidden, InvalidReference, NotFound
from apps.sites.models import Membership, Organization, Property
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 -- a prefix, not a secret
SIGNATURE_SCHEME = "v1"
HEADER_EVENT_TYPE = "Plugboard-Event-Type"
HEADER_EVENT_ID = "Plugboard-Event-Id"
HEADER_DELIVERY_ID = "Plugboard-Delivery-Id"
HEADER_ATTEMPT = "Plugboard-Attempt"
HEADER_TIMESTAMP = "Plugboard-Timestamp"
HEADER_SIGNATURE = "Plugboard-Signature"

# Rows younger than this are left for the next run (see the module docstring).
COLLECT_SETTLE_S = 5
# Rows read per source and run: a backlog drains over a few runs.
COLLECT_BATCH = 500
# How long a worker owns a delivery it took (longer than one attempt can last).
SEND_LEASE_S = 120
# Manual "retry now" sends at most this many in the request.
MANUAL_RETRY_MAX = 20


# --- secrets and signatures -----------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 (hex) of "<timestamp>.<body>" with `secret`: what receivers
    recompute to check a delivery (docs/webhooks.md)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    found = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        found.append(subscription.previous_secret)
    return found


def _signature_header(
    subscription: WebhookSubscription, *, timestamp: int, body: bytes, now: datetime
) -> str:
    signatures = [
        f"{SIGNATURE_SCHEME}={webhook_signature(secret=s, timestamp=timestamp, body=body)}"
        for s in _signing_secrets(subscription, now)
    ]
    return ",".join([f"t={timestamp}", *signatures])


# --- subscriptions ----------------------------------------------------------------------


def _subscription_for_write(actor: AnyUser, subscription_id: int) -> WebhookSubscription:
    """The subscription for a change by `actor`: one they cannot see does not exist
    (NotFound), one they only view is Forbidden."""
    row = (
        WebhookSubscription.objects.visible_to(actor)
        .select_related("organization")
        .filter(pk=subscription_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No such webhook subscription: {subscription_id}.")
    if not WebhookSubscription.objects.editable_by(actor).filter(pk=row.pk).exists():
        raise Forbidden("Your role in this organization does not allow changing its webhooks.")
    return row


def _clean_url(url: str) -> str:
    url = url.strip()
    try:
        outbound.url_check(url)
    except outbound.UnsafeUrl as exc:
        raise ValidationError({"url": str(exc)}) from exc
    return url


def _clean_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(str(t) for t in event_types))
    allowed = {str(t) for t in SUBSCRIBABLE_EVENT_TYPES}
    unknown = [t for t in wanted if t not in allowed]
    if unknown:
        raise ValidationError(
            {
                "event_types": f"Unknown event type(s): {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(allowed))}."
            }
        )
    if not wanted:
        raise ValidationError({"event_types": "Choose at least one event type."})
    return [str(t) for t in SUBSCRIBABLE_EVENT_TYPES if str(t) in wanted]


def _clean_properties(organization: Organization, property_ids: Iterable[int]) -> list[Property]:
    ids = set(property_ids)
    found = list(Property.objects.filter(organization=organization, pk__in=ids).order_by("pk"))
    missing = ids - {p.pk for p in found}
    if missing:
        raise InvalidReference(
            f"No such property in {organization.name}: "
            f"{', '.join(str(i) for i in sorted(missing))}.",
            field="property_ids",
        )
    return found


@transaction.atomic
def webhook_subscription_create(
    *,
    actor: AnyUser,
    organization_id: int,
    name: str,
    url: str,
    event_types: Sequence[str],
    property_ids: Sequence[int] = (),
    is_active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` of one of the actor's organizations. Returns the subscription
    and its secret (shown to the user this once)."""
    from apps.sites.selectors import row_for_write

    organization = row_for_write(
        Organization.objects.all(),
        organization_id,
        user=actor,
        field="organization_id",
        label="organization",
    )
    secret = _new_secret()
    subscription = WebhookSubscription.objects.create(
        organization=organization,
        name=name.strip()[:100] or "Webhook",
        url=_clean_url(url),
        event_types=_clean_event_types(event_types),
        is_active=is_active,
        secret=secret,
        created_by_id=getattr(actor, "pk", None),
    )
    subscription.properties.set(_clean_properties(organization, property_ids))
    # Events are collected from the moment the first subscription exists: start the
    # cursors now rather than replay what happened before.
    _cursors_start(now=timezone.now())
    return subscription, secret


_UNSET: Any = object()


@transaction.atomic
def webhook_subscription_update(
    *,
    actor: AnyUser,
    subscription_id: int,
    name: str = _UNSET,
    url: str = _UNSET,
    event_types: Sequence[str] = _UNSET,
    property_ids: Sequence[int] = _UNSET,
    is_active: bool = _UNSET,
) -> WebhookSubscription:
    """Change what is given. Activating a subscription (again) clears why it was
    disabled; its failed deliveries stay failed ("retry" resends them)."""
    subscription = _subscription_for_write(actor, subscription_id)
    if name is not _UNSET:
        subscription.name = name.strip()[:100] or subscription.name
    if url is not _UNSET:
        subscription.url = _clean_url(url)
    if event_types is not _UNSET:
        subscription.event_types = _clean_event_types(event_types)
    if is_active is not _UNSET:
        if is_active and not subscription.is_active:
            subscription.disabled_reason, subscription.disabled_at = "", None
        subscription.is_active = is_active
    subscription.save()
    if property_ids is not _UNSET:
        subscription.properties.set(_clean_properties(subscription.organization, property_ids))
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, actor: AnyUser, subscription_id: int) -> None:
    _subscription_for_write(actor, subscription_id).delete()


@transaction.atomic
def webhook_subscription_rotate_secret(
    *, actor: AnyUser, subscription_id: int, now: datetime | None = None
) -> tuple[WebhookSubscription, str]:
    """A new secret (returned, shown once). The old one keeps signing alongside it
    for WEBHOOK_SECRET_ROTATION_GRACE_S, so receivers can switch without losing
    deliveries; rotating again ends that grace at once."""
    now = now or timezone.now()
    subscription = _subscription_for_write(actor, subscription_id)
    secret = _new_secret()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + timedelta(
        seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_S
    )
    subscription.secret = secret
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return subscription, secret


def webhook_test_send(
    *, actor: AnyUser, subscription_id: int, now: datetime | None = None
) -> WebhookDelivery:
    """Send a `webhook.test` event to the subscription now, once (no retries, and
    its outcome does not count towards disabling). Returns the delivery with the
    receiver's answer."""
    now = now or timezone.now()
    subscription = _subscription_for_write(actor, subscription_id)
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            event_id=f"evt_test_{uuid.uuid4().hex}",
            organization=subscription.organization,
            type=WebhookEventType.TEST,
            occurred_at=now,
            data={
                "subscription": {"id": subscription.pk, "name": subscription.name},
                "message": "A test event sent on request from Plugboard.",
            },
        )
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event=event, next_attempt_at=now + _lease()
        )
    _attempt(delivery, automatic=False)
    return delivery


def webhook_deliveries_retry(
    *, actor: AnyUser, delivery_ids: Iterable[int], now: datetime | None = None
) -> list[WebhookDelivery]:
    """Send the given deliveries again now, one attempt each (at most
    MANUAL_RETRY_MAX; delivered ones and those of inactive subscriptions are left
    alone). Returns the deliveries attempted, with their outcome."""
    now = now or timezone.now()
    editable = WebhookDelivery.objects.editable_by(actor).filter(
        pk__in=list(delivery_ids),
        subscription__is_active=True,
        status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.PENDING],
    )
    attempted = []
    for pk in editable.order_by("pk").values_list("pk", flat=True)[:MANUAL_RETRY_MAX]:
        with transaction.atomic():
            delivery = (
                _lockable(WebhookDelivery.objects.filter(pk=pk).exclude(status="delivered"))
                .select_related("subscription", "event__organization")
                .first()
            )
            if delivery is None:
                continue
            delivery.status = WebhookDelivery.Status.PENDING
            delivery.next_attempt_at = now + _lease()
            delivery.save(update_fields=["status", "next_attempt_at"])
        _attempt(delivery, automatic=False)
        attempted.append(delivery)
    return attempted


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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


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


def _lockable(queryset: Any) -> Any:
    """`queryset` locked for update, skipping rows another worker holds (PostgreSQL).
    SQLite has one writer at a time and no row locks: the query runs as is."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


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


# --- delivering -----------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=SEND_LEASE_S)


def webhook_retry_delay(attempts: int, *, jitter: float | None = None) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: base × 3^(n-1),
    spread by ±20 % so that many deliveries failing together do not retry together.
    `jitter` (in [-1, 1]) fixes the spread for tests and docs."""
    spread = secrets.SystemRandom().uniform(-1, 1) if jitter is None else jitter
    base = settings.WEBHOOK_RETRY_BASE_S * 3 ** max(0, attempts - 1)
    return timedelta(seconds=base * (1 + 0.2 * spread))


def _envelope(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "type": event.type,
        "occurred_at": _iso(event.occurred_at),
        "created_at": _iso(event.created_at),
        "organization": {"id": event.organization_id, "name": event.organization.name},
        "data": event.data,
    }


def webhook_body(event: WebhookEvent) -> bytes:
    """The JSON body of every delivery of `event` (the same bytes on each attempt)."""
    return json.dumps(_envelope(event), separators=(",", ":"), sort_keys=True).encode()


def _attempt(delivery: WebhookDelivery, *, automatic: bool) -> None:
    """One POST of a delivery this worker holds, and its outcome recorded. With
    `automatic`, a failure is retried later (until the attempts run out); a manual
    attempt (test event, "retry now") is final either way."""
    subscription = delivery.subscription
    event = delivery.event
    now = timezone.now()
    timestamp = int(now.timestamp())
    body = webhook_body(event)
    attempt_no = delivery.attempts + 1
    headers = {
        HEADER_EVENT_TYPE: event.type,
        HEADER_EVENT_ID: event.event_id,
        HEADER_DELIVERY_ID: str(delivery.pk),
        HEADER_ATTEMPT: str(attempt_no),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: _signature_header(subscription, timestamp=timestamp, body=body, now=now),
    }
    status: int | None = None
    answer, error = "", ""
    started = time.monotonic()
    try:
        response = outbound.post_json(
            subscription.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S
        )
        status, answer, duration_ms = response.status, response.body, response.duration_ms
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except (outbound.OutboundError, outbound.UnsafeUrl) as exc:
        error = str(exc)
        duration_ms = int((time.monotonic() - started) * 1000)
    _record(
        delivery,
        attempt_no=attempt_no,
        status=status,
        answer=answer,
        error=error,
        duration_ms=duration_ms,
        automatic=automatic,
    )


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    *,
    attempt_no: int,
    status: int | None,
    answer: str,
    error: str,
    duration_ms: int,
    automatic: bool,
) -> None:
    now = timezone.now()
    delivery.attempts = attempt_no
    delivery.last_attempt_at = now
    delivery.response_status = status
    delivery.response_body = answer
    delivery.error = error
    delivery.duration_ms = duration_ms
    subscription = delivery.subscription
    is_test = delivery.event.type == WebhookEventType.TEST
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if not is_test:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(last_success_at=now)
    elif automatic and attempt_no < settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.next_attempt_at = now + webhook_retry_delay(attempt_no)
    else:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    delivery.save()
    if error and not is_test:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(last_failure_at=now)
    if error:
        log.info(
            "Webhook delivery %s to %s failed (attempt %s): %s",
            delivery.pk,
            subscription.url,
            attempt_no,
            error,
        )
    if automatic and delivery.status == WebhookDelivery.Status.FAILED and not is_test:
        _disable_if_failing(delivery, now)


def _disable_if_failing(delivery: WebhookDelivery, now: datetime) -> None:
    """A delivery ran out of attempts. If nothing reached the endpoint since that
    delivery was created (the whole retry schedule, about a day), the endpoint is
    taken as broken: the subscription is disabled, its waiting deliveries fail, and
    the organization's managers are told by email."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
    if not subscription.is_active:
        return
    if subscription.last_success_at is not None and (
        subscription.last_success_at >= delivery.created_at
    ):
        return
    since = timezone.localtime(delivery.created_at).strftime("%Y-%m-%d %H:%M %Z")
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = (
        f"Disabled after {delivery.attempts} failed attempts without a success since {since}; "
        f"last error: {delivery.error}"
    )[:500]
    subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    WebhookDelivery.objects.filter(
        subscription=subscription, status=WebhookDelivery.Status.PENDING
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        error="Not sent: the subscription was disabled.",
    )
    log.warning(
        "Webhook subscription %s disabled: %s", subscription.pk, subscription.disabled_reason
    )
    recipients = sorted(
        set(
            Membership.objects.filter(
                organization_id=subscription.organization_id, role__in=MANAGE_ROLES
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if recipients:
        subject = f"Webhook disabled: {subscription.name}"
        message = (
            f"The webhook endpoint {subscription.url} ({subscription.name}) has been "
            f"disabled.\n\n{subscription.disabled_reason}\n\n"
            "Fix the endpoint, then activate the subscription again in Plugboard "
            "(Monitoring › Webhook subscriptions); failed deliveries can be retried there."
        )
        transaction.on_commit(
            lambda: send_mail(subject, message, None, recipients, fail_silently=True)
        )


@dataclass
class SendResult:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0


def _claim_next(now: datetime) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            _lockable(
                WebhookDelivery.objects.filter(
                    status=WebhookDelivery.Status.PENDING,
                    next_attempt_at__lte=now,
                    subscription__is_active=True,
                )
            )
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = now + _lease()
        delivery.save(update_fields=["next_attempt_at"])
    return (
        WebhookDelivery.objects.select_related("subscription", "event__organization")
        .filter(pk=delivery.pk)
        .first()
    )


def webhook_deliveries_send(*, limit: int = 200, budget_s: float | None = None) -> SendResult:
    """Attempt due deliveries, oldest due first, until none is due, `limit` were
    attempted or `budget_s` seconds passed. Several workers may run this at once:
    each delivery is taken by one (a lease under a row lock)."""
    budget = settings.WEBHOOK_SEND_BUDGET_S if budget_s is None else budget_s
    started = time.monotonic()
    result = SendResult()
    while result.attempted < limit and time.monotonic() - started < budget:
        delivery = _claim_next(timezone.now())
        if delivery is None:
            break
        _attempt(delivery, automatic=True)
        result.attempted += 1
        if delivery.status == WebhookDelivery.Status.DELIVERED:
            result.delivered += 1
        elif delivery.status == WebhookDelivery.Status.FAILED:
            result.failed += 1
    return result


@transaction.atomic
def webhook_events_purge(*, now: datetime | None = None) -> int:
    """Delete events (with their deliveries) older than WEBHOOK_RETENTION_DAYS, except
    those still being delivered. Returns how many events went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(
        Q(deliveries__status=WebhookDelivery.Status.PENDING)
    )
    count = old.count()
    WebhookEvent.objects.filter(pk__in=old.values("pk")).delete()
    return count
