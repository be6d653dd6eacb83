"""The garbage collector keeper (apps/ocpp_consumer/heap.py): survivors are frozen
so that full collections stay short, and the cycles that disconnected chargers
leave frozen are reclaimed once enough of them have gone. The collector is the
real one; the end-to-end test runs the keeper in a real daphne server."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator

import pytest
from ocpp.v16 import call as c16

from apps.ocpp_consumer import heap
from apps.ocpp_consumer.heap import (
    RECLAIM_FRACTION,
    RECLAIM_MAX_AGE_S,
    RECLAIM_MIN_DISCONNECTS,
    HeapKeeper,
)
from tests import factories
from tests.ocpp_consumer.conftest import run, wait_for
from tests.ocpp_consumer.stations import refused_status, station


class Node:
    """A garbage cycle in the making: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def local_keeper() -> Iterator[HeapKeeper]:
    """A keeper of this test's own; whatever it froze is handed back afterwards."""
    keeper = HeapKeeper()
    thresholds = gc.get_threshold()
    yield keeper
    keeper.stop()
    gc.set_threshold(*thresholds)


def test_reclaim_due_waits_for_a_wave_of_disconnections():
    due = heap.reclaim_due
    assert not due(disconnects=0, connected=0, age_s=0)
    assert not due(disconnects=RECLAIM_MIN_DISCONNECTS - 1, connected=10, age_s=0)
    assert due(disconnects=RECLAIM_MIN_DISCONNECTS, connected=10, age_s=0)
    # With a large fleet the bar is a fraction of what is connected.
    connected = 10 * RECLAIM_MIN_DISCONNECTS
    bar = int(RECLAIM_FRACTION * connected)
    assert not due(disconnects=bar - 1, connected=connected, age_s=0)
    assert due(disconnects=bar, connected=connected, age_s=0)


def test_reclaim_due_at_least_every_max_age():
    due = heap.reclaim_due
    assert not due(disconnects=0, connected=5000, age_s=RECLAIM_MAX_AGE_S - 1)
    assert due(disconnects=0, connected=5000, age_s=RECLAIM_MAX_AGE_S)


def test_keeper_reclaims_after_max_age_without_disconnections(local_keeper):
    gc.unfreeze()
    local_keeper.tick()
    failed_call = Node()  # garbage that became so after it was frozen
    local_keeper.tick()
    ref = weakref.ref(failed_call)
    del failed_call
    local_keeper.tick()
    assert ref() is not None
    local_keeper.reclaimed_at -= RECLAIM_MAX_AGE_S
    local_keeper.tick()
    assert ref() is None
    assert local_keeper.stats.reclaims == 1


def test_keeper_tick_freezes_the_survivors(local_keeper):
    gc.unfreeze()
    survivor = Node()
    local_keeper.tick()
    assert gc.get_freeze_count() > 0
    assert local_keeper.stats.freezes == 1
    assert local_keeper.stats.reclaims == 0
    # Frozen objects are out of the collector's reach: a cycle that becomes
    # garbage after the freeze stays until a reclaim.
    ref = weakref.ref(survivor)
    del survivor
    gc.collect()
    assert ref() is not None


def test_keeper_collects_young_garbage_before_freezing(local_keeper):
    gc.unfreeze()
    garbage = Node()
    ref = weakref.ref(garbage)
    del garbage  # a cycle: reference counting alone cannot free it
    assert ref() is not None
    local_keeper.tick()
    assert ref() is None


def test_keeper_reclaims_frozen_cycles_after_enough_disconnections(local_keeper, caplog):
    caplog.set_level(logging.INFO, logger="apps.ocpp_consumer.heap")
    gc.unfreeze()
    connection = Node()  # what a connected charger keeps alive
    local_keeper.charger_connected()
    local_keeper.tick()
    ref = weakref.ref(connection)
    del connection  # the charger goes
    for _ in range(RECLAIM_MIN_DISCONNECTS - 1):
        local_keeper.charger_connected()
    for _ in range(RECLAIM_MIN_DISCONNECTS - 1):
        local_keeper.charger_disconnected()
    local_keeper.tick()
    assert ref() is not None, "not yet due: the cycle stays frozen"
    local_keeper.charger_disconnected()
    local_keeper.tick()
    assert ref() is None
    assert local_keeper.stats.reclaims == 1
    assert local_keeper.disconnects == 0
    assert local_keeper.connected == 0
    assert gc.get_freeze_count() > 0, "what is still alive is frozen again"
    assert f"garbage of {RECLAIM_MIN_DISCONNECTS} ended connection(s)" in caplog.text


