"""Group commit of MeterValues over real sockets (apps/ocpp_consumer/handlers/writers.py):
several chargers' meter values are stored in one transaction, and each message is
still answered only after its readings are committed. A failed group is retried
message by message, so only a bad message fails (with a CALLERROR the charger
resends), and nothing acknowledged is ever missing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.chargers.models import MeterSample
from apps.chargers.services.meter_samples import MeterReport, meter_samples_record_many
from apps.ocpp_consumer.handlers import writers
from tests import factories
from tests.ocpp_consumer.conftest import OcppServer, run
from tests.ocpp_consumer.stations import connect, exchange

IDS = ("GC-1", "GC-2", "GC-3")


def _meter_values(message_id: str, energy_wh: int) -> list[Any]:
    return [
        2,
        message_id,
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": "2026-11-24T10:00:00Z",
                    "sampledValue": [
                        {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register"},
                        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        },
    ]


@pytest.fixture
def chargers(ocpp_server: OcppServer) -> list[Any]:
    return [factories.ChargerFactory(charge_point_id=cp) for cp in IDS]


@pytest.fixture
def writer(ocpp_server: OcppServer) -> Iterator[writers.MeterWriter]:
    """The server's group writer (it lives on the server's loop), with a gathering
    window long enough that messages sent together form one group. Its store is
    restored afterwards."""

    async def get() -> writers.MeterWriter:
        return writers.meter_writer()

    meter_writer: writers.MeterWriter = ocpp_server.on_server_loop(get())
    window = meter_writer.window_s
    meter_writer.window_s = 0.3
    yield meter_writer
    meter_writer.window_s = window
    meter_writer._store = meter_samples_record_many


def _rows(charge_point_id: str) -> int:
    return MeterSample.objects.filter(charger__charge_point_id=charge_point_id).count()


async def _send_all(ocpp_server: OcppServer, body: Callable[[list[Any]], Any]) -> Any:
    async with (
        connect(ocpp_server.url(IDS[0])) as a,
        connect(ocpp_server.url(IDS[1])) as b,
        connect(ocpp_server.url(IDS[2])) as c,
    ):
        sockets = [a, b, c]
        for n, ws in enumerate(sockets):
            await ws.send(json.dumps(_meter_values(f"mv-{n}", 1000 + n)))
        return await body(sockets)


async def _answer(ws: Any) -> list[Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_messages_of_several_chargers_are_committed_together_then_answered(
    ocpp_server, chargers, writer
):
    """Three chargers send at once; the store is held: no charger hears anything
    and no row exists; released, one group of three is committed and every
    charger gets its answer, its rows already in the table when it arrives."""
    release = threading.Event()
    groups: list[list[str]] = []

    def held(*, reports: list[MeterReport]) -> list[int]:
        groups.append([r.charger.charge_point_id for r in reports])
        assert release.wait(10)
        return meter_samples_record_many(reports=reports)

    writer._store = held

    async def body(sockets: list[Any]) -> tuple[int, int, list[Any]]:
        early = await asyncio.gather(
            *(asyncio.wait_for(ws.recv(), 0.8) for ws in sockets), return_exceptions=True
        )
        answered_early = sum(1 for a in early if not isinstance(a, TimeoutError))
        rows_early = await asyncio.to_thread(MeterSample.objects.filter(charger__in=chargers).count)
        release.set()
        answers = []
        for cp, ws in zip(IDS, sockets, strict=True):
            answers.append((await _answer(ws))[:2])
            answers.append(await asyncio.to_thread(_rows, cp))
        return answered_early, rows_early, answers

    answered_early, rows_early, answers = run(_send_all(ocpp_server, body))

    assert (answered_early, rows_early) == (0, 0)
    assert answers == [[3, "mv-0"], 2, [3, "mv-1"], 2, [3, "mv-2"], 2]
    assert len(groups) == 1 and sorted(groups[0]) == sorted(IDS), groups


def test_a_failed_group_is_stored_message_by_message_and_only_the_bad_one_fails(
    ocpp_server, chargers, writer
):
    """The group write fails; each message is then stored alone: two are stored
    and acknowledged, the one that fails alone gets a CALLERROR and left no row.
    Resent once the fault is gone, it is stored and acknowledged."""
    calls: list[list[str]] = []

    def faulty(*, reports: list[MeterReport]) -> list[int]:
        ids = [r.charger.charge_point_id for r in reports]
        calls.append(ids)
        if "GC-2" in ids:
            raise RuntimeError("disk full")
        return meter_samples_record_many(reports=reports)

    writer._store = faulty

    async def body(sockets: list[Any]) -> list[Any]:
        return [await _answer(ws) for ws in sockets]

    answers = run(_send_all(ocpp_server, body))

    assert [a[:2] for a in answers] == [[3, "mv-0"], [4, "mv-1"], [3, "mv-2"]]
    assert answers[1][2] == "InternalError"
    assert sorted(calls[0]) == list(IDS) and sorted(map(tuple, calls[1:])) == [
        ("GC-1",),
        ("GC-2",),
        ("GC-3",),
    ]
    assert [_rows(cp) for cp in IDS] == [2, 0, 2]

    writer._store = meter_samples_record_many

    async def resend() -> list[Any]:
        async with connect(ocpp_server.url("GC-2")) as ws:
            return await exchange(ws, _meter_values("mv-1", 1001))

    assert run(resend())[:2] == [3, "mv-1"]
    assert [_rows(cp) for cp in IDS] == [2, 2, 2]


def test_when_the_database_fails_every_charger_hears_an_error_and_nothing_is_lost(
    ocpp_server, chargers, writer
):
    """Nothing can be stored: every message is answered with a CALLERROR (the
    chargers keep their readings and resend), none is acknowledged, and the
    resent messages are stored exactly once."""

    def down(*, reports: list[MeterReport]) -> list[int]:
        raise ConnectionError("database unreachable")

    writer._store = down

    async def body(sockets: list[Any]) -> list[Any]:
        return [await _answer(ws) for ws in sockets]

    answers = run(_send_all(ocpp_server, body))
    assert [(a[0], a[2]) for a in answers] == [(4, "InternalError")] * 3
    assert MeterSample.objects.filter(charger__in=chargers).count() == 0

    writer._store = meter_samples_record_many
    answers = run(_send_all(ocpp_server, body))
    assert [a[:2] for a in answers] == [[3, "mv-0"], [3, "mv-1"], [3, "mv-2"]]
    assert [_rows(cp) for cp in IDS] == [2, 2, 2]


def test_a_bug_in_the_writer_fails_its_group_and_the_writer_keeps_serving(
    ocpp_server, chargers, writer
):
    """A store that answers for the wrong number of messages is a bug of ours: the
    group's chargers hear InternalError instead of waiting forever, and the next
    messages are stored and answered as usual."""

    def wrong(*, reports: list[MeterReport]) -> list[int]:
        meter_samples_record_many(reports=reports)
        return []

    writer._store = wrong

    async def body(sockets: list[Any]) -> list[Any]:
        return [await _answer(ws) for ws in sockets]

    answers = run(_send_all(ocpp_server, body))
    assert [(a[0], a[2]) for a in answers] == [(4, "InternalError")] * 3

    writer._store = meter_samples_record_many
    answers = run(_send_all(ocpp_server, body))
    assert [a[:2] for a in answers] == [[3, "mv-0"], [3, "mv-1"], [3, "mv-2"]]
