"""The webhook jobs as they run in embedded mode: the project's schedule, through the
in-process scheduler (config/embedded.py), each job one service call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.chargers import services as charger_services
from apps.chargers.models import ChargerEvent
from apps.monitoring.models import WebhookDelivery
from config.celery import app as celery_app
from config.embedded import EmbeddedScheduler, celery_tasks, jobs_from_schedule
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_schedule_runs_the_webhook_jobs_every_few_seconds():
    jobs = jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, celery_tasks(celery_app))
    intervals = {job.task.name: job.interval_s for job in jobs}
    assert intervals["monitoring.webhook_events_collect"] == 5.0
    assert intervals["monitoring.webhook_deliveries_send"] == 5.0
    assert intervals["monitoring.webhook_events_purge"] == 86400.0


# transaction=True: the embedded scheduler closes connections it finds inside a
# transaction, as a test's wrapping one would be.
@pytest.mark.django_db(transaction=True)
def test_embedded_scheduler_collects_and_delivers(receiver, org_a):
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    subscribe(receiver, org_a, event_types=["charger.offline"])
    charger_services.charger_disconnected(
        charger=charger,
        channel_name="",
        at=timezone.now() - timedelta(seconds=30),
    )
    # The event row must be older than the collector's settle time.
    ChargerEvent.objects.update(received_at=timezone.now() - timedelta(seconds=30))
    clock = FakeClock()
    scheduler = EmbeddedScheduler(
        jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, celery_tasks(celery_app)), clock=clock
    )
    clock.now += 5
    scheduler.run_pending()  # collect, then send: in schedule order
    assert receiver.types() == ["charger.offline"]
    assert receiver.requests[0].signature_ok
    assert WebhookDelivery.objects.get().status == "delivered"
    clock.now += 5
    scheduler.run_pending()
    assert len(receiver.requests) == 1
