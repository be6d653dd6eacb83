"""OCPP 2.0.1 TransactionEvents of many stations stored in one transaction (group
commit), the way 1.6 MeterValues are (meter_samples.meter_samples_record_many).

The hot path of a 2.0.1 fleet is the Updated event with meter values that every
charging station sends every minute or so. Stored one per transaction by
`session_event`, each cost 5-8 ms of CPU (a lock, a seqNo check, an update, an
insert and the readings, each a query). Here the common case, an Updated event
without a token of a session that exists, is stored for a whole group with a
constant number of queries. Each event gets exactly what `session_event` would
have done and answered; every other event (a new session, a token to decide on,
a connector to resolve, the session's first meter reading, the same session twice
in a group) is handed to `session_event` itself, in the same transaction.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from apps.chargers.models import Charger, ChargingSession, SessionEvent
from apps.chargers.services.meter_samples import Sample, SampleBatch, _record_samples_many
from apps.chargers.services.sessions import (
    CONTEXT_BEGIN,
    SessionResult,
    _connector_number,
    _energy_wh,
    _event_row,
    session_event,
)


@dataclass(frozen=True)
class SessionEventReport:
    """One TransactionEvent as the domain sees it: `session_event`'s arguments."""

    charger: Charger
    transaction_id: str
    kind: str
    seq_no: int
    at: datetime
    trigger: str = ""
    charging_state: str = ""
    offline: bool = False
    connector_id: int | None = None
    id_tag: str | None = None
    stop_reason: str = ""
    samples: Sequence[Sample] = ()

    def arguments(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def session_event_record(*, event: SessionEventReport) -> SessionResult:
    """One event in its own transaction (`session_event`)."""
    return session_event(**event.arguments())


def session_event_groupable(event: SessionEventReport) -> bool:
    """Whether the event may wait to be stored with others: an Updated event
    without a token (a token needs its decision in the answer, looked up alone)."""
    return event.kind == SessionEvent.Kind.UPDATED and not event.id_tag


@transaction.atomic
def session_events_record_many(*, events: Sequence[SessionEventReport]) -> list[SessionResult]:
    """Store many stations' TransactionEvents in one transaction and return, per
    event, what `session_event` would have returned for it. The group's sessions
    are locked in primary-key order (one SELECT ... FOR NO KEY UPDATE), their stored
    seqNos read with one query, then the new events inserted, the sessions updated
    and the readings written in bulk. An event seen before (same seqNo) changes
    nothing and is answered as a duplicate."""
    sessions = _lock_sessions(events)
    per_session = Counter((e.charger.pk, e.transaction_id) for e in events)
    stored = _stored_seq_nos(sessions.values(), events)

    results: list[SessionResult | None] = [None] * len(events)
    updated: list[ChargingSession] = []
    new_events: list[SessionEvent] = []
    readings: list[SampleBatch] = []
    for i, event in enumerate(events):
        key = (event.charger.pk, event.transaction_id)
        session = sessions.get(key)
        if session is None or per_session[key] > 1 or not _plain_update(event, session):
            continue  # stored by session_event below
        if (session.pk, event.seq_no) in stored:
            results[i] = SessionResult(session, None, duplicate=True)
            continue
        session.last_seq_no = max(event.seq_no, session.last_seq_no or 0)
        session.had_offline_events = session.had_offline_events or event.offline
        updated.append(session)
        new_events.append(
            _event_row(
                session,
                seq_no=event.seq_no,
                kind=event.kind,
                at=event.at,
                trigger=event.trigger,
                charging_state=event.charging_state,
                offline=event.offline,
            )
        )
        readings.append((event.charger, _connector_number(session), session.pk, event.samples))
        results[i] = SessionResult(session, None)
    if updated:
        _update_sessions(updated)
        SessionEvent.objects.bulk_create(new_events)
        _record_samples_many(readings)

    return [
        result if result is not None else session_event(**event.arguments())
        for event, result in zip(events, results, strict=True)
    ]


def _lock_sessions(events: Sequence[SessionEventReport]) -> dict[tuple[int, str], ChargingSession]:
    """The sessions the events name, by (charger id, transaction id), locked in
    primary-key order (so that two groups never wait for each other in a cycle).
    FOR NO KEY UPDATE: it still excludes session_event's FOR UPDATE on the same
    session, but not the key-share locks that inserting rows referring to a
    session takes (the meter writer's readings), which could otherwise close a
    cycle with a group of MeterValues."""
    named = {(e.charger.pk, e.transaction_id) for e in events}
    candidates = (
        ChargingSession.objects.select_for_update(of=("self",), no_key=True)
        .select_related("connector")
        .filter(
            charger_id__in={charger_id for charger_id, _ in named},
            ocpp_transaction_id__in={tx for _, tx in named},
        )
        .order_by("pk")
    )
    sessions: dict[tuple[int, str], ChargingSession] = {}
    for session in candidates:
        key = (session.charger_id, session.ocpp_transaction_id)
        if key in named:
            sessions.setdefault(key, session)
    return sessions


def _update_sessions(sessions: Sequence[ChargingSession]) -> None:
    """Write the sessions' new seqNo and offline flag. On PostgreSQL with one
    UPDATE over arrays: Django's bulk_update (a CASE per field, three parameters
    per session, bound client-side) cost more than the rest of the group."""
    if connection.vendor != "postgresql":
        ChargingSession.objects.bulk_update(sessions, ["last_seq_no", "had_offline_events"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _update_sql(),
            [
                [s.pk for s in sessions],
                [s.last_seq_no for s in sessions],
                [s.had_offline_events for s in sessions],
            ],
        )


@functools.cache
def _update_sql() -> str:
    # Built from the model's own (quoted) names, never from a charger's data.
    quote = connection.ops.quote_name
    meta = ChargingSession._meta
    column = {f.attname: quote(f.column) for f in meta.concrete_fields if f.column}
    pk, seq_no, offline = (column[name] for name in ("id", "last_seq_no", "had_offline_events"))
    return (
        f"UPDATE {quote(meta.db_table)} AS s SET {seq_no} = v.seq_no, {offline} = v.offline"  # noqa: S608
        " FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[]) AS v(id, seq_no, offline)"
        f" WHERE s.{pk} = v.id"
    )


def _stored_seq_nos(
    sessions: Iterable[ChargingSession], events: Sequence[SessionEventReport]
) -> set[tuple[int, int]]:
    """(session id, seqNo) of the events already stored, among the group's."""
    ids = {session.pk for session in sessions}
    if not ids:
        return set()
    return set(
        SessionEvent.objects.filter(
            session_id__in=ids, seq_no__in={e.seq_no for e in events}
        ).values_list("session_id", "seq_no")
    )


def _plain_update(event: SessionEventReport, session: ChargingSession) -> bool:
    """An event that changes no more than the session's seqNo and offline flag: no
    token, the session's connector known (and the one named, if any), and no first
    meter reading to take as the session's start."""
    if not session_event_groupable(event) or session.connector is None:
        return False
    named = (
        event.connector_id if event.connector_id is not None and event.connector_id > 0 else None
    )
    if named is not None and named != session.connector.connector_id:
        return False
    begin = [s for s in event.samples if s.context == CONTEXT_BEGIN]
    return session.meter_start_wh is not None or _energy_wh(begin) is None
