"""Health report tasks. Scheduled hourly (settings.CELERY_BEAT_SCHEDULE): each run
mails the reports whose period has ended and that were not sent yet, once it is
06:00 or later in the property's time zone (services.reports.REPORT_SEND_HOUR)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.monitoring.models import ReportSubscription
from apps.monitoring.services import reports


@shared_task(name="monitoring.reports_send_daily")
def reports_send_daily() -> int:
    """Yesterday's reports. Returns how many were sent."""
    sent = reports.reports_send_due(
        frequency=ReportSubscription.Frequency.DAILY, now=timezone.now()
    )
    return len(sent)


@shared_task(name="monitoring.reports_send_weekly")
def reports_send_weekly() -> int:
    """Last week's (Monday to Sunday) reports. Returns how many were sent."""
    sent = reports.reports_send_due(
        frequency=ReportSubscription.Frequency.WEEKLY, now=timezone.now()
    )
    return len(sent)
