"""maintenance periodic and background tasks (scheduled in settings.CELERY_BEAT_SCHEDULE):
each calls one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.monitoring.services import configuration, diagnostics, firmware


@shared_task(name="monitoring.diagnostics_progress_sync")
def diagnostics_progress_sync() -> int:
    """Upload progress from the chargers' notifications; expired links and files
    past their retention."""
    return diagnostics.diagnostics_housekeeping(now=timezone.now())


@shared_task(name="monitoring.firmware_campaigns_advance")
def firmware_campaigns_advance() -> int:
    """Firmware progress from the notifications, then the updates due to be sent
    (offline chargers tried again)."""
    return firmware.firmware_campaigns_advance(now=timezone.now())


@shared_task(name="monitoring.configuration_refresh")
def configuration_refresh() -> int:
    """Re-read the configuration of a few online chargers (oldest reading first)
    and re-evaluate their drift; complete pending 2.0.1 reports."""
    return configuration.configuration_refresh(now=timezone.now())


@shared_task(name="monitoring.configuration_reports_collect")
def configuration_reports_collect() -> int:
    """Store the 2.0.1 configuration reports whose parts have all arrived."""
    return len(configuration.configuration_reports_collect(now=timezone.now()))
