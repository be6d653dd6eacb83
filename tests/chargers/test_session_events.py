"""2.0.1 TransactionEvents stored as a group (services.session_events_record_many):
each event must end exactly as `session_event` alone would have left it, whatever
path it takes inside the group. Run on SQLite and on PostgreSQL (DATABASE_URL):
the grouped update differs between them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.chargers import services
from apps.chargers.models import ChargingSession, MeterSample, SessionEvent
from apps.chargers.services import Sample, SessionEventReport, session_events
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SIGNED = {"signed_meter_data": "OCMF|{}|{}"}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def readings(minutes: int, energy_wh: int, context: str = "Sample.Periodic") -> list[Sample]:
    return [
        Sample(sampled_at=at(minutes), value=Decimal(energy_wh), unit="Wh", context=context),
        Sample(
            sampled_at=at(minutes),
            value=Decimal("7.3612345"),
            measurand="Power.Active.Import",
            unit="kW",
            context=context,
            signed=SIGNED,
        ),
        Sample(sampled_at=at(minutes), value=Decimal("1e15"), measurand="Voltage", context=context),
    ]


def _session(cp: str, tx: str, *, connectors: int = 1, **fields: Any) -> ChargingSession:
    charger = factories.ChargerFactory(charge_point_id=cp, ocpp_version="2.0.1")
    factories.AccessPolicyFactory(zone=charger.zone)
    first = None
    for number in range(1, connectors + 1):
        connector = factories.ConnectorFactory(charger=charger, connector_id=number)
        first = first or connector
    defaults: dict[str, Any] = {
        "connector": first,
        "charger": charger,
        "ocpp_transaction_id": tx,
        "started_at": at(0),
        "meter_start_wh": 1000,
        "last_seq_no": 0,
    }
    return factories.ChargingSessionFactory(**(defaults | fields))


@pytest.fixture
def world() -> dict[str, ChargingSession]:
    """Sessions in every state an Updated event may meet."""
    sessions = {
        "plain": _session("PLAIN", "P1", last_seq_no=3),
        "offline": _session("OFFLINE", "O1", last_seq_no=10),
        "duplicate": _session("DUP", "D1", last_seq_no=5),
        "no_connector": _session("NOCONN", "N1", connectors=2, connector=None),
        "no_start": _session("NOSTART", "S1", meter_start_wh=None),
        "twice": _session("TWICE", "W1"),
        "completed": _session(
            "DONE", "C1", state="completed", stopped_at=at(30), meter_stop_wh=5000
        ),
        "token": _session("TOKEN", "K1", id_tag=""),
    }
    SessionEvent.objects.create(
        session=sessions["duplicate"], seq_no=5, kind="updated", reported_at=at(5)
    )
    factories.ChargerFactory(charge_point_id="NEW", ocpp_version="2.0.1")
    factories.ConnectorFactory(charger=factories.ChargerFactory(charge_point_id="UNUSED"))
    factories.IdTokenFactory(
        organization=sessions["token"].charger.zone.property.organization, uid="TAG-K"
    )
    return sessions


def _events(world: dict[str, ChargingSession]) -> list[SessionEventReport]:
    from apps.chargers.models import Charger

    def event(cp: str, tx: str, seq_no: int, minutes: int, **fields: Any) -> SessionEventReport:
        arguments: dict[str, Any] = {
            "kind": "updated",
            "trigger": "meter_value_periodic",
            "charging_state": "charging",
            "samples": readings(minutes, 1000 + 100 * minutes),
        } | fields
        return SessionEventReport(
            charger=Charger.objects.get(charge_point_id=cp),
            transaction_id=tx,
            seq_no=seq_no,
            at=at(minutes),
            **arguments,
        )

    return [
        event("PLAIN", "P1", 4, 10, connector_id=1),
        event("OFFLINE", "O1", 4, 11, offline=True),  # late, queued offline
        event("DUP", "D1", 5, 5),  # seen before
        event("NOCONN", "N1", 1, 12, connector_id=2),
        event("NOSTART", "S1", 1, 13, samples=readings(1, 1234, "Transaction.Begin")),
        event("TWICE", "W1", 1, 14),
        event("TWICE", "W1", 2, 15, charging_state="suspended_ev"),
        event("DONE", "C1", 7, 16),
        event("TOKEN", "K1", 1, 17, id_tag="TAG-K"),
        event("NEW", "NEW-1", 3, 18, connector_id=1),
        event("PLAIN", "P2", 1, 19),  # a new session on the connector of P1, closing it
    ]


def _snapshot() -> dict[str, Any]:
    """Everything the events may have written, keyed by natural keys (primary keys
    of rows created meanwhile differ between two runs)."""

    def key(session: ChargingSession | None) -> tuple[str, str] | None:
        if session is None:
            return None
        return (session.charger.charge_point_id, session.ocpp_transaction_id)

    sessions = {
        key(s): (
            s.connector.connector_id if s.connector else None,
            s.id_tag,
            s.id_token_id,
            s.person_id,
            s.state,
            s.meter_start_wh,
            s.meter_stop_wh,
            s.energy_wh,
            s.started_at,
            s.stopped_at,
            s.stop_reason,
            s.last_seq_no,
            s.had_offline_events,
        )
        for s in ChargingSession.objects.select_related("charger", "connector")
    }
    events = sorted(
        (
            key(e.session),
            e.seq_no,
            e.kind,
            e.trigger,
            e.charging_state,
            e.offline,
            e.reported_at,
        )
        for e in SessionEvent.objects.select_related("session__charger")
    )
    samples = sorted(
        (
            m.charger.charge_point_id,
            m.connector_id,
            key(m.session),
            m.sampled_at,
            m.measurand,
            m.value,
            m.unit,
            m.phase,
            m.context,
            m.location,
            str(m.signed_data),
        )
        for m in MeterSample.objects.select_related("charger", "session__charger")
    )
    return {"sessions": sessions, "events": events, "samples": samples}


def _outcomes(results: list[services.SessionResult]) -> list[Any]:
    return [
        (
            r.session.charger.charge_point_id if r.session else None,
            r.session.ocpp_transaction_id if r.session else None,
            r.session.last_seq_no if r.session else None,
            r.duplicate,
            r.authorization.decision if r.authorization else None,
        )
        for r in results
    ]


class _Undo(Exception):
    pass


def test_a_group_ends_as_the_events_stored_one_by_one(world):
    events = _events(world)
    single: dict[str, Any] = {}
    try:
        with transaction.atomic():
            results = [services.session_event(**e.arguments()) for e in events]
            single = {"results": _outcomes(results), **_snapshot()}
            raise _Undo
    except _Undo:
        pass

    results = services.session_events_record_many(events=events)

    assert {"results": _outcomes(results), **_snapshot()} == single
    # What the scenario is about, in case both paths went wrong the same way.
    assert single["results"][2][3] is True  # the duplicate
    assert single["results"][8][4] == "accepted"  # the token's decision
    assert single["sessions"][("OFFLINE", "O1")][-2:] == (10, True)
    assert single["sessions"][("NOSTART", "S1")][5] == 1234
    assert single["sessions"][("NOCONN", "N1")][0] == 2
    assert len(single["samples"]) == 2 * (len(events) - 1)  # no duplicate, no Voltage


def test_a_plain_group_takes_no_single_event_path_and_constant_queries(world, monkeypatch):
    """Updated events without a token of sessions with a connector and a start
    reading: stored in bulk, in the same number of queries for 2 as for 5."""

    def single(**kwargs: Any) -> None:
        raise AssertionError(f"single path taken for {kwargs['transaction_id']}")

    monkeypatch.setattr(session_events, "session_event", single)
    plain = [e for e in _events(world) if e.charger.charge_point_id in {"PLAIN", "OFFLINE"}][:2]
    more = [
        e
        for e in _events(world)
        if e.charger.charge_point_id in {"PLAIN", "OFFLINE", "DUP", "DONE"}
        and e.transaction_id != "P2"
    ]

    with CaptureQueriesContext(connection) as two:
        services.session_events_record_many(events=plain)
    again = [SessionEventReport(**(e.arguments() | {"seq_no": e.seq_no + 100})) for e in more]
    with CaptureQueriesContext(connection) as four:
        results = services.session_events_record_many(events=again)

    assert len(two) == len(four)
    assert [r.duplicate for r in results] == [False] * 4
    assert SessionEvent.objects.filter(seq_no__gte=100).count() == 4


def test_a_group_is_one_transaction(world, monkeypatch):
    """A failure anywhere in the group leaves nothing of it behind (the writer
    then stores each event alone)."""

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(session_events, "_record_samples_many", fail)
    before = _snapshot()
    with pytest.raises(RuntimeError):
        services.session_events_record_many(events=_events(world))

    assert _snapshot() == before
