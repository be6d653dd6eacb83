"""The server process's presence log: when each charger was last heard from,
written out for many chargers at once (a real database, the real service)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apps.chargers.models import Charger
from apps.ocpp_consumer.handlers import writers
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def last_seen(*chargers: Charger) -> list[datetime | None]:
    return [Charger.objects.get(pk=c.pk).last_seen_at for c in chargers]


def test_noted_times_are_written_together_and_only_forward():
    now = timezone.now()
    a = factories.ChargerFactory(last_seen_at=None)
    b = factories.ChargerFactory(last_seen_at=now + timedelta(minutes=1))
    presence = writers.PresenceLog(interval_s=60)

    async def talk() -> int:
        presence.note(a.pk, now)
        presence.note(a.pk, now - timedelta(seconds=5))  # older: ignored
        presence.note(b.pk, now)
        pending = presence.pending()
        await presence.flush()
        return pending

    assert asyncio.run(talk()) == 2
    assert last_seen(a, b) == [now, now + timedelta(minutes=1)]
    assert presence.pending() == 0 and presence.written == 1 and presence.failed == 0


def test_the_log_writes_by_itself_every_interval():
    charger = factories.ChargerFactory(last_seen_at=None)
    at = timezone.now()
    presence = writers.PresenceLog(interval_s=0.05)

    async def talk() -> None:
        presence.note(charger.pk, at)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if presence.written:
                break

    asyncio.run(talk())
    assert last_seen(charger) == [at]


def test_a_failed_write_is_kept_for_the_next_one_unless_something_newer_came(monkeypatch):
    charger, other = factories.ChargerFactory(last_seen_at=None), factories.ChargerFactory()
    first = timezone.now()
    presence = writers.PresenceLog(interval_s=60)

    def fail(**_: object) -> int:
        raise RuntimeError("the database went away")

    async def talk() -> None:
        with monkeypatch.context() as patch:
            patch.setattr(writers, "chargers_seen", fail)
            presence.note(charger.pk, first)
            presence.note(other.pk, first)
            await presence.flush()
        assert presence.failed == 1 and presence.pending() == 2
        presence.note(other.pk, first + timedelta(seconds=1))
        await presence.flush()

    asyncio.run(talk())
    assert last_seen(charger, other) == [first, first + timedelta(seconds=1)]
    assert presence.written == 1 and presence.pending() == 0
