"""Every email monitoring sends goes through here (Django's mail backends): alert
notices to managers and escalation recipients, and session notices to drivers.

A Notification row is written first, in the caller's transaction, and the email
goes out after commit from a Celery task (`monitoring.notification_send`), so that
an SMTP server that is slow or down never holds up the alert evaluation. The task
claims the row before sending: a task delivered twice sends one email."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import ChargingSession, Connector
from apps.monitoring.models import Alert, AlertRule, Notification, parse_addresses
from apps.sites.models import Membership
from apps.sites.tenancy import MANAGE_ROLES

log = logging.getLogger(__name__)

Kind = Notification.Kind

SUSPENDED_STATUSES = (Connector.Status.SUSPENDED_EV, Connector.Status.SUSPENDED_EVSE)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def site_url() -> str:
    """Where links in emails point: the address people (and chargers) reach us at."""
    return str(settings.PUBLIC_BASE_URL).rstrip("/")


def subject_prefix() -> str:
    return str(_setting("ALERTS_EMAIL_SUBJECT_PREFIX", "[Plugboard] "))


# --- recipients -----------------------------------------------------------------------


def manager_addresses(*, organization_ids: Iterable[int]) -> dict[int, list[str]]:
    """The email addresses of each organization's owners and property managers (active
    users with an address), in one query."""
    rows = (
        Membership.objects.filter(
            organization_id__in=list(organization_ids),
            role__in=MANAGE_ROLES,
            user__is_active=True,
        )
        .exclude(user__email="")
        .values_list("organization_id", "user__email")
        .order_by("organization_id", "user__email")
    )
    found: dict[int, list[str]] = defaultdict(list)
    for org_id, email in rows:
        if email not in found[org_id]:
            found[org_id].append(email)
    return found


def rule_recipients(
    *, rule: AlertRule | None, managers: Sequence[str], escalation: bool = False
) -> list[str]:
    """Who hears about an alert of `rule`: the managers (unless the rule says not to),
    its extra addresses and, for an escalation, its escalation addresses. Without a
    rule (deleted since), the managers."""
    addresses: list[str] = []
    if rule is None or rule.notify_managers:
        addresses += managers
    if rule is not None:
        addresses += parse_addresses(rule.extra_recipients)
        if escalation:
            addresses += parse_addresses(rule.escalation_recipients)
    unique: list[str] = []
    for address in addresses:
        if address.lower() not in {a.lower() for a in unique}:
            unique.append(address)
    return unique


# --- alert notices --------------------------------------------------------------------

_VERBS = {
    Kind.ALERT_OPENED: "new",
    Kind.ALERT_ESCALATED: "escalated",
    Kind.ALERT_RESOLVED: "resolved",
}


def _alert_subject(kind: str, alerts: Sequence[Alert]) -> str:
    verb = _VERBS[Kind(kind)]
    if len(alerts) == 1:
        head = {"new": "Alert", "escalated": "ESCALATED", "resolved": "Resolved"}[verb]
        return f"{subject_prefix()}{head}: {alerts[0].title}"[:255]
    return f"{subject_prefix()}{len(alerts)} {verb} alerts: {alerts[0].get_kind_display()}"[:255]


def alert_notification_create(
    *,
    kind: str,
    rule: AlertRule | None,
    alerts: Sequence[Alert],
    recipients: Sequence[str],
    now: datetime,
) -> Notification:
    """Record one email about `alerts` (all of one organization and rule) and send
    it after commit. With nobody to send to, the row says so and nothing is sent."""
    notification = Notification.objects.create(
        organization_id=alerts[0].organization_id,
        kind=kind,
        recipients=list(recipients),
        subject=_alert_subject(kind, alerts),
        status=Notification.Status.PENDING if recipients else Notification.Status.NO_RECIPIENTS,
        created_at=now,
    )
    notification.alerts.set(alerts)
    if recipients:
        _send_on_commit(notification.pk)
    return notification


def _send_on_commit(notification_id: int) -> None:
    from apps.monitoring.tasks.alerts import notification_send

    transaction.on_commit(lambda: notification_send.delay(notification_id))


# --- sending --------------------------------------------------------------------------


def notification_send(*, notification_id: int) -> Notification | None:
    """Send a recorded notification's email, once: the row is claimed (sent_at set)
    before the email goes out. Returns the row, or None when it was not ours to send
    (already claimed, or nobody to send to)."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=Notification.Status.PENDING, sent_at__isnull=True
    ).update(sent_at=now)
    if not claimed:
        return None
    notification = Notification.objects.select_related("organization", "person").get(
        pk=notification_id
    )
    try:
        message = _message(notification)
        message.send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 (any backend error: recorded, never raised)
        log.warning("Notification %s not sent: %s", notification.pk, exc)
        notification.status = Notification.Status.FAILED
        notification.error = f"{type(exc).__name__}: {exc}"[:2000]
    else:
        notification.status = Notification.Status.SENT
    notification.save(update_fields=["status", "error"])
    return notification


def _message(notification: Notification) -> EmailMultiAlternatives:
    if notification.kind in (Kind.SESSION_ENDED, Kind.SESSION_SUSPENDED):
        template, context = "monitoring/email/driver_session", _driver_context(notification)
    else:
        template, context = "monitoring/email/alert", _alert_context(notification)
    context |= {"notification": notification, "site_url": site_url()}
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(notification.recipients),
    )
    message.attach_alternative(html, "text/html")
    return message


