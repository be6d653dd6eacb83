"""Several delivery workers at once (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED):
every delivery is sent exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from apps.chargers.models import ChargerEvent
from apps.monitoring.models import WebhookDelivery
from apps.monitoring.services import webhooks as services
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe

WORKERS = 4
EVENTS = 40


@pytest.mark.postgres
def test_parallel_workers_send_each_delivery_once(transactional_db, receiver, org_a):
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    subscribe(receiver, org_a, event_types=["charger.offline"])
    ChargerEvent.objects.bulk_create(
        ChargerEvent(
            charger=charger,
            kind=ChargerEvent.Kind.CONNECTION,
            summary="Disconnected",
            reported_at=timezone.now(),
        )
        for _ in range(EVENTS)
    )
    assert services.webhook_events_collect(settle_s=0).deliveries == EVENTS
    start = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            services.webhook_deliveries_send()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    sent = Counter(r.headers["Plugboard-Event-Id"] for r in receiver.requests)
    assert len(sent) == EVENTS and set(sent.values()) == {1}
    assert WebhookDelivery.objects.filter(status="delivered", attempts=1).count() == EVENTS
