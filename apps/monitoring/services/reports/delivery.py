"""Sending the reports: each subscription's report once per period, by email with
the PDF attached."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from apps.monitoring.models import ReportDelivery, ReportSubscription
from apps.monitoring.services.reports.build import (
    ReportPeriod,
    report_build,
    report_period_last_complete,
)
from apps.monitoring.services.reports.render import (
    report_filename,
    report_html,
    report_pdf,
    report_text,
)

REPORT_SEND_HOUR = 6  # local time at the property


@transaction.atomic
def report_deliver(
    *, subscription: ReportSubscription, period: ReportPeriod, now: datetime
) -> ReportDelivery | None:
    """Email one subscription's report for `period`, unless it was sent already (the
    delivery row is unique per period; a failed send rolls it back, so the next run
    tries again). Returns the delivery, or None if there was nothing to do."""
    recipients = subscription.recipient_list()
    delivery, created = ReportDelivery.objects.get_or_create(
        subscription=subscription,
        period_start=period.start,
        defaults={
            "period_end": period.end,
            "recipients": ", ".join(recipients),
            "sent_at": now,
        },
    )
    if not created or not recipients:
        return None
    report = report_build(property=subscription.property, period=period, now=now)
    message = EmailMultiAlternatives(
        subject=f"[Plugboard] {report.title}",
        body=report_text(report),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(report_html(report), "text/html")
    message.attach(report_filename(report, "pdf"), report_pdf(report), "application/pdf")
    message.send()
    return delivery


def reports_send_due(*, frequency: str, now: datetime) -> list[ReportDelivery]:
    """Send every enabled subscription of `frequency` whose latest complete period
    has not been sent, once it is REPORT_SEND_HOUR or later at the property."""
    sent = []
    subscriptions = (
        ReportSubscription.objects.filter(frequency=frequency, is_enabled=True)
        .select_related("property__organization")
        .order_by("pk")
    )
    for subscription in subscriptions:
        tz = ZoneInfo(subscription.property.time_zone)
        if now.astimezone(tz).hour < REPORT_SEND_HOUR:
            continue
        period = report_period_last_complete(frequency=frequency, tz=tz, now=now)
        delivery = report_deliver(subscription=subscription, period=period, now=now)
        if delivery is not None:
            sent.append(delivery)
    return sent


def reports_send_latest(
    *, subscriptions: Iterable[ReportSubscription], now: datetime
) -> list[ReportDelivery]:
    """Send each subscription's latest complete report now, whatever the hour, unless
    it was sent already (the admin's "send now")."""
    sent = []
    for subscription in subscriptions:
        tz = ZoneInfo(subscription.property.time_zone)
        period = report_period_last_complete(frequency=subscription.frequency, tz=tz, now=now)
        delivery = report_deliver(subscription=subscription, period=period, now=now)
        if delivery is not None:
            sent.append(delivery)
    return sent
