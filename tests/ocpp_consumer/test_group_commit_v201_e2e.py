"""Group commit of 2.0.1 TransactionEvent Updated over real sockets
(apps/ocpp_consumer/handlers/writers.py, session_event_writer): several stations'
Updated events are stored in one transaction, each answered only after commit; a
resent event is answered the same and stored once; a failed group is retried event
by event, so only the bad one fails. Events that carry a token keep the single
path (their answer holds the token's decision)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.chargers.models import Charger, ChargingSession, MeterSample, SessionEvent
from apps.chargers.services import SessionEventReport, SessionResult, session_events_record_many
from apps.ocpp_consumer.handlers import writers
from tests import factories
from tests.ocpp_consumer.conftest import OcppServer, run
from tests.ocpp_consumer.stations import connect, exchange

IDS = ("GC201-1", "GC201-2", "GC201-3")
AT = "2026-11-24T10:00:00.000Z"


def _updated(message_id: str, tx: str, seq_no: int, energy_wh: int, **extra: Any) -> list[Any]:
    return [
        2,
        message_id,
        "TransactionEvent",
        {
            "eventType": "Updated",
            "timestamp": AT,
            "triggerReason": "MeterValuePeriodic",
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": AT,
                    "sampledValue": [
                        {"value": energy_wh, "context": "Sample.Periodic"},
                        {
                            "value": 7200,
                            "measurand": "Power.Active.Import",
                            "context": "Sample.Periodic",
                            "unitOfMeasure": {"unit": "W"},
                        },
                    ],
                }
            ],
            **extra,
        },
    ]


@pytest.fixture
def sessions(ocpp_server: OcppServer) -> list[ChargingSession]:
    """A running session on each station (its Started event already stored)."""
    out = []
    for cp in IDS:
        charger = factories.ChargerFactory(
            charge_point_id=cp, ocpp_version=Charger.OcppVersion.V201
        )
        factories.AccessPolicyFactory(zone=charger.zone)
        session = factories.ChargingSessionFactory(
            connector=factories.ConnectorFactory(charger=charger),
            ocpp_transaction_id=f"TX-{cp}",
            last_seq_no=0,
        )
        out.append(session)
    return out


@pytest.fixture
def writer(ocpp_server: OcppServer) -> Iterator[writers.SessionEventWriter]:
    """The server's TransactionEvent writer, with a window long enough that events
    sent together form one group. Its store is restored afterwards."""

    async def get() -> writers.SessionEventWriter:
        return writers.session_event_writer()

    event_writer: writers.SessionEventWriter = ocpp_server.on_server_loop(get())
    window = event_writer.window_s
    event_writer.window_s = 0.3
    yield event_writer
    event_writer.window_s = window
    event_writer._store = session_events_record_many


async def _send_all(ocpp_server: OcppServer, seq_no: int, body: Callable[[list[Any]], Any]) -> Any:
    async with (
        connect(ocpp_server.url(IDS[0]), "ocpp2.0.1") as a,
        connect(ocpp_server.url(IDS[1]), "ocpp2.0.1") as b,
        connect(ocpp_server.url(IDS[2]), "ocpp2.0.1") as c,
    ):
        sockets = [a, b, c]
        for n, (cp, ws) in enumerate(zip(IDS, sockets, strict=True)):
            await ws.send(json.dumps(_updated(f"te-{n}", f"TX-{cp}", seq_no, 1000 + n)))
        return await body(sockets)


async def _answer(ws: Any) -> list[Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def _answers(sockets: list[Any]) -> list[Any]:
    return [await _answer(ws) for ws in sockets]


def _stored(cp: str) -> tuple[int, int, int | None]:
    session = ChargingSession.objects.get(charger__charge_point_id=cp)
    return session.events.count(), session.meter_samples.count(), session.last_seq_no


def test_updated_events_of_several_stations_are_committed_together_then_answered(
    ocpp_server, sessions, writer
):
    """Periodic Updated events from three stations at once, the store held: no
    station hears anything and nothing is stored; released, one group of three
    is committed and each station is answered, its event already stored."""
    release = threading.Event()
    groups: list[list[str]] = []

    def held(*, events: list[SessionEventReport]) -> list[SessionResult]:
        groups.append([e.charger.charge_point_id for e in events])
        assert release.wait(10)
        return session_events_record_many(events=events)

    writer._store = held

    async def body(sockets: list[Any]) -> tuple[int, int, list[Any]]:
        early = await asyncio.gather(
            *(asyncio.wait_for(ws.recv(), 0.8) for ws in sockets), return_exceptions=True
        )
        answered_early = sum(1 for a in early if not isinstance(a, TimeoutError))
        stored_early = await asyncio.to_thread(SessionEvent.objects.count)
        release.set()
        answers = []
        for cp, ws in zip(IDS, sockets, strict=True):
            answers.append(await _answer(ws))
            answers.append(await asyncio.to_thread(_stored, cp))
        return answered_early, stored_early, answers

    answered_early, stored_early, answers = run(_send_all(ocpp_server, 1, body))

    assert (answered_early, stored_early) == (0, 0)
    assert answers == [
        [3, "te-0", {}],
        (1, 2, 1),
        [3, "te-1", {}],
        (1, 2, 1),
        [3, "te-2", {}],
        (1, 2, 1),
    ]
    assert len(groups) == 1 and sorted(groups[0]) == sorted(IDS), groups
    event = SessionEvent.objects.get(session=sessions[0])
    assert (event.kind, event.trigger, event.charging_state, event.seq_no) == (
        "updated",
        "meter_value_periodic",
        "charging",
        1,
    )
    energy = MeterSample.objects.get(session=sessions[2], measurand="Energy.Active.Import.Register")
    assert (energy.value, energy.connector_id, energy.context) == (1002, 1, "Sample.Periodic")


def test_a_resent_event_is_answered_again_and_stored_once(ocpp_server, sessions, writer):
    """A retransmission: the same seqNo again (its answer was lost) is answered the
    same and changes nothing."""
    first = run(_send_all(ocpp_server, 1, _answers))
    again = run(_send_all(ocpp_server, 1, _answers))

    assert first == again == [[3, f"te-{n}", {}] for n in range(3)]
    assert [_stored(cp) for cp in IDS] == [(1, 2, 1)] * 3


def test_a_failed_group_is_stored_event_by_event_and_only_the_bad_one_fails(
    ocpp_server, sessions, writer
):
    """The group write fails; each event is then stored alone: two are stored and
    answered, the one that fails alone gets a CALLERROR and left nothing behind.
    Resent once the fault is gone, it is stored and answered."""
    calls: list[list[str]] = []

    def faulty(*, events: list[SessionEventReport]) -> list[SessionResult]:
        ids = [e.charger.charge_point_id for e in events]
        calls.append(ids)
        if "GC201-2" in ids:
            raise RuntimeError("disk full")
        return session_events_record_many(events=events)

    writer._store = faulty
    answers = run(_send_all(ocpp_server, 1, _answers))

    assert [a[:2] for a in answers] == [[3, "te-0"], [4, "te-1"], [3, "te-2"]]
    assert answers[1][2] == "InternalError"
    assert sorted(calls[0]) == list(IDS) and sorted(map(tuple, calls[1:])) == [
        ("GC201-1",),
        ("GC201-2",),
        ("GC201-3",),
    ]
    assert [_stored(cp) for cp in IDS] == [(1, 2, 1), (0, 0, 0), (1, 2, 1)]

    writer._store = session_events_record_many

    async def resend() -> list[Any]:
        async with connect(ocpp_server.url("GC201-2"), "ocpp2.0.1") as ws:
            return await exchange(ws, _updated("te-1", "TX-GC201-2", 1, 1001))

    assert run(resend()) == [3, "te-1", {}]
    assert [_stored(cp) for cp in IDS] == [(1, 2, 1)] * 3


def test_an_updated_event_with_a_token_is_answered_with_its_decision(ocpp_server, sessions, writer):
    """An idToken needs its decision in the answer: that event takes the single
    path, not the group writer."""
    factories.IdTokenFactory(
        organization=sessions[0].charger.zone.property.organization, uid="TOK-GC"
    )
    before = writer.items

    async def body() -> list[Any]:
        async with connect(ocpp_server.url(IDS[0]), "ocpp2.0.1") as ws:
            return await exchange(
                ws,
                _updated(
                    "te-tok",
                    f"TX-{IDS[0]}",
                    1,
                    1000,
                    idToken={"idToken": "TOK-GC", "type": "ISO14443"},
                ),
            )

    answer = run(body())

    assert answer[:2] == [3, "te-tok"]
    assert answer[2]["idTokenInfo"]["status"] == "Accepted"
    assert writer.items == before
    session = ChargingSession.objects.get(pk=sessions[0].pk)
    assert (session.id_tag, session.last_seq_no) == ("TOK-GC", 1)
