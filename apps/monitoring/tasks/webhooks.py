"""Webhook periodic tasks (scheduled in settings.CELERY_BEAT_SCHEDULE): no arguments,
one service call each."""

from __future__ import annotations

from celery import shared_task

from apps.monitoring.services import webhooks as services


@shared_task(name="monitoring.webhook_events_collect")
def webhook_events_collect() -> dict[str, int]:
    """Find new charger, session and alert events for the active subscriptions."""
    result = services.webhook_events_collect()
    return {"events": result.events, "deliveries": result.deliveries}


@shared_task(name="monitoring.webhook_deliveries_send")
def webhook_deliveries_send() -> dict[str, int]:
    """Send due webhook deliveries (retries included)."""
    result = services.webhook_deliveries_send()
    return {"attempted": result.attempted, "delivered": result.delivered, "failed": result.failed}


@shared_task(name="monitoring.webhook_events_purge")
def webhook_events_purge() -> int:
    """Delete webhook events past their retention."""
    return services.webhook_events_purge()
