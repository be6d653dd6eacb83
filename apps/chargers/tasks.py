"""Celery tasks of the chargers app: ids in, one service call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.chargers import services
from apps.chargers.commands import command_send_sync
from apps.chargers.models import Charger, CommandLog
from apps.chargers.services import message_log


# No automatic retries: a command is not idempotent (a second remote-start could
# start a second session); each attempt is in the command log with its outcome.
@shared_task(name="chargers.charger_command_send")
def charger_command_send(
    charger_id: int,
    command: str,
    params: dict[str, Any] | None = None,
    issued_by_id: int | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Send a remote command from a worker (any process: the answer comes back
    through the channel layer). Returns the charger's answer with its command id."""
    issued_by = get_user_model().objects.filter(pk=issued_by_id).first() if issued_by_id else None
    result = command_send_sync(
        charger=Charger.objects.only("charge_point_id").get(pk=charger_id),
        command=command,
        params=params,
        issued_by=issued_by,
        source=CommandLog.Source.TASK,
        timeout=timeout,
    )
    return {**result.response, "command_id": result.command_id}


# Scheduled every minute (settings.CELERY_BEAT_SCHEDULE): by celery beat in
# production, by the in-process scheduler of `run_embedded` on a developer's machine.
@shared_task(name="chargers.charger_presence_sweep")
def charger_presence_sweep() -> list[str]:
    """Mark offline the chargers whose server process went away without saying so.
    Returns their charge point ids (for the worker's log)."""
    marked = services.charger_presence_sweep(now=timezone.now())
    return [charger.charge_point_id for charger in marked]


# Scheduled hourly (settings.CELERY_BEAT_SCHEDULE).
@shared_task(name="chargers.ocpp_message_log_purge")
def ocpp_message_log_purge() -> int:
    """Delete the raw OCPP frames older than OCPP_MESSAGE_LOG_DAYS. Returns how many."""
    return message_log.ocpp_messages_purge(
        before=timezone.now() - timedelta(days=settings.OCPP_MESSAGE_LOG_DAYS)
    )
