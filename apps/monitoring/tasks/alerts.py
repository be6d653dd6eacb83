"""Alert tasks: the periodic evaluation and driver-email scan (scheduled in
settings.CELERY_BEAT_SCHEDULE), and the work they hand off after commit (remedy
commands, emails). Ids in, one service call each."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.monitoring.services import alerts, notifications, remedies


@shared_task(name="monitoring.alerts_evaluate")
def alerts_evaluate() -> dict[str, int]:
    """Open, resolve, escalate and remedy alerts. Returns counts for the worker's log."""
    return alerts.alerts_evaluate(now=timezone.now()).summary()


@shared_task(name="monitoring.driver_notifications_send")
def driver_notifications_send() -> int:
    """Email drivers about their ended and suspended sessions (once each)."""
    return len(notifications.driver_notifications_send(now=timezone.now()))


# No automatic retries: a reset is not idempotent; the next evaluation decides.
@shared_task(name="monitoring.remedy_attempts_execute")
def remedy_attempts_execute(attempt_ids: list[int]) -> dict[int, str]:
    """Send one evaluation round's remedy commands, concurrently."""
    done = remedies.remedy_attempts_execute(attempt_ids=attempt_ids)
    return {attempt.pk: attempt.outcome for attempt in done}


@shared_task(name="monitoring.notification_send")
def notification_send(notification_id: int) -> str:
    """Send one recorded email."""
    sent = notifications.notification_send(notification_id=notification_id)
    return sent.status if sent is not None else "skipped"