def test_keeper_counts_refused_connections_toward_a_reclaim(local_keeper):
    local_keeper.charger_connected()
    for _ in range(RECLAIM_MIN_DISCONNECTS):
        local_keeper.connection_refused()
    assert local_keeper.connected == 1
    local_keeper.tick()
    assert local_keeper.stats.reclaims == 1


def test_keeper_with_interval_zero_never_starts(settings, local_keeper):
    settings.OCPP_GC_FREEZE_INTERVAL_S = 0
    local_keeper.charger_connected()
    assert not local_keeper.running


def _start(keeper: HeapKeeper, settings, *, young: int) -> tuple[int, int, int]:
    """Start the keeper (its first charger) with this young threshold; returns the
    collector's thresholds from before."""
    settings.OCPP_GC_FREEZE_INTERVAL_S = 60
    settings.OCPP_GC_YOUNG_THRESHOLD = young
    before = gc.get_threshold()
    keeper.charger_connected()
    assert keeper.running
    return before


async def test_keeper_raises_the_young_threshold_while_it_runs(settings, local_keeper):
    before = _start(local_keeper, settings, young=12_345)
    assert gc.get_threshold() == (12_345, *before[1:])
    local_keeper.charger_connected()  # a second charger changes nothing
    local_keeper.charger_disconnected()
    assert gc.get_threshold() == (12_345, *before[1:])
    local_keeper.stop()
    assert not local_keeper.running
    assert gc.get_threshold() == before


async def test_keeper_young_threshold_zero_leaves_the_collector_alone(settings, local_keeper):
    before = _start(local_keeper, settings, young=0)
    assert gc.get_threshold() == before


async def test_a_failing_keeper_hands_the_collector_back(
    settings, local_keeper, monkeypatch, caplog
):
    before = _start(local_keeper, settings, young=12_345)

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(local_keeper, "tick", broken)
    local_keeper._run()
    assert not local_keeper.running
    assert gc.get_threshold() == before
    assert "collections run unmanaged" in caplog.text


async def _wait_for_freeze(keeper: HeapKeeper, after: int) -> None:
    for _ in range(50):
        if keeper.stats.freezes > after:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the keeper did not freeze within 5 s")


def test_server_keeper_freezes_while_chargers_are_served(ocpp_server, settings):
    """In a real server: the first charger starts the keeper on the server's loop,
    it freezes every interval, and the charger is answered throughout."""
    settings.OCPP_GC_FREEZE_INTERVAL_S = 1
    settings.OCPP_GC_YOUNG_THRESHOLD = 15_000
    factories.ChargerFactory(charge_point_id="CP-GC1")
    keeper = heap.keeper
    thresholds = gc.get_threshold()
    freezes_before = keeper.stats.freezes
    connected_before = keeper.connected

    async def charger() -> list[str]:
        answers = []
        async with station(ocpp_server.url("CP-GC1")) as cp:
            assert keeper.connected == connected_before + 1
            assert gc.get_threshold()[0] == 15_000
            for _ in range(3):
                answers.append((await cp.call(c16.Heartbeat(), suppress=False)).current_time)
                await _wait_for_freeze(keeper, after=keeper.stats.freezes)
        return answers

    async def stop() -> None:
        keeper.stop()

    try:
        answers = run(charger(), timeout=30)
        assert len(answers) == 3 and all(answers)
        assert keeper.stats.freezes >= freezes_before + 3
        assert wait_for(lambda: keeper.connected == connected_before, 5)
    finally:
        ocpp_server.on_server_loop(stop())
    assert not keeper.running
    assert gc.get_threshold() == thresholds


def test_server_counts_a_refused_connection_toward_a_reclaim(ocpp_server):
    keeper = heap.keeper
    before = keeper.disconnects
    connected = keeper.connected
    assert run(refused_status(ocpp_server.url("CP-NOT-REGISTERED"))) == 403
    assert wait_for(lambda: keeper.disconnects == before + 1, 5)
    assert keeper.connected == connected
