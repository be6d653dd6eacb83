"""Every inbound message refreshes last_seen_at, not only Heartbeat, at most once
per SEEN_WRITE_INTERVAL_S per connection (a real daphne and a websocket charger)."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connections
from django.utils import timezone
from ocpp.v16 import call as c16

from apps.chargers import services
from apps.chargers.models import Charger
from apps.ocpp_consumer.handlers.writers import background_writes_drain
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import station


@pytest.fixture
def charger(ocpp_server):
    return factories.ChargerFactory(charge_point_id="SEEN-16")


def status(state: str = "Available") -> c16.StatusNotification:
    return c16.StatusNotification(
        connector_id=1,
        error_code="NoError",
        status=state,
        timestamp=timezone.now().isoformat().replace("+00:00", "Z"),
    )


def test_messages_within_the_interval_write_nothing(ocpp_server, charger, monkeypatch):
    monkeypatch.setattr(services, "SEEN_WRITE_INTERVAL_S", 3600)

    async def talk():
        async with station(ocpp_server.url("SEEN-16")) as cp:
            for state in ("Preparing", "Charging", "SuspendedEV", "Finishing"):
                await cp.call(status(state), suppress=False)

    run(talk())
    charger.refresh_from_db()
    # Only the connection wrote it; four StatusNotifications did not.
    assert charger.last_seen_at == charger.connected_at


def test_a_message_other_than_heartbeat_refreshes_last_seen_once_per_interval(
    ocpp_server, charger, monkeypatch
):
    monkeypatch.setattr(services, "SEEN_WRITE_INTERVAL_S", 1)
    marks = {}

    async def talk():
        async with station(ocpp_server.url("SEEN-16")) as cp:
            await cp.call(status("Preparing"), suppress=False)  # < 1 s after connect
            await asyncio.sleep(1.2)
            marks["before_refresh"] = timezone.now()
            await cp.call(status("Charging"), suppress=False)  # writes
            # Past the server's write of the frame before (done after its answer).
            await asyncio.sleep(0.2)
            marks["before_throttled"] = timezone.now()
            await cp.call(status("SuspendedEV"), suppress=False)  # within 1 s: no write

    run(talk())
    charger.refresh_from_db()
    assert charger.last_seen_at > charger.connected_at
    assert marks["before_refresh"] <= charger.last_seen_at < marks["before_throttled"]


def test_the_sweep_leaves_a_talking_charger_online(ocpp_server, charger, monkeypatch):
    # A charger that sends meter values but no heartbeat is alive: with every
    # frame refreshing last_seen_at, a sweep with a short grace keeps it.
    monkeypatch.setattr(services, "SEEN_WRITE_INTERVAL_S", 0)
    swept = {}

    def sweep() -> tuple[list[Charger], bool]:
        # In a thread of its own while the charger stays connected; that thread's
        # connection is closed, or PostgreSQL could not drop the test database.
        try:
            marked = services.charger_presence_sweep(now=timezone.now(), grace_s=1)
            return marked, Charger.objects.get(pk=charger.pk).online
        finally:
            connections.close_all()

    async def talk():
        async with station(ocpp_server.url("SEEN-16")) as cp:
            await asyncio.sleep(1.1)
            await cp.call(status("Charging"), suppress=False)
            # The server notes it after answering and writes it within a second:
            # now, for the test.
            await asyncio.sleep(0.1)
            await asyncio.to_thread(ocpp_server.on_server_loop, background_writes_drain())
            swept["marked"], swept["online"] = await asyncio.to_thread(sweep)

    run(talk())
    assert swept == {"marked": [], "online": True}


def test_a_live_connection_the_sweep_took_for_dead_comes_back_with_its_next_frame(
    ocpp_server, charger, monkeypatch
):
    # A charger silent for longer than the grace period, on a socket that is in fact
    # still open: the sweep marks it offline; its next frame puts it back online,
    # so that commands reach it again. (The sweep below uses no grace period, so
    # the consumer must expect one at any silence.)
    monkeypatch.setattr(services, "SEEN_WRITE_INTERVAL_S", 0)
    monkeypatch.setattr(services, "PRESENCE_GRACE_S", 0)
    seen = {}

    def sweep_everything() -> None:
        try:
            seen["marked"] = services.charger_presence_sweep(now=timezone.now(), grace_s=0)
            seen["online_after_sweep"] = Charger.objects.get(pk=charger.pk).online
        finally:
            connections.close_all()

    async def talk():
        async with station(ocpp_server.url("SEEN-16")) as cp:
            await asyncio.sleep(0.1)
            await asyncio.to_thread(sweep_everything)
            await cp.call(status("Available"), suppress=False)
            await asyncio.sleep(0.2)  # the server writes after answering
            seen["online_again"] = await asyncio.to_thread(online_now, charger.pk)

    run(talk())
    assert [c.charge_point_id for c in seen["marked"]] == ["SEEN-16"]
    assert seen["online_after_sweep"] is False and seen["online_again"] is True


def online_now(pk: int) -> bool:
    try:
        return Charger.objects.get(pk=pk).online
    finally:
        connections.close_all()
