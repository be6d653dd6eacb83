"""The OCPP message log's storage and its retention purge (the periodic task)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.chargers import tasks
from apps.chargers.models import OcppMessage
from apps.chargers.services.message_log import LoggedFrame, ocpp_messages_store
from tests import factories

pytestmark = pytest.mark.django_db


def _frame(charger_id: int, at, message_id: str = "1") -> LoggedFrame:
    return LoggedFrame(
        charger_id=charger_id,
        direction=OcppMessage.Direction.IN,
        message_type=OcppMessage.MessageType.CALL,
        action="Heartbeat",
        message_id=message_id,
        frame=f'[2,"{message_id}","Heartbeat",{{}}]',
        at=at,
    )


def test_store_skips_frames_of_deleted_chargers():
    charger = factories.ChargerFactory()
    gone = factories.ChargerFactory()
    gone_id = gone.pk
    gone.delete()
    now = timezone.now()

    stored = ocpp_messages_store(frames=[_frame(charger.pk, now), _frame(gone_id, now, "2")])

    assert stored == 1
    assert list(OcppMessage.objects.values_list("charger_id", "message_id")) == [(charger.pk, "1")]


def test_purge_task_deletes_frames_older_than_the_retention(settings):
    settings.OCPP_MESSAGE_LOG_DAYS = 7
    charger = factories.ChargerFactory()
    now = timezone.now()
    ocpp_messages_store(
        frames=[
            _frame(charger.pk, now - timedelta(days=8), "old"),
            _frame(charger.pk, now - timedelta(days=7, minutes=1), "just-too-old"),
            _frame(charger.pk, now - timedelta(days=6), "kept"),
            _frame(charger.pk, now, "new"),
        ]
    )

    assert tasks.ocpp_message_log_purge() == 2
    assert sorted(OcppMessage.objects.values_list("message_id", flat=True)) == ["kept", "new"]
    assert tasks.ocpp_message_log_purge() == 0


def test_purge_is_scheduled():
    entry = settings.CELERY_BEAT_SCHEDULE["chargers.ocpp-message-log-purge"]
    assert entry["task"] == tasks.ocpp_message_log_purge.name