def _alert_context(notification: Notification) -> dict[str, Any]:
    alerts = list(
        notification.alerts.select_related("charger__zone__property", "connector", "rule").order_by(
            "charger__charge_point_id", "pk"
        )
    )
    base = site_url()
    rows = [
        {
            "alert": alert,
            "property": alert.charger.zone.property.name,
            "zone": alert.charger.zone.name,
            # Times in the property's own zone: that is where the manager is.
            "time_zone": alert.charger.zone.property.time_zone,
            "url": base + reverse("admin:monitoring_alert_change", args=[alert.pk]),
            "remedies": alert.remedy_attempts.count()
            if notification.kind != Kind.ALERT_OPENED
            else 0,
        }
        for alert in alerts
    ]
    return {
        "rows": rows,
        "event": notification.kind,
        "opened": notification.kind == Kind.ALERT_OPENED,
        "escalated": notification.kind == Kind.ALERT_ESCALATED,
        "resolved": notification.kind == Kind.ALERT_RESOLVED,
        "organization": notification.organization,
        "alerts_url": base + reverse("admin:monitoring_alert_changelist"),
    }


def _driver_context(notification: Notification) -> dict[str, Any]:
    session = (
        ChargingSession.objects.select_related("charger__zone__property", "connector", "vehicle")
        .filter(notifications=notification)
        .first()
    )
    energy_kwh = None
    duration_min = None
    if session is not None:
        if session.energy_wh is not None:
            energy_kwh = f"{session.energy_wh / 1000:.2f}"
        end = session.stopped_at or notification.created_at
        duration_min = int((end - session.started_at).total_seconds() // 60)
    status = session.connector.status if session is not None and session.connector else ""
    return {
        "session": session,
        "person": notification.person,
        "ended": notification.kind == Kind.SESSION_ENDED,
        "suspended_by_vehicle": status == Connector.Status.SUSPENDED_EV,
        "energy_kwh": energy_kwh,
        "duration_h": duration_min // 60 if duration_min is not None else None,
        "duration_m": duration_min % 60 if duration_min is not None else None,
        "charger": session.charger if session is not None else None,
    }


# --- drivers --------------------------------------------------------------------------


def _lookback() -> timedelta:
    # Only recent events: after downtime, nobody wants Monday's "move your car".
    return timedelta(hours=int(_setting("ALERTS_DRIVER_LOOKBACK_HOURS", 6)))


def _suspended_after() -> timedelta:
    # A vehicle pauses briefly while it negotiates or balances: only a suspension
    # that lasts is worth an email.
    return timedelta(minutes=int(_setting("ALERTS_DRIVER_SUSPENDED_AFTER_MINUTES", 5)))


def driver_notifications_send(*, now: datetime | None = None) -> list[Notification]:
    """Email drivers who opted in (Person.notify_session_email, with an address) when
    their session ended or has been suspended (SuspendedEV: "move your car";
    SuspendedEVSE: "charging paused") for a while. Exactly once per session and
    event: each email is claimed by a unique row before it is sent."""
    now = now or timezone.now()
    opted_in = {
        "person__notify_session_email": True,
        "person__is_active": True,
    }

    def not_sent(kind: str) -> Exists:
        return Exists(Notification.objects.filter(session_id=OuterRef("pk"), kind=kind))

    ended = (
        ChargingSession.objects.filter(
            state=ChargingSession.State.COMPLETED, stopped_at__gte=now - _lookback(), **opted_in
        )
        .exclude(person__email="")
        .filter(~not_sent(Kind.SESSION_ENDED))
        .select_related("person", "charger")
        .order_by("stopped_at", "pk")
    )
    suspended = (
        ChargingSession.objects.filter(
            state=ChargingSession.State.ACTIVE,
            connector__status__in=SUSPENDED_STATUSES,
            connector__status_at__lte=now - _suspended_after(),
            connector__status_at__gte=now - _lookback(),
            **opted_in,
        )
        .exclude(person__email="")
        .filter(~not_sent(Kind.SESSION_SUSPENDED))
        .select_related("person", "charger", "connector")
        .order_by("pk")
    )
    sent = []
    for kind, sessions in ((Kind.SESSION_ENDED, ended), (Kind.SESSION_SUSPENDED, suspended)):
        for session in sessions:
            # A suspension reported before the session began belongs to another one.
            if (
                kind == Kind.SESSION_SUSPENDED
                and session.connector is not None
                and (
                    session.connector.status_at is None
                    or session.connector.status_at < session.started_at
                )
            ):
                continue
            notification = _driver_claim(session=session, kind=kind, now=now)
            if notification is not None:
                sent.append(notification)
    return sent


def _driver_subject(session: ChargingSession, kind: str) -> str:
    where = session.charger.name or session.charger.charge_point_id
    if kind == Kind.SESSION_ENDED:
        return f"{subject_prefix()}Your charging session at {where} has ended"
    if session.connector is not None and session.connector.status == Connector.Status.SUSPENDED_EV:
        return f"{subject_prefix()}Your car has stopped charging at {where}: please move it"
    return f"{subject_prefix()}Charging paused at {where}"


def _driver_claim(*, session: ChargingSession, kind: str, now: datetime) -> Notification | None:
    person = session.person
    assert person is not None  # noqa: S101 (the query requires one)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                organization_id=person.organization_id,
                kind=kind,
                session=session,
                person=person,
                recipients=[person.email],
                subject=_driver_subject(session, kind)[:255],
                created_at=now,
            )
            _send_on_commit(notification.pk)
    except IntegrityError:
        # Another scan claimed it first: it sends the email, not us.
        return None
    return notification
