"""Load shedding at the handshake: above OCPP_MAX_PENDING_HANDSHAKES handshakes in
progress, a process refuses a new connection at once (daphne answers 403), before
any database work, and says so in its log at most once per second. Against a real
daphne server (see conftest.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from ocpp.v16 import call as c16

from apps.chargers import services
from apps.chargers.models import Charger
from apps.ocpp_consumer import consumers
from apps.ocpp_consumer.consumers import HandshakeGate
from tests import factories
from tests.ocpp_consumer.conftest import run, wait_for
from tests.ocpp_consumer.stations import refused_status, station

HOLD_TIMEOUT_S = 4  # under daphne's 5 s handshake timeout


@pytest.fixture
def held_admission(monkeypatch):
    """Admission blocked until `release` is set; `calls` lists the chargers whose
    connection reached it (that is, did database work)."""
    real = services.charger_admit_connect
    release = threading.Event()
    calls: list[str] = []

    def held(**kwargs):
        calls.append(kwargs["charge_point_id"])
        release.wait(HOLD_TIMEOUT_S)
        return real(**kwargs)

    monkeypatch.setattr(services, "charger_admit_connect", held)
    return release, calls


def test_handshake_over_the_bound_is_refused_at_once(ocpp_server, settings, held_admission, caplog):
    settings.OCPP_MAX_PENDING_HANDSHAKES = 2
    release, calls = held_admission
    for n in (1, 2, 3):
        factories.ChargerFactory(charge_point_id=f"CP-H{n}")
    shed_before = consumers.handshakes.shed
    caplog.set_level(logging.WARNING, logger="apps.ocpp_consumer.consumers")

    async def heartbeat(cp_id: str) -> str:
        async with station(ocpp_server.url(cp_id)) as cp:
            return (await cp.call(c16.Heartbeat(), suppress=False)).current_time

    async def storm() -> tuple[int, float, list[str]]:
        held = [asyncio.create_task(heartbeat(cp)) for cp in ("CP-H1", "CP-H2")]
        # Both handshakes are in progress: one in the admission, one queued for
        # the ORM thread (SQLite's single one) or in it.
        await asyncio.to_thread(wait_for, lambda: consumers.handshakes.pending == 2, HOLD_TIMEOUT_S)
        assert consumers.handshakes.pending == 2
        started = time.monotonic()
        status = await refused_status(ocpp_server.url("CP-H3"))
        refused_in = time.monotonic() - started
        release.set()
        return status, refused_in, await asyncio.gather(*held)

    status, refused_in, answers = run(storm())
    assert status == 403
    # At once, not after the held admissions were released.
    assert refused_in < 1.0
    # The shed connection did no database work; the held ones connected.
    assert sorted(calls) == ["CP-H1", "CP-H2"]
    assert all(answers)
    assert not Charger.objects.get(charge_point_id="CP-H3").connected_at
    assert consumers.handshakes.shed == shed_before + 1
    assert consumers.handshakes.pending == 0
    assert wait_for(lambda: "Shed 1 connection(s) at the handshake" in caplog.text, 2)
    assert "OCPP_MAX_PENDING_HANDSHAKES 2" in caplog.text


def test_handshake_gate_logs_shed_connections_at_most_once_per_interval(
    settings, monkeypatch, caplog
):
    settings.OCPP_MAX_PENDING_HANDSHAKES = 1
    monkeypatch.setattr(consumers, "SHED_LOG_INTERVAL_S", 0.2)
    caplog.set_level(logging.WARNING, logger="apps.ocpp_consumer.consumers")
    gate = HandshakeGate()

    def shed_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "Shed" in r.getMessage()]

    async def burst() -> tuple[list[str], list[str]]:
        assert gate.enter()
        assert [gate.enter() for _ in range(4)] == [False] * 4
        at_once = shed_lines()
        await asyncio.sleep(0.4)
        return at_once, shed_lines()

    at_once, later = asyncio.run(burst())
    # The first at once, the next three together when the interval has passed.
    assert len(at_once) == 1 and at_once[0].startswith("Shed 1 connection(s)")
    assert len(later) == 2 and later[1].startswith("Shed 3 connection(s)")
    assert "4 shed since start" in later[1]
    assert gate.shed == 4 and gate.pending == 1
    gate.leave()
    assert gate.enter()


def test_handshake_gate_without_bound(settings):
    settings.OCPP_MAX_PENDING_HANDSHAKES = 0
    gate = HandshakeGate()
    assert all(gate.enter() for _ in range(1000))
    assert gate.shed == 0
